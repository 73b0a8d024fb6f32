"""On-chip training of a zoo model on analog arrays, and its training trace (workload stage).

:func:`train_analog` trains ``mlp`` or ``lenet-wu`` on the digits with one of the update
algorithms of :mod:`archsim.workload.analog_update` on every matrix layer: the forward and
backward passes read the arrays' present weights (in floating point), and each layer's update
goes through its algorithm's devices (:mod:`archsim.workload.devices`), which count every pulse
and write. Per-vector algorithms (``sgd``, ``ttv2``, ``c-ttv2``, ``agad``) update after every
sample, one pulsed outer product per input vector (a convolution's windows one after another);
batched ones (``mp``, ``naive``) accumulate a mini-batch and write once.

With a ``sink``, every step becomes trace records (:data:`archsim.workload.trace.RECORD_KINDS`)
as it happens, so a writer streams them and memory stays bounded by one mini-batch: per
training sample its forward records (input statistics of every matrix layer, element counts of
the others), its backward records in reverse layer order (``mvm_t`` with the error vectors'
statistics for every matrix layer whose input gradient is needed, element counts of the
activation and pooling layers), and, after the last sample of each update, the update's records
per matrix layer (:func:`update_records`).

Randomness, from one generator in this order: the initial weights, the data split, each layer's
devices (in layer order), then per epoch the shuffle and the stochastic pulses and device noise
of its updates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from archsim.config.schema import HardwareConfig
from archsim.errors import WorkloadError
from archsim.workload.activity import ActivityStats, element_fields, vector_stats_batch
from archsim.workload.analog_update import (
    ALGORITHMS,
    AlgorithmParams,
    AnalogOptimizer,
    MixedPrecisionParams,
    NaiveParams,
    SGDParams,
    TransferParams,
    UpdateWork,
    build_optimizer,
)
from archsim.workload.data import DIGITS_DATASET, load_digits_28
from archsim.workload.devices import MultiLevelParams, SoftBoundsParams
from archsim.workload.layers import Conv2D, MatrixLayer
from archsim.workload.models import INPUT, Model, build_model
from archsim.workload.train import MAX_EPOCHS, accuracy, softmax_cross_entropy

__all__ = [
    "ALGORITHM_NAMES",
    "AnalogTrainResult",
    "AnalogTraining",
    "DEFAULT_MULTILEVEL",
    "DEFAULT_SOFT_BOUNDS",
    "LayerWear",
    "MAX_LR",
    "Wear",
    "default_training",
    "devices_from_config",
    "mvm_fields",
    "train_analog",
    "update_records",
    "uses_soft_bounds",
]

ALGORITHM_NAMES: tuple[str, ...] = tuple(sorted(ALGORITHMS))
"""The algorithms :func:`train_analog` runs."""

#: Records a sink receives: plain dicts as :meth:`archsim.workload.trace.TraceWriter.write`
#: takes them.
Sink = Callable[[dict[str, Any]], None]

DEFAULT_SOFT_BOUNDS = SoftBoundsParams(
    delta=0.02, sigma_b=0.3, sigma_d2d=0.3, sigma_pm=0.1, sigma_c2c=0.3
)
"""The pulsed device when no config gives one: Rasch et al. 2024's Fig. 4 device (spreads 0.3,
up/down asymmetry 0.1) at 100 states (archsim/REFERENCES.md [Rasch2024])."""

DEFAULT_MULTILEVEL = MultiLevelParams()
"""The multi-level cell when no config gives one: Wu et al. 2023's b-RRAM, 4-40 uS in 128
levels, at most 2 trials per write (archsim/REFERENCES.md [Wu2023])."""

#: Largest learning rate: far above any that trains (0.01-1 do), low enough that the pulse
#: counts and accumulators it scales stay finite.
MAX_LR = 1000.0

#: Trainable zoo models (the ones with an offline data set).
_MODELS = ("mlp", "lenet-wu")

#: Weight range of a layer's devices, in He standard deviations sqrt(2 / rows): wide enough
#: for the trained weights of the bundled models, narrow enough to keep the devices' steps
#: fine.
_RANGE_IN_STD = 4.0


@dataclass(frozen=True)
class AnalogTraining:
    """How to train: the algorithm, its parameters and the schedule.

    Attributes:
        algorithm: One of :data:`ALGORITHM_NAMES`.
        params: The algorithm's parameters (:mod:`archsim.workload.analog_update`).
        epochs: Passes over the training split.
        lr: Learning rate (the transfer rate of the TTv2 family, whose A array learns at its
            ``lr_a``).
        batch_size: Samples per update of the batched algorithms (``mp``, ``naive``); 1 for the
            per-vector ones.
    """

    algorithm: str
    params: AlgorithmParams
    epochs: int
    lr: float
    batch_size: int

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise WorkloadError(
                f"algorithm: expected one of {', '.join(ALGORITHM_NAMES)}, "
                f"got {self.algorithm!r}"
            )
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or not (
            1 <= self.epochs <= MAX_EPOCHS
        ):
            raise WorkloadError(f"epochs: must be an integer 1..{MAX_EPOCHS}, got {self.epochs!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr <= MAX_LR):
            raise WorkloadError(f"lr: must be a number in (0, {MAX_LR:g}], got {self.lr!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or not (
            1 <= self.batch_size <= 4096
        ):
            raise WorkloadError(f"batch_size: must be an integer 1..4096, got {self.batch_size!r}")


def uses_soft_bounds(training: AnalogTraining) -> bool:
    """Whether ``training`` pulses soft-bounds devices (the per-vector algorithms, and mixed
    precision in pulse mode) rather than programming multi-level cells."""
    params = training.params
    if isinstance(params, MixedPrecisionParams):
        return params.mode == "pulse"
    return not ALGORITHMS[training.algorithm].batched


def default_training(algorithm: str, *, epochs: int | None = None) -> AnalogTraining:
    """The schedule and parameters archsim trains ``algorithm`` with by default (tuned on the
    digits for the bundled models; ``epochs`` overrides the number of epochs)."""
    if algorithm not in ALGORITHMS:
        raise WorkloadError(
            f"algorithm: expected one of {', '.join(ALGORITHM_NAMES)}, got {algorithm!r}"
        )
    params: AlgorithmParams
    # Tuned on the digits (seeds 0-2; test accuracy in the README's Training section).
    if algorithm == "sgd":
        params, lr, batch, default_epochs = SGDParams(l_max=5), 0.01, 1, 5
    elif algorithm in ("ttv2", "c-ttv2", "agad"):
        # A transfer every sample (n_s = 1): fc1's 784 rows are each read about twice an
        # epoch even so. The choppers flip at every read: AGAD has no reference for a row
        # until its first flip, and c-TTv2 averages the reference offset out faster.
        chopper = 0.1 if algorithm == "ttv2" else 1.0
        params = TransferParams(lr_a=0.05, l_max=5, n_s=1, chopper_prob=chopper, beta=0.5)
        lr, batch, default_epochs = 0.1, 1, 5
    elif algorithm == "mp":
        # Wu et al. 2023: a device is written when its accumulated change passes 1/15 of the
        # conductance range.
        params = MixedPrecisionParams(mode="write_verify", threshold=1.0 / 15.0)
        lr, batch, default_epochs = 0.05, 4, 10
    else:
        params, lr, batch, default_epochs = NaiveParams(), 0.05, 4, 10
    return AnalogTraining(
        algorithm, params, default_epochs if epochs is None else epochs, lr, batch
    )


@dataclass(frozen=True)
class Wear:
    """Pulses (or writes) per device of one array: total, mean, maximum and a histogram whose
    bins are ``[0, 1), [1, 2), [2, 4), [4, 8), ...`` (``edges`` the bin starts, the last bin
    closed)."""

    total: int
    mean: float
    max: int
    edges: tuple[int, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, counts: np.ndarray) -> Wear:
        """The wear of an array with ``counts`` per device."""
        counts = np.asarray(counts, dtype=np.int64)
        top = int(counts.max()) if counts.size else 0
        edges = [0, 1]
        while edges[-1] <= top:
            edges.append(edges[-1] * 2)
        histogram, _ = np.histogram(counts, bins=edges)
        return cls(
            total=int(counts.sum()), mean=float(counts.mean()) if counts.size else 0.0,
            max=top, edges=tuple(edges[:-1]), counts=tuple(int(n) for n in histogram),
        )


@dataclass(frozen=True)
class LayerWear:
    """The wear of one matrix layer's arrays after training.

    Attributes:
        weights: Weights of the layer (rows x cols), one device each in W and in A.
        pulses_w: Pulses per device of the weight array W (outer products, transfers and
            programming pulses).
        pulses_a: Pulses per device of the gradient array A (zero without one).
        writes_w: Write events per device of W (a device pulsed by one outer product or one
            transfer, or programmed by one write, counts one).
        pulses_w_map, pulses_a_map: The per-device counts themselves (for wear maps).
    """

    weights: int
    pulses_w: Wear
    pulses_a: Wear
    writes_w: Wear
    pulses_w_map: np.ndarray = field(repr=False, compare=False)
    pulses_a_map: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class AnalogTrainResult:
    """Outcome of :func:`train_analog`.

    Attributes:
        model: The zoo model trained.
        algorithm: The update algorithm.
        epochs: Epochs run.
        samples: Training samples processed (epochs x training split).
        updates: Updates applied (samples, or mini-batches for the batched algorithms).
        test_accuracy: Test accuracy after training.
        accuracy_curve: Test accuracy after each epoch.
        dataset: The data set.
        layers: The wear of every matrix layer.
        writes_per_weight: Write events of W per weight over the run, all layers.
        every_step_writes_per_weight: The same for a scheme that writes every weight at every
            update ("updating every step"): ``updates``.
    """

    model: str
    algorithm: str
    epochs: int
    samples: int
    updates: int
    test_accuracy: float
    accuracy_curve: tuple[float, ...]
    dataset: str
    layers: Mapping[str, LayerWear]
    writes_per_weight: float
    every_step_writes_per_weight: float

    def lifetime_epochs(self, endurance_cycles: float) -> dict[str, dict[str, float | None]]:
        """Per layer and array (``"W"``, ``"A"``), the epochs of this training until its most
        pulsed device reaches ``endurance_cycles`` pulses (None for an array never pulsed)."""
        return {
            name: {
                array: (endurance_cycles * self.epochs / wear.max if wear.max else None)
                for array, wear in (("W", layer.pulses_w), ("A", layer.pulses_a))
            }
            for name, layer in self.layers.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (without the per-device maps)."""

        def wear(w: Wear) -> dict[str, Any]:
            return {"total": w.total, "mean": w.mean, "max": w.max,
                    "histogram": {"edges": list(w.edges), "counts": list(w.counts)}}

        return {
            "model": self.model,
            "algorithm": self.algorithm,
            "epochs": self.epochs,
            "samples": self.samples,
            "updates": self.updates,
            "test_accuracy": self.test_accuracy,
            "accuracy_curve": list(self.accuracy_curve),
            "dataset": self.dataset,
            "writes_per_weight": self.writes_per_weight,
            "every_step_writes_per_weight": self.every_step_writes_per_weight,
            "layers": {
                name: {"weights": layer.weights, "pulses_w": wear(layer.pulses_w),
                       "pulses_a": wear(layer.pulses_a), "writes_w": wear(layer.writes_w)}
                for name, layer in self.layers.items()
            },
        }


def update_records(layer: str, rows: int, cols: int, work: UpdateWork) -> list[dict[str, Any]]:
    """The trace records (without ``sample``) of one layer's update ``work``.

    * ``digital``: the work's FLOPs and bits;
    * ``outer`` on A or W: its pulse trains. The work gives the trains' number and total
      slots; they are written as at most two records of whole slot counts (``q`` and ``q +
      1``) whose slots and pulses add up to the work's;
    * ``transfer``: the row reads of A, each written back into W with one pulse slot;
    * ``write``: cells programmed, by write-and-verify or (mixed precision's pulse mode) by
      blind pulses a row at a time, with no verify reads.
    """
    base = {"phase": "update", "layer": layer}
    records: list[dict[str, Any]] = []
    if work.flops or work.bits_moved:
        records.append({**base, "kind": "digital", "flops": work.flops, "bits": work.bits_moved})
    if work.array in ("A", "W") and work.vectors and work.pulse_slots:
        records.extend(_trains(base, rows, cols, work.array, work.vectors, work.pulse_slots,
                               work.pulses))
    if work.transfer_reads:
        # A transfer writes the row it read with one pulse slot (its devices with |H| >= 1
        # fire), spent whether or not any fires, as Rasch et al.'s Table 1 counts it.
        records.append({**base, "kind": "transfer", "reads": work.transfer_reads,
                        "input_bits": 1, "bit_length": 1, "pulses": work.transfer_pulses})
    if work.cells:
        records.append({**base, "kind": "write", "cells": work.cells,
                        "pulses": work.write_pulses, "verify_reads": work.verify_reads,
                        "rounds": work.rounds})
    return records


def _trains(base: dict[str, Any], rows: int, cols: int, array: str, trains: int, slots: int,
            pulses: int) -> list[dict[str, Any]]:
    """``trains`` pulse trains of ``slots`` slots in all, as records of whole lengths."""
    short, longer = divmod(slots, trains)
    parts = [(trains - longer, short), (longer, short + 1)]
    parts = [(n, length) for n, length in parts if n and length]
    records = []
    given = 0
    for position, (n, length) in enumerate(parts):
        share = pulses - given if position == len(parts) - 1 else pulses * n * length // slots
        given += share
        records.append({**base, "kind": "outer", "vectors": n, "rows": rows, "cols": cols,
                        "bit_length": length, "pulses": share, "array": array})
    return records


def _vectors(layer: MatrixLayer, cache: Any, batch: int) -> np.ndarray:
    """A matrix layer's input vectors for a batch, ``(B, vectors, rows)``, from its tape."""
    if isinstance(layer, Conv2D):
        cols = cache[0]
        return cols.reshape(batch, -1, cols.shape[-1])
    return np.asarray(cache).reshape(batch, 1, -1)


def mvm_fields(stats: ActivityStats, cols: int, kind: str, bits: int) -> dict[str, Any]:
    """The fields of an ``mvm`` (or, with the matrix read the other way, ``mvm_t``) record
    from its vectors' statistics; ``cols`` is the other side of the forward matrix."""
    forward = kind == "mvm"
    return {"kind": kind, "vectors": stats.vectors, "rows": stats.rows if forward else cols,
            "cols": cols if forward else stats.rows, "input_bits": bits,
            "input_nz": stats.input_nz, "bitplane_nz": list(stats.bitplane_nz),
            "bitplane_allzero": list(stats.bitplane_allzero)}


class _Recorder:
    """Turns one batch's passes into trace records for a sink."""

    #: Layer kinds whose backward pass has a record (flatten moves no data).
    BACKWARD_KINDS = ("relu", "add", "maxpool", "avgpool")

    def __init__(self, model: Model, sink: Sink, act_bits: int) -> None:
        self.model = model
        self.sink = sink
        self.act_bits = act_bits
        self.static = {
            layer.name: element_fields(model, layer)
            for layer in model.layers if not isinstance(layer, MatrixLayer)
        }
        # Matrix layers whose input gradient the backward pass computes (not the first).
        self.backward_matrix = {
            layer.name for layer in model.matrix_layers()
            if any(src != INPUT for src in layer.inputs)
        }

    def passes(self, first: int, tape: dict[str, Any], outputs: dict[str, np.ndarray],
               batch: int) -> None:
        """The forward and backward records of samples ``first .. first + batch - 1``."""
        model, bits = self.model, self.act_bits
        forward: dict[str, list[dict[str, Any]]] = {}
        backward: dict[str, list[dict[str, Any]]] = {}
        for layer in model.matrix_layers():
            vectors = _vectors(layer, tape[layer.name], batch)
            forward[layer.name] = [
                mvm_fields(st, layer.cols, "mvm", bits)
                for st in vector_stats_batch(vectors, act_bits=bits)
            ]
            if layer.name in self.backward_matrix:
                errors = outputs[layer.name].reshape(batch, vectors.shape[1], layer.cols)
                backward[layer.name] = [
                    mvm_fields(st, layer.rows, "mvm_t", bits)
                    for st in vector_stats_batch(errors, act_bits=bits)
                ]
        for offset in range(batch):
            sample = first + offset
            for layer in model.layers:
                fields = (forward[layer.name][offset] if layer.name in forward
                          else {"kind": layer.kind, **self.static[layer.name]})
                self.sink({"sample": sample, "phase": "forward", "layer": layer.name, **fields})
            for layer in reversed(model.layers):
                if layer.name in backward:
                    fields = backward[layer.name][offset]
                elif layer.kind in self.BACKWARD_KINDS and layer.name in outputs:
                    fields = {"kind": layer.kind, **self.static[layer.name]}
                else:
                    continue
                self.sink({"sample": sample, "phase": "backward", "layer": layer.name, **fields})

    def update(self, sample: int, layer: MatrixLayer, work: UpdateWork) -> None:
        """The update records of ``layer``, under ``sample`` (the batch's last)."""
        for record in update_records(layer.name, layer.rows, layer.cols, work):
            self.sink({"sample": sample, **record})


def train_analog(
    model_name: str,
    training: AnalogTraining,
    *,
    rng: np.random.Generator,
    multilevel: MultiLevelParams = DEFAULT_MULTILEVEL,
    soft_bounds: SoftBoundsParams = DEFAULT_SOFT_BOUNDS,
    sink: Sink | None = None,
    act_bits: int = 8,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> AnalogTrainResult:
    """Train ``model_name`` on analog arrays with ``training`` (see the module docstring).

    Args:
        model_name: ``mlp`` or ``lenet-wu``.
        training: Algorithm, parameters and schedule.
        rng: The one source of randomness (module docstring).
        multilevel: The cells of ``mp`` and ``naive`` (write-and-verify mode).
        soft_bounds: The pulsed devices of the other algorithms (and of ``mp`` in pulse mode).
        sink: Receives every trace record as it is made (None: no trace).
        act_bits: Precision of the traced inputs and errors, bits.
        data: ``(x_train, y_train, x_test, y_test)`` instead of the digits split (drawn from
            ``rng`` after the weights otherwise).

    Returns:
        Accuracy, its curve and the devices' wear.

    Raises:
        WorkloadError: The model cannot be trained offline or a parameter is out of range.
    """
    if model_name not in _MODELS:
        raise WorkloadError(f"model: {model_name!r} cannot be trained offline; expected "
                            f"{' or '.join(repr(m) for m in _MODELS)}")
    model = build_model(model_name, rng)
    x_train, y_train, x_test, y_test = load_digits_28(rng) if data is None else data
    batch_size = training.batch_size if ALGORITHMS[training.algorithm].batched else 1
    device = soft_bounds if uses_soft_bounds(training) else multilevel
    optimizers: dict[str, AnalogOptimizer] = {}
    for layer in model.matrix_layers():
        scale = _RANGE_IN_STD * float(np.sqrt(2.0 / layer.rows))
        optimizers[layer.name] = build_optimizer(
            training.algorithm, (layer.rows, layer.cols), training.params, device, rng,
            weight_scale=scale, initial_weights=np.clip(layer.weight, -scale, scale),
        )
        layer.weight[...] = optimizers[layer.name].weights()
    recorder = None if sink is None else _Recorder(model, sink, act_bits)
    n = len(x_train)
    sample = updates = 0
    curve = []
    for _ in range(training.epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = len(idx)
            logits, tape = model.forward_train(x_train[idx])
            loss, d_logits = softmax_cross_entropy(logits, y_train[idx])
            if not np.isfinite(loss):
                raise WorkloadError(f"lr: training diverged with lr={training.lr}; use less")
            outputs: dict[str, np.ndarray] = {}
            model.backward(tape, d_logits, outputs=outputs)
            if recorder is not None:
                recorder.passes(sample, tape, outputs, batch)
            for layer in model.matrix_layers():
                x = _vectors(layer, tape[layer.name], batch).reshape(-1, layer.rows)
                d = outputs[layer.name].reshape(-1, layer.cols)
                work = optimizers[layer.name].update_batch(x, d, training.lr)
                layer.weight[...] = optimizers[layer.name].weights()
                if recorder is not None:
                    recorder.update(sample + batch - 1, layer, work)
            sample += batch
            updates += 1
        curve.append(accuracy(model, x_test, y_test))
    wear = {
        layer.name: LayerWear(
            weights=layer.rows * layer.cols,
            pulses_w=Wear.of(optimizers[layer.name].pulses_w),
            pulses_a=Wear.of(optimizers[layer.name].pulses_a),
            writes_w=Wear.of(optimizers[layer.name].writes_w),
            pulses_w_map=np.array(optimizers[layer.name].pulses_w),
            pulses_a_map=np.array(optimizers[layer.name].pulses_a),
        )
        for layer in model.matrix_layers()
    }
    weights = sum(layer.weights for layer in wear.values())
    return AnalogTrainResult(
        model=model_name, algorithm=training.algorithm, epochs=training.epochs, samples=sample,
        updates=updates, test_accuracy=curve[-1], accuracy_curve=tuple(curve),
        dataset=DIGITS_DATASET, layers=MappingProxyType(wear),
        writes_per_weight=sum(layer.writes_w.total for layer in wear.values()) / weights,
        every_step_writes_per_weight=float(updates),
    )


def devices_from_config(
    config: HardwareConfig,
) -> tuple[MultiLevelParams, SoftBoundsParams | None, tuple[float, float]]:
    """The device parameters of ``config``'s ``device`` section: its multi-level cell (with
    ``2**cell_bits`` levels of the first tile design), its soft-bounds response (None when the
    section has none) and the reference array's offset (mean, spread).

    Raises:
        WorkloadError: the config has no ``device`` section.
    """
    device = config.device
    if device is None:
        raise WorkloadError("device: missing; training needs the cells to train on")
    cell_bits = config.groups[0].tile.crossbar.cell_bits
    multilevel = MultiLevelParams(
        g_min_s=device.g_min, g_max_s=device.g_max, levels=2**cell_bits,
        program_noise=device.program_noise, read_noise=device.read_noise,
        max_trials=device.max_trials, tolerance_levels=device.tolerance_levels,
    )
    sb = device.soft_bounds
    if sb is None:
        return multilevel, None, (0.0, 0.0)
    soft = SoftBoundsParams(
        delta=sb.dw_min, sigma_b=sb.sigma_bound, sigma_d2d=sb.sigma_d2d, sigma_pm=sb.sigma_pm,
        sigma_c2c=sb.sigma_c2c, read_noise=sb.read_noise,
    )
    return multilevel, soft, (sb.reference_mean, sb.reference_std)
