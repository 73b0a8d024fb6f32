"""The timeline export: Chrome Trace Event JSON whose spans add up to the report's busy times.

A recording is checked against the run it came from: per tile, the ``mvm`` spans sum to
``tiles.array_busy_s`` (exactly, in whole cycles, when the file holds the whole run), per core
the ``controller`` spans to its busy cycles, and the report is the same with and without a
recorder. Runs use a 3-sample LeNet trace so the suite stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
import simpy
from conftest import CONFIGS, write_chain_trace
from hypothesis import given, settings
from hypothesis import strategies as st
from test_components import GROUP, controller

from archsim.config import load_hardware
from archsim.energy import account
from archsim.errors import ArchsimError
from archsim.hw.controller import RecordedController
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.tile import CrossbarTiles, Tile
from archsim.mapping.crossbar import CrossbarLayout
from archsim.report import build_report, to_json
from archsim.report.timeline import to_chrome_trace, write_timeline
from archsim.sim import simulate
from archsim.stats.timeline import CATEGORIES, ArrayWork, Timeline
from archsim.workload.export import export_trace

WU = CONFIGS / "wu2023_64x64.yaml"
WU_NOC = CONFIGS / "wu2023_64x64_noc.yaml"
WU_FULL = CONFIGS / "wu2023_64x64_fullchip.yaml"
ISAAC = CONFIGS / "isaac_like.yaml"
SAMPLES = 3

#: (config, overrides): sequential and pipelined, with copies, untimed and timed controller.
RUNS = {
    "sequential": (WU, ()),
    "pipelined-copies": (WU, ("mapping.pipeline=true", "mapping.copies={conv1: 8}")),
    "noc-sequential": (WU_NOC, ()),
    "noc-pipelined-tile-cores": (
        WU_NOC, ("mapping.pipeline=true", "controller.scope=tile", "mapping.copies={conv1: 2}"),
    ),
}


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("timeline") / "lenet3.jsonl.gz"
    export_trace("lenet-wu", path, samples=SAMPLES, seed=0)
    return path


def record(config_path: Path, overrides, trace: Path, **options):
    """(report, Chrome trace text, its parsed JSON) of one recorded run."""
    config = load_hardware(config_path, list(overrides))
    timeline = Timeline(**options)
    result = simulate(config, trace, timeline=timeline)
    text = to_chrome_trace(timeline)
    return build_report(result, account(result)), text, json.loads(text)


def spans(doc) -> list[dict]:
    return [e for e in doc["traceEvents"] if e["ph"] == "X"]


def process_names(doc) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in doc["traceEvents"]
            if e["ph"] == "M" and e["name"] == "process_name"}


def thread_names(doc) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in doc["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


def cycles(doc, microseconds: float) -> float:
    return microseconds * doc["otherData"]["clock_hz"] / 1e6


def busy_by_thread(doc, category: str) -> dict[str, float]:
    """Summed span time (us) per thread name of ``category``."""
    names = thread_names(doc)
    busy: dict[str, float] = defaultdict(float)
    for e in spans(doc):
        if e["cat"] == category:
            busy[names[e["pid"], e["tid"]]] += e["dur"]
    return dict(busy)


def array_busy_by_tile(doc) -> dict[int, tuple[float, int]]:
    """Per tile: the ``mvm`` spans' summed duration in us and in whole cycles."""
    names = process_names(doc)
    total: dict[int, list] = defaultdict(lambda: [0.0, 0])
    for e in spans(doc):
        if e["cat"] == "mvm":
            tile = int(names[e["pid"]].removeprefix("tile "))
            total[tile][0] += e["dur"]
            total[tile][1] += round(cycles(doc, e["dur"]))
    return {tile: (us, n) for tile, (us, n) in total.items()}


@pytest.mark.parametrize("name", RUNS)
def test_the_file_is_valid_chrome_trace_json_with_named_non_overlapping_tracks(name, lenet):
    """Every event has ph/ts/pid/tid; complete events have a name, a category and dur >= 0;
    metadata names every process and thread that has spans; no two spans of a thread overlap
    (Chrome and Perfetto nest the complete events of one thread)."""
    config_path, overrides = RUNS[name]
    _, text, doc = record(config_path, overrides, lenet, conversions=name == "sequential")
    # No displayTimeUnit: Perfetto would take it for the unit of ts.
    assert set(doc) == {"traceEvents", "otherData"}
    assert text.isascii() and "\\u" not in text
    for event in doc["traceEvents"]:
        assert {"ph", "ts", "pid", "tid"} <= set(event)
        assert event["ph"] in ("X", "M")
    processes, threads = process_names(doc), thread_names(doc)
    by_thread = defaultdict(list)
    for e in spans(doc):
        assert e["dur"] >= 0 and e["ts"] >= 0 and e["name"] and e["cat"] in CATEGORIES
        assert e["pid"] in processes and (e["pid"], e["tid"]) in threads
        by_thread[e["pid"], e["tid"]].append((round(cycles(doc, e["ts"])),
                                              round(cycles(doc, e["ts"] + e["dur"]))))
    for intervals in by_thread.values():
        intervals.sort()
        assert all(b[0] >= a[1] for a, b in zip(intervals, intervals[1:]))
    # Ids from 1 (Perfetto takes pid 0 for the kernel and merged tid 0 into tid 1), tids unique
    # over the file, and a sort index for every process and thread, in the order of the ids.
    tids = [tid for _, tid in threads]
    assert min(processes) == 1 and min(tids) == 1 and len(set(tids)) == len(tids)
    sort_index = {(e["name"], e["pid"], e["tid"]): e["args"]["sort_index"]
                  for e in doc["traceEvents"] if e["name"].endswith("_sort_index")}
    assert {pid: sort_index["process_sort_index", pid, 0] for pid in processes} == {
        pid: pid for pid in processes}
    assert all(sort_index["thread_sort_index", pid, tid] == tid for pid, tid in threads)
    meta = doc["otherData"]
    assert meta["complete"] and meta["spans_recorded"] == len(spans(doc))
    assert meta["spans_dropped"] == 0 and meta["spans_outside_window"] == 0
    assert meta["max_events"] == 200_000
    assert meta["run_cycles"] == round(cycles(doc, meta["window_end_us"]))


@pytest.mark.parametrize("name", RUNS)
def test_array_spans_of_a_tile_sum_to_its_busy_time_in_the_report(name, lenet):
    """The whole run recorded: per tile in use, the summed ``mvm`` span time equals
    ``tiles.array_busy_s`` up to float rounding, and exactly in whole cycles (one span per
    group job with an untimed controller, one per step with a timed one)."""
    config_path, overrides = RUNS[name]
    report, _, doc = record(config_path, overrides, lenet, conversions=False)
    busy_s = report["tiles"]["array_busy_s"]
    clock = doc["otherData"]["clock_hz"]
    measured = array_busy_by_tile(doc)
    assert sorted(measured) == list(range(len(busy_s)))
    for tile, expected in enumerate(busy_s):
        us, whole_cycles = measured[tile]
        assert math.isclose(us / 1e6, expected, rel_tol=1e-12)
        assert whole_cycles == round(expected * clock)


@settings(max_examples=15, deadline=None)
@given(layers=st.lists(st.tuples(st.integers(1, 200), st.integers(1, 40), st.integers(1, 12)),
                       min_size=2, max_size=3),
       pipeline=st.booleans(), scope=st.sampled_from(["chip", "tile"]),
       issue=st.integers(0, 3))
def test_spans_add_up_to_the_report_on_random_chains(layers, pipeline, scope, issue):
    """Property, chains of dense layers over several tiles of an 8x8 mesh: per tile the
    ``mvm`` spans sum to ``tiles.array_busy_s`` in whole cycles, the ``controller`` spans to
    ``controller.busy_s``, and there is one ``noc`` span per packet."""
    overrides = ["chip.tiles=64", "noc.dims=[8, 8]", f"controller.scope={scope}",
                 f"mapping.pipeline={str(pipeline).lower()}", f"controller.cycles.mvm={issue}"]
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_chain_trace(Path(tmp) / "chain.jsonl", layers, samples=2)
        report, _, doc = record(WU_NOC, overrides, trace, conversions=False)
    clock = doc["otherData"]["clock_hz"]
    assert doc["otherData"]["complete"]
    measured = array_busy_by_tile(doc)
    for tile, busy in enumerate(report["tiles"]["array_busy_s"]):
        assert measured[tile][1] == round(busy * clock)
    controller_s = sum(busy_by_thread(doc, "controller").values()) / 1e6
    assert math.isclose(controller_s, report["controller"]["busy_s"], rel_tol=1e-9, abs_tol=1e-15)
    packets = sum(1 for e in spans(doc) if e["cat"] == "noc")
    assert packets == round(report["noc"]["packets_per_inference"] * 2)


@pytest.mark.parametrize("scope", ["chip", "tile"])
def test_controller_spans_sum_to_the_cores_busy_time(scope, lenet):
    """On the timed wu2023_64x64_noc core(s), the ``controller`` spans sum to the report's
    ``controller.busy_s`` (summed over cores; per core for one core)."""
    report, _, doc = record(WU_NOC, [f"controller.scope={scope}"], lenet, conversions=False)
    busy = busy_by_thread(doc, "controller")
    assert report["controller"]["busy_s"] > 0
    assert math.isclose(sum(busy.values()) / 1e6, report["controller"]["busy_s"], rel_tol=1e-12)
    if scope == "chip":
        assert list(busy) == ["core 0"]
    else:
        assert len(busy) == report["controller"]["cores_used"]


class LogRecorder:
    """A recorder that logs what the hardware reports: (hook, arguments...)."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def arrays(self, crossbars, start, steps, op_cycles, work) -> None:
        self.log.append(("arrays", crossbars, start, start + steps * op_cycles))

    def instruction(self, core, op, start, end) -> None:
        self.log.append(("instruction", core, op, start, end))

    def packet(self, src_tile, dst_tile, created, delivered, flits, hops) -> None:
        self.log.append(("packet", src_tile, dst_tile, created, delivered))

    def vector(self, unit, kind, elements, start, end) -> None:
        self.log.append(("vector", unit, kind, start, end))


def test_a_timed_group_reports_its_steps_from_the_trigger_and_the_core_its_reservations():
    """Two cores: group a on core 0 (issue 2, operation 10, loop 3, store 4; 2 steps: see
    test_components), group b on core 1 (issue 5, one step of 7). Array spans start where
    their step's load+mvm reservation ends; each core's spans sum to its busy cycles."""
    env = simpy.Environment()
    recorder = LogRecorder()
    config = dataclasses.replace(controller(env, 0).config, scope="tile")
    ctrl = RecordedController(config, 2, 2, recorder)
    work = ArrayWork("fc", ((),))
    a = CrossbarGroup(env, GROUP, ctrl, recorder)
    b = CrossbarGroup(env, dataclasses.replace(GROUP, crossbars=(1,)), ctrl, recorder)
    a.submit(2, 10, ctrl.cores[0], issue=2, retire=3, store=4, work=work)
    b.submit(1, 7, ctrl.cores[1], issue=5, work=work)
    env.run()
    arrays = sorted(entry[1:] for entry in recorder.log if entry[0] == "arrays")
    assert arrays == [((0,), 2, 12), ((0,), 14, 24), ((1,), 5, 12)]
    reservations = [entry[1:] for entry in recorder.log if entry[0] == "instruction"]
    assert sorted(r for r in reservations if r[0] == 0) == [
        (0, "load+mvm", 0, 2), (0, "load+mvm", 12, 14), (0, "loop+store", 2, 5),
        (0, "loop+store", 14, 21), (0, "store", 24, 28),
    ]
    for core in ctrl.cores:
        assert sum(end - start for c, _, start, end in reservations if c == core.index) == (
            core.busy_cycles
        )


def test_an_untimed_group_reports_one_span_per_job():
    env = simpy.Environment()
    recorder = LogRecorder()
    group = CrossbarGroup(env, GROUP, controller(env, 0, enabled=False), recorder)
    group.submit(3, 72, work=ArrayWork("fc", ((),)))
    group.submit(2, 72, work=ArrayWork("fc", ((),)))
    env.run()
    assert recorder.log == [("arrays", (0,), 0, 216), ("arrays", (0,), 216, 360)]


def test_vector_unit_spans_sum_to_the_digital_busy_time(lenet):
    """wu2023_64x64_fullchip runs activation and pooling on the vector unit: its spans sum to
    ``digital.busy_s``."""
    report, _, doc = record(WU_FULL, (), lenet, conversions=False)
    busy = busy_by_thread(doc, "digital")
    assert report["digital"]["busy_s"] > 0 and list(busy) == ["vector unit 0"]
    assert math.isclose(busy["vector unit 0"] / 1e6, report["digital"]["busy_s"], rel_tol=1e-12)


def test_packet_spans_are_the_packets_creation_to_delivery(lenet):
    """One ``noc`` span per packet; their mean duration is the report's mean packet latency."""
    report, _, doc = record(WU_NOC, (), lenet, conversions=False)
    packets = [e for e in spans(doc) if e["cat"] == "noc"]
    noc = report["noc"]
    assert len(packets) == round(noc["packets_per_inference"] * SAMPLES)
    mean_s = sum(e["dur"] for e in packets) / len(packets) / 1e6
    assert math.isclose(mean_s, noc["packet_latency_s"]["mean"], rel_tol=1e-9)
    assert all(e["args"]["flits"] >= 1 and e["args"]["hops"] >= 0 for e in packets)
    # The lanes of a flow (its packets overlap in flight) are threads named after the flow.
    names = thread_names(doc)
    lanes = defaultdict(set)
    for e in packets:
        lanes[names[e["pid"], e["tid"]]].add(e["tid"])
    assert all(re.fullmatch(r"tile \d+ -> tile \d+", name) for name in lanes)
    assert max(len(tids) for tids in lanes.values()) > 1


def test_adc_spans_are_the_conversions_of_every_operation(lenet):
    """With analog accumulation an operation converts its G = 8 column groups one after
    another: 8 ``adc`` spans of one conversion (1 cycle) per tile operation, each inside an
    ``mvm`` span of its array."""
    report, _, doc = record(WU, (), lenet)
    adc = [e for e in spans(doc) if e["cat"] == "adc"]
    assert len(adc) == 8 * report["totals"]["tile_ops"]
    assert {round(cycles(doc, e["dur"])) for e in adc} == {1}
    names = thread_names(doc)
    windows = defaultdict(list)
    for e in spans(doc):
        if e["cat"] == "mvm":
            windows[names[e["pid"], e["tid"]]].append((e["ts"], e["ts"] + e["dur"]))
    for e in adc[:: len(adc) // 50]:
        array = names[e["pid"], e["tid"]].removesuffix(" adc")
        assert any(lo <= e["ts"] and e["ts"] + e["dur"] <= hi + 1e-9 for lo, hi in windows[array])


@pytest.mark.parametrize(
    "config_path, overrides",
    [(WU, ()), (WU, ("tile.adc.columns_per_adc=4",)), (WU, ("tile.adc.bits=16",)), (ISAAC, ()),
     (ISAAC, ("tile.adc.overlap_with_read=false",))],
)
def test_conversion_phases_follow_the_tile_cost_model(config_path, overrides):
    """The last conversion phase ends with the operation (``op_cost(...).cycles``) and the
    phases, times the ADCs of an array, are the ADCs' busy cycles of one operation."""
    config = load_hardware(config_path, list(overrides))
    tile = Tile(0, "default")
    tiles = CrossbarTiles(config.tile, tiles=(tile,), crossbars=1, used=1)
    xbar = config.tile.crossbar
    layout = CrossbarLayout(slots=(), rows_used=xbar.rows, cols_used=xbar.cols)
    for bits in (1, 4, 8):
        phases = tiles.conversion_phases(layout, bits, tile)
        cost = tiles.op_cost(layout, bits, tile)
        assert phases[-1][0] + phases[-1][1] == cost.cycles
        assert all(b[0] >= a[0] + a[1] for a, b in zip(phases, phases[1:]))
        assert sum(c for _, c in phases) * tiles.adc.per_array == cost.busy_of("adc")


def test_the_cap_keeps_the_first_spans_and_says_how_many_were_dropped(lenet):
    _, _, full = record(WU, (), lenet)
    _, _, capped = record(WU, (), lenet, max_events=1000)
    meta = capped["otherData"]
    assert len(spans(capped)) == meta["spans_recorded"] == 1000
    assert meta["max_events"] == 1000 and not meta["complete"]
    assert meta["spans_dropped"] == len(spans(full)) - 1000
    assert sum(meta[f"spans_dropped_{cat}"] for cat in CATEGORIES) == meta["spans_dropped"]


def test_a_window_of_samples_holds_their_spans_and_states_its_bounds(lenet):
    """Sequential: samples are alike, so the window of sample 1 alone holds a third of every
    tile's busy time, between the window's bounds; the rest is counted outside."""
    report, _, full = record(WU, (), lenet, conversions=False)
    _, _, window = record(WU, (), lenet, conversions=False, first_sample=1, samples=1)
    meta = window["otherData"]
    start, stop = meta["window_start_us"], meta["window_end_us"]
    assert (meta["window_first_sample"], meta["window_samples"]) == (1, 1)
    assert 0 < start < stop < meta["run_cycles"] / meta["clock_hz"] * 1e6
    assert meta["spans_outside_window"] == len(spans(full)) - len(spans(window))
    assert not meta["complete"]
    for e in spans(window):
        assert start <= e["ts"] and e["ts"] + e["dur"] <= stop + 1e-9
    clock = meta["clock_hz"]
    for tile, (_, whole_cycles) in array_busy_by_tile(window).items():
        assert whole_cycles * SAMPLES == round(report["tiles"]["array_busy_s"][tile] * clock)


def test_a_pipelined_window_is_the_chips_activity_between_its_bounds(lenet):
    config_path, overrides = RUNS["noc-pipelined-tile-cores"]
    _, _, doc = record(config_path, overrides, lenet, conversions=False, first_sample=1, samples=1)
    start, stop = doc["otherData"]["window_start_us"], doc["otherData"]["window_end_us"]
    assert spans(doc)
    assert all(start <= e["ts"] < stop for e in spans(doc))


def test_results_are_unchanged_by_recording(lenet):
    """The report JSON is byte-identical with and without a recorder."""
    for config_path, overrides in RUNS.values():
        config = load_hardware(config_path, list(overrides))
        plain = simulate(config, lenet)
        recorded = simulate(config, lenet, timeline=Timeline(max_events=500))
        assert to_json(build_report(plain, account(plain))) == to_json(
            build_report(recorded, account(recorded))
        )


def test_output_is_deterministic_and_written_atomically(lenet, tmp_path):
    config_path, overrides = RUNS["noc-pipelined-tile-cores"]
    paths = []
    for name in ("a.json", "b.json"):
        timeline = Timeline()
        simulate(load_hardware(config_path, list(overrides)), lenet, timeline=timeline)
        paths.append(write_timeline(timeline, tmp_path / "out" / name))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json", "b.json"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ArchsimError, match="cannot write the timeline"):
        write_timeline(timeline, blocker / "t.json")


def test_a_recorder_records_one_ended_run(lenet):
    timeline = Timeline()
    with pytest.raises(ValueError, match="has not ended"):
        to_chrome_trace(timeline)
    config = load_hardware(WU)
    simulate(config, lenet, timeline=timeline)
    with pytest.raises(ValueError, match="records one run"):
        simulate(config, lenet, timeline=timeline)
    for bad in ({"max_events": 0}, {"first_sample": -1}, {"samples": 0}):
        with pytest.raises(ValueError):
            Timeline(**bad)
