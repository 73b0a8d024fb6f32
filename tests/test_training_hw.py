"""Training hardware: the backward and update handlers and their units, against closed forms.

The configs: ``rasch2024_table1.yaml`` (one 512x512 array at 1 GHz, Rasch et al. 2024's Table 1
parameters: 40-cycle MVM, 5-cycle pulse slot, 700 FLOP/cycle shared by 4 arrays) and
``wu2023_64x64_training.yaml`` (Wu et al. 2023's tiles with a write-and-verify engine).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIGS

from archsim import api
from archsim.config import load_hardware
from archsim.energy import account
from archsim.sim import simulate
from archsim.workload.trace import TraceWriter

RASCH = CONFIGS / "rasch2024_table1.yaml"
WU = CONFIGS / "wu2023_64x64_training.yaml"
N = 512


def _header(rows: int, cols: int, samples: int) -> dict[str, Any]:
    layer = {"name": "fc1", "kind": "dense", "inputs": ["input"], "in_shape": [rows],
             "out_shape": [cols], "rows": rows, "cols": cols}
    return {"model": "t", "samples": samples, "seed": 0,
            "network": {"input_shape": [rows], "weight_bits": 8, "act_bits": 8,
                        "layers": [layer]}}


def _mvm(sample: int, rows: int, cols: int, kind: str = "mvm", phase: str = "forward",
         bits: int = 8) -> dict[str, Any]:
    return {"sample": sample, "phase": phase, "layer": "fc1", "kind": kind, "vectors": 1,
            "rows": rows, "cols": cols, "input_bits": bits, "input_nz": 0.5,
            "bitplane_nz": [0.5] * bits, "bitplane_allzero": [0.0] * bits}


def training_trace(path: Path, updates: list[list[dict[str, Any]]], rows: int = N,
                   cols: int = N) -> Path:
    """One dense layer; per sample a forward and a backward MVM, then that sample's updates."""
    with TraceWriter(path, _header(rows, cols, len(updates)), version=3) as writer:
        for sample, records in enumerate(updates):
            writer.write(_mvm(sample, rows, cols))
            writer.write(_mvm(sample, rows, cols, "mvm_t", "backward"))
            for record in records:
                writer.write({"sample": sample, "phase": "update", "layer": "fc1", **record})
    return path


def phase_cycles(report: Any, phase: str) -> int:
    stats = report["statistics"]
    return sum(stats[name]["by_phase"].get(phase, 0)
               for name in ("time_tile", "time_digital", "time_controller", "time_noc"))


def outer(bit_length: int, pulses: int, array: str = "A", vectors: int = 1) -> dict[str, Any]:
    return {"kind": "outer", "vectors": vectors, "rows": N, "cols": N,
            "bit_length": bit_length, "pulses": pulses, "array": array}


def test_update_records_take_their_closed_form_times(tmp_path):
    """Digital work takes ceil(flops x 4 / 700) cycles (a quarter of 700 FLOP/cycle); a train
    of l slots 5 l cycles, twice with sequential polarities; a transfer one 40-cycle MVM per
    row read plus its train."""
    updates = [[{"kind": "digital", "flops": 1024, "bits": 0}, outer(5, 100)],
               [{"kind": "transfer", "reads": 3, "input_bits": 1, "bit_length": 2,
                 "pulses": 7}]]
    trace = training_trace(tmp_path / "t.jsonl", updates)
    together = api.run(RASCH, trace)
    sequential = api.run(RASCH, trace, overrides=["training.pulse.polarities=sequential"])
    digital = math.ceil(1024 * 4 / 700)
    assert phase_cycles(together, "update") == digital + 25 + 3 * (40 + 10)
    assert phase_cycles(sequential, "update") == digital + 50 + 3 * (40 + 20)
    # The forward and the transposed read of a square array cost the same 40 cycles.
    assert phase_cycles(together, "forward") == phase_cycles(together, "backward") == 2 * 40


def test_write_and_verify_by_row_or_by_cell(tmp_path):
    """A write takes rounds x (pulse slots + verify) with rows programmed together (two pulse
    slots a round on this config: its SET and RESET pulses one after the other), every pulse
    and verify read in turn otherwise; a write without verify reads only its pulses."""
    write = {"kind": "write", "cells": 100, "pulses": 130, "verify_reads": 130, "rounds": 9}
    blind = {"kind": "write", "cells": 100, "pulses": 100, "verify_reads": 0, "rounds": 4}
    trace = training_trace(tmp_path / "t.jsonl", [[write], [blind]], rows=64, cols=10)
    rows = api.run(WU, trace)
    cells = api.run(WU, trace, overrides=["training.write_verify.parallel=cell"])
    assert phase_cycles(rows, "update") == 9 * (2 * 10 + 10) + 4 * 2 * 10
    assert phase_cycles(cells, "update") == 130 * 10 + 130 * 10 + 100 * 10
    counts = rows["statistics"]
    assert counts["cell_writes"]["total"] == 200
    assert counts["write_pulses"]["total"] == 230
    assert counts["verify_reads"]["total"] == 130


def test_transposed_read_drives_columns_and_senses_rows(tmp_path):
    """On a 256x64 array (Wu's larger tiles) holding a 200 x 20 layer (40 differential
    columns), a forward operation drives 256 rows and converts 64 columns; the transposed one
    drives the 64 columns and converts the 256 rows, in the same 8 column groups x 9 cycles."""
    config = load_hardware(WU, ["tile.crossbar.rows=256"])
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, _header(200, 20, 1), version=3) as writer:
        writer.write(_mvm(0, 200, 20))
        writer.write(_mvm(0, 200, 20, "mvm_t", "backward"))
    result = simulate(config, path)
    by_phase = {c.kind: c.actions_by_phase for c in result.components}
    forward, backward = by_phase["adc"]["forward"], by_phase["adc"]["backward"]
    assert forward["adc.convert"] == 64 and backward["adc.convert"] == 256
    assert by_phase["dac"]["forward"]["dac.drive"] == 256 * 8 * 8
    assert by_phase["dac"]["backward"]["dac.drive"] == 64 * 8 * 8
    stats = {s.name: s for s in result.statistics}
    assert stats["time_tile"].by_phase == {"forward": 72, "backward": 72}


@pytest.mark.parametrize("pipeline", [False, True])
def test_counts_match_the_trace_and_energy_its_breakdown(tmp_path, pipeline):
    """Every pulse, read and write the trace names is counted once by the hardware, in both
    schedules; the energy of each phase is the sum of its components' and the phases sum to
    the total."""
    updates = [
        [{"kind": "digital", "flops": 64 * 10 * 2, "bits": 64 * 10 * 64}, outer(5, 37, "A"),
         {"kind": "transfer", "reads": 1, "input_bits": 1, "bit_length": 1, "pulses": 4}],
        [outer(5, 50, "W"),
         {"kind": "write", "cells": 12, "pulses": 20, "verify_reads": 20, "rounds": 3}],
    ]
    for record in updates[0] + updates[1]:
        if record["kind"] == "outer":
            record.update(rows=64, cols=10)
    trace = training_trace(tmp_path / "t.jsonl", updates * 3, rows=64, cols=10)
    config = load_hardware(WU, [f"mapping.pipeline={str(pipeline).lower()}"])
    result = simulate(config, trace)
    energy = account(result)
    actions = {key: n for c in result.components for key, n in c.actions.items()}
    assert actions["pulse.pulse"] == 3 * (37 + 4 + 50)
    assert actions["write_verify.pulse"] == 3 * 20
    assert actions["write_verify.verify"] == 3 * 20
    assert actions["update_digital.flop"] == 3 * 1280
    stats = {s.name: s for s in result.statistics}
    assert stats["pulses_a"].total == 3 * 37
    assert stats["pulses_w"].total == 3 * (4 + 50)
    assert stats["row_reads"].total == 3
    for phase, kinds in energy.by_phase_component_j.items():
        assert math.isclose(sum(kinds.values()), energy.by_phase_j[phase], rel_tol=1e-12)
    assert math.isclose(sum(energy.by_phase_j.values()), energy.total_j, rel_tol=1e-12)
    assert energy.by_phase_j["update"] > 0


def test_the_report_has_a_training_section(tmp_path):
    """Time per sample by phase sums to the sequential latency; wear per device follows the
    pulses and the layer's devices; the lifetime is the endurance over the worst array's
    pulses per device per sample."""
    updates = [[outer(5, 640, "A", vectors=1) | {"rows": 64, "cols": 10},
                {"kind": "write", "cells": 64, "pulses": 64, "verify_reads": 64,
                 "rounds": 1}]] * 2
    trace = training_trace(tmp_path / "t.jsonl", updates, rows=64, cols=10)
    report = api.run(WU, trace)
    section = report["training"]
    times = section["time_per_sample_s"]
    assert math.isclose(times["total"], report["latency_s"]["mean"], rel_tol=1e-12)
    assert set(times) == {"forward", "backward", "update", "total"}
    wear = section["wear"]["fc1"]
    weights = 64 * 10  # one device per weight in W and in A, as the trace counts them
    assert wear["weights"] == weights
    assert wear["pulses_a_per_device"] == 2 * 640 / weights
    assert wear["programmed_per_weight"] == 2 * 64 / weights
    assert wear["lifetime_samples"] == pytest.approx(1e6 / (640 / weights))


def test_a_transfer_reads_one_row_block_and_writes_one_row_in_each_copy(tmp_path):
    """A 512 x 512 layer on 256 x 256 arrays is 2 row blocks x 2 column blocks. A one-hot
    read of a row of A activates the 2 arrays of one row block (512 columns converted), and
    writing the row back drives one row in each of them and their 512 columns; with 2 copies
    of the layer, the write-back drives and pulses both copies of W, the read one A."""
    transfer = {"kind": "transfer", "reads": 3, "input_bits": 1, "bit_length": 1,
                "pulses": 100}
    trace = training_trace(tmp_path / "t.jsonl", [[transfer]])
    size = ["tile.crossbar.rows=256", "tile.crossbar.cols=256", "chip.tiles=8"]
    for copies in (1, 2):
        config = load_hardware(RASCH, [*size, f"mapping.copies={{fc1: {copies}}}"])
        result = simulate(config, trace)
        update = {c.kind: c.actions_by_phase.get("update", {}) for c in result.components}
        assert update["adc"]["adc.convert"] == 3 * 2 * 256
        assert update["pulse"]["pulse.row_drive"] == 3 * 2 * copies
        assert update["pulse"]["pulse.col_drive"] == 3 * 512 * copies
        assert update["pulse"]["pulse.pulse"] == 100 * copies
        stats = {s.name: s for s in result.statistics}
        assert stats["pulses_w"].total == 100  # the trace's count, per logical weight
