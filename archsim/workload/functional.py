"""Functional (numerical) model of a network on analog crossbars (workload stage).

Where the rest of archsim counts what a mapped network costs, this module computes what it
*outputs*: every matrix layer (dense, or conv through im2col) runs through a model of the
crossbars it is mapped onto, with quantised weights and inputs, conductance levels, programming
and read noise and finite-resolution ADCs; the other layers (relu, pooling, add, flatten) run in
float64 as in :mod:`archsim.workload.layers`. :func:`evaluate_hardware` gives the test accuracy
of a trained model on that hardware next to its software accuracy.

The numerical model of one ``K`` x ``N`` matrix layer, spec :class:`AnalogSpec`:

* Weights, symmetric per layer: ``s_w = max|W|``, ``Lw = 2**(weight_bits - 1) - 1``,
  ``q = round(W / s_w * Lw)`` in ``-Lw..Lw``. Differential pairs store ``|q|`` in the G+ column
  of a positive weight and in the G- column of a negative one (0 in the other); the offset
  scheme stores ``u = q + Lw`` in ``0..2 Lw`` in one column. The stored value has ``mb``
  magnitude bits (``weight_bits - 1`` differential, ``weight_bits`` offset) and takes
  ``S = ceil(mb / cell_bits)`` cells, as :func:`archsim.mapping.crossbar.weight_slices`
  counts them. It is left-aligned to ``S cell_bits`` bits (``pad = S cell_bits - mb`` zero bits
  at the bottom) and cut into digits ``d_s`` of ``cell_bits``, ``s = 0`` the least significant;
  slice ``s`` weighs ``2**(s cell_bits - pad)``. Left alignment fills the most significant cell:
  aligned at the bottom, 8-bit offset weights in 7-bit cells would put one bit in a top cell
  worth ``2**7``, multiplying its programming error by 128 instead of 2.
* Cells: ``Lc = 2**cell_bits - 1``, ``dG = (g_max - g_min) / Lc``; digit ``d`` is programmed to
  ``G = g_min + d dG + e``, ``e ~ N(0, (program_noise (g_max - g_min))**2)`` drawn once per cell
  when the weights are written, clipped at 0 S (a conductance is never negative).
* Layout, as :mod:`archsim.mapping.crossbar` counts it: rows in blocks of ``array_rows`` (the
  last may be shorter), each block on its own arrays; logical output ``n`` takes ``polarity x
  S`` adjacent physical columns (ordered polarity, then slice: this module's choice),
  ``array_cols // (polarity x S)`` outputs per array. The offset scheme adds one reference
  column per array whose cells are programmed to ``g_min`` (level 0, same programming noise);
  its current is subtracted from every column of the array in the analog domain, before the
  ADC, which removes the ``g_min`` floor (the mapping stage does not count this column).
* Inputs, per sample (as :mod:`archsim.workload.activity`, computed in float64):
  ``s_x = max|x|`` over the sample's input tensor, ``Lx = 2**act_bits - 1``,
  ``xq = round(|x| / s_x Lx)``. A layer input with negative values is split by sign and run
  twice (positive part, negative part, same scale), the second result subtracted: exact, at
  twice the reads for those samples. ``xq`` is applied in ``J = ceil(act_bits / dac_bits)``
  slices ``x_j = (xq >> j dac_bits) & (2**dac_bits - 1)``.
* Column values, in units of ``dG`` times one DAC level (column current / (dG V_step)):
  ``c_j = sum_i x_j,i G_i / dG`` (offset scheme: ``G_i - G_ref,i``). Read noise, per cell per
  read, std ``read_noise (g_max - g_min)``, i.e. ``sr = read_noise Lc`` in these units. The
  column noise is drawn as ``sr sqrt(sum_i x_j,i**2) z``, ``z ~ N(0, 1)`` per column and read:
  the sum of the cells' independent Gaussian errors has exactly that distribution, so this is
  exact for the column sum, not for individual cells. The offset scheme's reference column has
  its own such term, shared by every column of its array in that read.
* Accumulation: ``analog`` integrates the slices with their binary weights and converts once,
  ADC input ``a = sum_j 2**(j dac_bits) c_j`` (= ``sum_i xq_i G_i / dG``), noise std
  ``sr sqrt(sum_j 4**(j dac_bits) sum_i x_j,i**2)`` (one draw per column); ``digital`` converts
  every ``c_j`` and shifts-and-adds.
* ADC: unipolar, ``La = 2**adc_bits - 1`` codes over ``[0, R]``: ``v_hat = clip(round(v / R
  La), 0, La) R / La``. Every physical column is converted on its own (a differential pair's
  two columns too, as the cost model in :mod:`archsim.hw.tile` counts them). ``R`` is
  ``full_scale``: the largest value the column can produce for the block's mapped rows
  ``K_r``: ``K_r x_max g_max / dG`` for differential columns, ``K_r x_max Lc`` after the offset
  scheme's reference subtraction, with ``x_max = Lx`` (analog accumulation) or ``2**min(dac_bits,
  act_bits) - 1`` (digital); or ``calibrated``: per layer, row block and ADC, the largest
  ``|v|`` of any column that ADC converts, over a calibration set run through the software
  model (noise-free reads of the programmed cells; the inputs are normalised per sample, so the
  software activations are a faithful proxy for the hardware's). ADC ``k`` of an array converts
  its physical columns ``[k columns_per_adc, (k + 1) columns_per_adc)``. A conversion is
  *clipped* when ``v`` lies more than half an LSB outside ``[0, R]``.
* Digital merge: ``y_int = sum_r sum_p sign_p sum_s 2**(s cell_bits - pad) sum_j 2**(j
  dac_bits) v_hat`` (``sign`` +1 for G+, -1 for G-; the offset scheme then subtracts
  ``Lw sum_i xq_i``, computed digitally from the known inputs), ``y = y_int s_x / Lx s_w / Lw``.

With no noise and no clipping each conversion errs by at most half an LSB, ``R / (2 La)``, so

    |y - (xq s_x / Lx) @ (q s_w / Lw)|
        <= s_x / Lx s_w / Lw sum_{r,p,s,j} 2**(s cell_bits - pad + j dac_bits) R_{r,p,s} / (2 La)

per output (with analog accumulation ``j`` takes one value, of weight 1); the ``g_min`` floors
cancel exactly when there is no programming noise.

Randomness: :func:`evaluate_hardware` draws from its ``rng`` the programming noise of every
matrix layer in topological order, then one 63-bit key; sample ``i`` of the test set (its index
in ``x_test``) reads with its own generator ``default_rng((key, i))``. A result is thus a function
of the seed alone, whatever the batch size. BLAS runs on one thread so that float sums do not
depend on the machine either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from archsim.config.schema import TileConfig
from archsim.errors import WorkloadError
from archsim.workload.activity import MAX_ACT_BITS, input_vectors
from archsim.workload.layers import MatrixLayer
from archsim.workload.models import INPUT, Model
from archsim.workload.train import accuracy

MAX_BATCH = 256
"""Most samples run through the hardware model at once."""

MAX_BITS = 16
"""Largest weight, input, DAC and ADC precision, in bits."""

SIGNED_WEIGHTS: tuple[str, ...] = ("differential", "offset")
"""Values of :attr:`AnalogSpec.signed_weights`."""

ADC_ACCUMULATE: tuple[str, ...] = ("analog", "digital")
"""Values of :attr:`AnalogSpec.adc_accumulate`."""

ADC_RANGES: tuple[str, ...] = ("full_scale", "calibrated")
"""Values of :attr:`AnalogSpec.adc_range`."""


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        lo <= value <= hi
    ):
        raise WorkloadError(f"{name}: must be an integer {lo}..{hi}, got {value!r}")


def _check_float(name: str, value: object, *, positive: bool = False) -> None:
    ok = False
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        ok = math.isfinite(number) and number >= 0 and not (positive and number == 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise WorkloadError(f"{name}: must be a finite number {bound}, got {value!r}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise WorkloadError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class AnalogSpec:
    """What the functional model needs to know about the crossbars a network is mapped onto.

    Attributes:
        array_rows: Rows (word lines) per array; a matrix's rows are split into blocks of this.
        cell_bits: Bits per cell (1 = SLC): ``2**cell_bits`` conductance levels.
        signed_weights: ``differential`` (G+ and G- columns) or ``offset`` (one column of
            ``W + offset`` and a reference column per array).
        weight_bits: Weight precision including the sign, 2..16 bits.
        act_bits: Input (activation) precision, 1..16 bits, unsigned per sample.
        dac_bits: Input bits applied per array read (1 = bit-serial).
        adc_bits: ADC resolution, 1..16 bits.
        adc_accumulate: ``analog`` (slices integrated, one conversion) or ``digital`` (one
            conversion per slice, shift-and-add).
        adc_range: ``full_scale`` (largest value the column can produce) or ``calibrated``
            (largest value seen per ADC on a calibration set).
        g_min_s: Lowest programmed conductance (level 0), in siemens, >= 0.
        g_max_s: Highest programmed conductance (level ``2**cell_bits - 1``), in siemens.
        program_noise: Std of each cell's programming error as a fraction of
            ``g_max_s - g_min_s``; drawn once when the weights are written.
        read_noise: Std of each cell's conductance error per read, as a fraction of
            ``g_max_s - g_min_s``.
        array_cols: Columns (bit lines) per array; None: as many as the layer needs (one
            array per row block).
        columns_per_adc: Adjacent physical columns sharing one ADC (and, calibrated, one range).
    """

    array_rows: int
    cell_bits: int
    signed_weights: str
    weight_bits: int
    act_bits: int
    dac_bits: int
    adc_bits: int
    adc_accumulate: str
    adc_range: str
    g_min_s: float
    g_max_s: float
    program_noise: float
    read_noise: float
    array_cols: int | None = None
    columns_per_adc: int = 1

    def __post_init__(self) -> None:
        _check_int("array_rows", self.array_rows, 1, 1 << 16)
        _check_int("cell_bits", self.cell_bits, 1, 8)
        _check_choice("signed_weights", self.signed_weights, SIGNED_WEIGHTS)
        _check_int("weight_bits", self.weight_bits, 2, MAX_BITS)
        _check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        _check_int("dac_bits", self.dac_bits, 1, MAX_BITS)
        _check_int("adc_bits", self.adc_bits, 1, MAX_BITS)
        _check_choice("adc_accumulate", self.adc_accumulate, ADC_ACCUMULATE)
        _check_choice("adc_range", self.adc_range, ADC_RANGES)
        _check_float("g_min_s", self.g_min_s)
        _check_float("g_max_s", self.g_max_s, positive=True)
        if not self.g_min_s < self.g_max_s:
            raise WorkloadError(
                f"g_min_s: must be below g_max_s ({self.g_max_s!r} S), got {self.g_min_s!r} S"
            )
        _check_float("program_noise", self.program_noise)
        _check_float("read_noise", self.read_noise)
        _check_int("columns_per_adc", self.columns_per_adc, 1, 1 << 16)
        if self.array_cols is not None:
            _check_int("array_cols", self.array_cols, 1, 1 << 16)
            if self.array_cols < self.columns_per_output:
                raise WorkloadError(
                    f"array_cols: one output needs {self.columns_per_output} physical columns "
                    f"({self.polarity} polarity x {self.weight_slices} slices), "
                    f"got {self.array_cols}"
                )

    @classmethod
    def from_tile(
        cls,
        tile: TileConfig,
        *,
        weight_bits: int,
        act_bits: int,
        adc_range: str,
        g_min_s: float,
        g_max_s: float,
        program_noise: float,
        read_noise: float,
    ) -> AnalogSpec:
        """The spec of a config's crossbar tile: array size, cell bits, signed-weight scheme,
        DAC bits, ADC bits, accumulation and columns per ADC come from ``tile``; the rest are
        the arguments (units as the attributes)."""
        return cls(
            array_rows=tile.crossbar.rows,
            cell_bits=tile.crossbar.cell_bits,
            signed_weights=tile.crossbar.signed_weights,
            weight_bits=weight_bits,
            act_bits=act_bits,
            dac_bits=tile.dac.bits,
            adc_bits=tile.adc.bits,
            adc_accumulate=tile.adc.accumulate,
            adc_range=adc_range,
            g_min_s=g_min_s,
            g_max_s=g_max_s,
            program_noise=program_noise,
            read_noise=read_noise,
            array_cols=tile.crossbar.cols,
            columns_per_adc=tile.adc.columns_per_adc,
        )

    @property
    def polarity(self) -> int:
        """Physical columns per weight slice: 2 for differential pairs, 1 for offset."""
        return 2 if self.signed_weights == "differential" else 1

    @property
    def weight_levels(self) -> int:
        """``Lw``: largest quantised weight magnitude, ``2**(weight_bits - 1) - 1``."""
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def magnitude_bits(self) -> int:
        """Bits of the stored value: ``weight_bits - 1`` (differential) or ``weight_bits``."""
        return self.weight_bits - 1 if self.signed_weights == "differential" else self.weight_bits

    @property
    def weight_slices(self) -> int:
        """Cells per weight per polarity: ``ceil(magnitude_bits / cell_bits)``."""
        return math.ceil(self.magnitude_bits / self.cell_bits)

    @property
    def weight_pad_bits(self) -> int:
        """Zero bits below the stored value when it is left-aligned to whole cells."""
        return self.weight_slices * self.cell_bits - self.magnitude_bits

    @property
    def columns_per_output(self) -> int:
        """Physical columns per logical output: polarity x weight slices."""
        return self.polarity * self.weight_slices

    @property
    def input_slices(self) -> int:
        """Array reads per input vector: ``ceil(act_bits / dac_bits)``."""
        return math.ceil(self.act_bits / self.dac_bits)

    @property
    def cell_levels(self) -> int:
        """``Lc``: highest conductance level, ``2**cell_bits - 1``."""
        return 2**self.cell_bits - 1

    @property
    def level_step_s(self) -> float:
        """``dG``: conductance between adjacent levels, in siemens."""
        return (self.g_max_s - self.g_min_s) / self.cell_levels

    def outputs_per_array(self, cols: int) -> int:
        """Logical outputs of a ``cols``-output layer held per array."""
        if self.array_cols is None:
            return cols
        return self.array_cols // self.columns_per_output


@dataclass(frozen=True)
class Conversions:
    """ADC conversions of one layer and how many of them clipped (input more than half an LSB
    outside the ADC's range)."""

    conversions: int = 0
    clipped: int = 0

    def __add__(self, other: Conversions) -> Conversions:
        return Conversions(self.conversions + other.conversions, self.clipped + other.clipped)


def _convert(v: np.ndarray, full_scale: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Uniform unipolar ADC over ``[0, full_scale]`` (per column): values and clipped count."""
    levels = 2**bits - 1
    lsb = full_scale / levels
    live = lsb > 0
    safe = np.where(live, lsb, 1.0)
    code = np.clip(np.rint(v / safe), 0, levels)
    out = np.where(live, code * lsb, 0.0)
    clipped = int(np.count_nonzero((v > full_scale + lsb / 2) | (v < -lsb / 2)))
    return out, clipped


@dataclass(frozen=True, eq=False)
class MappedLayer:
    """A matrix layer written onto crossbars: its programmed conductances and ADC ranges.

    Build with :func:`map_layer`. Arrays are read-only.

    Attributes:
        layer: The layer mapped (for its shape and conv geometry; its weights as they were
            when mapped are in ``conductance``).
        spec: The crossbar model.
        weight_scale: ``s_w = max|W|``, in the layer's weight units (1 for an all-zero matrix).
        conductance: Programmed conductances, in siemens, shape ``(polarity, weight_slices,
            rows, cols)``; polarity 0 is G+ (or the offset column), 1 is G-.
        reference: Offset scheme: the reference columns' conductances, in siemens, shape
            ``(rows, col_splits)`` (one column per array); None for differential pairs.
        adc_range: ADC full scale ``R`` per physical column, shape ``(row_blocks, polarity,
            weight_slices, cols)``, in units of ``dG`` times one DAC level (see the module).
    """

    layer: MatrixLayer
    spec: AnalogSpec
    weight_scale: float
    conductance: np.ndarray
    reference: np.ndarray | None
    adc_range: np.ndarray

    @property
    def row_blocks(self) -> int:
        """Arrays a column of the matrix is split over (row blocks of ``array_rows``)."""
        return math.ceil(self.layer.rows / self.spec.array_rows)

    @property
    def col_splits(self) -> int:
        """Arrays side by side for the layer's outputs (per row block)."""
        return math.ceil(self.layer.cols / self.spec.outputs_per_array(self.layer.cols))

    def _block(self, r: int) -> slice:
        rows = self.spec.array_rows
        return slice(r * rows, min(self.layer.rows, (r + 1) * rows))

    def _split_of_output(self) -> np.ndarray:
        """Column split (array) of every logical output, shape ``(cols,)``."""
        return np.arange(self.layer.cols) // self.spec.outputs_per_array(self.layer.cols)

    def adc_groups(self) -> np.ndarray:
        """Index of the ADC converting every physical column, shape ``(polarity,
        weight_slices, cols)``, unique within a row block across its arrays."""
        spec = self.spec
        per_array = spec.outputs_per_array(self.layer.cols)
        width = spec.array_cols if spec.array_cols is not None else (
            per_array * spec.columns_per_output
        )
        adcs_per_array = math.ceil(width / spec.columns_per_adc)
        n = np.arange(self.layer.cols)
        p = np.arange(spec.polarity)[:, None, None]
        s = np.arange(spec.weight_slices)[None, :, None]
        physical = (n % per_array) * spec.columns_per_output + p * spec.weight_slices + s
        return (n // per_array) * adcs_per_array + physical // spec.columns_per_adc

    def _cells(self, r: int) -> np.ndarray:
        """Row block ``r``'s conductances in units of ``dG`` (the offset scheme's reference
        subtracted), shape ``(polarity, weight_slices, rows_r, cols)``."""
        block = self._block(r)
        g = self.conductance[:, :, block, :]
        if self.reference is not None:
            g = g - self.reference[block][:, self._split_of_output()]
        return g / self.spec.level_step_s

    def _input_slices(self, x: np.ndarray) -> list[np.ndarray]:
        """The DAC slices of integer-valued inputs ``x``, LSB first."""
        spec = self.spec
        xi = x.astype(np.int64)
        mask = 2**spec.dac_bits - 1
        return [
            ((xi >> (j * spec.dac_bits)) & mask).astype(np.float64)
            for j in range(spec.input_slices)
        ]

    def _reads(
        self, x: np.ndarray, r: int
    ) -> tuple[list[tuple[float, np.ndarray]], list[np.ndarray]]:
        """What row block ``r`` converts for integer inputs ``x`` ``(M, rows)``: the
        (shift-and-add weight, applied input) of each conversion per column, and the read-noise
        std of each, per vector ``(M,)``, in units of ``sr``."""
        spec = self.spec
        xr = x[:, self._block(r)]
        slices = self._input_slices(xr)
        energy = [np.einsum("mk,mk->m", xj, xj) for xj in slices]
        if spec.adc_accumulate == "analog":
            combined = sum(4.0 ** (j * spec.dac_bits) * e for j, e in enumerate(energy))
            return [(1.0, xr)], [np.sqrt(combined)]
        coefs = [2.0 ** (j * spec.dac_bits) for j in range(spec.input_slices)]
        return list(zip(coefs, slices)), [np.sqrt(e) for e in energy]

    def full_scale(self) -> np.ndarray:
        """``full_scale`` ADC ranges, shape ``(row_blocks, polarity, weight_slices, cols)``."""
        spec = self.spec
        if spec.adc_accumulate == "analog":
            x_max = 2**spec.act_bits - 1
        else:
            x_max = 2 ** min(spec.dac_bits, spec.act_bits) - 1
        if spec.signed_weights == "differential":
            per_cell = spec.g_max_s / spec.level_step_s
        else:
            per_cell = float(spec.cell_levels)
        rows = np.array(
            [self._block(r).stop - self._block(r).start for r in range(self.row_blocks)],
            dtype=np.float64,
        )
        shape = (self.row_blocks, spec.polarity, spec.weight_slices, self.layer.cols)
        return np.broadcast_to((rows * x_max * per_cell)[:, None, None, None], shape).copy()

    def quantise_inputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-sample unsigned quantisation of a float input batch.

        Returns:
            (positive, negative, scale): integer-valued float64 arrays shaped like ``x``
            holding ``xq`` where ``x > 0`` and where ``x < 0``, and ``s_x`` per sample.
        """
        x = np.asarray(x, dtype=np.float64)
        flat = np.abs(x.reshape(len(x), -1))
        scale = flat.max(axis=1) if flat.shape[1] else np.zeros(len(x))
        safe = np.where(scale > 0, scale, 1.0).reshape((-1,) + (1,) * (x.ndim - 1))
        q = np.rint(np.abs(x) / safe * (2**self.spec.act_bits - 1))
        return np.where(x > 0, q, 0.0), np.where(x < 0, q, 0.0), scale

    def vectors(self, q: np.ndarray) -> np.ndarray:
        """The input vectors of a quantised batch, ``(B, vectors, rows)``."""
        return input_vectors(self.layer, q)

    def column_peaks(self, x: np.ndarray) -> np.ndarray:
        """Largest ``|ADC input|`` per physical column over a float input batch ``x`` (noise-free
        reads, no ADC), shape ``(row_blocks, polarity, weight_slices, cols)``."""
        positive, negative, _ = self.quantise_inputs(x)
        peaks = np.zeros_like(self.adc_range)
        for q in (positive, negative):
            vecs = self.vectors(q)
            flat = vecs.reshape(-1, vecs.shape[-1])
            if not flat.any():
                continue
            for r in range(self.row_blocks):
                cells = self._cells(r)
                reads, _ = self._reads(flat, r)
                for p in range(self.spec.polarity):
                    for s in range(self.spec.weight_slices):
                        for _, xj in reads:
                            top = np.abs(xj @ cells[p, s]).max(axis=0)
                            np.maximum(peaks[r, p, s], top, out=peaks[r, p, s])
        return peaks

    def calibrated(self, peaks: np.ndarray) -> MappedLayer:
        """This layer with every ADC's range set to the largest of ``peaks`` (as
        :meth:`column_peaks` returns) over the columns it converts."""
        peaks = np.asarray(peaks, dtype=np.float64)
        if peaks.shape != self.adc_range.shape:
            raise WorkloadError(
                f"peaks: must have shape {self.adc_range.shape} (row blocks, polarity, slices, "
                f"cols), got {peaks.shape}"
            )
        groups = self.adc_groups()
        count = int(groups.max()) + 1
        ranges = np.empty_like(self.adc_range)
        for r in range(self.row_blocks):
            top = np.zeros(count)
            np.maximum.at(top, groups.ravel(), peaks[r].ravel())
            ranges[r] = top[groups]
        ranges.setflags(write=False)
        return replace(self, adc_range=ranges)

    def forward(
        self, x: np.ndarray, read_rngs: Sequence[np.random.Generator] | None = None
    ) -> tuple[np.ndarray, Conversions]:
        """The layer's output for a float input batch, computed on the crossbars.

        Args:
            x: Input batch ``(B, *in_shape)``.
            read_rngs: One generator per sample, source of that sample's read noise (used only
                when ``spec.read_noise`` > 0).

        Returns:
            (output ``(B, *out_shape)`` float64 in the layer's float units, conversion counts).
        """
        x = np.asarray(x, dtype=np.float64)
        if self.spec.read_noise > 0 and (read_rngs is None or len(read_rngs) != len(x)):
            raise WorkloadError(
                f"read_rngs: need one generator per sample ({len(x)}) when read_noise > 0"
            )
        out_shape = self.layer.output_shape([x.shape[1:]])
        positive, negative, scale = self.quantise_inputs(x)
        vecs = self.vectors(positive)
        b, v, _ = vecs.shape
        y, counts = self._integer_pass(vecs, read_rngs)
        signed = np.flatnonzero(negative.reshape(b, -1).any(axis=1))
        if signed.size:
            neg_vecs = self.vectors(negative[signed])
            rngs = None if read_rngs is None else [read_rngs[i] for i in signed]
            y_neg, neg_counts = self._integer_pass(neg_vecs, rngs)
            y = y.reshape(b, v, -1)
            y[signed] -= y_neg.reshape(signed.size, v, -1)
            counts = counts + neg_counts
        factor = scale / (2**self.spec.act_bits - 1) * self.weight_scale / self.spec.weight_levels
        y = y.reshape(b, v, -1) * factor[:, None, None]
        return y.reshape((b, *out_shape)), counts

    def _integer_pass(
        self, vecs: np.ndarray, read_rngs: Sequence[np.random.Generator] | None
    ) -> tuple[np.ndarray, Conversions]:
        """``y_int`` ``(B * V, cols)`` of non-negative integer input vectors ``(B, V, rows)``.

        Each sample's generator draws, per row block: the reference columns' noise of every
        read (offset scheme), then every column's noise per (polarity, slice, read).
        """
        spec = self.spec
        b, v, k = vecs.shape
        x = vecs.reshape(b * v, k)
        cols = self.layer.cols
        rngs: Sequence[np.random.Generator] = read_rngs or ()
        noisy = spec.read_noise > 0 and bool(rngs)
        sigma = spec.read_noise * spec.cell_levels
        split = self._split_of_output()
        signs = (1.0, -1.0)
        y = np.zeros((b * v, cols))
        counts = Conversions()
        for r in range(self.row_blocks):
            cells = self._cells(r)
            reads, stds = self._reads(x, r)
            ref_noise: list[np.ndarray] = []
            if noisy and self.reference is not None:
                for _ in reads:
                    z = np.concatenate([g.standard_normal((v, self.col_splits)) for g in rngs])
                    ref_noise.append(z[:, split])
            for p in range(spec.polarity):
                for s in range(spec.weight_slices):
                    weight = signs[p] * 2.0 ** (s * spec.cell_bits - spec.weight_pad_bits)
                    for j, (coef, xj) in enumerate(reads):
                        value = xj @ cells[p, s]
                        if noisy:
                            z = np.concatenate([g.standard_normal((v, cols)) for g in rngs])
                            if ref_noise:
                                z -= ref_noise[j]
                            value += (sigma * stds[j])[:, None] * z
                        converted, clipped = _convert(
                            value, self.adc_range[r, p, s], spec.adc_bits
                        )
                        y += weight * coef * converted
                        counts = counts + Conversions(value.size, clipped)
        if spec.signed_weights == "offset":
            y -= spec.weight_levels * x.sum(axis=1)[:, None]
        return y, counts


def conversions_per_sample(model: Model, spec: AnalogSpec) -> int:
    """ADC conversions one input sample costs through ``model``'s matrix layers on ``spec``'s
    crossbars (inputs without negative values): per input vector, every physical column of
    every row block, once (analog accumulation) or per input slice (digital)."""
    reads = 1 if spec.adc_accumulate == "analog" else spec.input_slices
    total = 0
    for layer in model.matrix_layers():
        blocks = -(-layer.rows // spec.array_rows)
        per_vector = blocks * spec.polarity * spec.weight_slices * reads * layer.cols
        total += model.vectors_per_sample(layer) * per_vector
    return total


def map_layer(layer: MatrixLayer, spec: AnalogSpec, *, rng: np.random.Generator) -> MappedLayer:
    """Quantise, slice and program a matrix layer's weights onto crossbars.

    Programming noise is drawn from ``rng``: ``(polarity, weight_slices, rows, cols)``
    standard normals for the weight cells, then (offset scheme) ``(rows, col_splits)`` for the
    reference columns, scaled by ``program_noise``. They are drawn even when ``program_noise``
    is 0, so a seed gives the same draws at every noise level (sweeps over the noise compare
    like with like). ADC ranges start at ``full_scale``; see :meth:`MappedLayer.calibrated`.

    Returns:
        The mapped layer (formulas in the module docstring).
    """
    if not isinstance(layer, MatrixLayer):
        raise WorkloadError(f"layer '{layer.name}': kind '{layer.kind}' has no weight matrix")
    w = np.asarray(layer.weight, dtype=np.float64)
    top = float(np.abs(w).max())
    scale = top if top > 0 else 1.0
    levels_w = spec.weight_levels
    q = np.rint(w / scale * levels_w).astype(np.int64)
    if spec.signed_weights == "differential":
        stored = np.stack([np.where(q > 0, q, 0), np.where(q < 0, -q, 0)])
    else:
        stored = (q + levels_w)[None]
    aligned = stored << spec.weight_pad_bits
    digits = np.stack(
        [(aligned >> (s * spec.cell_bits)) & spec.cell_levels for s in range(spec.weight_slices)],
        axis=1,
    ).astype(np.float64)
    span = spec.g_max_s - spec.g_min_s
    g = spec.g_min_s + digits * spec.level_step_s
    g += spec.program_noise * span * rng.standard_normal(g.shape)
    np.maximum(g, 0.0, out=g)
    g.setflags(write=False)
    reference = None
    if spec.signed_weights == "offset":
        splits = math.ceil(layer.cols / spec.outputs_per_array(layer.cols))
        ref = spec.g_min_s + spec.program_noise * span * rng.standard_normal((layer.rows, splits))
        reference = np.maximum(ref, 0.0)
        reference.setflags(write=False)
    blocks = math.ceil(layer.rows / spec.array_rows)
    placeholder = np.zeros((blocks, spec.polarity, spec.weight_slices, layer.cols))
    mapped = MappedLayer(layer, spec, scale, g, reference, placeholder)
    ranges = mapped.full_scale()
    ranges.setflags(write=False)
    return replace(mapped, adc_range=ranges)


@dataclass(frozen=True)
class LayerReport:
    """How one matrix layer fared on the crossbars.

    Attributes:
        name: Layer name.
        rows: Matrix rows K (input vector length).
        cols: Matrix columns N (outputs).
        row_blocks: Row blocks of ``array_rows`` (partial sums merged digitally).
        col_splits: Arrays side by side per row block.
        arrays: ``row_blocks x col_splits`` arrays.
        polarity: Physical columns per weight slice (2 differential, 1 offset).
        weight_slices: Cells per weight per polarity.
        input_slices: Array reads per input vector.
        conversions: ADC conversions over the test set (both passes of signed inputs).
        clipped_fraction: Fraction of those conversions whose input was more than half an LSB
            outside the ADC's range.
    """

    name: str
    rows: int
    cols: int
    row_blocks: int
    col_splits: int
    arrays: int
    polarity: int
    weight_slices: int
    input_slices: int
    conversions: int
    clipped_fraction: float


@dataclass(frozen=True)
class HardwareEvaluation:
    """Accuracy of a model on simulated crossbars next to its software accuracy.

    Attributes:
        accuracy: Fraction of test samples classified correctly on the hardware model.
        software_accuracy: The same for the float model (:func:`archsim.workload.train.accuracy`).
        samples: Test samples.
        spec: The crossbar model used.
        layers: Per matrix layer, in topological order.
    """

    accuracy: float
    software_accuracy: float
    samples: int
    spec: AnalogSpec
    layers: tuple[LayerReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form."""
        return asdict(self)


def _check_data(model: Model, x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != len(model.input_shape) + 1 or tuple(x.shape[1:]) != model.input_shape or (
        len(x) == 0
    ):
        raise WorkloadError(
            f"{what}: must have shape (N >= 1, {', '.join(map(str, model.input_shape))}), "
            f"got {tuple(x.shape)}"
        )
    return x


def _calibrate(
    model: Model, mapped: dict[str, MappedLayer], x_cal: np.ndarray, batch_size: int
) -> dict[str, MappedLayer]:
    """Every mapped layer with its ADC ranges calibrated on ``x_cal`` (software activations)."""
    peaks = {name: np.zeros_like(m.adc_range) for name, m in mapped.items()}
    for start in range(0, len(x_cal), batch_size):
        batch = np.asarray(x_cal[start : start + batch_size], dtype=np.float64)
        _, captured = model.forward(batch, capture=True)
        for name, m in mapped.items():
            np.maximum(peaks[name], m.column_peaks(captured[name]), out=peaks[name])
    return {name: m.calibrated(peaks[name]) for name, m in mapped.items()}


def _last_use(model: Model) -> dict[str, int]:
    last: dict[str, int] = {}
    for index, layer in enumerate(model.layers):
        for src in layer.inputs:
            last[src] = index
    return last


def _forward(
    model: Model,
    mapped: dict[str, MappedLayer],
    x: np.ndarray,
    read_rngs: Sequence[np.random.Generator],
    counts: dict[str, Conversions],
) -> np.ndarray:
    """Network output for a batch, matrix layers on the crossbars (adds to ``counts``)."""
    values: dict[str, np.ndarray] = {INPUT: np.asarray(x, dtype=np.float64)}
    last = _last_use(model)
    for index, layer in enumerate(model.layers):
        xs = [values[s] for s in layer.inputs]
        if layer.name in mapped:
            values[layer.name], used = mapped[layer.name].forward(xs[0], read_rngs)
            counts[layer.name] = counts[layer.name] + used
        else:
            values[layer.name], _ = layer.forward(xs)
        for src in set(layer.inputs):
            if last[src] == index:
                del values[src]
    return values[model.layers[-1].name]


def evaluate_hardware(
    model: Model,
    spec: AnalogSpec,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    rng: np.random.Generator,
    calibration: np.ndarray | None = None,
    batch_size: int = MAX_BATCH,
) -> HardwareEvaluation:
    """Test accuracy of ``model`` with its matrix layers on crossbars described by ``spec``.

    Args:
        model: A model producing ``(B, classes)`` logits; its weights are read, not changed.
        spec: The crossbar model.
        x_test: Test inputs ``(N, *model.input_shape)``.
        y_test: Integer labels ``(N,)``.
        rng: Source of the programming noise (every matrix layer, topological order) and of
            the key of the per-sample read-noise generators (module docstring).
        calibration: Inputs ``(M, *model.input_shape)`` to calibrate the ADC ranges on, taken
            from the training data; required with ``adc_range: calibrated``, refused otherwise.
        batch_size: Test samples run at once, 1..256; the result does not depend on it.

    Returns:
        Hardware and software accuracy and per-layer figures.

    Raises:
        WorkloadError: An argument is out of range or the data do not match the model.
    """
    _check_int("batch_size", batch_size, 1, MAX_BATCH)
    x_test = _check_data(model, x_test, "x_test")
    y_test = np.asarray(y_test)
    if y_test.shape != (len(x_test),):
        raise WorkloadError(
            f"y_test: must have shape ({len(x_test)},) to match x_test, got {y_test.shape}"
        )
    if spec.adc_range == "calibrated":
        if calibration is None:
            raise WorkloadError("calibration: required when adc_range is 'calibrated'")
        calibration = _check_data(model, calibration, "calibration")
    elif calibration is not None:
        raise WorkloadError("calibration: given, but adc_range is 'full_scale' (unused)")
    with threadpool_limits(limits=1, user_api="blas"):
        mapped = {
            layer.name: map_layer(layer, spec, rng=rng) for layer in model.matrix_layers()
        }
        key = int(rng.integers(2**63))
        if calibration is not None:
            mapped = _calibrate(model, mapped, calibration, batch_size)
        counts = {name: Conversions() for name in mapped}
        correct = 0
        for start in range(0, len(x_test), batch_size):
            stop = min(len(x_test), start + batch_size)
            rngs = [np.random.default_rng((key, i)) for i in range(start, stop)]
            logits = _forward(model, mapped, x_test[start:stop], rngs, counts)
            correct += int((logits.argmax(axis=1) == y_test[start:stop]).sum())
        software = accuracy(model, x_test, y_test, batch_size=batch_size)
    layers = tuple(
        LayerReport(
            name=name,
            rows=m.layer.rows,
            cols=m.layer.cols,
            row_blocks=m.row_blocks,
            col_splits=m.col_splits,
            arrays=m.row_blocks * m.col_splits,
            polarity=spec.polarity,
            weight_slices=spec.weight_slices,
            input_slices=spec.input_slices,
            conversions=counts[name].conversions,
            clipped_fraction=counts[name].clipped / max(1, counts[name].conversions),
        )
        for name, m in mapped.items()
    )
    return HardwareEvaluation(
        accuracy=correct / len(x_test),
        software_accuracy=software,
        samples=len(x_test),
        spec=spec,
        layers=layers,
    )


def hardware_accuracy(
    model: Model,
    spec: AnalogSpec,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    rng: np.random.Generator,
    calibration: np.ndarray | None = None,
    batch_size: int = MAX_BATCH,
) -> float:
    """Fraction of test samples ``model`` classifies correctly on the crossbars of ``spec``
    (:func:`evaluate_hardware`'s ``accuracy``; same arguments)."""
    return evaluate_hardware(
        model, spec, x_test, y_test, rng=rng, calibration=calibration, batch_size=batch_size
    ).accuracy
