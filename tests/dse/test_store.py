"""The result store: atomic cache files, damaged ones ignored, metric selection, tables."""

from __future__ import annotations

import json
import os
import time

import pytest

from archsim.dse.store import (
    CacheEntry,
    MetricSelector,
    ResultCache,
    cache_key,
    csv_text,
    jsonl_text,
)
from archsim.files import write_atomically


def entry(key_seed: int = 0, report: dict | None = None) -> CacheEntry:
    inputs = {
        "config_sha256": "c" * 64,
        "trace_sha256": "t" * 64,
        "seed": key_seed,
        "archsim_version": "0.1.0",
    }
    key = cache_key("c" * 64, "t" * 64, key_seed, "0.1.0")
    if report is None:
        return CacheEntry(key, inputs, "error", None, "<trace>: truncated")
    return CacheEntry(key, inputs, "ok", report, None)


def test_keys_depend_on_every_input():
    keys = {
        cache_key("a", "b", 0, "1"),
        cache_key("x", "b", 0, "1"),
        cache_key("a", "x", 0, "1"),
        cache_key("a", "b", 1, "1"),
        cache_key("a", "b", 0, "2"),
    }
    assert len(keys) == 5 and all(len(k) == 64 for k in keys)


def test_entries_round_trip_and_damage_is_detected(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    good = entry(report={"per_inference": {"latency_s": 1.5e-6}, "noc": None})
    cache.put_text(good.key, good.to_json())
    assert cache.get(good.key) == good
    assert cache.keys() == [good.key]
    bad = entry(1)
    cache.put_text(bad.key, bad.to_json())
    assert cache.get(bad.key).error == "<trace>: truncated"
    path = cache.path(good.key)
    text = path.read_text()
    for damaged in (
        text[: len(text) // 2],
        "",
        text.replace(good.key, "0" * 64),
        text.replace('"ok"', '"error"'),
    ):
        path.write_text(damaged)
        assert cache.get(good.key) is None  # re-simulated, never trusted
    # A file moved under another key does not pass either.
    path.write_text(text)
    os.replace(path, cache.path(bad.key))
    assert cache.get(bad.key) is None


def test_non_finite_reports_are_refused():
    with pytest.raises(ValueError):
        entry(report={"x": float("nan")}).to_json()


def test_atomic_write_leaves_old_or_new_and_stale_temps_are_removed(tmp_path):
    target = tmp_path / "f.txt"
    write_atomically({target: "old"})
    write_atomically({target: "new"}, durable=True)
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".x.json.1.tmp", folder / ".y.json.2.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    ResultCache(tmp_path / "cache")
    assert not stale.exists() and fresh.exists()


FLAT = [
    ("per_inference.energy_breakdown_j.adc", 1.0),
    ("per_inference.energy_breakdown_j.dac", 2.0),
    ("per_inference.energy_j", 3.0),
    ("per_inference.latency_s", 4.0),
    ("tiles.array_busy_s[0]", 5.0),
    ("tiles.array_busy_s[1]", 6.0),
]


def test_metric_selection_patterns_and_order():
    selector = MetricSelector(
        [
            "per_inference.latency_s",
            "per_inference.energy_breakdown_j.*",
            "tiles.array_busy_s[*]",
            "noc.energy_j",
            "nothing.*",
        ]
    )
    chosen = selector.select(FLAT)
    assert list(chosen) == [
        "per_inference.latency_s",
        "per_inference.energy_breakdown_j.adc",
        "per_inference.energy_breakdown_j.dac",
        "tiles.array_busy_s[0]",
        "tiles.array_busy_s[1]",
    ]
    other = selector.select([("tiles.array_busy_s[2]", 7.0), ("noc.energy_j", 0.5)])
    columns, unmatched = selector.columns([chosen, other])
    assert columns == [
        "per_inference.latency_s",
        "per_inference.energy_breakdown_j.adc",
        "per_inference.energy_breakdown_j.dac",
        "tiles.array_busy_s[0]",
        "tiles.array_busy_s[1]",
        "tiles.array_busy_s[2]",
        "noc.energy_j",
    ]
    assert unmatched == ["nothing.*"]
    every = MetricSelector([])
    assert every.columns([every.select(FLAT)]) == ([k for k, _ in FLAT], [])


def test_tables_hold_every_column_in_order():
    columns = ["point", "x", "status", "m", "error"]
    rows = [
        {"point": 0, "x": {"conv1": 2}, "status": "ok", "m": 0.1, "error": None},
        {"point": 1, "x": True, "status": "error", "error": 'bad, "quoted"'},
    ]
    assert csv_text(columns, rows) == (
        'point,x,status,m,error\n0,"{""conv1"": 2}",ok,0.1,\n1,True,error,,"bad, ""quoted"""\n'
    )
    lines = [json.loads(line) for line in jsonl_text(columns, rows).splitlines()]
    assert [list(line) for line in lines] == [columns, columns]
    assert lines[1]["m"] is None and lines[0]["x"] == {"conv1": 2}


def test_the_cache_directory_is_absolute(tmp_path, monkeypatch):
    """Pool workers write entries to paths made from it: a relative one would follow their
    working directory, not the sweep's, once the sweep process changes its own."""
    monkeypatch.chdir(tmp_path)
    cache = ResultCache("out/cache")
    assert cache.directory == tmp_path / "out" / "cache"
    assert cache.path("ab" + "0" * 62).is_absolute()
