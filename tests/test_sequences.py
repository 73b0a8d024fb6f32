"""Records of sequences: a matrix record of T times a sample's input vectors (T tokens through a
layer, T images in one record) moves T times the activations over the NoC, and its time and
energy follow."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from archsim import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "wu2023_64x64_noc.yaml"


def with_tokens(source: Path, target: Path, tokens: int) -> None:
    """``source`` with every forward matrix record's vectors multiplied by ``tokens``."""
    with gzip.open(source, "rt") as lines, gzip.open(target, "wt") as out:
        for line in lines:
            obj = json.loads(line)
            if obj.get("type") == "op" and obj.get("kind") == "mvm":
                obj["vectors"] *= tokens
            out.write(json.dumps(obj) + "\n")


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sequences")
    one = folder / "lenet.jsonl.gz"
    api.export("lenet-wu", one, samples=2, seed=0)
    many = folder / "lenet_x16.jsonl.gz"
    with_tokens(one, many, 16)
    return one, many


@pytest.mark.parametrize("overrides", [
    [], ["noc.model=train"], ["mapping.pipeline=true"],
    ["mapping.pipeline=true", "noc.model=train"],
])
def test_a_sequence_moves_its_tokens_activations(traces, overrides):
    one, many = traces
    config = api.load(CONFIG, overrides)
    single = api.run(config, one)
    sixteen = api.run(config, many)
    # Each flow carries 16 times the bits; packets round up per flow.
    assert sixteen["noc"]["flits_injected"] >= 15 * single["noc"]["flits_injected"]
    data = sixteen["statistics"]["data_bits"]["total"]
    assert data == 16 * single["statistics"]["data_bits"]["total"]
    assert sixteen["noc"]["energy_j"] > 15 * single["noc"]["energy_j"]
    assert sixteen["latency_s"]["mean"] > single["latency_s"]["mean"]
    assert sixteen["totals"]["macs"] == 16 * single["totals"]["macs"]


def test_records_of_one_samples_vectors_send_the_programs_transfers():
    """A record of one sample's vectors sends the program's own transfers, unscaled; one of
    more vectors sends them scaled, rounded up per flow."""
    import simpy

    from archsim.hw.system import build_system
    from archsim.mapping.placement import map_network
    from archsim.workload.trace import TraceReader

    config = api.load(CONFIG)
    with TraceReader(ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz") as reader:
        network = reader.header.network
    env = simpy.Environment()
    system = build_system(env, config, network, map_network(network, config))
    sent: list[tuple] = []
    system.interface.transfer = lambda transfers, phase: sent.append(transfers)
    edge = next(iter(system.program.transfers))
    per_sample = system.program.vectors[edge[1]]
    system.transfer(edge, "forward", per_sample)
    system.transfer(edge, "forward", 3 * per_sample)
    assert sent[0] is system.program.transfers[edge]
    for own, scaled in zip(sent[0], sent[1]):
        assert scaled.flow is own.flow
        assert scaled.packets * scaled.packet_bits >= 3 * own.flow.bits
        assert (scaled.packets - 1) * scaled.packet_bits < 3 * own.flow.bits


def test_a_run_of_many_records_is_held_to_the_budget(traces, tmp_path, capsys):
    """Records of several samples' vectors, each under the budget, are refused once the run's
    transfers together exceed it."""
    from archsim.cli import main

    _, many = traces  # 2 samples of 16 images' vectors per record
    code = main(["run", str(CONFIG), str(many), "--limit", "packets=1000",
                 "--out", str(tmp_path / "out")])
    line = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in line
    assert "the trace's transfers over the NoC so far" in line and "packets=" in line
    assert not (tmp_path / "out").exists()


def test_a_record_over_the_packet_budget_is_refused(traces, tmp_path, capsys):
    """A record whose vectors would move more packets (or, on the train model, trains) than
    the budget is refused in one line naming the layer and the limit."""
    from archsim.cli import main

    one, _ = traces
    huge = tmp_path / "huge.jsonl.gz"
    with_tokens(one, huge, 100)
    for model, budget, limit in (("packet", "packets", 1000), ("train", "trains", 50)):
        code = main(["run", str(CONFIG), str(huge), "--set", f"noc.model={model}",
                     "--limit", f"{budget}={limit}", "--out", str(tmp_path / model)])
        line = capsys.readouterr().err.strip()
        assert code != 0 and "\n" not in line
        assert f"{budget}, over the limit" in line and "on layer" in line
        assert f"--limit {budget}=" in line
        assert not (tmp_path / model).exists()
