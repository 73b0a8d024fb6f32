"""HyFlexPIM end to end: transformer traces on hyflexpim.yaml and its all-SLC and all-MLC
variants, the attention's digital PIM modules and SFUs against their closed forms, and the
gain against all-SLC falling as the sequence grows (attention runs on the digital modules)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from archsim import api
from archsim.cli import main
from archsim.sim import simulate
from archsim.workload.trace import TraceReader

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "hw_configs"
HYFLEXPIM = CONFIGS / "hyflexpim.yaml"
ALL_SLC = CONFIGS / "hyflexpim_all_slc.yaml"
ALL_MLC = CONFIGS / "hyflexpim_all_mlc.yaml"
VIT = ROOT / "traces" / "vit-tiny_trained_4.jsonl.gz"


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Any:
    """bert-base traces of one encoder block, 4 sequences, by sequence length."""
    root = tmp_path_factory.mktemp("bert")
    made: dict[int, Path] = {}

    def trace(tokens: int) -> Path:
        if tokens not in made:
            made[tokens] = root / f"bert_{tokens}.jsonl.gz"
            api.export_encoder(made[tokens], model="bert-base", seq_len=tokens, samples=4,
                               layers=1, seed=0)
        return made[tokens]

    return trace


def test_vit_tiny_runs_with_every_unit_reported():
    """The bundled vit-tiny trace on the HyFlexPIM chip: its blocks on processing units pu0 and
    pu1, each with SLC and MLC arrays, digital PIM and SFU energy and time reported, and a
    byte-identical report on a second run."""
    report = api.run(HYFLEXPIM, VIT)
    per = report["per_inference"]
    assert per["latency_s"] > 0 and per["throughput_per_s"] > 0
    for kind in ("digital_pim", "sfu", "adc", "dac", "crossbar", "buffer"):
        assert per["energy_breakdown_j"][kind] > 0, kind
    for group in ("pu0", "pu1"):
        section = report["groups"][group]
        parts = section["energy_by_part_j"]
        assert parts["slc"] > 0 and parts["mlc"] > 0
        # A processing unit: its SLC and MLC arrays, its digital PIM modules and its SFU.
        kinds = section["energy_breakdown_j"]
        assert kinds["digital_pim"] > 0 and kinds["sfu"] > 0
        assert section["energy_j"] == pytest.approx(
            sum(parts.values()) + kinds["digital_pim"] + kinds["sfu"]
        )
    assert report["groups"]["pu2"]["energy_j"] == 0
    assert set(per["energy_by_group_j"]) == {"chip", *(f"pu{i}" for i in range(24))}
    assert per["energy_j"] == pytest.approx(sum(per["energy_breakdown_j"].values()))
    assert report["latency_breakdown_s"]["pim"] > 0 and report["latency_breakdown_s"]["sfu"] > 0
    again = api.run(HYFLEXPIM, VIT)
    assert json.dumps(report.to_dict(), sort_keys=True) == json.dumps(again.to_dict(),
                                                                      sort_keys=True)


def test_every_array_is_counted_once():
    """A hybrid unit's SLC banks count the arrays mapped to SLC, its MLC banks the rest: the
    two add up to the unit's arrays, for the arrays and each of their converters."""
    result = simulate(api.load(HYFLEXPIM), VIT)
    for group in ("pu0", "pu1", "pu2"):
        for kind in ("crossbar", "adc"):
            banks = {c.part: c for c in result.components if c.group == group and c.kind == kind}
            assert set(banks) == {"slc", "mlc"}
            assert banks["slc"].instances + banks["mlc"].instances == 24 * 512
            assert banks["slc"].instances == banks["slc"].instances_used
    used = {c.part: c.instances_used for c in result.components
            if c.group == "pu0" and c.kind == "crossbar"}
    assert used["slc"] > 0 and used["mlc"] > 0
    assert sum(used.values()) == sum(g.crossbars_used for g in result.groups if g.name == "pu0")


def test_digital_pim_and_sfu_follow_their_closed_forms(bert):
    """Per dynamic product of h heads of (m x k) x (k x n) at 8 bits: ceil(h k n 8 / (8
    modules x 2621 bits)) write cycles then ceil(h m k n / (8 x 273)) cycles of MACs; per
    special function ceil(elements / 256) cycles; energy 23.9 pJ per MAC, 36 pJ per bit
    written, 0.54 pJ per SFU input (hyflexpim.yaml)."""
    path = bert(128)
    config = api.load(HYFLEXPIM, ["mapping.pipeline=false"])
    pim, sfu = config.digital_pim, config.sfu
    assert pim is not None and sfu is not None
    assert (pim.modules, pim.ops_per_cycle, pim.write_bits_per_cycle) == (8, 273, 2621)
    assert sfu.inputs_per_cycle == 256
    pim_cycles = sfu_cycles = macs = written = elements = 0
    with TraceReader(path) as reader:
        samples = reader.header.samples
        for record in reader:
            if record.kind == "matmul":
                product = record.heads * record.m * record.k * record.n
                bits = record.heads * record.k * record.n * record.operand_bits
                pim_cycles += (
                    math.ceil(bits / (pim.modules * pim.write_bits_per_cycle))
                    + math.ceil(product / (pim.modules * pim.ops_per_cycle))
                )
                macs += product
                written += bits
            elif record.kind in ("softmax", "layernorm", "gelu"):
                passes = getattr(sfu.passes, record.kind)
                sfu_cycles += math.ceil(record.elements * passes / sfu.inputs_per_cycle)
                elements += record.elements
    report = api.run(config, path)
    stats = report["statistics"]
    assert stats["time_pim"]["total"] == pim_cycles
    assert stats["time_sfu"]["total"] == sfu_cycles
    assert stats["pim_macs"]["total"] == macs
    assert stats["sfu_elements"]["total"] == elements
    actions = report["totals"]["actions"]
    assert actions["digital_pim.op"] == macs and actions["digital_pim.write"] == written
    per = report["per_inference"]["energy_breakdown_j"]
    energy = pim.energy.op * macs + pim.energy.write * written
    assert per["digital_pim"] == pytest.approx(energy / samples)
    # hyflexpim.yaml's SFU charges every function alike
    assert per["sfu"] == pytest.approx(elements * sfu.energy.softmax / samples)


def _gains(config: Path, trace: Path) -> tuple[float, float, float]:
    """Throughput, energy efficiency and (sequential) latency of HyFlexPIM against
    ``config``."""
    hybrid, other = api.run(HYFLEXPIM, trace), api.run(config, trace)
    seq = ["mapping.pipeline=false"]
    h_seq, o_seq = api.run(HYFLEXPIM, trace, overrides=seq), api.run(config, trace, overrides=seq)
    return (
        hybrid["per_inference"]["throughput_per_s"] / other["per_inference"]["throughput_per_s"],
        other["per_inference"]["energy_j"] / hybrid["per_inference"]["energy_j"],
        o_seq["latency_s"]["mean"] / h_seq["latency_s"]["mean"],
    )


def test_the_gain_over_all_slc_falls_as_the_sequence_grows(bert):
    """Linear layers gain from MLC's denser arrays (more copies in the same arrays); attention
    runs on the digital modules either way and grows as N^2, so the end-to-end gains in
    throughput, energy efficiency and latency against all-SLC fall with the sequence length,
    towards 1."""
    gains = [_gains(ALL_SLC, bert(n)) for n in (128, 512, 2048, 4096)]
    for metric in range(3):
        series = [g[metric] for g in gains]
        assert all(a > b for a, b in zip(series, series[1:])), (metric, series)
        assert series[0] > 1.3 and series[-1] < series[0] - 0.3
    # At 4096 tokens the pipeline's slowest stage is attention on the digital modules, and
    # their energy dominates: both gains near 1. A sequence's latency, every record one after
    # another, keeps more of the linear layers' gain: (T_lin + T_att) / (T_lin (1 + s) / 2 +
    # T_att).
    assert gains[-1][0] < 1.1 and gains[-1][1] < 1.1
    throughput, efficiency, _ = gains[0]
    # At 128 tokens the linear layers dominate: near the array-budget bound 2 / (1 + s).
    assert 1.5 < throughput <= 2 / 1.05 + 0.03
    assert efficiency > 1.2


def test_hybrid_sits_between_all_mlc_and_all_slc(bert):
    """Against all-MLC, 5 % SLC costs throughput (whole copies: two in a unit's arrays where
    all-MLC fits three) and a little energy (more cells, two passes)."""
    path = bert(128)
    throughput, efficiency, _ = _gains(ALL_MLC, path)
    assert 0.5 < throughput <= 1.0 and 0.85 < efficiency <= 1.0


def test_a_transformer_on_a_chip_without_its_units_is_one_line(bert, capsys):
    """The transformer's special functions need an SFU: on Wu et al.'s chip (no sfu, no
    digital_pim section) the run stops with one line naming the record, no traceback."""
    status = main(["run", str(CONFIGS / "wu2023_256x64.yaml"), str(bert(128)), "--out",
                   "/nonexistent/never-written"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0
    assert len(err) == 1 and "no handler for forward 'layernorm'" in err[0], err


def test_a_timeline_shows_the_digital_pim_and_sfu(bert):
    """A processing unit's digital PIM modules and SFU report a span per record, on a track
    named by the unit's tile group; their time per record is the closed form's."""
    from archsim.stats.timeline import Timeline

    timeline = Timeline(conversions=False, max_events=1_000_000)
    report = api.run(HYFLEXPIM, bert(128), overrides=["mapping.pipeline=false"],
                     timeline=timeline)
    assert timeline.complete
    spans = {category: [s for s in timeline.spans if s.category == category]
             for category in ("pim", "sfu")}
    names = {category: {timeline.tracks[s.track].thread for s in found}
             for category, found in spans.items()}
    assert names == {"pim": {"pu0"}, "sfu": {"pu0"}}
    assert {s.name for s in spans["pim"]} == {"matmul"}
    assert {s.name for s in spans["sfu"]} == {"softmax", "layernorm", "gelu"}
    stats = report["statistics"]
    assert sum(s.end - s.start for s in spans["pim"]) == stats["time_pim"]["total"]
    assert sum(s.end - s.start for s in spans["sfu"]) == stats["time_sfu"]["total"]


@pytest.mark.parametrize("model, extra", [
    ("bert-base", ["--seq-len", "8"]), ("vit-tiny", []), ("mlp", []),
])
def test_an_export_over_the_records_budget_is_one_line(tmp_path, capsys, model, extra):
    """An exported trace is held to --limit trace_records (samples x the records of one):
    refused at once, with one line naming the budget, and nothing written."""
    out = tmp_path / "t.jsonl"
    status = main(["trace", "export", model, "--samples", "100000000", "--out", str(out),
                   *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1 and "trace_records" in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_copies_over_the_budget_are_one_line(bert, tmp_path, capsys):
    """Huge arrays pack copies by the thousand: the layers' copies are held to --limit copies
    before any layout is built."""
    status = main([
        "run", str(HYFLEXPIM), str(bert(128)), "--out", str(tmp_path / "out"),
        "--set", "tile.crossbar.rows=65536", "--set", "tile.crossbar.cols=65536",
        "--set", "mapping.fill_max_copies=1048576", "--set", "tile_groups.pu0.tiles=2048",
    ])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1 and "--limit copies" in err[0], err
    assert not (tmp_path / "out").exists()


def test_the_sweep_script_writes_its_results(tmp_path):
    """scripts/hyflexpim_sweep.py on a small grid: every point's ratios in results.json, the
    figures written, and at 0 % SLC with the SVD nearly the all-MLC chip."""
    import subprocess
    import sys

    out = tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "hyflexpim_sweep.py"), "--seq-lens", "32,64",
         "--fractions", "0,0.05", "--samples", "2", "--no-accuracy", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert set(data["results"]) == {"32", "64"}
    point = data["results"]["32"]["hybrid"]["0.05"]
    assert point["throughput_vs_all-SLC"] > 1 and point["efficiency_vs_all-SLC"] > 1
    assert data["results"]["32"]["hybrid"]["0.0"]["efficiency_vs_all-MLC"] == pytest.approx(
        1.0, abs=0.05
    )
    assert len(list(out.glob("*.png"))) == 8 and data["accuracy"] is None
