"""Block-sparse dynamic training written as a version-4 training trace (workload stage).

:func:`export_sparse_training_trace` trains a zoo model block-sparse
(:func:`archsim.workload.sparse_train.train_block_sparse`: RigL / SET on ``B x B`` blocks) and
writes every optimizer step as one trace *sample*: sample ``k`` is training step ``k`` (one
mini-batch), so the header's ``samples`` is the number of steps. Records stream to the file as
training makes them (memory stays bounded by one step), and the file appears only when complete.

Records of one step, in this order (``V`` the step's input vectors: samples x conv windows;
``R x C`` the layer's weight matrix; ``B`` the block side):

* **forward**, every header layer once in header order. A matrix layer (dense, conv):
  ``spmm`` with ``vectors`` V, ``rows`` R, ``cols`` C, ``block`` B, ``blocks`` the blocks in
  force during the step (every block of the grid for a dense layer or during the warm-up),
  ``weights`` the real (unpadded) weights inside them, and ``input_nz`` the non-zero fraction of
  the input vectors. The other layers: their usual element records (``relu``, ``maxpool``,
  ``avgpool``, ``add``, ``flatten``; :func:`archsim.workload.activity.element_fields`) for the
  whole batch.
* **backward**, in reverse layer order, as the version-3 training export has it: ``spmm_t``
  (the same seven fields, ``input_nz`` that of the output gradient) for every matrix layer whose
  input gradient is computed (not the first matrix layer), and the element records of the
  ``relu``, ``add`` and pooling layers the gradient passes (``flatten`` moves no data).
* **update**: per matrix layer, ``spmm_w`` (the seven fields, ``input_nz`` that of the forward
  input) with ``grad_nz``, the non-zero fraction of the output gradient, and ``scored``, the
  blocks *not* in force whose dense weight gradient was computed only to score gradient
  regrowth at a mask update (0 otherwise). Then, if the step ended with a mask event (the
  pruning that ends the dense warm-up, or a drop-and-regrow update), for every sparse layer:
  ``prune`` (``blocks`` switched off), ``regrow`` (``blocks`` switched on) and ``mask`` (the block
  mask after the event: ``block_rows`` = ``block_cols`` = B, ``blocks_total`` of the grid,
  ``blocks_nonzero`` and ``positions``, the sorted row-major flat indices of the blocks on). An
  update that changes nothing still has its three records (0 and 0, the same positions): the
  mask-update controller runs its check either way.

The warm-up is dense (at least one epoch), so every step before the first ``mask`` record
has every block in force, and from then on a layer's ``spmm`` blocks are its last ``mask``
record's ``blocks_nonzero``. Weights and activations are float32 (the header says 32 bits); no
quantisation statistics are recorded. Training and the trace run with one BLAS thread, so the
bytes do not depend on the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from archsim.errors import WorkloadError
from archsim.workload.activity import element_fields
from archsim.workload.analog_train import _Recorder
from archsim.workload.data import DIGITS_DATASET, digits_split_sizes
from archsim.workload.export import _check_out_path
from archsim.workload.layers import MatrixLayer
from archsim.workload.models import INPUT, Model, build_model
from archsim.workload.sparse_train import (
    SPARSE_MODELS,
    BlockSparsity,
    LayerStepWork,
    SparseTrainResult,
    StepWork,
    _check_training,
    sparse_layer_names,
    train_block_sparse,
)
from archsim.workload.trace import FORWARD, TraceWriter
from archsim.workload.train import DEFAULT_TRAINING

__all__ = ["SPARSE_TRACE_VERSION", "SparseExport", "export_sparse_training_trace"]

SPARSE_TRACE_VERSION = 4
"""The trace format version of a block-sparse training trace (``spmm`` records and masks)."""

#: Precision recorded in the header: training runs in float32.
_FLOAT_BITS = 32


@dataclass(frozen=True)
class SparseExport:
    """What :func:`export_sparse_training_trace` did.

    Attributes:
        path: The trace file.
        steps: Training steps traced (the trace's samples).
        samples: Training samples (images) the steps ran, epochs x the training split.
        records: Op records written.
        training: The training's result (accuracy, masks, sparsity per layer).
    """

    path: str
    steps: int
    samples: int
    records: int
    training: SparseTrainResult


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _validate(
    model_name: Any, out_path: Any, sparsity: Any, seed: Any, epochs: int, lr: float,
    momentum: float, batch_size: int,
) -> None:
    """Every argument of :func:`export_sparse_training_trace`, before any work."""
    if model_name not in SPARSE_MODELS:
        raise WorkloadError(
            f"model: {model_name!r} cannot be trained block-sparse; expected one of "
            f"{', '.join(SPARSE_MODELS)}"
        )
    if not isinstance(sparsity, BlockSparsity):
        raise WorkloadError(
            f"sparsity: expected a BlockSparsity, got {type(sparsity).__name__}"
        )
    if not (_is_int(seed) and seed >= 0):
        raise WorkloadError(f"seed: must be an integer >= 0, got {seed!r}")
    _check_training(epochs, lr, momentum, batch_size)
    if sparsity.sparsity > 0 and sparsity.warmup_epochs < 1:
        raise WorkloadError(
            "warmup_epochs: a block-sparse training trace needs at least 1 dense warm-up "
            f"epoch (its first steps run every block, before the first mask), got "
            f"{sparsity.warmup_epochs}"
        )
    if sparsity.warmup_epochs >= epochs:
        raise WorkloadError(
            f"warmup_epochs: must be less than epochs ({epochs}), got {sparsity.warmup_epochs}"
        )
    _check_out_path(out_path)


def _gradient_layers(model: Model) -> frozenset[str]:
    """The layers whose output gradient the backward pass computes (as
    :meth:`~archsim.workload.models.Model.backward` reaches them from the loss)."""
    reached = {model.layers[-1].name}
    for layer in reversed(model.layers):
        if layer.name in reached:
            reached.update(src for src in layer.inputs if src != INPUT)
    return frozenset(reached)


def _spmm(work: LayerStepWork, kind: str, block: int, input_nz: float) -> dict[str, Any]:
    """The seven fields shared by ``spmm``, ``spmm_t`` and ``spmm_w`` records."""
    return {
        "kind": kind, "vectors": work.vectors, "rows": work.rows, "cols": work.cols,
        "block": block, "blocks": work.nnzb, "weights": work.forward_macs // work.vectors,
        "input_nz": input_nz,
    }


class _StepRecords:
    """Turns each :class:`StepWork` into its records, written at once to ``writer``; checks
    that every step runs on the mask the last ``mask`` record announced."""

    def __init__(self, model: Model, sparsity: BlockSparsity, writer: TraceWriter) -> None:
        self.model = model
        self.block = sparsity.block
        self.writer = writer
        self.sparse = frozenset(sparse_layer_names(model, sparsity))
        self.static = {
            layer.name: element_fields(model, layer)
            for layer in model.layers if not isinstance(layer, MatrixLayer)
        }
        gradient = _gradient_layers(model)
        self.backward_kinds = {
            layer.name for layer in model.layers
            if layer.kind in _Recorder.BACKWARD_KINDS and layer.name in gradient
        }
        # The flat indices of the blocks on, per sparse layer, as the last mask record said
        # (every block during the warm-up).
        self.positions: dict[str, np.ndarray] = {}
        for layer in model.matrix_layers():
            if layer.name in self.sparse:
                grid = -(-layer.rows // self.block) * -(-layer.cols // self.block)
                self.positions[layer.name] = np.arange(grid)

    def _scaled(self, name: str, batch: int) -> dict[str, Any]:
        """A non-matrix layer's element fields for a batch of ``batch`` samples."""
        return {key: value * batch for key, value in self.static[name].items()}

    def __call__(self, work: StepWork) -> None:
        write, sample, block = self.writer.write, work.step, self.block
        by_layer = {layer.layer: layer for layer in work.layers}
        for name, layer in by_layer.items():
            if name in self.positions and not np.array_equal(
                np.flatnonzero(layer.mask), self.positions[name]
            ):
                raise RuntimeError(
                    f"step {sample}: layer '{name}' runs on a mask other than the one its last "
                    "mask record gave"
                )
        for spec in self.model.layers:
            if spec.name in by_layer:
                lw = by_layer[spec.name]
                fields = _spmm(lw, "spmm", block, 1.0 - lw.input_zero_fraction)
            else:
                fields = {"kind": spec.kind, **self._scaled(spec.name, work.samples)}
            write({"sample": sample, "phase": FORWARD, "layer": spec.name, **fields})
        for spec in reversed(self.model.layers):
            if spec.name in by_layer:
                lw = by_layer[spec.name]
                if lw.backward_macs == 0:
                    continue
                fields = _spmm(lw, "spmm_t", block, 1.0 - lw.grad_zero_fraction)
            elif spec.name in self.backward_kinds:
                fields = {"kind": spec.kind, **self._scaled(spec.name, work.samples)}
            else:
                continue
            write({"sample": sample, "phase": "backward", "layer": spec.name, **fields})
        for lw in work.layers:
            write({
                "sample": sample, "phase": "update", "layer": lw.layer,
                **_spmm(lw, "spmm_w", block, 1.0 - lw.input_zero_fraction),
                "grad_nz": 1.0 - lw.grad_zero_fraction,
                "scored": lw.blocks - lw.nnzb if lw.regrow_macs > 0 else 0,
            })
        if work.mask_event == "none":
            return
        for lw in work.layers:
            if lw.layer not in self.sparse:
                continue
            grid = lw.mask.shape
            flat = lw.mask.ravel().copy()
            for rows_cols, on in ((lw.pruned, False), (lw.regrown, True)):
                if rows_cols:
                    flat[np.ravel_multi_index(tuple(np.array(rows_cols).T), grid)] = on
            positions = np.flatnonzero(flat)
            self.positions[lw.layer] = positions
            base = {"sample": sample, "phase": "update", "layer": lw.layer}
            write({**base, "kind": "prune", "blocks": len(lw.pruned)})
            write({**base, "kind": "regrow", "blocks": len(lw.regrown)})
            write({
                **base, "kind": "mask", "block_rows": block, "block_cols": block,
                "blocks_total": lw.blocks, "blocks_nonzero": int(positions.size),
                "positions": positions.tolist(),
            })


def export_sparse_training_trace(
    model_name: str,
    out_path: str | os.PathLike[str],
    sparsity: BlockSparsity,
    *,
    seed: int = 0,
    epochs: int | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    batch_size: int | None = None,
) -> SparseExport:
    """Train ``model_name`` block-sparse and write every step as a version-4 trace (module
    docstring): one trace sample per training step (mini-batch).

    ``numpy.random.default_rng(seed)`` draws, in order, the initial weights, the digits split,
    then per epoch the shuffle and the random regrowth (:func:`~archsim.workload.sparse_train.
    train_block_sparse`). The header's ``meta`` gives the sparsity parameters and the schedule.

    Args:
        model_name: One of :data:`~archsim.workload.sparse_train.SPARSE_MODELS`.
        out_path: Trace file; a ``.gz`` suffix gives gzip-compressed JSON Lines.
        sparsity: Block side, target sparsity, schedule and regrowth rule; with a target above
            0, ``warmup_epochs`` >= 1 (the first mask record then follows dense steps). With
            sparsity 0 every block stays in force: the dense baseline in the same records.
        seed: Seed of all randomness, >= 0.
        epochs: Passes over the training split, more than the warm-up (default: the model's
            :data:`~archsim.workload.train.DEFAULT_TRAINING`, as are the next three).
        lr: Learning rate.
        momentum: Heavy-ball momentum.
        batch_size: Samples per step (the trace's sample).

    Returns:
        The trace written and the training's result.

    Raises:
        WorkloadError: An argument is invalid or the file cannot be written (checked before
            any work), or training diverged; nothing is written.
        TraceError: The file cannot be written after all (a full disk); nothing is written.
    """
    defaults = DEFAULT_TRAINING.get(model_name) if isinstance(model_name, str) else None
    if defaults is not None:
        epochs = defaults.epochs if epochs is None else epochs
        lr = defaults.lr if lr is None else lr
        momentum = defaults.momentum if momentum is None else momentum
        batch_size = defaults.batch_size if batch_size is None else batch_size
    _validate(model_name, out_path, sparsity, seed, epochs, lr, momentum, batch_size)
    train_size, _ = digits_split_sizes()
    steps_per_epoch = -(-train_size // batch_size)
    steps = epochs * steps_per_epoch
    # The network's shape (its weights come from the training's generator).
    shape = build_model(model_name, np.random.default_rng(0))
    header = {
        "model": model_name,
        "samples": steps,
        "seed": seed,
        "network": {
            "input_shape": list(shape.input_shape),
            "weight_bits": _FLOAT_BITS,
            "act_bits": _FLOAT_BITS,
            "layers": shape.spec(),
        },
        "meta": _meta(sparsity, shape, epochs, lr, momentum, batch_size, train_size,
                      steps_per_epoch),
    }
    try:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkloadError(f"out_path: cannot create '{Path(out_path).parent}': {error}") from None
    # One BLAS thread: the sums' order, hence the trace's bytes, do not depend on the machine.
    with threadpool_limits(limits=1, user_api="blas"), TraceWriter(
        out_path, header, version=SPARSE_TRACE_VERSION
    ) as writer:
        result = train_block_sparse(
            model_name, sparsity, rng=np.random.default_rng(seed), epochs=epochs, lr=lr,
            momentum=momentum, batch_size=batch_size,
            on_step=_StepRecords(shape, sparsity, writer),
        )
        records = writer.records
    return SparseExport(
        path=os.fspath(out_path), steps=result.steps, samples=epochs * train_size,
        records=records, training=result,
    )


def _meta(
    sparsity: BlockSparsity, shape: Model, epochs: int, lr: float, momentum: float,
    batch_size: int, train_size: int, steps_per_epoch: int,
) -> Mapping[str, Any]:
    return {
        "training": {
            "method": "block-sparse dynamic training (RigL drop-and-regrow schedule; SET with "
            "random regrowth), SGD with momentum, float32",
            "sparsity": sparsity.to_dict(),
            "sparse_layers": list(sparse_layer_names(shape, sparsity)),
            "epochs": epochs,
            "lr": float(lr),
            "momentum": float(momentum),
            "batch_size": int(batch_size),
            "steps_per_epoch": steps_per_epoch,
        },
        "inputs": f"{DIGITS_DATASET} training split ({train_size} images), reshuffled every "
        "epoch; one trace sample per training step (mini-batch)",
        "activations": "float32, not quantised; input_nz and grad_nz count exact zeros (conv: "
        "im2col windows, padding included)",
    }
