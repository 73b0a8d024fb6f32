"""Engine: invariants (property tests) and closed-form cross-checks of whole runs."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from conftest import CONFIGS, write_chain_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.config import load_hardware
from archsim.energy import account
from archsim.errors import MappingError, TraceError
from archsim.report import build_report, to_json
from archsim.sim import simulate

WU = CONFIGS / "wu2023_64x64.yaml"
ISAAC = CONFIGS / "isaac_like.yaml"

layer_shapes = st.lists(
    st.tuples(st.integers(1, 200), st.integers(1, 40), st.integers(1, 30)), min_size=1, max_size=4
)


def run(config_path, trace, *overrides, seed=0):
    config = load_hardware(config_path, overrides)
    result = simulate(config, trace, seed=seed)
    return config, result, account(result)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=layer_shapes, samples=st.integers(1, 3), pipeline=st.booleans(),
       copies=st.integers(1, 3), config=st.sampled_from([WU, ISAAC]))
def test_macs_in_trace_equal_macs_performed(layers, samples, pipeline, copies, config):
    """Property: every MAC in the trace is performed once, whatever the mapping and mode;
    energy equals the sum of its breakdown."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_chain_trace(Path(tmp) / "t.jsonl", layers, samples=samples)
        _, result, energy = run(
            config, trace, "chip.tiles=4096", f"mapping.pipeline={str(pipeline).lower()}",
            f"mapping.copies={{fc1: {copies}}}",
        )
    assert result.macs == samples * sum(r * c * v for r, c, v in layers)
    assert result.samples == samples
    assert math.isclose(energy.total_j, sum(energy.by_component_j.values()), rel_tol=1e-12)
    assert math.isclose(energy.total_j, sum(energy.by_action_j.values()), rel_tol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=layer_shapes, cpa=st.sampled_from([2, 4, 8, 16, 32, 64]), pipeline=st.booleans())
def test_latency_never_rises_when_an_adc_is_added(layers, cpa, pipeline):
    """Property: halving the columns per ADC (more ADCs) never raises latency or interval."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_chain_trace(Path(tmp) / "t.jsonl", layers, samples=2)
        mode = f"mapping.pipeline={str(pipeline).lower()}"
        _, few, _ = run(WU, trace, "chip.tiles=4096", mode, f"tile.adc.columns_per_adc={cpa}")
        _, more, _ = run(WU, trace, "chip.tiles=4096", mode,
                         f"tile.adc.columns_per_adc={cpa // 2}")
    assert more.latency.mean <= few.latency.mean
    assert more.interval_cycles <= few.interval_cycles


def test_sequential_and_pipelined_match_closed_forms(chain_trace):
    """Wu tiles: every step costs 72 cycles. Sequential latency = sum of the layers' steps;
    the pipelined interval = the slowest layer's steps (Wu et al.'s reading of Table 2)."""
    layers = [(25, 4, 100), (100, 12, 30), (192, 10, 1)]
    trace = chain_trace(layers, samples=5)
    _, seq, _ = run(WU, trace)
    assert seq.latency.mean == 72 * (100 + 30 + 1)
    assert seq.total_cycles == 5 * 72 * 131
    assert seq.vmm_steps == 5 * 131
    assert seq.tile_ops == 5 * (100 * 1 + 30 * 2 + 1 * 3)
    _, pipe, _ = run(WU, trace, "mapping.pipeline=true")
    assert pipe.interval_cycles == 72 * 100
    assert pipe.latency.min == 72 * 131  # the first sample meets an empty pipeline
    _, copies, _ = run(WU, trace, "mapping.pipeline=true", "mapping.copies={fc1: 4}")
    assert copies.interval_cycles == 72 * 30  # fc1 now takes 25 steps, fc2 is the bottleneck
    assert copies.crossbars == 2 + 2 + 3


def test_copies_split_vectors_and_packed_arrays_share_operations(chain_trace):
    """8 copies of a 25x4 layer packed 2 per 64x64 array: 576 vectors -> 72 steps, 288 ops."""
    trace = chain_trace([(25, 4, 576)])
    _, result, _ = run(WU, trace, "mapping.copies={fc1: 8}")
    assert result.crossbars == 4
    assert result.vmm_steps == 72
    assert result.tile_ops == 288
    assert result.latency.mean == 72 * 72


def test_digital_work_is_counted_but_excluded_or_timed(chain_trace):
    trace = chain_trace([(25, 4, 10)], relu=True)
    _, excluded, energy = run(WU, trace)
    assert excluded.digital_elements == 40
    assert excluded.latency.mean == 72 * 10
    assert energy.by_component_j["digital"] == 0
    _, timed, energy = run(CONFIGS / "wu2023_64x64_fullchip.yaml", trace)
    assert timed.latency.mean == 72 * 10 + 4 * 40
    assert energy.by_component_j["digital"] == pytest.approx(40 * 80e-12)


def test_same_inputs_give_byte_identical_reports(chain_trace):
    trace = chain_trace([(100, 12, 7), (12, 10, 1)], samples=3, relu=True)
    texts = []
    for _ in range(2):
        config, result, energy = run(ISAAC, trace, seed=7)
        texts.append(to_json(build_report(result, energy, config_file=ISAAC, trace_file=trace)))
    assert texts[0] == texts[1]


def test_a_network_that_does_not_fit_names_what_is_short(chain_trace):
    trace = chain_trace([(192, 10, 1)])
    with pytest.raises(MappingError, match=r"needs 3 crossbars \(fc1: 3\) but the chip has 2"):
        run(WU, trace, "chip.tiles=2")


def test_copies_of_an_unknown_layer_are_refused(chain_trace):
    trace = chain_trace([(25, 4, 1)])
    with pytest.raises(MappingError, match="mapping.copies.conv9"):
        run(WU, trace, "mapping.copies={conv9: 2}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=layer_shapes, issue=st.integers(0, 100), copies=st.integers(1, 4),
       pipeline=st.booleans(), config=st.sampled_from([WU, ISAAC]),
       scope=st.sampled_from(["chip", "tile"]))
def test_utilization_never_exceeds_one(layers, issue, copies, pipeline, config, scope):
    """Property: every timed component's busy fraction is in [0, 1], on the hardware in use
    and on the whole chip, even when parallel groups contend for a controller core."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_chain_trace(Path(tmp) / "t.jsonl", layers, samples=2, relu=True)
        _, result, energy = run(
            config, trace, "chip.tiles=64", "chip.crossbars_per_tile=1",
            "controller.enabled=true", f"controller.scope={scope}",
            f"controller.cycles.mvm={issue}", "controller.cycles.store=3",
            f"mapping.copies={{fc1: {copies}}}", f"mapping.pipeline={str(pipeline).lower()}",
        )
    per = build_report(result, energy)["per_inference"]
    for view in ("utilization", "utilization_chip"):
        for kind, fraction in per[view].items():
            assert 0.0 <= fraction <= 1.0 + 1e-12, (view, kind, fraction)


def test_pipelined_latency_is_the_empty_pipeline_latency(chain_trace):
    """The pipelined latency is a traversal of an empty pipeline, whatever the trace length;
    later samples wait behind the bottleneck, which latency_s.mean shows."""
    layers = [(25, 4, 100), (100, 12, 30), (192, 10, 1)]
    lengths = []
    for samples in (1, 2, 10):
        _, result, energy = run(WU, chain_trace(layers, samples=samples), "mapping.pipeline=true")
        lengths.append(build_report(result, energy)["per_inference"]["latency_s"])
    assert lengths[0] == lengths[1] == lengths[2] == 72 * 131 / 100e6


def test_busy_time_adds_up(chain_trace):
    trace = chain_trace([(25, 4, 50), (100, 12, 20)], samples=2)
    config, result, energy = run(WU, trace, "mapping.pipeline=true")
    # Each layer's crossbars are busy for its steps; tiles 0 (fc1) and 1-2 (fc2's row splits).
    assert result.tile_busy_cycles == (2 * 50 * 72, 2 * 20 * 72, 2 * 20 * 72)


def test_unsupported_phases_are_refused_with_the_record(tmp_path):
    from archsim.workload.trace import TraceWriter

    header = {"model": "m", "samples": 1, "seed": 0, "meta": {},
              "network": {"input_shape": [4], "weight_bits": 8, "act_bits": 8,
                          "layers": [{"name": "fc1", "kind": "dense", "inputs": ["input"],
                                      "in_shape": [4], "out_shape": [2], "rows": 4, "cols": 2}]}}
    path = tmp_path / "u.jsonl"
    with TraceWriter(path, header) as writer:
        # A trace runs each sample's forward pass first (the reader checks it), then updates.
        writer.write({"sample": 0, "phase": "forward", "layer": "fc1", "kind": "mvm",
                      "vectors": 1, "rows": 4, "cols": 2, "input_bits": 1, "input_nz": 0.5,
                      "bitplane_nz": [0.5], "bitplane_allzero": [0.0]})
        writer.write({"sample": 0, "phase": "update", "layer": "fc1", "kind": "outer",
                      "vectors": 1, "rows": 4, "cols": 2})
    with pytest.raises(TraceError, match=r"record 1: no handler for update 'outer' records "
                                         r"\(layer 'fc1'\): this hardware executes forward "
                                         r"mvm records; the config has no training section"):
        run(WU, path)


def test_progress_hears_every_sample_and_changes_nothing(chain_trace):
    """The progress hook is called once per completed sample, in both modes, and the result
    equals a run without it."""
    trace = chain_trace([(25, 4, 30), (100, 12, 5)], samples=5)
    for pipeline in ("false", "true"):
        config = load_hardware(WU, [f"mapping.pipeline={pipeline}"])
        calls: list[int] = []
        with_hook = simulate(config, trace, progress=lambda: calls.append(1))
        assert len(calls) == 5
        assert with_hook == simulate(config, trace)
