"""Tests of the transformer exporters (archsim.workload.transformer_export): vit-tiny's trace
against the model, the BERT encoders' shapes against closed forms, determinism, the argument
checks and the command line."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archsim import api
from archsim.cli import main
from archsim.errors import WorkloadError
from archsim.limits import LimitError, Limits
from archsim.workload.activity import vector_stats_batch
from archsim.workload.data import load_digits_28
from archsim.workload.trace import OpRecord, TraceHeader, TraceReader, validate_trace
from archsim.workload.transformer import ViTConfig, train_vit
from archsim.workload.transformer_export import (
    ENCODERS,
    MAX_SEQ_LEN,
    TRANSFORMER_MODELS,
    export_encoder_trace,
    export_vit_trace,
)

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_VIT = ROOT / "traces" / "vit-tiny_trained_4.jsonl.gz"
BLOCK_PARTS = ("ln1", "q", "k", "v", "scores", "softmax", "context", "o", "add1", "ln2", "ffn1",
               "gelu", "ffn2", "add2")


def read(path: Path) -> tuple[TraceHeader, list[OpRecord]]:
    with TraceReader(path) as reader:
        return reader.header, list(reader)


def block_names(layers: int) -> list[str]:
    return [f"block{layer}.{part}" for layer in range(layers) for part in BLOCK_PARTS]


# --------------------------------------------------------------------------------------------
# vit-tiny
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vit_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vit") / "vit.jsonl.gz"
    summary = export_vit_trace(path, samples=2, seed=1)
    assert (summary.model, summary.samples, summary.records, summary.test_accuracy) == (
        "vit-tiny", 2, 2 * 32, None
    )
    return path


def test_the_vit_graph_matches_the_model(vit_trace: Path) -> None:
    config = ViTConfig()
    t, d, h, f = config.tokens, config.width, config.heads, config.hidden
    model, _ = train_vit(config, seed=1, epochs=0)
    header, records = read(vit_trace)
    assert (header.version, header.model, header.samples, header.seed) == (5, "vit-tiny", 2, 1)
    network = header.network
    assert network.input_shape == (t, config.patch**2)
    names = [layer.name for layer in network.layers]
    assert names == ["embed", *block_names(config.layers), "ln_f", "pool", "head"]
    # The weight matrices are the model's, by its names and in its order.
    matrix = network.matrix_layers()
    assert tuple(layer.name for layer in matrix) == model.linear_layers()
    for layer in matrix:
        assert (layer.rows, layer.cols) == model.params[layer.name].shape
    assert network.layer("block1.add1").inputs == ("block1.o", "block0.add2")
    assert network.layer("block0.add1").inputs == ("block0.o", "embed")
    assert network.layer("block0.context").inputs == ("block0.softmax", "block0.v")
    assert network.layer("pool").out_shape == (d,)
    assert [r.layer for r in records] == names * 2
    assert [r.sample for r in records] == [0] * len(names) + [1] * len(names)
    first = {record.layer: record for record in records if record.sample == 0}
    for layer in matrix:
        record = first[layer.name]
        assert record.kind == "mvm"
        assert record.vectors == (1 if layer.name == "head" else t)  # one per token
        assert (record.rows, record.cols, record.input_bits) == (layer.rows, layer.cols, 8)
    for block in range(config.layers):
        scores, context = first[f"block{block}.scores"], first[f"block{block}.context"]
        assert (scores.heads, scores.m, scores.k, scores.n) == (h, t, d // h, t)
        assert (context.heads, context.m, context.k, context.n) == (h, t, t, d // h)
        assert scores.operand_bits == context.operand_bits == 8
        assert scores.macs == context.macs == h * t * t * (d // h)
        assert first[f"block{block}.softmax"].elements == h * t * t
        assert first[f"block{block}.ln1"].elements == t * d
        assert first[f"block{block}.gelu"].elements == t * f
        assert first[f"block{block}.add2"].elements == t * d
    assert (first["pool"].elements, first["pool"].outputs) == (t * d, d)
    assert header.meta["config"]["width"] == d and header.meta["training"] is None


def test_vit_statistics_are_the_real_inputs(vit_trace: Path) -> None:
    """The embed record's statistics are those of the first test image's 16 patches, and q,
    k and v (one input) have the same."""
    _, records = read(vit_trace)
    model, _ = train_vit(ViTConfig(), seed=1, epochs=0)
    _, _, x_test, _ = load_digits_28(np.random.default_rng(1))
    patches = model.tokens(x_test[:1, ..., 0].astype(np.float64))
    (expected,) = vector_stats_batch(patches, act_bits=8)
    embed = records[0]
    assert (embed.layer, embed.vectors) == ("embed", 16)
    assert embed.input_nz == expected.input_nz
    assert embed.bitplane_nz == expected.bitplane_nz
    assert embed.bitplane_allzero == expected.bitplane_allzero
    q, k, v = records[2:5]
    assert q.bitplane_nz == k.bitplane_nz == v.bitplane_nz
    assert records[0].input_nz != records[32].input_nz  # sample 1 is another image


def test_vit_export_is_deterministic(vit_trace: Path, tmp_path: Path) -> None:
    again = export_vit_trace(tmp_path / "again.jsonl.gz", samples=2, seed=1)
    assert Path(again.path).read_bytes() == vit_trace.read_bytes()


def test_vit_training_is_budgeted_and_checked_first(tmp_path: Path) -> None:
    with pytest.raises(LimitError, match="vit-tiny trained for 20 epochs of 1438 images needs "
                                         "28,760 training samples"):
        export_vit_trace(tmp_path / "t.jsonl", samples=1, train=True,
                         limits=Limits(training_samples=1000))
    with pytest.raises(WorkloadError, match=r"epochs: given \(3\) but train is False"):
        export_vit_trace(tmp_path / "t.jsonl", samples=1, epochs=3)
    with pytest.raises(WorkloadError, match="samples: must be an integer >= 1, got 0"):
        export_vit_trace(tmp_path / "t.jsonl", samples=0)
    with pytest.raises(WorkloadError, match="act_bits: must be an integer 1..16, got 17"):
        export_vit_trace(tmp_path / "t.jsonl", samples=1, act_bits=17)
    with pytest.raises(WorkloadError, match="is a directory"):
        export_vit_trace(tmp_path, samples=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_bundled_vit_trace_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    """traces/README.md's command (20 epochs, about 10 s) gives the bundled file."""
    out = tmp_path / "vit-tiny_trained_4.jsonl.gz"
    summary = export_vit_trace(out, samples=4, seed=0, train=True)
    assert summary.test_accuracy is not None and summary.test_accuracy > 0.9
    assert out.read_bytes() == BUNDLED_VIT.read_bytes()


def test_the_bundled_vit_trace_is_valid() -> None:
    summary = validate_trace(BUNDLED_VIT)
    assert (summary.header.version, summary.header.model, summary.records) == (5, "vit-tiny", 128)
    assert summary.header.meta["training"]["epochs"] == 20


# --------------------------------------------------------------------------------------------
# BERT encoders
# --------------------------------------------------------------------------------------------


def closed_form_macs(model: str, tokens: int, layers: int) -> tuple[int, int]:
    """(all MACs, the matmuls') of ``layers`` blocks: 4 T d^2 + 2 T d f for the dense layers
    and 2 h T^2 (d/h) for the two products, per block."""
    shape = ENCODERS[model]
    d, h, f = shape.width, shape.heads, shape.hidden
    dense = 4 * tokens * d * d + 2 * tokens * d * f
    products = 2 * h * tokens * tokens * (d // h)
    return layers * (dense + products), layers * products


@pytest.mark.parametrize(("model", "tokens", "layers"), [
    ("bert-base", 8, 2), ("bert-base", 384, None), ("bert-large", 64, 1),
])
def test_encoder_shapes_follow_the_model(tmp_path: Path, model: str, tokens: int,
                                         layers: int | None) -> None:
    shape = ENCODERS[model]
    d, h, f = shape.width, shape.heads, shape.hidden
    blocks = shape.layers if layers is None else layers
    path = tmp_path / "t.jsonl.gz"
    summary = export_encoder_trace(path, model=model, seq_len=tokens, layers=layers)
    assert (summary.samples, summary.records, summary.test_accuracy) == (1, 14 * blocks, None)
    header, records = read(path)
    assert (header.version, header.model, header.network.input_shape) == (5, model, (tokens, d))
    assert [layer.name for layer in header.network.layers] == block_names(blocks)
    assert header.network.layers[0].inputs == ("input",)
    assert header.network.layer("block0.add1").inputs == ("block0.o", "input")
    assert header.meta["encoder"]["seq_len"] == tokens
    assert "arXiv:1810.04805" in header.meta["source"]
    by_layer = {record.layer: record for record in records}
    for name, (rows, cols) in {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d),
                               "ffn1": (d, f), "ffn2": (f, d)}.items():
        record = by_layer[f"block0.{name}"]
        assert (record.kind, record.vectors, record.rows, record.cols) == ("mvm", tokens, rows,
                                                                           cols)
    scores, context = by_layer["block0.scores"], by_layer["block0.context"]
    assert (scores.heads, scores.m, scores.k, scores.n) == (h, tokens, d // h, tokens)
    assert (context.heads, context.m, context.k, context.n) == (h, tokens, tokens, d // h)
    assert by_layer["block0.softmax"].elements == h * tokens * tokens
    assert by_layer["block0.gelu"].elements == tokens * f
    assert by_layer["block0.ln2"].elements == tokens * d
    total, products = closed_form_macs(model, tokens, blocks)
    checked = validate_trace(path)
    assert (checked.total_macs, checked.matmul_macs) == (total, products)


def test_bert_large_at_4096_tokens_writes_in_seconds(tmp_path: Path) -> None:
    start = time.perf_counter()
    export_encoder_trace(tmp_path / "t.jsonl.gz", model="bert-large", seq_len=4096)
    assert time.perf_counter() - start < 8.0
    summary = validate_trace(tmp_path / "t.jsonl.gz")
    assert summary.records == 14 * 24
    assert summary.total_macs == closed_form_macs("bert-large", 4096, 24)[0]


def test_encoder_export_is_deterministic_per_seed(tmp_path: Path) -> None:
    def export(name: str, seed: int) -> bytes:
        export_encoder_trace(tmp_path / name, model="bert-base", seq_len=32, layers=2,
                             samples=2, seed=seed)
        return (tmp_path / name).read_bytes()

    first = export("a.jsonl.gz", 5)
    assert export("b.jsonl.gz", 5) == first
    assert export("c.jsonl.gz", 6) != first


def test_encoder_statistics_are_quantised_draws(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    export_encoder_trace(path, model="bert-base", seq_len=16, layers=1, act_bits=4)
    _, records = read(path)
    by_layer = {record.layer: record for record in records}
    q, k, ffn1, ffn2 = (by_layer[f"block0.{n}"] for n in ("q", "k", "ffn1", "ffn2"))
    assert q.input_bits == 4 and len(q.bitplane_nz) == 4
    assert q.bitplane_nz == k.bitplane_nz  # one draw for the common input
    assert q.bitplane_nz != ffn1.bitplane_nz  # another draw
    assert 0.5 < q.input_nz < 1.0
    assert ffn2.input_nz < ffn1.input_nz  # GELU leaves many small magnitudes


@pytest.mark.parametrize(("arguments", "message"), [
    ({"seq_len": 0}, "seq_len: must be an integer 1..65536 (tokens per sequence), got 0"),
    ({"seq_len": MAX_SEQ_LEN + 1}, "seq_len: must be an integer 1..65536 (tokens per "
                                   "sequence), got 65537"),
    ({"seq_len": -4}, "seq_len: must be an integer 1..65536 (tokens per sequence), got -4"),
    ({"seq_len": 2.5}, "seq_len: must be an integer 1..65536 (tokens per sequence), got 2.5"),
    ({"seq_len": True}, "seq_len: must be an integer 1..65536 (tokens per sequence), got True"),
    ({"seq_len": "128"}, "seq_len: must be an integer 1..65536 (tokens per sequence), got '128'"),
    ({"layers": 0}, "layers: must be an integer 1..12 (bert-base's encoder blocks), got 0"),
    ({"layers": 13}, "layers: must be an integer 1..12 (bert-base's encoder blocks), got 13"),
    ({"model": "bert-huge"}, "model: expected one of bert-base, bert-large, got 'bert-huge'"),
    ({"samples": 0}, "samples: must be an integer >= 1, got 0"),
    ({"seed": -1}, "seed: must be an integer >= 0, got -1"),
    ({"weight_bits": 0}, "weight_bits: must be an integer 1..16, got 0"),
])
def test_encoder_arguments_are_refused(tmp_path: Path, arguments: dict[str, Any],
                                       message: str) -> None:
    given = {"model": "bert-base", "seq_len": 8, **arguments}
    with pytest.raises(WorkloadError) as info:
        export_encoder_trace(tmp_path / "t.jsonl", **given)
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_the_api_and_the_command_line_know_every_model() -> None:
    from archsim import cli

    assert api.export_vit is export_vit_trace
    assert api.export_encoder is export_encoder_trace
    assert cli._TRANSFORMERS == TRANSFORMER_MODELS


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def run_cli(capsys: Any, args: Sequence[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main(list(args))
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_exports_an_encoder(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "bert.jsonl.gz"
    status, stdout, _ = run_cli(capsys, ["trace", "export", "bert-large", "--out", str(out),
                                         "--seq-len", "128", "--layers", "2", "--seed", "4"])
    assert status == 0
    assert stdout == (f"wrote {out}: bert-large, 1 samples, 128 tokens per sequence "
                      "(shape-only), 28 records\n")
    header = json.loads(gzip.decompress(out.read_bytes()).split(b"\n", 1)[0])
    assert (header["version"], header["seed"], header["meta"]["encoder"]["layers"]) == (5, 4, 2)


def test_cli_exports_vit_tiny_trained(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "vit.jsonl"
    status, stdout, _ = run_cli(capsys, ["trace", "export", "vit-tiny", "--out", str(out),
                                         "--train", "--epochs", "1"])
    assert status == 0
    assert stdout.startswith(f"wrote {out}: vit-tiny, 1 samples, 32 records, test accuracy ")
    header, _ = read(out)
    assert header.meta["training"]["epochs"] == 1
    assert 0.0 < header.meta["training"]["test_accuracy"] <= 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["bert-base", "--seq-len", "0"],
     "seq_len: must be an integer 1..65536 (tokens per sequence), got 0"),
    (["bert-large", "--seq-len", "65537"], "seq_len: must be an integer 1..65536"),
    (["bert-base", "--seq-len", "many"], "argument --seq-len: invalid int value: 'many'"),
    (["bert-base"], "--seq-len: required for bert-base (tokens per sequence)"),
    (["bert-base", "--seq-len", "8", "--layers", "13"],
     "layers: must be an integer 1..12 (bert-base's encoder blocks), got 13"),
    (["bert-base", "--seq-len", "8", "--train"],
     "--train: bert-base is shape-only (no weights, no data set to train on)"),
    (["bert-base", "--seq-len", "8", "--epochs", "2"], "--epochs: bert-base is shape-only"),
    (["vit-tiny", "--seq-len", "8"],
     "--seq-len: only for bert-base and bert-large (vit-tiny's sequence is its 16 patches"),
    (["vit-tiny", "--layers", "1"], "--layers: only for bert-base and bert-large"),
    (["lenet-wu", "--seq-len", "8"],
     "--seq-len: only for bert-base and bert-large (model lenet-wu takes none)"),
    (["vit-tiny", "--sparsity", "0.5"], "--sparsity: not an option of vit-tiny"),
    (["bert-base", "--seq-len", "8", "--json"], "--json: not an option of bert-base"),
])
def test_cli_refuses_with_one_line(tmp_path: Path, capsys: Any, args: list[str],
                                   message: str) -> None:
    out = tmp_path / "t.jsonl"
    status, stdout, stderr = run_cli(capsys, ["trace", "export", *args, "--out", str(out)])
    assert status == 2 and stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith("archsim: error: ") and message in lines[0]
    assert not out.exists()
