"""Gradient redistribution: weight matrices as SVD rank components split between SLC and MLC
cells (workload stage; issue 13, HyFlexPIM).

HyFlexPIM (C. E. Song et al., ISCA 2025, arXiv 2506.00020; archsim/REFERENCES.md [HyFlexPIM])
stores a transformer's static weight matrices in RRAM arrays whose cells hold one bit (SLC,
exact, 8 cells per 8-bit weight) or two (MLC, 4 cells per weight, noisy). Its gradient
redistribution decides which weights get the exact cells:

1. each ``m x n`` weight matrix becomes ``U diag(sigma) V^T`` truncated to rank
   ``k = floor(mn / (m + n))``, so that ``U`` (``m x k``) and ``Sigma V^T`` (``k x n``) hold
   no more parameters, and take no more multiply-accumulates, than the matrix
   (:func:`svd_rank`, :class:`SvdWeights`);
2. the singular values are fine-tuned, and the magnitude of the loss's gradient with respect
   to each, ``|dL/d sigma_i| = |u_i^T (dL/dW) v_i|``, ranks the rank components
   (:func:`sigma_gradient`);
3. the top fraction ``s`` of the components (column ``i`` of ``U`` with row ``i`` of
   ``Sigma V^T``) goes to SLC, the rest to MLC (:func:`slc_components`; magnitude and random
   choices are the baselines);
4. ``U`` and ``Sigma V^T`` are quantised to 8 bits, and an MLC weight is read with noise
   (:func:`mlc_read`): its magnitude's four 2-bit slices, each stored in one cell, are each
   multiplied by ``1 + std x N(0, 1)``; SLC weights read exactly (:meth:`SvdWeights.read`).

The sign of a weight is kept apart from its magnitude (a differential pair of columns, or a
sign bit in the digital periphery), so noise scales each slice of the magnitude. Every random
draw comes from the caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from archsim.errors import WorkloadError

if TYPE_CHECKING:
    from archsim.workload.functional import AnalogSpec

__all__ = [
    "SELECTION_RULES", "Redistributed", "SvdWeights", "decompose", "fine_tune_sigma",
    "RedistributionStudy", "hybrid_accuracy", "mlc_read", "quantize", "redistribution_study",
    "sigma_gradient", "slc_components", "slc_count",
    "svd_rank",
]

#: How the rank components for SLC are chosen: by the gradient of the loss with respect to
#: their singular value (HyFlexPIM's rule), by the singular value, or at random.
SELECTION_RULES: Final = ("gradient", "magnitude", "random")

#: Bits of a quantised weight and of one MLC cell.
WEIGHT_BITS: Final = 8
CELL_BITS: Final = 2


def svd_rank(rows: int, cols: int) -> int:
    """The rank ``floor(rows x cols / (rows + cols))`` (at least 1) at which ``U`` and
    ``Sigma V^T`` together hold no more parameters than the ``rows x cols`` matrix."""
    if rows < 1 or cols < 1:
        raise WorkloadError(f"a weight matrix needs at least one row and column, got "
                            f"{rows} x {cols}")
    return max(1, rows * cols // (rows + cols))


def slc_count(rank: int, fraction: float) -> int:
    """How many of ``rank`` components go to SLC cells at SLC ``fraction``: the nearest whole
    number, halves up (the mapping places as many on SLC arrays)."""
    return min(rank, math.floor(fraction * rank + 0.5))


@dataclass(frozen=True)
class SvdWeights:
    """A weight matrix as ``u @ diag(sigma) @ vt``: ``u`` is ``rows x k``, ``sigma`` the ``k``
    singular values (non-increasing), ``vt`` is ``k x cols``."""

    u: np.ndarray
    sigma: np.ndarray
    vt: np.ndarray

    @classmethod
    def of(cls, weights: np.ndarray, rank: int | None = None) -> SvdWeights:
        """The truncated SVD of ``weights`` at ``rank`` (default :func:`svd_rank`): the best
        approximation of that rank in the Frobenius norm."""
        if weights.ndim != 2:
            raise WorkloadError(f"a weight matrix must be 2-D, got shape {weights.shape}")
        rows, cols = weights.shape
        k = svd_rank(rows, cols) if rank is None else rank
        if not 1 <= k <= min(rows, cols):
            raise WorkloadError(f"rank must be in 1..{min(rows, cols)}, got {k}")
        u, sigma, vt = np.linalg.svd(np.asarray(weights, dtype=np.float64), full_matrices=False)
        return cls(u[:, :k].copy(), sigma[:k].copy(), vt[:k].copy())

    @property
    def rank(self) -> int:
        return len(self.sigma)

    def with_sigma(self, sigma: np.ndarray) -> SvdWeights:
        """The same factors with other singular values (fine-tuned)."""
        return SvdWeights(self.u, np.asarray(sigma, dtype=np.float64), self.vt)

    def weights(self) -> np.ndarray:
        """The matrix ``U diag(sigma) V^T``."""
        return (self.u * self.sigma) @ self.vt

    def read(
        self, slc: np.ndarray, std: float, rng: np.random.Generator
    ) -> np.ndarray:
        """The matrix as the hardware computes with it: ``U`` and ``Sigma V^T`` quantised to
        8 bits, the weights of the rank components not in ``slc`` (a boolean mask over the
        components) read from MLC cells with noise ``std`` (:func:`mlc_read`), then
        multiplied. All-SLC (or ``std`` 0) gives the quantised matrix exactly."""
        slc = np.asarray(slc, dtype=bool)
        if slc.shape != self.sigma.shape:
            raise WorkloadError(f"the SLC mask needs one entry per rank component "
                                f"({self.rank}), got shape {slc.shape}")
        left, left_scale = quantize(self.u)
        right, right_scale = quantize(self.sigma[:, None] * self.vt)
        u = left.astype(np.float64)
        sv = right.astype(np.float64)
        mlc = ~slc
        if mlc.any() and std > 0:
            u[:, mlc] = mlc_read(left[:, mlc], std, rng)
            sv[mlc, :] = mlc_read(right[mlc, :], std, rng)
        return (u * left_scale) @ (sv * right_scale)


def quantize(values: np.ndarray, bits: int = WEIGHT_BITS) -> tuple[np.ndarray, float]:
    """Symmetric per-matrix quantisation to signed ``bits``-bit integers: the integers and the
    scale (the value of one step; 1 for an all-zero matrix)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    top = (1 << (bits - 1)) - 1
    scale = largest / top if largest > 0 else 1.0
    return np.clip(np.rint(values / scale), -top, top).astype(np.int64), scale


def mlc_read(
    weights: np.ndarray, std: float, rng: np.random.Generator,
    bits: int = WEIGHT_BITS, cell_bits: int = CELL_BITS,
) -> np.ndarray:
    """Integer weights as read from multi-level cells: each weight's magnitude is split into
    ``bits / cell_bits`` slices of ``cell_bits`` bits, one per cell; each slice's contribution
    is multiplied by ``1 + std x N(0, 1)`` (one draw per cell), and the sign is applied to the
    sum. ``std`` 0 reads exactly."""
    if std < 0:
        raise WorkloadError(f"MLC noise std must be >= 0, got {std}")
    if bits % cell_bits:
        raise WorkloadError(f"{bits}-bit weights do not split into {cell_bits}-bit cells")
    weights = np.asarray(weights, dtype=np.int64)
    magnitude = np.abs(weights)
    read = np.zeros(weights.shape, dtype=np.float64)
    mask = (1 << cell_bits) - 1
    for slice_index in range(bits // cell_bits):
        shift = slice_index * cell_bits
        level = (magnitude >> shift) & mask
        noise = 1.0 + std * rng.standard_normal(weights.shape)
        read += (level << shift) * noise
    return np.sign(weights) * read


def sigma_gradient(svd: SvdWeights, grad_weights: np.ndarray) -> np.ndarray:
    """``dL/d sigma_i = u_i^T (dL/dW) v_i`` for each rank component, from the loss's gradient
    with respect to the matrix ``W = U diag(sigma) V^T``."""
    if grad_weights.shape != (svd.u.shape[0], svd.vt.shape[1]):
        raise WorkloadError(f"the gradient must have the matrix's shape "
                            f"{(svd.u.shape[0], svd.vt.shape[1])}, got {grad_weights.shape}")
    return np.einsum("ik,ij,kj->k", svd.u, grad_weights, svd.vt)


def slc_components(
    rule: str, fraction: float, svd: SvdWeights, gradient: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The rank components for SLC cells, as a boolean mask: the ``round(fraction x k)`` with
    the largest ``|dL/d sigma|`` (``gradient``), the largest singular values
    (``magnitude``) or drawn at random (``random``, from ``rng``). Ties go to the lower
    index."""
    if rule not in SELECTION_RULES:
        raise WorkloadError(f"selection rule: expected one of {', '.join(SELECTION_RULES)}, "
                            f"got {rule!r}")
    if not 0.0 <= fraction <= 1.0:
        raise WorkloadError(f"SLC fraction must be in [0, 1], got {fraction}")
    k = svd.rank
    count = slc_count(k, fraction)
    mask = np.zeros(k, dtype=bool)
    if count == 0:
        return mask
    if rule == "random":
        if rng is None:
            raise WorkloadError("random selection needs a generator")
        mask[rng.choice(k, size=count, replace=False)] = True
        return mask
    if rule == "gradient":
        if gradient is None or np.shape(gradient) != (k,):
            raise WorkloadError(f"gradient selection needs one dL/d sigma per component ({k})")
        scores = np.abs(np.asarray(gradient, dtype=np.float64))
    else:
        scores = np.abs(svd.sigma)
    # Stable: among equal scores the lower index first.
    order = np.argsort(-scores, kind="stable")
    mask[order[:count]] = True
    return mask


class Redistributed(Protocol):
    """A model gradient redistribution works on: its weights by name, a loss with every
    parameter's gradient, and an accuracy."""

    params: dict[str, np.ndarray]

    def loss_and_gradients(
        self, images: np.ndarray, labels: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]: ...

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float: ...


def decompose(model: Redistributed, names: Sequence[str]) -> dict[str, SvdWeights]:
    """Replace each named weight matrix of ``model`` by its truncated SVD (step 1) and return
    the factors."""
    svds = {name: SvdWeights.of(model.params[name]) for name in names}
    for name, svd in svds.items():
        model.params[name] = svd.weights()
    return svds


def fine_tune_sigma(
    model: Redistributed, svds: dict[str, SvdWeights], images: np.ndarray, labels: np.ndarray,
    *, steps: int, batch: int, lr: float, rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Fine-tune the singular values alone by SGD on mini-batches (step 2), keeping ``model``'s
    matrices in step; return each layer's ``|dL/d sigma|``, the mean over the fine-tuning's
    mini-batches (a converged model's gradient on one batch is mostly noise)."""
    magnitude = {name: np.zeros(svd.rank) for name, svd in svds.items()}
    for _ in range(steps):
        chosen = rng.choice(len(labels), size=min(batch, len(labels)), replace=False)
        _, grads = model.loss_and_gradients(images[chosen], labels[chosen])
        for name, svd in svds.items():
            gradient = sigma_gradient(svd, grads[name])
            magnitude[name] += np.abs(gradient) / steps
            svds[name] = svd.with_sigma(svd.sigma - lr * gradient)
            model.params[name] = svds[name].weights()
    return magnitude


def hybrid_accuracy(
    model: Redistributed, svds: dict[str, SvdWeights], slc: dict[str, np.ndarray], std: float,
    images: np.ndarray, labels: np.ndarray, seeds: Sequence[int],
) -> float:
    """The mean accuracy over noise draws (one generator per seed) with every decomposed layer
    read from its SLC and MLC arrays (step 4, :meth:`SvdWeights.read`); ``model`` is left as
    it was."""
    kept = {name: model.params[name] for name in svds}
    try:
        results = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            for name, svd in svds.items():
                model.params[name] = svd.read(slc[name], std, rng)
            results.append(model.accuracy(images, labels))
        return float(np.mean(results))
    finally:
        model.params.update(kept)


@dataclass(frozen=True)
class RedistributionStudy:
    """Test accuracy of a model whose decomposed layers are read from SLC and MLC arrays, by
    selection rule and SLC fraction (:func:`redistribution_study`).

    Attributes:
        model: the model's name.
        layers: the decomposed layers.
        fractions: the SLC fractions, in order.
        accuracy: per rule, the accuracy at each fraction (the mean over noise draws; for
            ``random``, also over ``draws`` choices).
        full_precision: the trained model's accuracy before its decomposition.
        quantised: the decomposed, fine-tuned, quantised model's accuracy with no noise.
        mlc_std: the MLC slices' relative read noise (the slice model).
        noise_draws: noise draws per accuracy.
        hardware: how the layers were read: ``"mlc slices"`` (each 2-bit slice of an MLC
            weight scaled by ``1 + mlc_std N(0, 1)``) or ``"crossbars of <config>"``
            (:func:`crossbar_accuracy`).
    """

    model: str
    layers: tuple[str, ...]
    fractions: tuple[float, ...]
    accuracy: Mapping[str, tuple[float, ...]]
    full_precision: float
    quantised: float
    mlc_std: float
    noise_draws: int
    hardware: str = "mlc slices"


#: The accuracy of a model whose decomposed layers are read from SLC (mask True) and MLC
#: arrays, for noise draw ``draw`` (:func:`redistribution_study`'s ``evaluate``).
Evaluate = Callable[[Mapping[str, SvdWeights], Mapping[str, np.ndarray], int], float]


def redistribution_study(
    model: Redistributed, name: str, layers: Sequence[str], data: tuple[np.ndarray, ...], *,
    fractions: Sequence[float], rules: Sequence[str], mlc_std: float, noise_draws: int,
    choice_draws: int, steps: int, batch: int, lr: float, seed: int,
    evaluate: Evaluate | None = None, hardware: str = "mlc slices",
) -> RedistributionStudy:
    """Gradient redistribution of ``layers`` of trained ``model`` and its accuracy on SLC and
    MLC arrays: decompose (step 1), fine-tune the singular values for ``steps`` mini-batches
    recording ``|dL/d sigma|`` (step 2), then for every rule and fraction choose the SLC rank
    components (step 3) and average the accuracy over ``noise_draws`` MLC read-noise draws
    (step 4) — and, for ``random``, over ``choice_draws`` choices. ``data`` is ``(x_train,
    y_train, x_test, y_test)``. ``evaluate(svds, masks, draw)`` reads the layers another way
    (on crossbars: :func:`crossbar_accuracy`), named by ``hardware``; the accuracy is then its
    mean over ``noise_draws`` draws. Every draw comes from generators seeded from ``seed``;
    the caller holds BLAS to one thread for byte-identical results."""
    for rule in rules:
        if rule not in SELECTION_RULES:
            raise WorkloadError(
                f"selection rule: expected one of {', '.join(SELECTION_RULES)}, got {rule!r}"
            )
    x_train, y_train, x_test, y_test = data
    full = model.accuracy(x_test, y_test)
    svds = decompose(model, layers)
    grads = fine_tune_sigma(
        model, svds, x_train, y_train, steps=steps, batch=batch, lr=lr,
        rng=np.random.default_rng([seed, 1]),
    )
    noise = [int(s) for s in np.random.default_rng([seed, 2]).integers(0, 2**31, noise_draws)]

    def read(masks: Mapping[str, np.ndarray]) -> float:
        if evaluate is None:
            return hybrid_accuracy(model, svds, dict(masks), mlc_std, x_test, y_test, noise)
        return float(np.mean([evaluate(svds, masks, draw) for draw in range(noise_draws)]))

    def accuracy(rule: str, fraction: float, draw: int) -> float:
        chooser = np.random.default_rng([seed, 3, draw])
        masks = {
            layer: slc_components(rule, fraction, svds[layer], grads[layer], rng=chooser)
            for layer in layers
        }
        return read(masks)

    quantised = hybrid_accuracy(
        model, svds, {layer: np.ones(svds[layer].rank, bool) for layer in layers}, 0.0,
        x_test, y_test, noise[:1],
    )
    table = {
        rule: tuple(
            float(np.mean([
                accuracy(rule, fraction, draw)
                for draw in range(choice_draws if rule == "random" else 1)
            ]))
            for fraction in fractions
        )
        for rule in rules
    }
    return RedistributionStudy(
        name, tuple(layers), tuple(float(f) for f in fractions), MappingProxyType(table),
        float(full), float(quantised), float(mlc_std), noise_draws, hardware,
    )


class Linearised(Protocol):
    """A model whose weight matrices' products can be computed elsewhere (vit-tiny's
    ``linear`` hook, :meth:`archsim.workload.transformer.VisionTransformer.forward`)."""

    params: dict[str, np.ndarray]

    def accuracy(
        self, images: np.ndarray, labels: np.ndarray,
        linear: Callable[[str, np.ndarray], np.ndarray] | None = None,
    ) -> float: ...


def crossbar_accuracy(
    model: Linearised, svds: Mapping[str, SvdWeights], slc: Mapping[str, np.ndarray],
    specs: Mapping[str, AnalogSpec], images: np.ndarray, labels: np.ndarray, *,
    rng: np.random.Generator, calibration: np.ndarray | None = None,
) -> float:
    """The accuracy of ``model`` with each decomposed layer on crossbars, through the
    functional model of :mod:`archsim.workload.functional` (issue 6's hardware-aware path):
    per mode, the layer's U columns and Sigma V^T rows of the components in that mode
    (``slc`` masks) are two matrices (a dense layer each, its own weight scale) programmed
    with the mode's spec (``specs["slc"]``, ``specs["mlc"]``: cells per weight, ADC
    resolution, the device's programming and read noise); a token's product is the second's
    read of the first's output, summed over the modes. The other layers compute exactly.

    ``rng`` draws, in order: each layer's parts' programming noise (layers in ``svds`` order,
    SLC then MLC, U then Sigma V^T), then the read-noise key (generator ``(key, call, row)``
    for row ``row`` of the ``call``-th crossbar product). With calibrated ADC ranges
    (``adc_range: calibrated`` in the specs) each part's ADCs are ranged on the ``calibration``
    images' noise-free products first.
    """
    from archsim.workload.functional import map_layer
    from archsim.workload.layers import Dense

    chains: dict[str, list[list[Any]]] = {}
    for name, svd in svds.items():
        u, sv = svd.u, svd.sigma[:, None] * svd.vt
        parts = []
        for mode, mask in (("slc", slc[name]), ("mlc", ~slc[name])):
            k = int(mask.sum())
            if not k:
                continue
            first = Dense(f"{name}.u.{mode}", ["input"], u.shape[0], k)
            first.weight = u[:, mask]
            second = Dense(f"{name}.v.{mode}", [first.name], k, sv.shape[1])
            second.weight = sv[mask]
            parts.append([map_layer(first, specs[mode], rng=rng),
                          map_layer(second, specs[mode], rng=rng)])
        chains[name] = parts
    key = int(rng.integers(2**63))
    if calibration is not None:

        def ranging(name: str, x: np.ndarray) -> np.ndarray:
            if name not in chains:
                return x @ model.params[name]
            rows = x.reshape(-1, x.shape[-1])
            for part in chains[name]:
                h = rows
                for position, mapped in enumerate(part):
                    part[position] = mapped.calibrated(mapped.column_peaks(h))
                    h = h @ np.asarray(mapped.layer.weight, dtype=np.float64)
            return x @ model.params[name]

        model.accuracy(calibration, np.zeros(len(calibration), dtype=int), ranging)
    calls = [0]

    def on_crossbars(name: str, x: np.ndarray) -> np.ndarray:
        if name not in chains:
            return x @ model.params[name]
        rows = x.reshape(-1, x.shape[-1])
        out = np.zeros((len(rows), model.params[name].shape[1]))
        for part in chains[name]:
            h = rows
            for mapped in part:
                calls[0] += 1
                reads = None
                if mapped.spec.read_noise > 0:
                    reads = [np.random.default_rng((key, calls[0], i)) for i in range(len(h))]
                h, _ = mapped.forward(h, reads)
            out += h
        return out.reshape(*x.shape[:-1], -1)

    return model.accuracy(images, labels, on_crossbars)
