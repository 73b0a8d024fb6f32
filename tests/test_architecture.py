"""The round-2 architecture, checked on real runs: the (phase, kind) handler registry, statistics
declared with units and kept per phase, the one percentile, Little's law on the pipelined
schedule, energy equal to each of its breakdowns, and regressions of ``archsim noc`` and
``archsim scrramble`` against the figures archsim printed before the refactor (golden files in
``tests/golden``, each naming the commit and command that produced it).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CONFIGS
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim import api
from archsim.cli import main
from archsim.config import load_hardware
from archsim.dse import run_sweep
from archsim.energy import account
from archsim.errors import TraceError
from archsim.report.report import build_report
from archsim.sim import Handler, Handlers, default_handlers, simulate
from archsim.sim.handlers import HandlerFactory, Process
from archsim.stats import Tally, percentile
from archsim.workload.scrramble import ScrrambleSpec, build_scrramble, export_scrramble_trace
from archsim.workload.trace import OpRecord, TraceWriter

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
WU = CONFIGS / "wu2023_64x64.yaml"
WU_NOC = CONFIGS / "wu2023_64x64_noc.yaml"
TWO_GROUPS = CONFIGS / "wu2023_two_groups.yaml"
MESH8 = CONFIGS / "noc_mesh8x8.yaml"
SCRRAMBLE = CONFIGS / "scrramble_256.yaml"
LENET = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"


# --------------------------------------------------------------------------------------------
# 1-2. A (phase, kind) added by registration; statistics per phase keep their unit
# --------------------------------------------------------------------------------------------

#: Cycles the stand-in backward handler takes per record.
BACKWARD_CYCLES = 37
LAYERS = ((25, 4, 12), (100, 12, 3))
SAMPLES = 3


def write_training_trace(
    path: Path, layers: Sequence[tuple[int, int, int]], samples: int, *, backward: bool
) -> Path:
    """A chain of dense layers ``(rows, cols, vectors)`` named fc1, fc2, ...: per sample one
    forward ``mvm`` record per layer and, with ``backward``, then one backward ``mvm_t`` record
    per layer in reverse order (the error's path), with the same shapes and statistics."""
    specs, forward = [], []
    previous, shape = "input", [layers[0][0]]
    for i, (rows, cols, vectors) in enumerate(layers, start=1):
        specs.append({"name": f"fc{i}", "kind": "dense", "inputs": [previous],
                      "in_shape": shape, "out_shape": [cols], "rows": rows, "cols": cols})
        previous, shape = f"fc{i}", [cols]
        forward.append({"phase": "forward", "layer": f"fc{i}", "kind": "mvm",
                        "vectors": vectors, "rows": rows, "cols": cols, "input_bits": 8,
                        "input_nz": 1.0, "bitplane_nz": [0.5] * 8, "bitplane_allzero": [0.0] * 8})
    transposed = [{**record, "phase": "backward", "kind": "mvm_t"} for record in reversed(forward)]
    header = {"model": "chain", "samples": samples, "seed": 0, "meta": {},
              "network": {"input_shape": [layers[0][0]], "weight_bits": 8, "act_bits": 8,
                          "layers": specs}}
    with TraceWriter(path, header) as writer:
        for sample in range(samples):
            for record in forward + (transposed if backward else []):
                writer.write({"sample": sample, **record})
    return path


def fixed_time_backward(cycles: int, executed: list[tuple[int, str]]) -> HandlerFactory:
    """A handler factory for backward ``mvm_t`` records: each record takes ``cycles`` cycles
    and is noted in ``executed`` as (sample, layer). A stand-in for a real transposed-read
    model: the point is what the engine does with it, not what it models."""

    class FixedTimeBackward(Handler):
        def execute(self, record: OpRecord) -> Process:
            executed.append((record.sample, record.layer))
            yield self.sim.env.timeout(cycles)

    return FixedTimeBackward


@pytest.fixture
def training_traces(tmp_path: Path) -> tuple[Path, Path]:
    """The chain of LAYERS over SAMPLES samples with backward records, and without them."""
    return (
        write_training_trace(tmp_path / "train.jsonl", LAYERS, SAMPLES, backward=True),
        write_training_trace(tmp_path / "infer.jsonl", LAYERS, SAMPLES, backward=False),
    )


def with_backward(executed: list[tuple[int, str]]) -> Handlers:
    return default_handlers().register(
        "backward", "mvm_t", fixed_time_backward(BACKWARD_CYCLES, executed)
    )


def test_a_new_phase_and_kind_is_a_registered_handler(training_traces):
    """Registering a handler for ("backward", "mvm_t") is all a new kind of work needs: the
    engine runs each backward record through it, after the sample's forward records. In the
    layer-sequential schedule nothing overlaps, so the run takes exactly the forward-only run's
    cycles plus the handler's cycles for every backward record (2 per sample, 3 samples), and
    each sample's latency grows by 2 x the handler's cycles. Without the registration the
    same trace is refused at its first backward record (record 2, after fc1 and fc2)."""
    train, infer = training_traces
    config = load_hardware(WU)
    assert not config.mapping.pipeline
    executed: list[tuple[int, str]] = []
    result = simulate(config, train, handlers=with_backward(executed))
    forward_only = simulate(config, infer)
    assert executed == [(s, name) for s in range(SAMPLES) for name in ("fc2", "fc1")]
    extra = SAMPLES * len(LAYERS) * BACKWARD_CYCLES
    assert result.total_cycles == forward_only.total_cycles + extra
    assert result.latency.mean == forward_only.latency.mean + len(LAYERS) * BACKWARD_CYCLES
    assert result.phases == ("forward", "backward")
    assert forward_only.phases == ("forward",)
    with pytest.raises(TraceError, match=r"record 2: no handler for backward 'mvm_t' records"):
        simulate(config, train)


@pytest.mark.parametrize("layers", [LAYERS, LAYERS[:1]], ids=["two layers", "one layer"])
def test_a_registered_backward_handler_runs_in_the_pipelined_schedule(tmp_path, layers):
    """The registry's promise holds for both schedules: in pipelined mode the same trace runs,
    every backward record is executed once, in reverse layer order, after its sample's forward
    pass, and each sample completes once, with its last backward record: every latency is at
    least the forward-only pipelined run's shortest plus the backward records' cycles."""
    train = write_training_trace(tmp_path / "train.jsonl", layers, SAMPLES, backward=True)
    infer = write_training_trace(tmp_path / "infer.jsonl", layers, SAMPLES, backward=False)
    config = load_hardware(WU, ["mapping.pipeline=true"])
    executed: list[tuple[int, str]] = []
    result = simulate(config, train, handlers=with_backward(executed))
    forward_only = simulate(config, infer)
    names = [f"fc{i}" for i in range(len(layers), 0, -1)]
    assert sorted(executed) == sorted((s, name) for s in range(SAMPLES) for name in names)
    for sample in range(SAMPLES):
        assert [name for s, name in executed if s == sample] == names
    assert result.samples == SAMPLES and result.latency.count == SAMPLES
    assert result.phases == ("forward", "backward")
    assert result.latency.min >= forward_only.latency.min + len(layers) * BACKWARD_CYCLES
    assert result.total_cycles >= forward_only.total_cycles + len(layers) * BACKWARD_CYCLES


def test_statistics_per_phase_keep_their_unit(training_traces):
    """The report of the forward+backward run: ``vmm_steps`` is declared in steps with a
    description, and only the forward phase did VMM steps (the stand-in handler counts none),
    the same number as the forward-only run's; the latency tally is in cycles with exact
    percentiles. Every sample takes the same time here, so p50 = p99 = mean = min = max."""
    train, infer = training_traces
    config = load_hardware(WU)
    result = simulate(config, train, handlers=with_backward([]))
    report = build_report(result, account(result))
    steps = report["statistics"]["vmm_steps"]
    assert steps["kind"] == "counter" and steps["unit"] == "steps"
    assert isinstance(steps["description"], str) and steps["description"]
    assert dict(steps["by_phase"]) == {"forward": simulate(config, infer).vmm_steps}
    assert steps["total"] == report["totals"]["vmm_steps"]
    latency = report["statistics"]["latency"]
    assert latency["unit"] == "cycles" and latency["count"] == SAMPLES
    assert latency["p50"] == latency["p99"] == latency["mean"] == latency["min"] == latency["max"]
    assert report["phases"] == ("forward", "backward")


# --------------------------------------------------------------------------------------------
# 3. One percentile
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(0, 1000), min_size=1, max_size=50),
    drawn=st.floats(0, 100, allow_nan=False),
)
def test_percentile_is_numpys_and_the_exact_mean_is_exact(values, drawn):
    """``percentile(histogram, q)`` promises numpy.percentile(values, 100 q) bit for bit. The
    percentages are drawn and q = p / 100 passed to archsim, as numpy divides p by 100 itself
    (passing 100 q to numpy could round q). An exact Tally's mean is sum / count of integers,
    rounded once, so it equals Python's ``sum(values) / len(values)`` exactly, and its p50, p99,
    min and max are numpy's too."""
    histogram = Counter(values)
    for p in (0.0, 50.0, 99.0, 100.0, drawn):
        assert percentile(histogram, p / 100) == np.percentile(values, p), p
    tally = Tally("x", "cycles", "test", exact=True)
    for value in values:
        tally.observe(value, "forward")
    summary = tally.summary()
    assert summary.mean == sum(values) / len(values)
    assert summary.p50 == np.percentile(values, 50) and summary.p99 == np.percentile(values, 99)
    assert (summary.min, summary.max, summary.count) == (min(values), max(values), len(values))


# --------------------------------------------------------------------------------------------
# 4. Little's law
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "layers", "samples"),
    [
        (WU, ((25, 4, 30), (100, 12, 5)), 6),
        (WU, ((64, 64, 7), (64, 16, 40), (16, 10, 3)), 9),
        (WU_NOC, ((25, 4, 30), (100, 12, 5)), 5),
    ],
    ids=["wu 2 layers", "wu 3 layers", "wu noc"],
)
def test_samples_in_flight_obey_littles_law(chain_trace, config, layers, samples):
    """L = lambda W on the pipelined schedule, exactly. The number in flight rises by one when
    a sample starts and falls by one when it finishes, so its time integral over the run is the
    sum of the time each sample spent in flight, i.e. of the latencies; dividing by the run
    time gives the time-weighted mean in flight = (samples / run time) x mean latency. Both are
    exact integer cycles, so the report's figures agree to rounding (1e-9 relative, from the
    seconds; 1e-12 from the cycles). Pipelining must overlap samples (max in flight > 1), or
    the check would be the trivial one-at-a-time case."""
    trace = chain_trace(layers, samples=samples)
    report = api.run(config, trace, overrides=["mapping.pipeline=true"])
    in_flight = report["statistics"]["samples_in_flight"]
    assert report["mode"] == "pipelined" and report["samples"] == samples
    assert in_flight["max"] > 1
    latency_sum_s = report["latency_s"]["mean"] * samples
    assert in_flight["mean"] == pytest.approx(latency_sum_s / report["totals"]["time_s"],
                                              rel=1e-9)
    cycles = report["statistics"]["latency"]
    assert in_flight["mean"] == pytest.approx(
        cycles["mean"] * cycles["count"] / report["totals"]["cycles"], rel=1e-12
    )


# --------------------------------------------------------------------------------------------
# 5. Energy is its breakdown
# --------------------------------------------------------------------------------------------

ENERGY_RUNS = [
    (WU_NOC, ()),
    (WU_NOC, ("mapping.pipeline=true",)),
    (TWO_GROUPS, ()),
    (WU, ("controller.enabled=true",)),
]


@pytest.mark.parametrize(("config", "overrides"), ENERGY_RUNS,
                         ids=["wu noc", "wu noc pipelined", "two groups", "wu timed"])
def test_energy_is_the_sum_of_each_breakdown(config, overrides):
    """The per-inference energy is the sum of its breakdown by component kind, by tile group
    and by phase, and the run's total is the sum of its energy by action (each is a
    partition of the same action counts x declared energies; 1e-12 relative for the order
    of the float sums)."""
    report = api.run(config, LENET, overrides=list(overrides))
    per = report["per_inference"]
    total = per["energy_j"]
    assert total > 0
    for breakdown in ("energy_breakdown_j", "energy_by_group_j", "energy_by_phase_j"):
        assert math.fsum(per[breakdown].values()) == pytest.approx(total, rel=1e-12), breakdown
    totals = report["totals"]
    assert math.fsum(totals["energy_by_action_j"].values()) == pytest.approx(
        totals["energy_j"], rel=1e-12
    )
    assert total * report["samples"] == pytest.approx(totals["energy_j"], rel=1e-12)


def test_energy_by_action_is_count_times_declared_energy():
    """Accelergy's split: every action's energy is its count x the energy its component
    declared, so ``energy_by_action_j[k] == actions[k] * energy_per_action_j[k]`` exactly (one
    multiplication per key when a single component declares it) for every key, and the three
    tables have the same keys."""
    totals = api.run(WU_NOC, LENET)["totals"]
    actions, per_action = totals["actions"], totals["energy_per_action_j"]
    by_action = totals["energy_by_action_j"]
    assert set(actions) == set(per_action) == set(by_action)
    wrong = {k: (by_action[k], actions[k] * per_action[k]) for k in actions
             if by_action[k] != actions[k] * per_action[k]}
    assert wrong == {}


def test_energy_per_action_of_groups_that_differ_is_the_runs_mean():
    """Two tile groups with different ADCs (8-bit and 4-bit) declare different energies for
    ``adc.convert``: each group lists its own, and the chip total gives the run's mean, the
    action's energy over its count, which lies between the two; actions the groups agree on
    keep their declared energy exactly."""
    report = api.run(TWO_GROUPS, LENET)
    totals, groups = report["totals"], report["groups"]
    actions, per_action = totals["actions"], totals["energy_per_action_j"]
    by_action = totals["energy_by_action_j"]
    assert set(actions) == set(per_action) == set(by_action)
    conv, fc = (groups[g]["energy_per_action_j"]["adc.convert"] for g in ("conv", "fc"))
    assert conv != fc
    assert min(conv, fc) < per_action["adc.convert"] < max(conv, fc)
    assert per_action["adc.convert"] * actions["adc.convert"] == pytest.approx(
        by_action["adc.convert"], rel=1e-12
    )
    for key in ("tia.sample", "dac.drive"):  # the same TIA and DAC in both groups
        declared = {groups[g]["energy_per_action_j"][key] for g in groups}
        assert len(declared) == 1
        assert per_action[key] == declared.pop()
        assert by_action[key] == pytest.approx(actions[key] * per_action[key], rel=1e-12)


# --------------------------------------------------------------------------------------------
# 6. archsim noc: the figures of the bundled mesh are those printed before the refactor
# --------------------------------------------------------------------------------------------


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / name).read_text())


@pytest.mark.parametrize("rate", ["0.05", "0.5"])
def test_noc_figures_of_the_bundled_mesh_are_unchanged(rate):
    """Golden regression: ``api.traffic`` on noc_mesh8x8.yaml, uniform traffic, reproduces
    every figure of the report written by archsim at commit 8d95ce1 (before this round's
    refactor) for the same command (``tests/golden/noc_mesh8x8_uniform_<rate>.json``: the
    commit and command are in its ``source``). The simulation is deterministic (seed 0), so
    the figures are compared exactly. At 0.5 packets/node/cycle the mesh is saturated (0.35
    flits/node/cycle accepted of 1.98 offered): the new report says so; the old one called
    that run steady."""
    old = golden(f"noc_mesh8x8_uniform_{rate}.json")
    report = api.traffic(MESH8, pattern="uniform", rate=float(rate))
    traffic, noc, latency = report["traffic"], report["noc"], report["statistics"]["packet_latency"]
    assert traffic["offered_flits"] == old["offered_flits"]
    assert traffic["accepted_flits"] == old["accepted_flits"]
    assert latency["mean"] == old["latency_mean"]
    assert latency["p50"] == old["latency_p50"]
    assert latency["p99"] == old["latency_p99"]
    assert latency["max"] == old["latency_max"]
    assert latency["count"] == old["packets"] == traffic["packets"]
    assert traffic["zero_load_latency_mean_cycles"] == old["zero_load_mean"]
    assert noc["link_utilization"]["max"] == old["link_utilization_max"]
    assert noc["link_utilization"]["mean"] == old["link_utilization_mean"]
    assert list(noc["link_utilization"]["per_link"]) == old["link_utilization"]
    assert list(noc["links"]) == old["links"]
    assert report["totals"]["cycles"] == old["cycles"]
    assert noc["flits_delivered"] == old["flits"]
    assert noc["packets_delivered"] == old["packets"]
    assert report["totals"]["energy_j"] == old["energy_j"]
    assert {k: v for k, v in report["totals"]["actions"].items() if v} == old["actions"]
    assert traffic["window_cycles"] == old["window_cycles"]
    saturated = rate == "0.5"
    assert traffic["saturated"] is saturated
    assert traffic["steady"] is (not saturated)


# --------------------------------------------------------------------------------------------
# 7. ScRRAMBLe through archsim run equals the old archsim scrramble
# --------------------------------------------------------------------------------------------


def run_cli(capsys: Any, args: Sequence[str]) -> None:
    """``archsim ARGS`` in this process, which must succeed."""
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]


SCRRAMBLE_RUNS = [
    pytest.param("scrramble_256_epochs2_samples4.json", id="2 epochs 4 samples"),
    pytest.param("scrramble_256_default.json", id="default", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", SCRRAMBLE_RUNS)
def test_scrramble_figures_are_unchanged_and_archsim_run_replays_them(tmp_path, capsys, name):
    """Golden regression: the new ``archsim scrramble`` with the arguments of the golden
    file's command reproduces the figures archsim printed at commit 8d95ce1 (the file's
    ``source``): packets, flits, cycles, sample latency, energy per component and in total,
    exactly (deterministic: same seed, one BLAS thread; per-component energies are per
    inference x samples, a power of two, so exact), and the test accuracy. The packet
    latency mean is compared to 1e-12: the old code kept a running (Welford) mean, the new one
    sums exact integer cycles. Then ``archsim run`` of the trace the command wrote, on the same
    config (whose mapping section says what ``archsim scrramble`` imposes), gives the same
    totals, per-inference and NoC sections."""
    old = golden(name)
    out, replay = tmp_path / "scr", tmp_path / "run"
    run_cli(capsys, [*old["command"][:1], ROOT / old["command"][1], *old["command"][2:],
                     "--out", out])
    new = json.loads((out / "report.json").read_text())
    samples = new["samples"]
    assert samples == old["samples"]
    assert new["noc"]["packets_delivered"] == old["packets"]
    assert new["noc"]["flits_delivered"] == old["flits"]
    assert new["totals"]["cycles"] == old["total_cycles"]
    latency = new["statistics"]["latency"]
    assert (latency["mean"], latency["max"], latency["min"], latency["count"]) == (
        old["latency_cycles"]["mean"], old["latency_cycles"]["max"],
        old["latency_cycles"]["min"], old["latency_cycles"]["count"],
    )
    breakdown = new["per_inference"]["energy_breakdown_j"]
    assert {k: v * samples for k, v in breakdown.items() if k in old["energy_by_component_j"]} \
        == old["energy_by_component_j"]
    assert all(v == 0 for k, v in breakdown.items() if k not in old["energy_by_component_j"])
    assert new["totals"]["energy_j"] == old["energy_j"]
    assert {k: v for k, v in new["totals"]["actions"].items() if v} == old["actions"]
    packet = new["statistics"]["packet_latency"]
    assert (packet["max"], packet["min"], packet["count"]) == (
        old["packet_latency_cycles"]["max"], old["packet_latency_cycles"]["min"],
        old["packet_latency_cycles"]["count"],
    )
    assert packet["mean"] == pytest.approx(old["packet_latency_cycles"]["mean"], rel=1e-12)
    section = new["scrramble"]
    assert section["test_accuracy"] == old["test_accuracy"]
    assert section["epochs"] == old["epochs"]
    assert section["measured_overhead"] == old["measured_overhead"]
    assert section["analytic_overhead"] == old["analytic_overhead"]

    run_cli(capsys, ["run", SCRRAMBLE, out / "scrramble.jsonl.gz", "--out", replay])
    again = json.loads((replay / "report.json").read_text())
    for part in ("totals", "per_inference", "noc", "latency_s"):
        assert again[part] == new[part], part


# --------------------------------------------------------------------------------------------
# 8. A sweep over ScRRAMBLe's block size
# --------------------------------------------------------------------------------------------


def test_a_sweep_over_scrramble_block_sizes(tmp_path):
    """Two untrained ScRRAMBLe networks of 256-input cores (4 + 1), blocks of 8 and of 16
    elements, on 2 random images, swept on scrramble_256.yaml (one axis level,
    noc.router_cycles 2). Both points run; the header overhead of a packet is A / (A + D), with
    D = 8 bits x block elements and A the header bits (router + chunk index), exactly as the
    report's ``noc.header_bits_per_packet`` gives it; the 8-element blocks pay the larger
    share (D halves while A shrinks by one chunk-index bit at most)."""
    images = np.random.default_rng(1).random((2, 28, 28))
    traces = []
    for block in (8, 16):
        network = build_scrramble(ScrrambleSpec(256, block, 0.2, (4, 1)),
                                  np.random.default_rng(0))
        path = tmp_path / f"blocks{block}.jsonl.gz"
        assert export_scrramble_trace(network, images, path) == 2 * 5  # 5 cores x 2 samples
        traces.append(path.name)
    spec = {
        "version": 1, "name": "scrramble_blocks", "config": str(SCRRAMBLE), "traces": traces,
        "axes": [{"path": "noc.router_cycles", "values": [2]}],
        "metrics": ["per_inference.latency_s", "per_inference.energy_j", "noc.header_overhead",
                    "noc.header_bits_per_packet"],
    }
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(json.dumps(spec, indent=1) + "\n")
    summary = run_sweep(spec_path, tmp_path / "out", workers=1, progress=False)
    assert (summary.points, summary.ok, summary.errors, summary.crashed) == (2, 2, 0, 0)
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    overhead = {}
    for row, block in zip(rows, (8, 16)):
        assert row["status"] == "ok" and row["noc.router_cycles"] == 2
        assert row["per_inference.latency_s"] > 0 and row["per_inference.energy_j"] > 0
        header = row["noc.header_bits_per_packet"]
        assert row["noc.header_overhead"] == pytest.approx(header / (header + 8 * block),
                                                           rel=1e-12)
        overhead[block] = row["noc.header_overhead"]
    assert overhead[8] > overhead[16]
