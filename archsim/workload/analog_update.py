"""On-chip weight-update algorithms for one weight matrix, with the hardware work they cost
(workload stage).

Convention: the forward pass is ``y = x @ W`` with ``W`` of shape ``(rows, cols)``, ``x`` of
length ``rows`` and the error ``d`` of length ``cols``; the gradient step is
``dW = -lr * outer(x, d)``. Each algorithm is an :class:`AnalogOptimizer` registered in
:data:`ALGORITHMS`:

- ``"sgd"`` (:class:`InMemorySGD`): stochastic pulse trains on W (Gokmen & Vlasov 2016).
- ``"ttv2"``, ``"c-ttv2"``, ``"agad"`` (:class:`TTv2`, :class:`ChoppedTTv2`, :class:`AGAD`):
  gradient accumulation on an analog array A and a digital buffer H, transferred one row at a
  time to W (Rasch et al. 2024, Nature Communications 15:7133, Methods).
- ``"mp"`` (:class:`MixedPrecision`): digital gradient accumulation chi, thresholded writes to W
  by pulses (Nandakumar et al. 2020, as in Rasch et al.) or by write-and-verify (Wu et al. 2023).
- ``"naive"`` (:class:`NaiveWriteVerify`): every batch, each weight's quantised new value is
  written by write-and-verify; no accumulation.

Each update call returns an :class:`UpdateWork`, the hardware work it did, from which trace
records are made; the optimizers also count, per device, the pulses on A and W and the write
events of W. Soft-bounds devices work in normalised units; ``weight_scale`` maps them to weight
units (weight = ``weight_scale`` x device value) and scales the error ``d`` accordingly.
Every random draw comes from the ``numpy.random.Generator`` handed to the constructor.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal

import numpy as np

from archsim.errors import WorkloadError, listed, shown
from archsim.workload.devices import (
    MultiLevelArray,
    MultiLevelParams,
    SoftBoundsArray,
    SoftBoundsParams,
    WriteResult,
    check_shape,
    is_real,
    nearest_level,
)

DeviceParams = SoftBoundsParams | MultiLevelParams


@dataclass(frozen=True)
class UpdateWork:
    """Hardware work of one update call (one sample's vectors, or one mini-batch).

    Attributes:
        array: The array that received pulsed outer products: ``"A"`` (TTv2 family), ``"W"``
            (SGD) or ``""`` (none: MP and naive compute the outer product digitally).
        vectors: Input vectors (x, d pairs) of the call; each is one pulsed outer product on
            ``array`` when it has one.
        bit_length: Most pulse slots of any one outer product's trains in the call (l <= l_max;
            0 when none was needed).
        pulse_slots: Pulse slots of all the call's outer products (sum of their l); the analog
            outer-product time is ``pulse_slots`` x the pulse period.
        pulses: Device pulses applied to ``array`` by the outer products.
        transfer_reads: Row reads of A (MVMs with a one-hot input) for transfers.
        transfer_writes: Transfers that pulsed W (each one row write of ``transfer_bit_length``
            slots, the row's devices pulsed in parallel).
        transfer_pulses: Device pulses applied to W by transfers.
        transfer_bit_length: Pulse slots per transfer write (1 when a transfer of the call
            pulsed W, else 0).
        flops: Digital floating-point operations, counted as Rasch et al. Table 1 counts them
            (see each algorithm for what one flop is).
        bits_moved: Bits of digital operands read or written by the digital unit (``word_bits``
            per value; see each algorithm).
        cells: W cells programmed by thresholded writes (MP, naive).
        write_pulses: Pulses applied by thresholded writes (programming pulses or, in MP's pulse
            mode, soft-bounds pulses).
        verify_reads: Verify reads of write-and-verify.
        rounds: Row-parallel write rounds: sum over the written rows of the most pulses (pulse
            mode) or pulse-verify trials (write-and-verify) of any cell of the row.
        failed_cells: Write-and-verify cells left outside tolerance after their trial budget.
        write_events: W device write events of the call, whatever the mechanism (the sum of the
            increments of ``writes_w``): a device pulsed by one outer product (SGD), by one
            transfer, or programmed by one thresholded write counts one event.
    """

    array: str
    vectors: int
    bit_length: int = 0
    pulse_slots: int = 0
    pulses: int = 0
    transfer_reads: int = 0
    transfer_writes: int = 0
    transfer_pulses: int = 0
    transfer_bit_length: int = 0
    flops: int = 0
    bits_moved: int = 0
    cells: int = 0
    write_pulses: int = 0
    verify_reads: int = 0
    rounds: int = 0
    failed_cells: int = 0
    write_events: int = 0


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WorkloadError(f"{name}: must be an integer >= 1, got {value!r}")


def _check_flag(name: str, value: bool) -> None:
    if not isinstance(value, bool):
        raise WorkloadError(f"{name}: must be true or false, got {value!r}")


def _check_finite(name: str, value: float, low: float = 0.0, strict: bool = False) -> None:
    bad = not is_real(value) or (value <= low if strict else value < low)
    if bad:
        relation = ">" if strict else ">="
        raise WorkloadError(f"{name}: must be a finite number {relation} {low}, got {value!r}")


@dataclass(frozen=True)
class SGDParams:
    """In-memory SGD with stochastic pulse trains.

    Attributes:
        l_max: Most pulse slots per train (the bit length's cap; Rasch et al. l_max = 5).
        word_bits: Bits per digital value moved (FP8 in Rasch et al. Table 1).
    """

    l_max: int = 5
    word_bits: int = 8

    def __post_init__(self) -> None:
        _check_positive_int("l_max", self.l_max)
        _check_positive_int("word_bits", self.word_bits)


@dataclass(frozen=True)
class TransferParams:
    """TTv2, c-TTv2 and AGAD (Rasch et al. 2024, Methods).

    Attributes:
        lr_a: Learning rate of the pulsed update onto A (lambda_A), in normalised device units
            per unit of x d; absolute, not scaled by the ``lr`` of :meth:`AnalogOptimizer.update`
            (aihwkit's ``fast_lr`` with ``scale_fast_lr=False``).
        l_max: Most pulse slots per train onto A.
        n_s: A row of A is read and transferred every ``n_s`` update vectors.
        reference_mean: Mean offset mu_r of A's programmed reference from the symmetry point
            (TTv2, c-TTv2; AGAD reads no programmed reference).
        reference_std: Device-to-device spread sigma_r of that offset.
        chopper_prob: c-TTv2 and AGAD: probability (``chopper_random``) or frequency (regular:
            every ``ceil(1 / chopper_prob)`` reads of the row, at least 2) of flipping a row's
            chopper after its read.
        chopper_random: Flip choppers at random rather than regularly.
        beta: AGAD: weight of the newest read in the leaky average p of A's reads.
        forget_buffer: After a transfer pulse, set H to 0 (aihwkit's default
            ``forget_buffer=True`` with ``momentum=0``) instead of subtracting the pulse (the
            default here), which keeps the remainder but lets a backlog build up while the signal
            exceeds one pulse per transfer.
        w_device: Parameters of W's devices when they differ from A's (Rasch Fig. 4 uses
            sigma_b = 0 for W); ``None``: the same as A's.
        word_bits: Bits per digital value moved.
    """

    lr_a: float = 1.0
    l_max: int = 5
    n_s: int = 5
    reference_mean: float = 0.0
    reference_std: float = 0.0
    chopper_prob: float = 0.1
    chopper_random: bool = True
    beta: float = 0.5
    forget_buffer: bool = False
    w_device: SoftBoundsParams | None = None
    word_bits: int = 8

    def __post_init__(self) -> None:
        _check_finite("lr_a", self.lr_a, strict=True)
        _check_positive_int("l_max", self.l_max)
        _check_positive_int("n_s", self.n_s)
        if not is_real(self.reference_mean):
            raise WorkloadError(
                f"reference_mean: must be a finite number, got {self.reference_mean!r}")
        _check_finite("reference_std", self.reference_std)
        if not is_real(self.chopper_prob) or not 0 < self.chopper_prob <= 1:
            raise WorkloadError(f"chopper_prob: must be in (0, 1], got {self.chopper_prob!r}")
        if not is_real(self.beta) or not 0 < self.beta <= 1:
            raise WorkloadError(f"beta: must be in (0, 1], got {self.beta!r}")
        _check_flag("chopper_random", self.chopper_random)
        _check_flag("forget_buffer", self.forget_buffer)
        if self.w_device is not None and not isinstance(self.w_device, SoftBoundsParams):
            raise WorkloadError("w_device: must be SoftBoundsParams or None")
        _check_positive_int("word_bits", self.word_bits)


@dataclass(frozen=True)
class MixedPrecisionParams:
    """Mixed-precision training: digital accumulation, thresholded writes.

    Attributes:
        mode: ``"pulse"``: n = trunc(chi / delta) soft-bounds pulses (Rasch et al.'s MP, after
            Nandakumar et al. 2020); ``"write_verify"``: the new level is programmed by
            write-and-verify on a multi-level cell (Wu et al. 2023).
        threshold: A weight is written once |chi| reaches this fraction of the weight range
            (Wu et al.: 1/15). In pulse mode a threshold below delta / 2 fires cells whose pulse
            count truncates to 0, which are not written.
        word_bits: Bits per digital value moved.
    """

    mode: Literal["pulse", "write_verify"] = "write_verify"
    threshold: float = 1.0 / 15.0
    word_bits: int = 8

    def __post_init__(self) -> None:
        if self.mode not in ("pulse", "write_verify"):
            raise WorkloadError(f"mode: must be 'pulse' or 'write_verify', got {self.mode!r}")
        if not is_real(self.threshold) or not 0 < self.threshold <= 1:
            raise WorkloadError(f"threshold: must be in (0, 1], got {self.threshold!r}")
        _check_positive_int("word_bits", self.word_bits)


@dataclass(frozen=True)
class NaiveParams:
    """Naive write-and-verify training: no accumulation.

    Attributes:
        write_all: Write every weight every batch, whether or not its level changed ("updating
            every step", the baseline of Wu et al.'s 500x); otherwise only weights whose
            quantised level changed are written.
        word_bits: Bits per digital value moved.
    """

    write_all: bool = False
    word_bits: int = 8

    def __post_init__(self) -> None:
        _check_flag("write_all", self.write_all)
        _check_positive_int("word_bits", self.word_bits)


AlgorithmParams = SGDParams | TransferParams | MixedPrecisionParams | NaiveParams


@dataclass(frozen=True)
class _OuterProduct:
    """Result of one stochastic pulsed outer product."""

    pulses: int
    bit_length: int
    touched: np.ndarray = field(repr=False)


def _pulsed_outer(array: SoftBoundsArray, x: np.ndarray, d: np.ndarray, lr: float,
                  l_max: int, rng: np.random.Generator) -> _OuterProduct:
    """Add ``-lr * outer(x, d)`` (normalised units) to ``array`` with stochastic pulse trains.

    Update management as aihwkit's ``update_bl_management`` and ``update_management``: with
    k = lr max|x| max|d| / delta, the pulses expected on the largest element, the train length
    is l = min(ceil(k), l_max); row i fires in a slot with probability q |x_i| / max|x| and
    column j with q |d_j| / max|d|, q = sqrt(k / l), so that the expected coincidences are
    lr |x_i d_j| / delta. When k > l_max, row probabilities are |x_i| / max|x| and column
    probabilities min(1, (k / l) |d_j| / max|d|): the largest updates are clipped to l_max
    pulses. Each coincidence is one pulse of direction -sign(x_i d_j) (up when x_i d_j < 0).
    """
    x_max = float(np.abs(x).max(initial=0.0))
    d_max = float(np.abs(d).max(initial=0.0))
    k = lr * x_max * d_max / array.params.delta
    if k <= 0:
        return _OuterProduct(0, 0, np.empty(0, dtype=np.intp))
    length = min(math.ceil(k), l_max)
    if k <= l_max:
        q = math.sqrt(k / length)
        p_row, p_col = q * np.abs(x) / x_max, q * np.abs(d) / d_max
    else:
        p_row, p_col = np.abs(x) / x_max, np.minimum(1.0, (k / length) * np.abs(d) / d_max)
    rows_fire = rng.random((length, x.size)) < p_row
    cols_fire = rng.random((length, d.size)) < p_col
    x_negative, d_negative = x < 0, d < 0
    cols = d.size
    pulses, touched = 0, []
    for slot in range(length):
        r = rows_fire[slot].nonzero()[0]
        c = cols_fire[slot].nonzero()[0]
        if len(r) == 0 or len(c) == 0:
            continue
        index = (r[:, None] * cols + c).reshape(-1)
        up = (x_negative[r][:, None] != d_negative[c]).reshape(-1)
        pulses += array.pulse_once(index, up)
        touched.append(index)
    merged = np.concatenate(touched) if touched else np.empty(0, dtype=np.intp)
    return _OuterProduct(pulses, length, merged)


class AnalogOptimizer(ABC):
    """Base class: one weight matrix of shape ``(rows, cols)`` and its update algorithm.

    Attributes:
        name: Registry name (class attribute).
        shape: ``(rows, cols)``.
        params: The algorithm's parameters.
        device: The devices' parameters (A's and W's unless the algorithm says otherwise).
        weight_scale: Weight units per normalised device unit (> 0).
        writes_w: Write events of each W device (int64; see :attr:`UpdateWork.write_events`).
    """

    name: ClassVar[str]
    params_type: ClassVar[type]
    device_types: ClassVar[tuple[type, ...]]
    #: Accumulates a mini-batch and writes once (else one update per input vector).
    batched: ClassVar[bool] = False

    def __init__(self, shape: tuple[int, int], params: AlgorithmParams, device: DeviceParams,
                 rng: np.random.Generator, *, weight_scale: float = 1.0,
                 initial_weights: np.ndarray | None = None) -> None:
        """Build the arrays; W starts at ``initial_weights`` (weight units, programmed without
        being counted) or at 0."""
        shape = check_shape(shape)
        if not isinstance(params, self.params_type):
            raise WorkloadError(f"params: {self.name} needs {self.params_type.__name__}, "
                                f"got {type(params).__name__}")
        if not isinstance(device, self.device_types):
            needed = " or ".join(kind.__name__ for kind in self.device_types)
            raise WorkloadError(f"device: {self.name} needs {needed}, "
                                f"got {type(device).__name__}")
        _check_finite("weight_scale", weight_scale, strict=True)
        self.shape = shape
        self.params = params
        self.device = device
        self.weight_scale = float(weight_scale)
        self._rng = rng
        self.writes_w = np.zeros(self.shape, dtype=np.int64)
        initial = np.zeros(self.shape)
        if initial_weights is not None:
            initial = np.asarray(initial_weights, dtype=float)
            if initial.shape != self.shape or not np.isfinite(initial).all():
                raise WorkloadError(f"initial_weights: must be finite, of shape {self.shape}")
        self._build(initial / self.weight_scale)

    @abstractmethod
    def _build(self, initial: np.ndarray) -> None:
        """Create the arrays and state; ``initial`` is W in normalised units."""

    @abstractmethod
    def weights(self) -> np.ndarray:
        """The effective weights the forward pass reads (weight units, no read noise)."""

    @abstractmethod
    def _update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        """Apply checked vectors ``x`` (vectors, rows), ``d`` (vectors, cols; normalised)."""

    @property
    def pulses_a(self) -> np.ndarray:
        """Pulses applied to each device of A (int64; zeros where there is no A)."""
        return np.zeros(self.shape, dtype=np.int64)

    @property
    @abstractmethod
    def pulses_w(self) -> np.ndarray:
        """Pulses applied to each device of W (int64)."""

    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        """Update with one sample: ``x`` (rows,) and ``d`` (cols,), or the sample's vectors
        ``x`` (vectors, rows) and ``d`` (vectors, cols), applied in order.

        Same as :meth:`update_batch` with that one sample as the batch.
        """
        return self.update_batch(x, d, lr)

    def update_batch(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        """Update with a mini-batch of vectors, ``x`` (vectors, rows) and ``d`` (vectors, cols).

        Per-vector algorithms (SGD, TTv2 family) apply one pulsed outer product per vector, in
        order; batched algorithms (MP, naive) accumulate the batch and write once.
        """
        try:
            x = np.atleast_2d(np.asarray(x, dtype=float))
            d = np.atleast_2d(np.asarray(d, dtype=float))
        except (TypeError, ValueError):
            raise WorkloadError("x, d: must be numeric arrays") from None
        rows, cols = self.shape
        if x.ndim != 2 or x.shape[1] != rows:
            raise WorkloadError(f"x: must have {rows} entries per vector, got shape {x.shape}")
        if d.ndim != 2 or d.shape[1] != cols or d.shape[0] != x.shape[0]:
            raise WorkloadError(f"d: must be ({x.shape[0]}, {cols}) to match x, got {d.shape}")
        if not (np.isfinite(x).all() and np.isfinite(d).all()):
            raise WorkloadError("x, d: must be finite")
        _check_finite("lr", lr)
        return self._update(x, d / self.weight_scale, float(lr))


class InMemorySGD(AnalogOptimizer):
    """In-memory SGD: each vector is one stochastic pulsed outer product on W (l <= l_max).

    Flops: rows + cols per vector (scaling each x_i and d_j to a pulse probability; Table 1's
    2N). Bits moved: (rows + cols) x ``word_bits`` per vector (x and d into the pulse
    generators). A W device pulsed at least once by a vector counts one write event.
    """

    name = "sgd"
    params_type = SGDParams
    device_types = (SoftBoundsParams,)

    def _build(self, initial: np.ndarray) -> None:
        self.w = SoftBoundsArray(self.shape, self.device, self._rng)
        self.w.set_state(initial)

    def weights(self) -> np.ndarray:
        return self.weight_scale * self.w.read(noisy=False)

    @property
    def pulses_w(self) -> np.ndarray:
        return self.w.pulses

    def _update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        rows, cols = self.shape
        pulses = slots = longest = events = 0
        for xv, dv in zip(x, d, strict=True):
            outer = _pulsed_outer(self.w, xv, dv, lr, self.params.l_max, self._rng)
            pulses += outer.pulses
            slots += outer.bit_length
            longest = max(longest, outer.bit_length)
            hit = np.unique(outer.touched)
            self.writes_w.reshape(-1)[hit] += 1
            events += hit.size
        n = x.shape[0]
        return UpdateWork(array="W", vectors=n, bit_length=longest, pulse_slots=slots,
                          pulses=pulses, flops=n * (rows + cols),
                          bits_moved=n * (rows + cols) * self.params.word_bits,
                          write_events=events)


class TTv2(AnalogOptimizer):
    """Tiki-Taka version 2: gradient on A, digital buffer H, row-wise transfer to W.

    Each vector is a pulsed outer product on A with learning rate ``lr_a``. Every ``n_s``
    vectors the next row k of A (round-robin) is read with a one-hot input, and

        H[k] += lr * c_k * s_k / delta_W,

    where s_k is the row's signal (TTv2: the differential read A[k] - r[k] against the programmed
    reference r = w* + N(mu_r, sigma_r)), c_k the row's chopper (always +1 in TTv2) and delta_W
    W's nominal step: H counts W pulses, and ``lr`` is the W change per unit of accumulated
    signal. Where |H[k, j]| >= 1, W[k, j] gets one pulse of sign(H[k, j]) (all of the row's
    pulses in one slot) and H[k, j] -= sign(H[k, j]) (or H[k, j] = 0 with ``forget_buffer``).
    A starts at its symmetry point.

    Flops per vector: rows + cols (pulse probabilities); per transfer 2 x cols (multiply and add
    into H; Table 1's 2N / n_s). Bits moved per vector (rows + cols) x word_bits; per transfer
    3 x cols x word_bits (the read, H read and written). Each transfer pulse is one W write event.
    """

    name = "ttv2"
    params_type = TransferParams
    device_types = (SoftBoundsParams,)
    _chopped: ClassVar[bool] = False
    _transfer_flops: ClassVar[int] = 2
    _transfer_words: ClassVar[int] = 3

    def _build(self, initial: np.ndarray) -> None:
        p = self.params
        self.a = SoftBoundsArray(self.shape, self.device, self._rng)
        self.w = SoftBoundsArray(self.shape, p.w_device or self.device, self._rng)
        self.w.set_state(initial)
        self.reference = self.a.reference(p.reference_mean, p.reference_std)
        self.a.set_state(self.a.symmetry_point())
        self.h = np.zeros(self.shape)
        self.chopper = np.ones(self.shape[0])
        self._reads_since_flip = np.zeros(self.shape[0], dtype=np.int64)
        self._next_row = 0
        self._since_transfer = 0

    def weights(self) -> np.ndarray:
        return self.weight_scale * self.w.read(noisy=False)

    @property
    def pulses_a(self) -> np.ndarray:
        return self.a.pulses

    @property
    def pulses_w(self) -> np.ndarray:
        return self.w.pulses

    def _signal(self, row: int, read: np.ndarray) -> np.ndarray:
        """The row's transfer signal from its read of A (before the chopper)."""
        return read - self.reference[row]

    def _on_flip(self, row: int) -> None:
        """Hook: the row's chopper has just flipped."""

    def _maybe_flip(self, row: int) -> None:
        p = self.params
        self._reads_since_flip[row] += 1
        if p.chopper_random:
            flip = self._rng.random() < p.chopper_prob
        else:
            flip = self._reads_since_flip[row] >= max(math.ceil(1.0 / p.chopper_prob), 2)
        if flip:
            self.chopper[row] = -self.chopper[row]
            self._reads_since_flip[row] = 0
            self._on_flip(row)

    def _transfer(self, lr: float) -> int:
        """Read and transfer the next row; returns the pulses applied to W (one write event
        each)."""
        row = self._next_row
        self._next_row = (row + 1) % self.shape[0]
        read = self.a.read_row(row)
        h = self.h[row]
        h += (lr * self.chopper[row] / self.w.params.delta) * self._signal(row, read)
        fire = np.flatnonzero(np.abs(h) >= 1.0)
        up = h[fire] > 0
        if self.params.forget_buffer:
            h[fire] = 0.0
        else:
            h[fire] -= np.where(up, 1.0, -1.0)
        pulses = self.w.pulse_once(row * self.shape[1] + fire, up)
        self.writes_w[row, fire] += 1
        if self._chopped:
            self._maybe_flip(row)
        return pulses

    def _update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        p = self.params
        rows, cols = self.shape
        pulses = slots = longest = 0
        reads = writes = w_pulses = 0
        for xv, dv in zip(x, d, strict=True):
            xc = xv * self.chopper if self._chopped else xv
            outer = _pulsed_outer(self.a, xc, dv, p.lr_a, p.l_max, self._rng)
            pulses += outer.pulses
            slots += outer.bit_length
            longest = max(longest, outer.bit_length)
            self._since_transfer += 1
            if self._since_transfer == p.n_s:
                self._since_transfer = 0
                moved = self._transfer(lr)
                reads += 1
                w_pulses += moved
                writes += int(moved > 0)
        n = x.shape[0]
        return UpdateWork(
            array="A", vectors=n, bit_length=longest, pulse_slots=slots, pulses=pulses,
            transfer_reads=reads, transfer_writes=writes, transfer_pulses=w_pulses,
            transfer_bit_length=1 if writes else 0,
            flops=n * (rows + cols) + reads * self._transfer_flops * cols,
            bits_moved=(n * (rows + cols) + reads * self._transfer_words * cols) * p.word_bits,
            write_events=w_pulses)


class ChoppedTTv2(TTv2):
    """Chopped TTv2 (c-TTv2): TTv2 with a sign c_k in {+1, -1} per row of A.

    The pulsed update onto A uses c_i x_i in place of x_i, and the transfer multiplies row k's
    differential read by c_k, so that an offset of the reference changes sign with the chopper
    and averages out. After each read of row k its chopper flips with probability
    ``chopper_prob`` (or regularly). Work as :class:`TTv2`.
    """

    name = "c-ttv2"
    _chopped = True


class AGAD(ChoppedTTv2):
    """AGAD: chopped TTv2 whose reference is estimated on the fly from A's own reads.

    A's rows are read without a programmed reference. Per element a leaky average of the reads,
    p <- (1 - beta) p + beta read, is kept; when row k's chopper flips, p[k] is copied to the
    reference p_ref[k] (at the row's next read, before that read enters p), and the transfer
    signal is read - p_ref[k], times the chopper. Until the row's first flip it has no
    reference and H is not updated. p starts at A's initial state.

    Flops per transfer: 6 x cols (p: 3; read - p_ref: 1; into H: 2; Table 1's 6N / n_s). Bits
    moved per transfer: 6 x cols x word_bits (read; H, p read and written; p_ref read).
    """

    name = "agad"
    _transfer_flops = 6
    _transfer_words = 6

    def _build(self, initial: np.ndarray) -> None:
        super()._build(initial)
        self.p = self.a.read(noisy=False)
        self.p_ref = self.p.copy()
        self._switched = np.zeros(self.shape[0], dtype=bool)
        self._has_reference = np.zeros(self.shape[0], dtype=bool)

    def _signal(self, row: int, read: np.ndarray) -> np.ndarray:
        if self._switched[row]:
            self.p_ref[row] = self.p[row]
            self._switched[row] = False
        beta = self.params.beta
        signal = read - self.p_ref[row] if self._has_reference[row] else np.zeros_like(read)
        self.p[row] = (1.0 - beta) * self.p[row] + beta * read
        return signal

    def _on_flip(self, row: int) -> None:
        self._switched[row] = True
        self._has_reference[row] = True


class _ThresholdedWrites(AnalogOptimizer):
    """Shared part of MP and naive: W as soft-bounds devices or multi-level cells."""

    def _build(self, initial: np.ndarray) -> None:
        if isinstance(self.device, MultiLevelParams):
            self._target_s = nearest_level(self.device, self._to_siemens(initial))
            self.cells = MultiLevelArray(self.shape, self.device, self._rng,
                                         initial_s=self._target_s)
        else:
            self.w = SoftBoundsArray(self.shape, self.device, self._rng)
            self.w.set_state(initial)

    def _to_siemens(self, u: np.ndarray) -> np.ndarray:
        """Normalised weight u in [-1, 1] to conductance: g_min at -1, g_max at +1."""
        dev = self.device
        return dev.g_min_s + (np.clip(u, -1.0, 1.0) + 1.0) * (dev.range_s / 2.0)

    def _to_normalised(self, g: np.ndarray) -> np.ndarray:
        dev = self.device
        return (g - dev.g_min_s) / (dev.range_s / 2.0) - 1.0

    def weights(self) -> np.ndarray:
        if isinstance(self.device, MultiLevelParams):
            return self.weight_scale * self._to_normalised(self.cells.read(noisy=False))
        return self.weight_scale * self.w.read(noisy=False)

    @property
    def pulses_w(self) -> np.ndarray:
        if isinstance(self.device, MultiLevelParams):
            return self.cells.pulses
        return self.w.pulses

    def _write_verify(self, index: np.ndarray, new_target_s: np.ndarray) -> WriteResult:
        """Program the cells of ``index`` (flat) to their new target levels (siemens)."""
        mask = np.zeros(self.shape, dtype=bool)
        mask.reshape(-1)[index] = True
        targets = self._target_s.copy()
        targets.reshape(-1)[index] = new_target_s
        result = self.cells.program(mask, targets)
        self._target_s = targets
        self.writes_w.reshape(-1)[index] += 1
        return result

    def _work(self, vectors: int, flops: int, bits_moved: int,
              writes: WriteResult) -> UpdateWork:
        return UpdateWork(array="", vectors=vectors, flops=flops, bits_moved=bits_moved,
                          cells=writes.cells, write_pulses=writes.pulses,
                          verify_reads=writes.verify_reads, rounds=writes.rounds,
                          failed_cells=writes.failed, write_events=writes.cells)


class MixedPrecision(_ThresholdedWrites):
    """Mixed precision: chi += -lr sum_v outer(x_v, d_v) digitally; thresholded writes to W.

    chi is kept in normalised weight units (the weight range is [-1, 1] x ``weight_scale``);
    after each call (one batch), the cells with |chi| >= 2 x ``threshold`` are written:

    - pulse mode (device: :class:`SoftBoundsParams`): n = trunc(chi / delta) pulses, applied
      row by row (a row's cells in parallel, max |n| slots), and chi -= n delta.
    - write_verify mode (device: :class:`MultiLevelParams`): the new target is the cell's last
      target plus chi, quantised to the levels, programmed by write-and-verify where the level
      changes; chi -= (new target - last target). Conductances map linearly to weights, g_min
      to -1 and g_max to +1 (one cell per weight; differential pairs are not modelled). A cell
      at a bound keeps its excess in chi.

    Flops per vector: 2 x rows x cols + cols (multiply-accumulate of the outer product into
    chi, and -lr d; Table 1's 2N^2 + N). Bits moved per vector: (rows + cols + 2 x rows x cols)
    x word_bits (x, d; chi read and written); per call rows x cols x word_bits (chi scanned).
    """

    name = "mp"
    batched = True
    params_type = MixedPrecisionParams
    device_types = (SoftBoundsParams, MultiLevelParams)

    def _build(self, initial: np.ndarray) -> None:
        wanted = MultiLevelParams if self.params.mode == "write_verify" else SoftBoundsParams
        if not isinstance(self.device, wanted):
            raise WorkloadError(f"device: mp mode {self.params.mode} needs {wanted.__name__}, "
                                f"got {type(self.device).__name__}")
        super()._build(initial)
        self.chi = np.zeros(self.shape)

    def _update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        rows, cols = self.shape
        n = x.shape[0]
        self.chi -= lr * (x.T @ d)
        fire = np.abs(self.chi) >= 2.0 * self.params.threshold
        if self.params.mode == "pulse":
            writes = self._pulse_writes(fire)
        else:
            index = np.flatnonzero(fire)
            old_target = self._target_s.reshape(-1)[index]
            old_u = self._to_normalised(old_target)
            chi = self.chi.reshape(-1)
            new_target = nearest_level(self.device, self._to_siemens(old_u + chi[index]))
            changed = new_target != old_target
            writes = self._write_verify(index[changed], new_target[changed])
            chi[index[changed]] -= self._to_normalised(new_target[changed]) - old_u[changed]
        word = self.params.word_bits
        return self._work(n, n * (2 * rows * cols + cols),
                          (n * (rows + cols + 2 * rows * cols) + rows * cols) * word, writes)

    def _pulse_writes(self, fire: np.ndarray) -> WriteResult:
        delta = self.device.delta
        chi = self.chi.reshape(-1)
        index = np.flatnonzero(fire)
        counts = np.trunc(chi[index] / delta).astype(np.int64)
        index, counts = index[counts != 0], counts[counts != 0]
        pulses = self.w.pulse(counts, index)
        chi[index] -= counts * delta
        self.writes_w.reshape(-1)[index] += 1
        longest = np.zeros(self.shape[0], dtype=np.int64)
        np.maximum.at(longest, index // self.shape[1], np.abs(counts))
        return WriteResult(cells=index.size, pulses=pulses, verify_reads=0,
                           rounds=int(longest.sum()), failed=0)


class NaiveWriteVerify(_ThresholdedWrites):
    """Naive training on multi-level cells: no accumulation of small updates.

    Each call (one batch) computes dW = -lr sum_v outer(x_v, d_v) and each weight's new target,
    its last target plus dW quantised to the levels; a weight is written by write-and-verify
    when its level changes (an update under half a level rounds away), or always with
    ``write_all`` ("updating every step": every weight written every batch, the baseline
    against which MP's reduction in writes is reported). Each cell written is one write event.

    Flops per vector: 2 x rows x cols + cols (outer product and -lr d); per call rows x cols
    (adding dW to the targets). Bits moved per vector (rows + cols) x word_bits; per call
    2 x rows x cols x word_bits (dW and the targets).
    """

    name = "naive"
    batched = True
    params_type = NaiveParams
    device_types = (MultiLevelParams,)

    def _update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateWork:
        rows, cols = self.shape
        n = x.shape[0]
        new_u = self._to_normalised(self._target_s) - lr * (x.T @ d)
        new_target = nearest_level(self.device, self._to_siemens(new_u)).reshape(-1)
        index = (np.arange(new_target.size) if self.params.write_all
                 else np.flatnonzero(new_target != self._target_s.reshape(-1)))
        writes = self._write_verify(index, new_target[index])
        word = self.params.word_bits
        return self._work(n, n * (2 * rows * cols + cols) + rows * cols,
                          (n * (rows + cols) + 2 * rows * cols) * word, writes)


ALGORITHMS: Mapping[str, type[AnalogOptimizer]] = MappingProxyType({
    cls.name: cls for cls in (InMemorySGD, MixedPrecision, NaiveWriteVerify, TTv2, ChoppedTTv2,
                              AGAD)
})
"""Update algorithms by name."""


def build_optimizer(name: str, shape: tuple[int, int], params: AlgorithmParams,
                    device: DeviceParams, rng: np.random.Generator, *,
                    weight_scale: float = 1.0,
                    initial_weights: np.ndarray | None = None) -> AnalogOptimizer:
    """The optimizer registered as ``name`` in :data:`ALGORITHMS`, built with these arguments."""
    if name not in ALGORITHMS:
        raise WorkloadError(f"algorithm: unknown {shown(str(name))!r}; "
                            f"expected one of {listed(sorted(ALGORITHMS))}")
    return ALGORITHMS[name](shape, params, device, rng, weight_scale=weight_scale,
                            initial_weights=initial_weights)


def fit_target(optimizer: AnalogOptimizer, target: np.ndarray, steps: int, lr: float,
               rng: np.random.Generator, inputs: Literal["gaussian", "one_hot"] = "gaussian",
               ) -> np.ndarray:
    """Train ``optimizer`` towards a target matrix on the toy of Rasch et al. Figs. 3 and 4.

    Each step draws an input x (standard normal entries, or a one-hot vector at a random row),
    reads the present weights W and updates with ``d = x @ W - x @ target``, the error of the
    loss ||x @ (W - target)||^2 / 2, whose gradient outer(x, d) has expectation W - target for
    Gaussian x. Returns the RMS weight error ||W - target|| / sqrt(W.size) after each step, in
    weight units (``steps`` values).
    """
    target = np.asarray(target, dtype=float)
    if target.shape != optimizer.shape:
        raise WorkloadError(f"target: must have shape {optimizer.shape}, got {target.shape}")
    _check_positive_int("steps", steps)
    if inputs not in ("gaussian", "one_hot"):
        raise WorkloadError(f"inputs: must be 'gaussian' or 'one_hot', got {inputs!r}")
    rows = optimizer.shape[0]
    errors = np.empty(steps)
    weights = optimizer.weights()
    for step in range(steps):
        if inputs == "gaussian":
            x = rng.standard_normal(rows)
        else:
            x = np.zeros(rows)
            x[rng.integers(rows)] = 1.0
        optimizer.update(x, x @ (weights - target), lr)
        weights = optimizer.weights()
        errors[step] = math.sqrt(float(np.mean((weights - target) ** 2)))
    return errors
