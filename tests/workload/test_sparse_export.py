"""Workload stage: block-sparse training traces (version 4), read back with the trace reader."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from archsim import api
from archsim.cli import main
from archsim.errors import WorkloadError
from archsim.workload.sparse_export import SparseExport, export_sparse_training_trace
from archsim.workload.sparse_train import (
    BlockSparsity,
    StepWork,
    block_grid,
    keep_count,
    train_block_sparse,
)
from archsim.workload.trace import TraceReader, validate_trace
from archsim.workload.train import DEFAULT_TRAINING

MLP = DEFAULT_TRAINING["mlp"]
#: mlp, 2 epochs of 45 steps (1438 training images in batches of 32, each epoch's last of 30).
STEPS, LAST_BATCH = 90, 1438 - 44 * 32
SPMM = ("vectors", "rows", "cols", "block", "blocks", "weights", "input_nz")


def _records(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the op records of a trace, as written (JSON objects)."""
    with gzip.open(path, "rt") as stream:
        lines = [json.loads(line) for line in stream]
    assert lines[-1] == {"type": "end", "records": len(lines) - 2}
    return lines[0], lines[1:-1]


def _by_sample(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    steps: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        steps[record["sample"]].append(record)
    return [steps[k] for k in range(len(steps))]


def _steps(model: str, params: BlockSparsity, epochs: int = 2) -> list[StepWork]:
    """The StepWork of the training the export runs (same seed 0 and settings)."""
    cfg = DEFAULT_TRAINING[model]
    works: list[StepWork] = []
    with threadpool_limits(limits=1, user_api="blas"):
        train_block_sparse(model, params, rng=np.random.default_rng(0), epochs=epochs,
                           lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size,
                           on_step=works.append)
    return works


@pytest.fixture(scope="module")
def sparse(tmp_path_factory) -> tuple[SparseExport, BlockSparsity]:
    """mlp at s = 0.75, B = 8: one warm-up epoch, then an update every 6 steps (5 of them)."""
    path = tmp_path_factory.mktemp("sparse") / "mlp.jsonl.gz"
    done = api.train_sparse("mlp", path, sparsity=0.75, block=8, epochs=2, update_interval=6)
    return done, BlockSparsity(0.75, block=8, update_interval=6)


@pytest.fixture(scope="module")
def sparse_steps(sparse) -> list[StepWork]:
    return _steps("mlp", sparse[1])


def test_trace_reads_back_with_its_header(sparse):
    done, params = sparse
    summary = validate_trace(done.path)
    assert (done.steps, done.samples) == (STEPS, 2 * 1438)
    assert summary.records == done.records and summary.samples_seen == STEPS
    header = summary.header
    assert (header.version, header.model, header.samples, header.seed) == (4, "mlp", STEPS, 0)
    assert (header.network.weight_bits, header.network.act_bits) == (32, 32)
    training = header.meta["training"]
    assert dict(training["sparsity"]) == params.to_dict()
    assert (training["epochs"], training["lr"], training["momentum"], training["batch_size"]) == (
        2, MLP.lr, MLP.momentum, MLP.batch_size
    )
    assert tuple(training["sparse_layers"]) == ("fc1",)
    assert "one trace sample per training step" in header.meta["inputs"]
    assert done.training.mask_updates == 5 and done.training.steps == STEPS


def test_records_of_each_step_in_order(sparse, sparse_steps):
    _, records = _records(Path(sparse[0].path))
    steps = _by_sample(records)
    assert len(steps) == STEPS
    events = 0
    for work, step in zip(sparse_steps, steps):
        batch = LAST_BATCH if work.step % 45 == 44 else 32  # the last of each epoch is short
        assert work.samples == batch
        kinds = [(r["phase"], r["layer"], r["kind"]) for r in step]
        expected = [
            ("forward", "flatten1", "flatten"), ("forward", "fc1", "spmm"),
            ("forward", "relu1", "relu"), ("forward", "fc2", "spmm"),
            # fc1 is the first matrix layer: no input gradient, no spmm_t
            ("backward", "fc2", "spmm_t"), ("backward", "relu1", "relu"),
            ("update", "fc1", "spmm_w"), ("update", "fc2", "spmm_w"),
        ]
        if work.mask_event != "none":  # fc1 only: fc2, the classifier, stays dense
            events += 1
            expected += [("update", "fc1", "prune"), ("update", "fc1", "regrow"),
                         ("update", "fc1", "mask")]
        assert kinds == expected, work.step
        assert step[0]["elements"] == 784 * batch and step[2]["elements"] == 128 * batch
        assert step[5]["elements"] == 128 * batch
    assert events == 6  # the pruning after the warm-up and 5 updates


def test_spmm_fields_are_the_step_work(sparse, sparse_steps):
    _, records = _records(Path(sparse[0].path))
    for work, step in zip(sparse_steps, _by_sample(records)):
        layers = {lw.layer: lw for lw in work.layers}
        for record in step:
            if not record["kind"].startswith("spmm"):
                continue
            assert set(record) == {"type", "sample", "phase", "layer", "kind", *SPMM} | (
                {"grad_nz", "scored"} if record["kind"] == "spmm_w" else set()
            )
            lw = layers[record["layer"]]
            assert (record["vectors"], record["rows"], record["cols"], record["block"]) == (
                batch := lw.vectors, lw.rows, lw.cols, 8
            )
            assert record["blocks"] == lw.nnzb == int(lw.mask.sum())
            assert record["weights"] * batch == lw.forward_macs
            zero = lw.grad_zero_fraction if record["kind"] == "spmm_t" else lw.input_zero_fraction
            assert record["input_nz"] == pytest.approx(1 - zero)
            if record["kind"] == "spmm_w":
                assert record["grad_nz"] == pytest.approx(1 - lw.grad_zero_fraction)
                scored = lw.blocks - lw.nnzb if work.mask_event == "update" and record[
                    "layer"] == "fc1" else 0
                assert record["scored"] == scored
                assert record["scored"] * batch * 64 >= lw.regrow_macs  # padded blocks


def test_masks_are_the_next_steps_in_force_blocks(sparse, sparse_steps):
    """Every mask record's positions are the blocks the next step runs on; every spmm's
    blocks are the last mask record's blocks_nonzero (the whole grid before the first)."""
    grid = block_grid(784, 128, 8)
    total = grid[0] * grid[1]
    kept = keep_count(total, 0.75)
    with TraceReader(sparse[0].path) as reader:
        records = list(reader)
    masks = [r for r in records if r.kind == "mask"]
    assert [r.sample for r in masks] == [w.step for w in sparse_steps if w.mask_event != "none"]
    nonzero, positions = total, None
    for record in records:
        if record.layer != "fc1":
            continue
        if record.kind.startswith("spmm"):
            assert record.blocks == nonzero
            if positions is not None:
                in_force = sparse_steps[record.sample].layers[0].mask
                assert tuple(np.flatnonzero(in_force)) == positions
        elif record.kind == "mask":
            assert (record.block_rows, record.block_cols, record.blocks_total) == (8, 8, total)
            assert record.blocks_nonzero == len(record.positions) == kept
            assert list(record.positions) == sorted(set(record.positions))
            nonzero, positions = record.blocks_nonzero, record.positions
    work = {w.step: w.layers[0] for w in sparse_steps}
    prunes = [r for r in records if r.kind == "prune"]
    regrows = [r for r in records if r.kind == "regrow"]
    assert prunes[0].blocks == total - kept and regrows[0].blocks == 0  # after the warm-up
    for prune, regrow in zip(prunes, regrows):
        assert prune.blocks == len(work[prune.sample].pruned)
        assert regrow.blocks == len(work[regrow.sample].regrown)
    assert all(r.blocks > 0 for r in prunes[1:]) and [r.blocks for r in prunes[1:]] == [
        r.blocks for r in regrows[1:]
    ]


def test_dense_trace_runs_every_block_and_has_no_masks(tmp_path):
    path = tmp_path / "dense.jsonl.gz"
    done = api.train_sparse("mlp", path, sparsity=0.0, block=16, epochs=2, warmup_epochs=0)
    header, records = _records(path)
    assert header["samples"] == STEPS and done.training.mask_updates == 0
    assert not {"mask", "prune", "regrow"} & {r["kind"] for r in records}
    grids = {"fc1": 49 * 8, "fc2": 8 * 1}  # 784 x 128 and 128 x 10 in 16 x 16 blocks
    spmm = [r for r in records if r["kind"].startswith("spmm")]
    assert len(spmm) == STEPS * 5
    for record in spmm:
        assert record["blocks"] == grids[record["layer"]]
        assert record["weights"] == record["rows"] * record["cols"]
        assert record.get("scored", 0) == 0


def test_an_update_that_changes_nothing_still_writes_its_mask(tmp_path):
    """Drop fraction 0: every update drops and regrows nothing, yet the controller checks."""
    path = tmp_path / "still.jsonl.gz"
    params = BlockSparsity(0.5, block=16, update_interval=10, drop_fraction=0.0)
    done = export_sparse_training_trace("mlp", path, params, epochs=2)
    _, records = _records(path)
    masks = [r for r in records if r["kind"] == "mask"]
    assert len(masks) == 1 + done.training.mask_updates == 1 + 3  # updates at 10, 20, 30
    assert all(m["positions"] == masks[0]["positions"] for m in masks)
    prunes = [r["blocks"] for r in records if r["kind"] == "prune"]
    assert prunes == [392 - 196, 0, 0, 0]
    assert [r["blocks"] for r in records if r["kind"] == "regrow"] == [0, 0, 0, 0]
    # gradient regrowth scores the blocks not in force at each update, even with none dropped
    scored = [r["scored"] for r in records if r["kind"] == "spmm_w" and r["layer"] == "fc1"]
    assert sum(s > 0 for s in scored) == 3 and max(scored) == 392 - 196


def test_lenet_conv_records_and_random_regrowth(tmp_path):
    """Convolutions: vectors are windows; pools and relus have backward records; conv1 (the
    first matrix layer) none; random regrowth scores nothing."""
    path = tmp_path / "lenet.jsonl.gz"
    done = api.train_sparse("lenet-wu", path, sparsity=0.5, epochs=2, update_interval=10,
                            regrowth="random")
    assert validate_trace(path).samples_seen == done.steps == STEPS
    _, records = _records(path)
    first = _by_sample(records)[0]
    assert [(r["phase"], r["layer"]) for r in first if r["phase"] == "backward"] == [
        ("backward", name) for name in ("fc1", "pool2", "relu2", "conv2", "pool1", "relu1")
    ]
    conv1 = first[0]
    assert (conv1["kind"], conv1["vectors"], conv1["blocks"]) == ("spmm", 32 * 24 * 24, 4)
    assert first[2]["kind"] == "maxpool" and first[2]["outputs"] == 32 * 12 * 12 * 4
    assert all(r["scored"] == 0 for r in records if r["kind"] == "spmm_w")
    assert {r["layer"] for r in records if r["kind"] == "mask"} == {"conv2"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sparsity": 0.5, "warmup_epochs": 0}, "warmup_epochs: a block-sparse training trace "
         "needs at least 1 dense warm-up epoch"),
        ({"sparsity": 1.0}, r"sparsity: must be a number in \[0, 1\)"),
        ({"sparsity": -0.1}, r"sparsity: must be a number in \[0, 1\)"),
        ({"sparsity": 0.5, "epochs": 1}, r"warmup_epochs: must be less than epochs \(1\)"),
        ({"sparsity": 0.5, "block": 0}, "block: must be an integer >= 1"),
        ({"sparsity": 0.5, "lr": -1.0}, "lr: must be a finite number > 0"),
        ({"sparsity": 0.5, "batch_size": 0}, "batch_size: must be an integer >= 1"),
        ({"sparsity": 0.5, "regrowth": "magic"}, "regrowth: expected one of gradient, random"),
        ({"sparsity": 0.5, "seed": -1}, "seed: must be an integer >= 0"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, kwargs, match):
    out = tmp_path / "t.jsonl.gz"
    with pytest.raises(WorkloadError, match=match):
        api.train_sparse("mlp", out, **{"epochs": 2, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_bad_model_and_unwritable_paths_write_nothing(tmp_path):
    params = BlockSparsity(0.5)
    with pytest.raises(WorkloadError, match="model: 'vgg8-wu' cannot be trained block-sparse"):
        export_sparse_training_trace("vgg8-wu", tmp_path / "t.jsonl.gz", params, epochs=2)
    with pytest.raises(WorkloadError, match="is a directory"):
        export_sparse_training_trace("mlp", tmp_path, params, epochs=2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WorkloadError, match="is not a directory"):
        export_sparse_training_trace("mlp", blocker / "t.jsonl.gz", params, epochs=2)
    with pytest.raises(WorkloadError, match="sparsity: expected a BlockSparsity"):
        export_sparse_training_trace("mlp", tmp_path / "t.jsonl.gz", 0.5, epochs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_writes_the_same_trace(sparse, tmp_path, capsys):
    out = tmp_path / "cli.jsonl.gz"
    assert main(["trace", "export", "mlp", "--out", str(out), "--sparsity", "0.75",
                 "--epochs", "2", "--update-interval", "6"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: mlp, block-sparse s=0.75 B=8, 90 steps" in printed
    assert "mask updates 5" in printed and "fc1 392/1568" in printed
    assert out.read_bytes() == Path(sparse[0].path).read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sparsity", "0.5", "--train", "--algorithm", "sgd"],
         "--sparsity: trains block-sparse in software; it does not take --algorithm"),
        (["--sparsity", "0.5", "--config", "hw_configs/wu2023_64x64.yaml"],
         "--sparsity: trains block-sparse in software; it does not take --config"),
        (["--block", "8"], "--block: only with --sparsity S"),
        (["--warmup-epochs", "2", "--train"], "--warmup-epochs: only with --sparsity S"),
        (["--sparsity", "1.5"], r"sparsity: must be a number in [0, 1), got 1.5"),
        (["--sparsity", "0.5", "--warmup-epochs", "0", "--epochs", "2"],
         "warmup_epochs: a block-sparse training trace needs at least 1 dense warm-up epoch"),
        (["--sparsity", "0.5", "--samples", "4"], "--samples: a sparse training trace holds"),
        (["--sparsity", "0.5", "--regrowth", "magic"], "--regrowth: invalid choice"),
        (["--sparsity", "half"], "--sparsity: invalid float value"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "t.jsonl.gz"
    try:
        status = main(["trace", "export", "mlp", "--out", str(out), *extra])
    except SystemExit as exit_:  # argparse's own errors (a bad number or choice)
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("archsim: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
