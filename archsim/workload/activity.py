"""Activation quantisation and the input statistics that drive crossbar energy (workload stage).

A matrix layer's input is applied to the crossbar as unsigned ``act_bits``-bit integers, one bit
plane per step (bit-serial DACs). Per sample, the input tensor is quantised with scale = max of
that sample's tensor:

    q = round(|x| / max|x| * (2**act_bits - 1))      (all-zero tensor -> all zeros)

and cut into the vectors the crossbar sees: one per output window for a convolution (zero
padding is part of the window and counts as zeros), one for a dense layer. The statistics count
over all those vectors, so an input element that lies in several windows counts once per window.

Inputs of zoo-model matrix layers are non-negative (images in [0, 1], or the output of ReLU or
pooling of ReLU). Should an input have negative values anyway, the magnitude is quantised and
:attr:`ActivityStats.negative_inputs` is set; the signs are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.layers import Conv2D, Dense, Layer, MatrixLayer, im2col
from archsim.workload.models import Model

MAX_ACT_BITS = 16
"""Largest supported activation precision, in bits."""


@dataclass(frozen=True)
class ActivityStats:
    """Input statistics of one matrix layer for one sample.

    Attributes:
        vectors: Input vectors applied to the matrix (conv output windows; 1 for dense).
        rows: Length of each vector (matrix rows).
        act_bits: Bits per quantised input element.
        input_nz: Fraction of the ``vectors * rows`` quantised elements that are non-zero.
        bitplane_nz: Per bit, LSB first (``act_bits`` entries): fraction of the
            ``vectors * rows`` elements whose bit is 1.
        bitplane_allzero: Per bit, LSB first: fraction of vectors whose bit plane is zero in
            every element (a bit-serial step with no active row).
        negative_inputs: The float input had negative values; magnitudes were quantised.
    """

    vectors: int
    rows: int
    act_bits: int
    input_nz: float
    bitplane_nz: tuple[float, ...]
    bitplane_allzero: tuple[float, ...]
    negative_inputs: bool = False


def element_fields(model: Model, layer: Layer) -> dict[str, int]:
    """The trace fields of a non-matrix layer's record for one sample: ``elements`` (input
    elements; an add's output elements) and, for pools, ``outputs``."""
    elements_in = int(np.prod(model.in_shape(layer)))
    elements_out = int(np.prod(model.out_shape(layer)))
    if layer.kind in ("maxpool", "avgpool"):
        return {"elements": elements_in, "outputs": elements_out}
    if layer.kind == "add":
        return {"elements": elements_out}
    if layer.kind in ("relu", "flatten"):
        return {"elements": elements_in}
    raise WorkloadError(f"layer '{layer.name}': kind '{layer.kind}' has no trace record form")


def _check_bits(act_bits: int) -> None:
    if not 1 <= act_bits <= MAX_ACT_BITS:
        raise WorkloadError(f"act_bits: must be 1..{MAX_ACT_BITS}, got {act_bits}")


def quantize_unsigned(x: np.ndarray, act_bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Quantise each sample of a batch to unsigned integers with a per-sample max scale.

    Args:
        x: Batch ``(B, ...)`` of floats.
        act_bits: Output precision, 1..16 bits.

    Returns:
        (q, negative): ``q`` has the shape of ``x``, dtype uint8 (``act_bits`` <= 8) or uint16,
        values in ``0 .. 2**act_bits - 1``, with ``q = round(|x| / max|x| * (2**act_bits - 1))``
        per sample (zeros for an all-zero sample); ``negative`` is a bool array ``(B,)`` telling
        which samples had negative values.
    """
    _check_bits(act_bits)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 1:
        raise WorkloadError(f"quantize_unsigned.x: needs a batch axis, got shape {x.shape}")
    flat = x.reshape(len(x), -1)
    negative = (flat < 0).any(axis=1) if flat.size else np.zeros(len(x), dtype=bool)
    mag = np.abs(flat)
    scale = mag.max(axis=1, keepdims=True) if flat.shape[1] else np.zeros((len(x), 1), np.float32)
    levels = np.float32(2**act_bits - 1)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.rint(mag / safe * levels)
    dtype = np.uint8 if act_bits <= 8 else np.uint16
    return q.astype(dtype).reshape(x.shape), negative


def input_vectors(layer: MatrixLayer, q: np.ndarray) -> np.ndarray:
    """The vectors a matrix layer applies to its crossbars, for a batch.

    Args:
        layer: A :class:`Conv2D` or :class:`Dense` layer.
        q: Its (quantised) input batch, ``(B, H, W, C)`` for conv or ``(B, rows)`` for dense.

    Returns:
        ``(B, vectors, rows)``, same dtype as ``q``; conv windows in row-major output order,
        padding as zeros.
    """
    if isinstance(layer, Conv2D):
        cols = im2col(q, layer.kernel, layer.stride, layer.padding)
        return cols.reshape(cols.shape[0], -1, cols.shape[-1])
    if isinstance(layer, Dense):
        return q.reshape(q.shape[0], 1, -1)
    raise WorkloadError(f"layer '{layer.name}': kind '{layer.kind}' has no input vectors")


def activity_stats_batch(
    layer: MatrixLayer, x: np.ndarray, *, act_bits: int = 8
) -> list[ActivityStats]:
    """Input statistics of ``layer`` for every sample of a batch.

    Args:
        layer: Matrix layer (conv or dense).
        x: Float input batch of the layer, ``(B, *in_shape)``.
        act_bits: Input precision, 1..16 bits.

    Returns:
        One :class:`ActivityStats` per sample, in batch order.
    """
    q, negative = quantize_unsigned(x, act_bits)
    vecs = input_vectors(layer, q)
    if vecs.shape[2] != layer.rows:
        raise WorkloadError(
            f"layer '{layer.name}': input gives vectors of {vecs.shape[2]} elements, "
            f"matrix has {layer.rows} rows"
        )
    return _stats(vecs, negative, act_bits)


def vector_stats_batch(vectors: np.ndarray, *, act_bits: int = 8) -> list[ActivityStats]:
    """Statistics of the vectors a layer applies, for every sample of a batch: ``vectors`` is
    ``(B, vectors, length)`` (the backward pass's error vectors, say), quantised per sample as
    :func:`quantize_unsigned` does (magnitudes, scale = the sample's largest)."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 3:
        raise WorkloadError(f"vectors: must be (B, vectors, length), got shape {vectors.shape}")
    q, negative = quantize_unsigned(vectors, act_bits)
    return _stats(q, negative, act_bits)


def _stats(vecs: np.ndarray, negative: np.ndarray, act_bits: int) -> list[ActivityStats]:
    """Statistics of quantised vectors ``(B, vectors, length)``, one per sample."""
    b, n_vec, rows = vecs.shape
    values = np.arange(2**act_bits)
    bits = (values[:, None] >> np.arange(act_bits)[None, :]) & 1  # (levels, act_bits)
    or_per_vector = np.bitwise_or.reduce(vecs, axis=2)  # (B, vectors)
    plane_zero = ((or_per_vector[:, :, None] >> np.arange(act_bits)) & 1) == 0
    allzero = plane_zero.mean(axis=1)  # (B, act_bits)
    n_elem = n_vec * rows
    out = []
    for s in range(b):
        counts = np.bincount(vecs[s].ravel(), minlength=values.size)
        ones = counts @ bits
        out.append(
            ActivityStats(
                vectors=int(n_vec),
                rows=int(rows),
                act_bits=int(act_bits),
                input_nz=float(1.0 - counts[0] / n_elem),
                bitplane_nz=tuple(float(v) for v in ones / n_elem),
                bitplane_allzero=tuple(float(v) for v in allzero[s]),
                negative_inputs=bool(negative[s]),
            )
        )
    return out


def activity_stats(layer: MatrixLayer, x: np.ndarray, *, act_bits: int = 8) -> ActivityStats:
    """Input statistics of ``layer`` for one sample ``x`` of shape ``in_shape`` (no batch axis)."""
    return activity_stats_batch(layer, np.asarray(x)[None], act_bits=act_bits)[0]
