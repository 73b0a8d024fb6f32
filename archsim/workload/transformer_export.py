"""Transformer traces: vit-tiny on the digits and shape-only BERT encoders (workload stage;
issue 13).

Both write version-5 traces (``traces/README.md``) of one layer graph. One sample is one
sequence (an image's tokens, or a text's), of ``T`` tokens of ``d`` features, through ``L``
pre-norm encoder blocks of ``h`` heads and a feed-forward ``f`` wide. Block ``l``:

* ``block{l}.ln1`` (layernorm); ``block{l}.q``, ``.k``, ``.v`` (dense ``d`` x ``d``, each fed
  by ``ln1``);
* ``block{l}.scores`` (matmul of ``q`` and ``k``: ``h`` heads of (T x d/h) x (d/h x T)),
  ``block{l}.softmax`` (``h`` x T x T elements), ``block{l}.context`` (matmul of ``softmax``
  and ``v``: ``h`` heads of (T x T) x (T x d/h));
* ``block{l}.o`` (dense ``d`` x ``d``), ``block{l}.add1`` (``o`` plus the block's input);
* ``block{l}.ln2``, ``block{l}.ffn1`` (dense ``d`` x ``f``), ``block{l}.gelu``,
  ``block{l}.ffn2`` (dense ``f`` x ``d``), ``block{l}.add2`` (``ffn2`` plus ``add1``).

``vit-tiny`` (:mod:`archsim.workload.transformer`) puts ``embed`` (dense, a patch's pixels x
``d``) before the blocks and ``ln_f`` (layernorm), ``pool`` (the mean over the tokens, an
avgpool) and ``head`` (dense ``d`` x classes) after them; a BERT encoder's input is already
embedded, so its first layer is ``block0.ln1``. Shapes are per sequence (``[T, d]``); a dense
layer's ``mvm`` record applies ``T`` vectors, one per token (``head``: the one pooled vector),
and element counts are per sequence. Biases, the position embedding and attention's
1/sqrt(d/h) scaling are not traced (a few element-wise operations each).

:func:`export_vit_trace` records the real inputs of every dense layer (the digits through the
model); :func:`export_encoder_trace` is shape-only: no weights and no data, so its dense layers'
input statistics come from seeded random activations (the way
:mod:`archsim.workload.synthetic` makes its vectors), quantised as a real input is. Both
quantise as :mod:`archsim.workload.activity` does: magnitudes, unsigned, per sample with scale
= the largest of the layer's input tensor.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from threadpoolctl import threadpool_limits

from archsim.errors import WorkloadError
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.workload.activity import ActivityStats, vector_stats_batch
from archsim.workload.analog_train import mvm_fields
from archsim.workload.export import MAX_BATCH, ExportSummary, _check_bits, _check_out_path
from archsim.workload.trace import FORWARD, TraceWriter
from archsim.workload.train import MAX_EPOCHS
from archsim.workload.transformer import VisionTransformer, ViTConfig, _gelu, train_vit

__all__ = [
    "ENCODERS",
    "MAX_DRAWN_TOKENS",
    "MAX_SEQ_LEN",
    "TRANSFORMER_MODELS",
    "VIT_EPOCHS",
    "EncoderShape",
    "export_encoder_trace",
    "export_vit_trace",
]


@dataclass(frozen=True)
class EncoderShape:
    """The shape of a transformer encoder: ``width`` features per token (d), ``heads``
    attention heads (h), a feed-forward ``hidden`` features wide (f), ``layers`` blocks."""

    width: int
    heads: int
    hidden: int
    layers: int


ENCODERS: Final[Mapping[str, EncoderShape]] = MappingProxyType(
    {
        # Devlin et al. 2019, arXiv:1810.04805, Sec. 3: BERT-base L=12, H=768, A=12 and
        # BERT-large L=24, H=1024, A=16, with a feed-forward of 4H.
        "bert-base": EncoderShape(width=768, heads=12, hidden=3072, layers=12),
        "bert-large": EncoderShape(width=1024, heads=16, hidden=4096, layers=24),
    }
)
"""The shape-only encoders :func:`export_encoder_trace` writes, by model name."""

TRANSFORMER_MODELS: Final = ("vit-tiny", *ENCODERS)
"""Every model this module exports."""

MAX_SEQ_LEN: Final = 65_536
"""Longest sequence of a shape-only encoder trace, tokens."""

MAX_DRAWN_TOKENS: Final = 128
"""Most token vectors drawn per dense-layer input of a shape-only trace. The statistics are
shares of elements and of vectors, which 128 tokens of hundreds of features estimate closely;
drawing all of a long sequence's would take minutes and gigabytes (65,536 tokens of 4,096
features). The quantisation scale is then the draw's largest magnitude, a little below a whole
sequence's."""

VIT_EPOCHS: Final = 20
"""Training epochs of vit-tiny unless told otherwise (above 90 % on the digits' test split)."""

_VIT_QUANTISATION: Final = (
    "dense-layer inputs quantised unsigned (magnitudes: LayerNorm outputs are signed) to "
    "act_bits per sample, scale = max of the sample's input tensor (all its tokens); one "
    "vector per token"
)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# The layer graph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One layer of the graph: its header entry, and the fields of its forward record; a
    dense layer's come from its input's statistics (``fields`` None), applied to ``vectors``
    vectors."""

    spec: Mapping[str, Any]
    fields: Mapping[str, Any] | None
    vectors: int = 0


def _dense(name: str, source: str, tokens: int, rows: int, cols: int) -> _Layer:
    return _Layer(
        {"name": name, "kind": "dense", "inputs": [source], "in_shape": [tokens, rows],
         "out_shape": [tokens, cols], "rows": rows, "cols": cols},
        None,
        tokens,
    )


def _elementwise(kind: str, name: str, sources: Sequence[str], shape: list[int]) -> _Layer:
    return _Layer(
        {"name": name, "kind": kind, "inputs": list(sources), "in_shape": shape,
         "out_shape": shape},
        {"kind": kind, "elements": math.prod(shape)},
    )


def _matmul(
    name: str, sources: Sequence[str], in_shape: list[int], out_shape: list[int],
    product: tuple[int, int, int, int], operand_bits: int,
) -> _Layer:
    heads, m, k, n = product
    return _Layer(
        {"name": name, "kind": "matmul", "inputs": list(sources), "in_shape": in_shape,
         "out_shape": out_shape},
        {"kind": "matmul", "heads": heads, "m": m, "k": k, "n": n, "operand_bits": operand_bits},
    )


def _block(
    layer: int, source: str, shape: EncoderShape, tokens: int, act_bits: int
) -> list[_Layer]:
    """The layers of encoder block ``layer``, fed by ``source`` (module docstring)."""
    t, d, h, f = tokens, shape.width, shape.heads, shape.hidden
    b = f"block{layer}"
    seq, attention = [t, d], [h, t, t]
    return [
        _elementwise("layernorm", f"{b}.ln1", [source], seq),
        _dense(f"{b}.q", f"{b}.ln1", t, d, d),
        _dense(f"{b}.k", f"{b}.ln1", t, d, d),
        _dense(f"{b}.v", f"{b}.ln1", t, d, d),
        _matmul(f"{b}.scores", [f"{b}.q", f"{b}.k"], seq, attention, (h, t, d // h, t), act_bits),
        _elementwise("softmax", f"{b}.softmax", [f"{b}.scores"], attention),
        _matmul(
            f"{b}.context", [f"{b}.softmax", f"{b}.v"], attention, seq, (h, t, t, d // h),
            act_bits,
        ),
        _dense(f"{b}.o", f"{b}.context", t, d, d),
        _elementwise("add", f"{b}.add1", [f"{b}.o", source], seq),
        _elementwise("layernorm", f"{b}.ln2", [f"{b}.add1"], seq),
        _dense(f"{b}.ffn1", f"{b}.ln2", t, d, f),
        _elementwise("gelu", f"{b}.gelu", [f"{b}.ffn1"], [t, f]),
        _dense(f"{b}.ffn2", f"{b}.gelu", t, f, d),
        _elementwise("add", f"{b}.add2", [f"{b}.ffn2", f"{b}.add1"], seq),
    ]


def _encoder(shape: EncoderShape, tokens: int, source: str, act_bits: int) -> list[_Layer]:
    """The blocks of an encoder of ``shape`` (``shape.layers`` of them), the first fed by
    ``source``."""
    layers: list[_Layer] = []
    for layer in range(shape.layers):
        layers += _block(layer, source, shape, tokens, act_bits)
        source = f"block{layer}.add2"
    return layers


def _records(
    layers: Sequence[_Layer], sample: int, stats: Mapping[str, ActivityStats], act_bits: int
) -> Iterator[dict[str, Any]]:
    """One sample's forward records, in layer order; ``stats`` holds the statistics of each
    dense layer's input, by the layer feeding it (the record applies the layer's
    ``vectors``, which the statistics may have estimated on fewer)."""
    for layer in layers:
        spec = layer.spec
        fields = layer.fields
        if fields is None:
            fields = mvm_fields(stats[spec["inputs"][0]], spec["cols"], "mvm", act_bits)
            fields["vectors"] = layer.vectors
        yield {"sample": sample, "phase": FORWARD, "layer": spec["name"], **fields}


def _write(
    out_path: str | os.PathLike[str], header: Mapping[str, Any],
    records: Iterator[dict[str, Any]],
) -> int:
    """Write a trace atomically (its folder made first); return the records written."""
    try:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkloadError(f"out_path: cannot create '{Path(out_path).parent}': {error}") from None
    with TraceWriter(out_path, header) as writer:
        for record in records:
            writer.write(record)
        return writer.records


# --------------------------------------------------------------------------------------------
# vit-tiny
# --------------------------------------------------------------------------------------------


def _vit_layers(config: ViTConfig, act_bits: int) -> list[_Layer]:
    """vit-tiny's graph: embed, the blocks, ln_f, pool, head."""
    t, d = config.tokens, config.width
    shape = EncoderShape(width=d, heads=config.heads, hidden=config.hidden, layers=config.layers)
    last = f"block{config.layers - 1}.add2"
    pool = _Layer(
        {"name": "pool", "kind": "avgpool", "inputs": ["ln_f"], "in_shape": [t, d],
         "out_shape": [d], "kernel": [t], "stride": t},
        {"kind": "avgpool", "elements": t * d, "outputs": d},
    )
    head = _Layer(
        {"name": "head", "kind": "dense", "inputs": ["pool"], "in_shape": [d],
         "out_shape": [config.classes], "rows": d, "cols": config.classes},
        None,
        1,
    )
    return [
        _dense("embed", "input", t, config.patch * config.patch, d),
        *_encoder(shape, t, "embed", act_bits),
        _elementwise("layernorm", "ln_f", [last], [t, d]),
        pool,
        head,
    ]


def _vit_inputs(model: VisionTransformer, images: np.ndarray) -> dict[str, np.ndarray]:
    """The float inputs ``(B, vectors, rows)`` of vit-tiny's dense layers for a batch of
    images, by the layer that produces them (``input``: the patches)."""
    _, cache = model.forward(images)
    n, d = images.shape[0], model.config.width
    inputs = {"input": cache["patches"]}
    for layer in range(model.config.layers):
        block = f"block{layer}"
        a, _, _, _, _, _, mixed, b, _, _, g, _ = cache[block]
        inputs |= {f"{block}.ln1": a, f"{block}.context": mixed, f"{block}.ln2": b,
                   f"{block}.gelu": g}
    _, pooled, _ = cache["final"]
    inputs["pool"] = pooled.reshape(n, 1, d)
    return inputs


def export_vit_trace(
    out_path: str | os.PathLike[str],
    *,
    samples: int,
    seed: int = 0,
    train: bool = False,
    epochs: int | None = None,
    act_bits: int = 8,
    weight_bits: int = 8,
    limits: Limits = DEFAULT_LIMITS,
) -> ExportSummary:
    """Write the forward-pass trace of ``vit-tiny`` on ``samples`` digits (version 5).

    The model is :func:`~archsim.workload.transformer.train_vit`'s from ``seed``: trained for
    ``epochs`` (default :data:`VIT_EPOCHS`) with ``train``, else its seeded initial weights.
    The inputs are the first ``samples`` images of that seed's test split, cycled past its 359.
    Each dense layer's ``mvm`` record carries the statistics of its real input, quantised to
    ``act_bits`` (module docstring); the matmul records use ``act_bits`` operands. Deterministic
    per seed: BLAS runs on one thread and the traced pass in float64. The header's ``meta``
    gives the model's shape and, when trained, its epochs and test accuracy. The training's
    samples (epochs x the training split) are checked against ``limits.training_samples``
    first; the file appears only when complete.

    Raises:
        LimitError: the training would exceed the training-samples budget.
        WorkloadError: an argument is invalid, or ``out_path`` is a directory or cannot be
            written (checked before any work); nothing is written.
        TraceError: the file cannot be written after all (a full disk); nothing is written.
    """
    from archsim.workload.data import DIGITS_DATASET, digits_split_sizes, load_digits_28

    if not _is_int(samples) or samples < 1:
        raise WorkloadError(f"samples: must be an integer >= 1, got {samples!r}")
    if not _is_int(seed) or seed < 0:
        raise WorkloadError(f"seed: must be an integer >= 0, got {seed!r}")
    if not isinstance(train, bool):
        raise WorkloadError(f"train: must be true or false, got {train!r}")
    if epochs is not None:
        if not train:
            raise WorkloadError(f"epochs: given ({epochs!r}) but train is False")
        if not _is_int(epochs) or not 1 <= epochs <= MAX_EPOCHS:
            raise WorkloadError(f"epochs: must be an integer 1..{MAX_EPOCHS}, got {epochs!r}")
    _check_bits(act_bits, "act_bits")
    _check_bits(weight_bits, "weight_bits")
    _check_out_path(out_path)
    records = len(_vit_layers(ViTConfig(), act_bits))
    limits.check(
        "trace_records", samples * records,
        f"a trace of {samples:,} samples of vit-tiny ({records} records each)",
    )
    epochs = (VIT_EPOCHS if epochs is None else int(epochs)) if train else 0
    if train:
        train_images, _ = digits_split_sizes()
        limits.check(
            "training_samples", epochs * train_images,
            f"vit-tiny trained for {epochs} epochs of {train_images} images",
        )
    config = ViTConfig()
    # train_vit draws the split, then the weights, then the batches from seed: with 0 epochs
    # it returns the trained model's initial weights.
    model, accuracy = train_vit(config, seed=seed, epochs=epochs)
    _, _, x_test, _ = load_digits_28(np.random.default_rng(seed))
    images = x_test[..., 0].astype(np.float64)
    layers = _vit_layers(config, act_bits)
    header = {
        "model": "vit-tiny",
        "samples": samples,
        "seed": seed,
        "network": {
            "input_shape": [config.tokens, config.patch * config.patch],
            "weight_bits": weight_bits,
            "act_bits": act_bits,
            "layers": [layer.spec for layer in layers],
        },
        "meta": {
            "config": dataclasses.asdict(config),
            "training": {"epochs": epochs, "test_accuracy": accuracy} if train else None,
            "inputs": f"{DIGITS_DATASET} test split ({len(images)} images), first {samples} in "
            f"split order, cycled; each image as {config.tokens} patches of {config.patch}x"
            f"{config.patch} pixels, row-major (the tokens)",
            "activations": _VIT_QUANTISATION,
            "not_traced": "biases, the position embedding, attention's 1/sqrt(d_head) scaling",
        },
    }

    def records() -> Iterator[dict[str, Any]]:
        for start in range(0, samples, MAX_BATCH):
            count = min(MAX_BATCH, samples - start)
            batch = images[np.arange(start, start + count) % len(images)]
            stats = {
                source: vector_stats_batch(x, act_bits=act_bits)
                for source, x in _vit_inputs(model, batch).items()
            }
            for offset in range(count):
                mine = {source: per_sample[offset] for source, per_sample in stats.items()}
                yield from _records(layers, start + offset, mine, act_bits)

    # One BLAS thread: a multi-threaded BLAS sums in an order that depends on its thread
    # count, and the quantised activations would follow it (as in export.py).
    with threadpool_limits(limits=1, user_api="blas"):
        written = _write(out_path, header, records())
    return ExportSummary(
        path=os.fspath(out_path), model="vit-tiny", samples=samples, records=written,
        test_accuracy=accuracy if train else None,
    )


# --------------------------------------------------------------------------------------------
# Shape-only encoders
# --------------------------------------------------------------------------------------------

_ENCODER_ACTIVATIONS: Final = (
    "shape-only (no weights, no data): per sample, each dense-layer input is min(seq_len, "
    f"{MAX_DRAWN_TOKENS}) token vectors of seeded standard-normal activations (ffn2's: their "
    "GELU), drawn in layer order from numpy's default_rng(seed); q, k and v share one draw "
    "(their common input). Quantised unsigned (magnitudes) to act_bits, scale = max of the "
    "draw; each record applies seq_len vectors"
)

_ENCODER_SOURCE: Final = (
    "J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, BERT: Pre-training of Deep Bidirectional "
    "Transformers for Language Understanding, NAACL-HLT 2019, arXiv:1810.04805"
)


def _check_encoder(
    model: Any, seq_len: Any, samples: Any, layers: Any, seed: Any, act_bits: Any,
    weight_bits: Any, out_path: str | os.PathLike[str],
) -> EncoderShape:
    """Every argument of :func:`export_encoder_trace`, before any work; the traced shape."""
    if not isinstance(model, str) or model not in ENCODERS:
        raise WorkloadError(f"model: expected one of {', '.join(ENCODERS)}, got {model!r}")
    if not _is_int(seq_len) or not 1 <= seq_len <= MAX_SEQ_LEN:
        raise WorkloadError(
            f"seq_len: must be an integer 1..{MAX_SEQ_LEN} (tokens per sequence), got {seq_len!r}"
        )
    if not _is_int(samples) or samples < 1:
        raise WorkloadError(f"samples: must be an integer >= 1, got {samples!r}")
    shape = ENCODERS[model]
    if layers is not None and (not _is_int(layers) or not 1 <= layers <= shape.layers):
        raise WorkloadError(
            f"layers: must be an integer 1..{shape.layers} ({model}'s encoder blocks), got "
            f"{layers!r}"
        )
    if not _is_int(seed) or seed < 0:
        raise WorkloadError(f"seed: must be an integer >= 0, got {seed!r}")
    _check_bits(act_bits, "act_bits")
    _check_bits(weight_bits, "weight_bits")
    _check_out_path(out_path)
    return shape if layers is None else dataclasses.replace(shape, layers=int(layers))


def _drawn_inputs(
    shape: EncoderShape, tokens: int, rng: np.random.Generator, act_bits: int
) -> dict[str, ActivityStats]:
    """The statistics of one sample's dense-layer inputs, drawn (module docstring), by the
    layer feeding them."""
    drawn = min(tokens, MAX_DRAWN_TOKENS)
    stats = {}
    for layer in range(shape.layers):
        block = f"block{layer}"
        for source, width in (
            (f"{block}.ln1", shape.width), (f"{block}.context", shape.width),
            (f"{block}.ln2", shape.width), (f"{block}.gelu", shape.hidden),
        ):
            x = rng.standard_normal((1, drawn, width), dtype=np.float32)
            if source.endswith(".gelu"):
                x, _ = _gelu(x)
            (stats[source],) = vector_stats_batch(x, act_bits=act_bits)
    return stats


def export_encoder_trace(
    out_path: str | os.PathLike[str],
    *,
    model: str,
    seq_len: int,
    samples: int = 1,
    layers: int | None = None,
    act_bits: int = 8,
    weight_bits: int = 8,
    seed: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> ExportSummary:
    """Write the shape-only forward-pass trace of a BERT encoder on ``samples`` sequences of
    ``seq_len`` tokens (version 5); ``samples`` times the records of one are held to
    ``limits.trace_records``.

    ``model`` is ``bert-base`` or ``bert-large`` (:data:`ENCODERS`); ``layers`` traces its
    first blocks only (default all: 12 or 24). There are no weights and no data: the records'
    shapes are the model's, and each dense layer's input statistics come from seeded random
    activations (:data:`MAX_DRAWN_TOKENS` tokens at most; the header's ``meta`` says how),
    quantised to ``act_bits``. Records are per layer, not per token, and a draw is bounded, so
    an export takes about a second per sample and 24 blocks whatever ``seq_len``. The same
    arguments give a byte-identical file, which appears only when complete.

    Raises:
        WorkloadError: an argument is invalid (``seq_len`` outside 1..65,536, ``layers``
            outside the model's blocks), or ``out_path`` is a directory or cannot be written;
            nothing is written.
        LimitError: the trace would hold more records than ``limits.trace_records``.
        TraceError: the file cannot be written after all (a full disk); nothing is written.
    """
    shape = _check_encoder(
        model, seq_len, samples, layers, seed, act_bits, weight_bits, out_path
    )
    tokens = int(seq_len)
    graph = _encoder(shape, tokens, "input", act_bits)
    limits.check(
        "trace_records", samples * len(graph),
        f"a trace of {samples:,} sequences of {model} ({len(graph)} records each)",
    )
    header = {
        "model": model,
        "samples": samples,
        "seed": seed,
        "network": {
            "input_shape": [tokens, shape.width],
            "weight_bits": weight_bits,
            "act_bits": act_bits,
            "layers": [layer.spec for layer in graph],
        },
        "meta": {
            "encoder": {
                **dataclasses.asdict(shape), "blocks_of_model": ENCODERS[model].layers,
                "seq_len": tokens,
            },
            "source": _ENCODER_SOURCE,
            "inputs": "embedded sequences (the embedding lookup is not traced)",
            "blocks": "pre-LN (LayerNorm before attention and before the feed-forward, as "
            "vit-tiny's); BERT's are post-LN: the same operations in another order",
            "activations": _ENCODER_ACTIVATIONS,
            "not_traced": "biases, attention's 1/sqrt(d_head) scaling",
        },
    }

    def records() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        for sample in range(samples):
            yield from _records(graph, sample, _drawn_inputs(shape, tokens, rng, act_bits),
                                act_bits)

    written = _write(out_path, header, records())
    return ExportSummary(
        path=os.fspath(out_path), model=model, samples=samples, records=written,
        test_accuracy=None,
    )
