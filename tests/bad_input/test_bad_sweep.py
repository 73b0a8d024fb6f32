"""Sweeps that would clash or never end: two specs into one folder, two sweeps at once, 10^12
points, a metric pattern that backtracks."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest
from bad_input_cli import fails_cleanly, write_spec
from bad_input_cli import results_files as table

from archsim.dse import run_sweep
from archsim.dse.spec import load_spec
from archsim.dse.store import MetricSelector
from archsim.dse.sweep import LOCK_FILE
from archsim.errors import ArchsimError
from archsim.limits import LimitError, Limits

BITS = {"path": "tile.adc.bits", "values": [6, 8]}


# -- 9. one spec per folder, one sweep at a time -----------------------------------------------


def test_a_second_spec_into_the_same_folder_is_refused(tmp_path, capsys):
    first = write_spec(tmp_path, "first.yaml", axes=[BITS], name="first")
    second = write_spec(tmp_path, "second.yaml", axes=[{**BITS, "values": [6, 7]}], name="second")
    out = tmp_path / "out"
    assert run_sweep(first, out, workers=1, progress=False).points == 2
    before = table(out)
    line = fails_cleanly(capsys, ["sweep", str(second), "--out", str(out), "--workers", "1"])
    digest_a, digest_b = load_spec(first).digest, load_spec(second).digest
    assert digest_a != digest_b
    assert (
        f"{out}: holds the results of sweep 'first' (spec digest {digest_a[:12]}), not of sweep "
        f"'second' (spec digest {digest_b[:12]})" in line
    )
    assert table(out) == before  # untouched
    assert json.loads((out / "sweep.json").read_text())["spec_digest"] == digest_a


def test_the_same_spec_elsewhere_or_reformatted_resumes(tmp_path):
    spec = write_spec(tmp_path, "a.yaml", axes=[BITS])
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, progress=False)
    before = table(out)
    # The same content, written differently and from another folder: the same spec.
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "chain.jsonl").write_bytes((tmp_path / "chain.jsonl").read_bytes())
    text = json.loads(spec.read_text())
    moved = other / "b.yaml"
    moved.write_text(json.dumps(text, indent=4) + "\n# the same sweep\n")
    assert load_spec(moved).digest == load_spec(spec).digest
    again = run_sweep(moved, out, workers=1, progress=False)
    assert again.simulated == 0 and again.cached == 2
    after = table(out)
    assert after["results.csv"] == before["results.csv"]
    assert after["results.jsonl"] == before["results.jsonl"]
    assert json.loads((out / "sweep.json").read_text())["spec_digest"] == load_spec(spec).digest


def test_a_folder_holding_something_else_as_sweep_json(tmp_path, capsys):
    spec = write_spec(tmp_path, axes=[BITS])
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text("[" * 10_000)
    line = fails_cleanly(capsys, ["sweep", str(spec), "--out", str(out), "--workers", "1"])
    assert "holds a sweep.json that is not a sweep's" in line
    assert sorted(p.name for p in out.iterdir()) == ["sweep.json"]  # no lock file, no cache


def test_a_locked_folder_is_refused_at_once(tmp_path, capsys):
    spec = write_spec(tmp_path, axes=[BITS])
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another sweep, running
        args = ["sweep", str(spec), "--out", str(out), "--workers", "1"]
        line = fails_cleanly(capsys, args, within_s=3)
        assert f"{out}: another sweep is writing to this folder (it holds {out / LOCK_FILE})" in (
            line
        )
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    finally:
        os.close(fd)
    assert run_sweep(spec, out, workers=1, progress=False).ok == 2  # free again


def _lock_is_free(out: Path) -> bool:
    fd = os.open(out / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_the_lock_is_held_while_running_and_released_on_interrupt(tmp_path):
    from archsim.dse import SerialExecutor

    spec = write_spec(tmp_path, axes=[BITS])
    out = tmp_path / "out"
    seen = []

    class Interrupting(SerialExecutor):
        def run(self, tasks):
            for outcome in super().run(tasks):
                seen.append(_lock_is_free(out))
                raise KeyboardInterrupt
                yield outcome  # pragma: no cover

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, executor=Interrupting(), progress=False)
    assert seen == [False]  # held while running
    assert _lock_is_free(out)  # released after the interrupt
    summary = run_sweep(spec, out, workers=1, progress=False)  # and the sweep resumes
    assert summary.ok == 2 and summary.cached == 1


def test_the_lock_is_released_after_an_error(tmp_path):
    spec = write_spec(tmp_path, axes=[BITS])
    out = tmp_path / "out"
    (out / "cache").parent.mkdir()
    (out / "cache").write_text("a file where the cache folder goes")
    with pytest.raises(ArchsimError, match="cannot create the sweep cache"):
        run_sweep(spec, out, workers=1, progress=False)
    assert _lock_is_free(out)


# -- 10. 10^12 points are refused before any is built -----------------------------------------


def test_a_sweep_of_10_to_the_12_points_is_refused_up_front(tmp_path, capsys):
    axes = [
        {"path": "tile.adc.bits", "range": {"start": 1, "stop": 1_000_000}},
        {"path": "chip.tiles", "range": {"start": 1, "stop": 1_000_000}},
    ]
    spec = write_spec(tmp_path, axes=axes)
    line = fails_cleanly(capsys, ["sweep", str(spec), "--out", str(tmp_path / "out")], within_s=2)
    assert (
        f"{spec}: the sweep needs 1,000,000,000,000 design points, over the limit of 1,000,000"
        in line
    )
    assert "--limit sweep_points=1000000000000" in line
    assert not (tmp_path / "out").exists()


def test_points_count_traces_seeds_zip_and_random_axes(tmp_path):
    axes = [
        {"zip": [{"path": "tile.crossbar.rows", "values": [64, 128, 256]},
                 {"path": "tile.crossbar.cols", "values": [64, 128, 256]}]},
        {"random": {"samples": 5, "seed": 1,
                    "params": [{"path": "tile.adc.bits", "integers": [4, 8]}]}},
    ]
    spec = write_spec(tmp_path, axes=axes, seeds=[0, 1])
    assert load_spec(spec).size == 30
    assert load_spec(spec, limits=Limits(sweep_points=30)).size == 30
    with pytest.raises(LimitError, match="the sweep needs 30 design points, over the limit of 29"):
        load_spec(spec, limits=Limits(sweep_points=29))
    with pytest.raises(LimitError, match="over the limit of 29"):
        run_sweep(spec, tmp_path / "out", workers=1, progress=False, limits=Limits(sweep_points=29))
    assert not (tmp_path / "out").exists()


def test_a_huge_random_axis_is_counted_not_drawn(tmp_path):
    axes = [{"random": {"samples": 10**15, "seed": 1,
                        "params": [{"path": "tile.adc.bits", "integers": [4, 8]}]}}]
    start = time.monotonic()
    with pytest.raises(LimitError, match="1,000,000,000,000,000 design points"):
        load_spec(write_spec(tmp_path, axes=axes))
    assert time.monotonic() - start < 2


# -- 11. metric patterns in linear time --------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["a*a*a*a*a*a*a*a*a*a*a*b", "*a" * 20 + "*c", "a" + "*" * 1000 + "b"],
)
def test_a_pathological_pattern_against_a_long_key_is_fast(pattern):
    key = "a" * 10_000
    selector = MetricSelector([pattern])
    start = time.monotonic()
    expected = {key + "b": 2} if pattern.endswith("b") else {}
    assert selector.select([(key, 1), (key + "b", 2)]) == expected
    assert selector.columns([{key: 1}]) == ([], [pattern])
    assert time.monotonic() - start < 1


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("per_inference.energy_breakdown_j.*", "per_inference.energy_breakdown_j.adc", True),
        ("per_inference.energy_breakdown_j.*", "per_inference.energy_breakdown_j.", True),
        ("per_inference.energy_breakdown_j.*", "per_inference.energy_j", False),
        ("mapping.layers[*].active_s", "mapping.layers[12].active_s", True),
        ("mapping.layers[*].active_s", "mapping.layers[1].active_s.x", False),
        ("*", "", True),
        ("**", "anything.at.all", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "a.b.x.c", True),
        ("a*b*c", "acb", False),
        ("a*a", "a", False),
        ("*.x", "a.x.x", True),
        ("x.*.x", "x.x", False),
    ],
)
def test_pattern_semantics_are_kept(pattern, key, matches):
    assert (key in MetricSelector([pattern]).select([(key, 0)])) is matches
