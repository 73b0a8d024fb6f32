"""Run a zoo model on real inputs and write its operation trace (workload stage).

:func:`export_trace` builds (and optionally trains) a zoo model, runs a forward pass per sample
and writes one record per layer per sample through :class:`archsim.workload.trace.TraceWriter`:
matrix layers become ``mvm`` records carrying the input statistics of
:mod:`archsim.workload.activity`; the other layers carry their element counts. The traced forward
pass runs in float64 (weights stay as trained, float32) so that the quantised activations do not
depend on the export batch size.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from archsim.config.loader import describe_value
from archsim.errors import WorkloadError
from archsim.files import unwritable_folder
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.workload.activity import MAX_ACT_BITS, activity_stats_batch, element_fields
from archsim.workload.analog_train import (
    DEFAULT_MULTILEVEL,
    DEFAULT_SOFT_BOUNDS,
    AnalogTraining,
    AnalogTrainResult,
    train_analog,
)
from archsim.workload.data import (
    DIGITS_DATASET,
    digits_split_sizes,
    load_digits_28,
    synthetic_images,
)
from archsim.workload.devices import MultiLevelParams, SoftBoundsParams
from archsim.workload.layers import MatrixLayer
from archsim.workload.models import MODEL_NAMES, Model, build_model
from archsim.workload.trace import FORWARD, TraceWriter
from archsim.workload.train import DEFAULT_TRAINING, MAX_EPOCHS, TrainResult, train_sgd

TRAINABLE_MODELS: tuple[str, ...] = ("mlp", "lenet-wu")
"""Zoo models with an offline data set (the 28x28 digits): the ones :func:`export_trace` trains."""

MAX_BATCH = 64
"""Most samples run through the model at once while exporting."""

BATCH_MEMORY_BYTES = 256 * 2**20
"""Budget for the captured layer inputs of one export batch, in bytes (float64)."""

_QUANTISATION_NOTE = (
    "matrix-layer inputs quantised unsigned to act_bits per sample, scale = max of the sample's "
    "input tensor; statistics over im2col vectors, zero padding counted as zeros"
)


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_trace` wrote.

    Attributes:
        path: The trace file.
        model: Zoo model name.
        samples: Samples traced.
        records: Records written (layers x samples).
        test_accuracy: Test accuracy of the trained model as a fraction, or None if untrained.
    """

    path: str
    model: str
    samples: int
    records: int
    test_accuracy: float | None


def _check_bits(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ACT_BITS:
        raise WorkloadError(f"{field}: must be an integer 1..{MAX_ACT_BITS}, got {value!r}")


def _validate(
    model_name: str,
    out_path: str | os.PathLike[str],
    samples: int,
    seed: int,
    train: bool,
    act_bits: int,
    weight_bits: int,
    epochs: int | None,
) -> None:
    if model_name not in MODEL_NAMES:
        raise WorkloadError(
            f"unknown model {model_name!r}; expected one of {', '.join(MODEL_NAMES)}"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise WorkloadError(f"samples: must be an integer >= 1, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise WorkloadError(f"seed: must be an integer >= 0, got {seed!r}")
    _check_bits(act_bits, "act_bits")
    _check_bits(weight_bits, "weight_bits")
    if train and model_name not in TRAINABLE_MODELS:
        raise WorkloadError(
            f"train: model '{model_name}' cannot be trained (no offline data set for its "
            f"input shape); trainable models: {', '.join(TRAINABLE_MODELS)}"
        )
    if epochs is not None:
        if not train:
            raise WorkloadError(f"epochs: given ({epochs}) but train is False")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not (
            1 <= epochs <= MAX_EPOCHS
        ):
            raise WorkloadError(
                f"epochs: must be an integer 1..{MAX_EPOCHS}, got {describe_value(epochs)}"
            )
    _check_out_path(out_path)


def _check_out_path(out_path: str | os.PathLike[str]) -> None:
    """Refuse an output path the trace could not be written to, before any work is done
    (training and tracing take seconds to minutes; the file is only written at the end)."""
    text = os.fspath(out_path)
    if "\0" in text:
        raise WorkloadError(f"out_path: {text!r} is not a file name (it holds a NUL character)")
    path = Path(text)
    if not text or text.endswith(("/", os.sep)) or path.is_dir():
        raise WorkloadError(
            f"out_path: '{text}' is a directory; expected a trace file name such as "
            "model.jsonl.gz"
        )
    if path.exists() and not path.is_file():
        raise WorkloadError(f"out_path: '{path}' exists and is not a regular file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise WorkloadError(f"out_path: '{parent}' is not a directory")
    # The trace's parent folders (if missing) and its temporary file are created there.
    problem = unwritable_folder(parent)
    if problem is not None:
        raise WorkloadError(f"out_path: {problem}")


def _batch_size(model: Model) -> int:
    """Samples per export batch so that the captured inputs stay within the memory budget."""
    per_sample = sum(8 * int(np.prod(model.in_shape(layer))) for layer in model.layers)
    return max(1, min(MAX_BATCH, BATCH_MEMORY_BYTES // max(per_sample, 1)))


def _records(
    model: Model, inputs: np.ndarray, first_sample: int, act_bits: int
) -> Iterator[dict[str, Any]]:
    """Records of one batch: all layers of its first sample, then the next sample, ..."""
    # float64 keeps the quantised activations independent of the batch size (float32 BLAS
    # results vary with the blocking, enough to flip a rounding now and then).
    _, captured = model.forward(inputs.astype(np.float64), capture=True)
    per_layer: dict[str, list[dict[str, Any]]] = {}
    for layer in model.layers:
        if isinstance(layer, MatrixLayer):
            per_layer[layer.name] = [
                {
                    "kind": "mvm",
                    "vectors": st.vectors,
                    "rows": st.rows,
                    "cols": layer.cols,
                    "input_bits": act_bits,
                    "input_nz": st.input_nz,
                    "bitplane_nz": list(st.bitplane_nz),
                    "bitplane_allzero": list(st.bitplane_allzero),
                }
                for st in activity_stats_batch(layer, captured[layer.name], act_bits=act_bits)
            ]
        del captured[layer.name]
    static = {
        layer.name: {"kind": layer.kind, **element_fields(model, layer)}
        for layer in model.layers
        if not isinstance(layer, MatrixLayer)
    }
    for offset in range(len(inputs)):
        for layer in model.layers:
            if layer.name in per_layer:
                fields = per_layer[layer.name][offset]
            else:
                fields = static[layer.name]
            sample = first_sample + offset
            yield {"sample": sample, "phase": FORWARD, "layer": layer.name, **fields}


def export_trace(
    model_name: str,
    out_path: str | os.PathLike[str],
    *,
    samples: int,
    train: bool = False,
    seed: int = 0,
    act_bits: int = 8,
    weight_bits: int = 8,
    epochs: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ExportSummary:
    """Write the forward-pass trace of a zoo model.

    One generator, ``numpy.random.default_rng(seed)``, is used in this order: model weights
    (:func:`build_model`), then the digits split (28x28 models) or synthetic inputs (others),
    then the training shuffles. Inputs are the digits test images in split order, cycled if
    ``samples`` exceeds the 359 available, for ``mlp`` and ``lenet-wu``; uniform random images
    (:func:`synthetic_images`) for ``vgg8-wu`` and ``resnet18``. Records are written sample by
    sample, each sample's layers in topological order. The file appears only when complete.

    Args:
        model_name: One of :data:`~archsim.workload.models.MODEL_NAMES`.
        out_path: Trace file; a ``.gz`` suffix gives gzip-compressed JSON Lines.
        samples: Number of input samples, >= 1.
        train: Train with :data:`~archsim.workload.train.DEFAULT_TRAINING` first (only the
            models in :data:`TRAINABLE_MODELS`).
        seed: Seed of all randomness.
        act_bits: Input (activation) precision, 1..16 bits.
        weight_bits: Weight precision recorded in the header for the mapping stage, 1..16 bits.
        epochs: Override of the default number of training epochs (requires ``train``).
        limits: The size budgets: ``trace_records``, the samples times the model's layers.

    Returns:
        Summary of the written trace.

    Training and the traced forward pass run with one BLAS thread, so the trace's bytes do
    not depend on the machine's thread count.

    Raises:
        WorkloadError: An argument is invalid, or ``out_path`` is a directory or cannot be
            written (checked before any work); nothing is written.
        TraceError: The file cannot be written after all (a full disk); nothing is written.
    """
    _validate(model_name, out_path, samples, seed, train, act_bits, weight_bits, epochs)
    # One BLAS thread: a multi-threaded BLAS sums in an order that depends on its thread
    # count, so a trained trace would differ from machine to machine (and small matrices
    # gain nothing from threads anyway).
    layers = len(build_model(model_name, np.random.default_rng(0)).spec())
    limits.check(
        "trace_records", samples * layers,
        f"a trace of {samples:,} samples of {model_name} ({layers} records each)",
    )
    with threadpool_limits(limits=1, user_api="blas"):
        return _export(
            model_name, out_path, samples, train, seed, act_bits, weight_bits, epochs
        )


def _export(
    model_name: str,
    out_path: str | os.PathLike[str],
    samples: int,
    train: bool,
    seed: int,
    act_bits: int,
    weight_bits: int,
    epochs: int | None,
) -> ExportSummary:
    """:func:`export_trace` once its arguments are checked (under one BLAS thread)."""
    rng = np.random.default_rng(seed)
    model = build_model(model_name, rng)
    training: TrainResult | None = None
    if model_name in TRAINABLE_MODELS:
        x_train, y_train, x_test, y_test = load_digits_28(rng)
        if train:
            cfg = DEFAULT_TRAINING[model_name]
            training = train_sgd(
                model, x_train, y_train, x_test, y_test,
                epochs=cfg.epochs if epochs is None else epochs,
                lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size, rng=rng,
            )
        test_images = x_test

        def batch_inputs(start: int, count: int) -> np.ndarray:
            return test_images[np.arange(start, start + count) % len(test_images)]

        inputs_note = (
            f"{DIGITS_DATASET} test split ({len(x_test)} images, stratified 20 %), first "
            f"{samples} in split order, cycled"
        )
    else:

        def batch_inputs(start: int, count: int) -> np.ndarray:
            # One draw per sample, in sample order: the images do not depend on the batching.
            return np.concatenate(
                [synthetic_images(model.input_shape, 1, rng) for _ in range(count)]
            )

        inputs_note = "synthetic uniform [0, 1) images (shape-only; no offline data set)"

    header = {
        "model": model_name,
        "samples": samples,
        "seed": seed,
        "network": {
            "input_shape": list(model.input_shape),
            "weight_bits": weight_bits,
            "act_bits": act_bits,
            "layers": model.spec(),
        },
        "meta": {
            "training": None if training is None else training.to_dict(),
            "inputs": inputs_note,
            "activations": _QUANTISATION_NOTE,
        },
    }
    batch = _batch_size(model)
    records = 0
    try:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkloadError(f"out_path: cannot create '{Path(out_path).parent}': {error}") from None
    with TraceWriter(out_path, header) as writer:
        for start in range(0, samples, batch):
            count = min(batch, samples - start)
            for record in _records(model, batch_inputs(start, count), start, act_bits):
                writer.write(record)
                records += 1
    return ExportSummary(
        path=os.fspath(out_path),
        model=model_name,
        samples=samples,
        records=records,
        test_accuracy=None if training is None else training.test_accuracy,
    )


@dataclass(frozen=True)
class TrainingExport:
    """What :func:`export_training_trace` did: the trace it wrote and the training's result."""

    path: str
    records: int
    training: AnalogTrainResult
    #: per layer and array, epochs until the most pulsed device reaches the config's
    #: endurance (set by :func:`archsim.api.train` when a config gives one)
    lifetime_epochs: Mapping[str, Mapping[str, float | None]] | None = None


def export_training_trace(
    model_name: str,
    out_path: str | os.PathLike[str],
    training: AnalogTraining,
    *,
    seed: int = 0,
    act_bits: int = 8,
    weight_bits: int = 8,
    multilevel: MultiLevelParams = DEFAULT_MULTILEVEL,
    soft_bounds: SoftBoundsParams = DEFAULT_SOFT_BOUNDS,
) -> TrainingExport:
    """Train ``model_name`` on analog arrays (:func:`~archsim.workload.analog_train.
    train_analog`) and write every step as a version-3 trace: one trace sample per training
    sample, ``epochs`` x the training split, each with its forward, backward and (after the
    last sample of an update) update records. Records stream to the file as training makes
    them: memory stays bounded by one mini-batch. The header's ``meta`` gives the algorithm,
    its parameters and the devices; the file appears only when complete.

    Raises:
        WorkloadError: an argument is invalid or the file cannot be written (checked first).
        TraceError: the file cannot be written after all (a full disk); nothing is written.
    """
    _validate(model_name, out_path, 1, seed, True, act_bits, weight_bits, None)
    train_size, _ = digits_split_sizes()
    samples = training.epochs * train_size
    rng = np.random.default_rng(seed)
    # The network's shape (its weights come from ``rng`` in train_analog).
    shape = build_model(model_name, np.random.default_rng(0))
    header = {
        "model": model_name,
        "samples": samples,
        "seed": seed,
        "network": {
            "input_shape": list(shape.input_shape),
            "weight_bits": weight_bits,
            "act_bits": act_bits,
            "layers": shape.spec(),
        },
        "meta": {
            "training": {
                "algorithm": training.algorithm,
                "params": _plain_params(training.params),
                "epochs": training.epochs,
                "lr": training.lr,
                "batch_size": training.batch_size,
                "devices": {
                    "multilevel": _plain_params(multilevel),
                    "soft_bounds": _plain_params(soft_bounds),
                },
            },
            "inputs": f"{DIGITS_DATASET} training split ({train_size} images), reshuffled "
            "every epoch; one trace sample per training sample",
            "activations": _QUANTISATION_NOTE + "; errors (backward) likewise, magnitudes",
        },
    }
    try:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkloadError(f"out_path: cannot create '{Path(out_path).parent}': {error}") from None
    with threadpool_limits(limits=1, user_api="blas"), TraceWriter(
        out_path, header, version=3
    ) as writer:
        result = train_analog(
            model_name, training, rng=rng, multilevel=multilevel, soft_bounds=soft_bounds,
            sink=writer.write, act_bits=act_bits,
        )
        records = writer.records
    return TrainingExport(os.fspath(out_path), records, result)


def _plain_params(params: Any) -> dict[str, Any]:
    """A parameters dataclass as JSON-ready values (nested ones too)."""
    return {
        key: _plain_params(value) if dataclasses.is_dataclass(value) else value
        for key, value in dataclasses.asdict(params).items()
    }
