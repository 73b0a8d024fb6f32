"""Resistive device models for on-chip training (workload stage).

Two arrays of devices, each a NumPy state over a 2-D ``(rows, cols)`` shape with per-device
counters, and their parameters in frozen dataclasses:

- :class:`SoftBoundsArray` (:class:`SoftBoundsParams`): the pulsed soft-bounds device of Rasch
  et al. 2024 (Nature Communications 15:7133, Methods Eqs. 3-9), in normalised units (nominal
  bounds -1 and +1). One pulse moves a device by

      up:    w <- w + a+ (1 - w / w_max) (1 + sigma_c2c xi)
      down:  w <- w - a- (1 - w / w_min) (1 + sigma_c2c xi)

  (``c2c_mode="multiplicative"``, aihwkit's ``mult_noise=True``), or with the noise added to the
  soft-bounds factor, ``a (1 - w / b + sigma_c2c xi)`` (``c2c_mode="additive"``, aihwkit's
  ``SoftBoundsReferenceDevice`` default); then w is clamped to [w_min, w_max]. xi ~ N(0, 1) is
  drawn anew for every pulse. A bound of exactly 0 (a device whose drawn bound was cut at 0)
  makes its factor 1 and the clamp holds the device at 0, as aihwkit does.
  Device-to-device variation is drawn once per device at construction:

      w_max = max(1 + sigma_b xi1, 0),  w_min = min(-1 + sigma_b xi2, 0),
      a+ = delta |gamma + rho|,  a- = delta |gamma - rho|,
      gamma = exp(sigma_d2d xi3),  rho = sigma_pm xi4.

  The absolute value keeps a step's direction when |rho| > gamma (aihwkit's
  ``enforce_consistency``); with sigma_pm = 0.3 that takes |xi4| > about 3.3 (gamma near 1).
- :class:`MultiLevelArray` (:class:`MultiLevelParams`): a bulk-switching RRAM cell with evenly
  spaced conductance levels, programmed by write-and-verify, in siemens (Wu et al. 2023,
  arXiv 2305.14547: 4-40 uS, 128 levels).

Every random draw comes from the ``numpy.random.Generator`` handed to the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from archsim.errors import WorkloadError

C2CMode = Literal["multiplicative", "additive"]


def check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """``shape`` as ``(rows, cols)`` of Python ints; refuses anything but two integers >= 1."""
    if (not isinstance(shape, tuple) or len(shape) != 2
            or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                   for n in shape)):
        raise WorkloadError(f"shape: must be (rows, cols), two integers >= 1, got {shape!r}")
    return int(shape[0]), int(shape[1])


def is_real(value: object) -> bool:
    """Whether ``value`` is a finite real number (bools excluded)."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and bool(np.isfinite(value)))


def _check_nonnegative(name: str, value: float) -> None:
    if not is_real(value) or value < 0:
        raise WorkloadError(f"{name}: must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class SoftBoundsParams:
    """Parameters of the soft-bounds device (Rasch et al. 2024, Methods), normalised units.

    Attributes:
        delta: Nominal step size of one pulse at w = 0, in normalised units (the nominal range
            is [-1, 1], so ``n_states = 2 / delta``).
        sigma_b: Device-to-device spread of the bounds (additive on the nominal +-1).
        sigma_d2d: Device-to-device spread of the step size (log-normal gain gamma).
        sigma_pm: Device-to-device spread of the up/down asymmetry rho.
        sigma_c2c: Cycle-to-cycle noise of each pulse, relative to the step (see ``c2c_mode``).
        c2c_mode: ``"multiplicative"``: step times (1 + sigma_c2c xi); ``"additive"``: sigma_c2c
            xi added to the soft-bounds factor (1 - w / b).
        read_noise: Standard deviation of the additive Gaussian noise of one read, in normalised
            units (0: exact reads).
    """

    delta: float
    sigma_b: float = 0.0
    sigma_d2d: float = 0.0
    sigma_pm: float = 0.0
    sigma_c2c: float = 0.0
    c2c_mode: C2CMode = "multiplicative"
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        if not is_real(self.delta) or not 0 < self.delta <= 1:
            raise WorkloadError(f"delta: must be in (0, 1], got {self.delta!r}")
        for name in ("sigma_b", "sigma_d2d", "sigma_pm", "sigma_c2c", "read_noise"):
            _check_nonnegative(name, getattr(self, name))
        if self.c2c_mode not in ("multiplicative", "additive"):
            raise WorkloadError(
                f"c2c_mode: must be 'multiplicative' or 'additive', got {self.c2c_mode!r}")

    @property
    def n_states(self) -> float:
        """Nominal number of states, (w_max - w_min) / delta = 2 / delta (Rasch Eq. 6)."""
        return 2.0 / self.delta


def soft_bounds_after(w0: np.ndarray | float, n: np.ndarray | int, step: np.ndarray | float,
                      bound: np.ndarray | float) -> np.ndarray:
    """Closed form of ``n`` noise-free pulses of one direction on a soft-bounds device.

    Each pulse is ``w <- w + step (1 - w / bound)``, so ``w - bound`` shrinks by ``(1 - step /
    bound)`` per pulse and

        w_n = bound - (bound - w0) (1 - step / bound) ** n.

    Up pulses: ``step = a+ > 0``, ``bound = w_max``. Down pulses: ``step = -a- < 0``,
    ``bound = w_min`` (the step is signed). Valid while the sequence does not overshoot the bound
    (``|step| < |bound|``), where no clamping happens. Normalised units.
    """
    w0, n = np.asarray(w0, dtype=float), np.asarray(n)
    step, bound = np.asarray(step, dtype=float), np.asarray(bound, dtype=float)
    return bound - (bound - w0) * (1.0 - step / bound) ** n


class SoftBoundsArray:
    """An array of soft-bounds devices with drawn device-to-device parameters.

    Attributes:
        shape: ``(rows, cols)``.
        params: The device parameters.
        w_max, w_min: Per-device bounds (normalised units).
        a_up, a_down: Per-device step sizes at w = 0 (normalised units, both >= 0).
        pulses: Pulses applied to each device (int64), every pulse counted, even one that is
            clamped at a bound or leaves the state unchanged.
    """

    def __init__(self, shape: tuple[int, int], params: SoftBoundsParams,
                 rng: np.random.Generator) -> None:
        """Draw the device-to-device parameters; the state starts at 0 (clamped to the bounds)."""
        self.shape = check_shape(shape)
        if not isinstance(params, SoftBoundsParams):
            raise WorkloadError(f"params: must be SoftBoundsParams, got {type(params).__name__}")
        self.params = params
        self._rng = rng
        p = params
        self.w_max = np.maximum(1.0 + p.sigma_b * rng.standard_normal(self.shape), 0.0)
        self.w_min = np.minimum(-1.0 + p.sigma_b * rng.standard_normal(self.shape), 0.0)
        gamma = np.exp(p.sigma_d2d * rng.standard_normal(self.shape))
        rho = p.sigma_pm * rng.standard_normal(self.shape)
        self.a_up = p.delta * np.abs(gamma + rho)
        self.a_down = p.delta * np.abs(gamma - rho)
        self._w = np.clip(np.zeros(self.shape), self.w_min, self.w_max)
        self.pulses = np.zeros(self.shape, dtype=np.int64)
        # Per direction (row 0 down, row 1 up), flat: signed step, 1 / bound (0 for a bound at
        # 0, whose factor is then 1), and the clamp limits.
        bounds = np.stack([self.w_min, self.w_max]).reshape(2, -1)
        self._step = np.stack([-self.a_down, self.a_up]).reshape(2, -1)
        self._inverse_bound = np.divide(1.0, bounds, out=np.zeros_like(bounds),
                                        where=bounds != 0)
        self._low, self._high = self.w_min.reshape(-1), self.w_max.reshape(-1)

    @property
    def state(self) -> np.ndarray:
        """The devices' present values, read-only view (normalised units, no read noise)."""
        view = self._w.view()
        view.flags.writeable = False
        return view

    def read(self, noisy: bool = True) -> np.ndarray:
        """A copy of the device values; with ``noisy`` and ``params.read_noise > 0``, plus
        independent Gaussian read noise of that standard deviation (normalised units)."""
        if noisy and self.params.read_noise > 0:
            return self._w + self.params.read_noise * self._rng.standard_normal(self.shape)
        return self._w.copy()

    def read_row(self, row: int, noisy: bool = True) -> np.ndarray:
        """A copy of one row of device values (one MVM with a one-hot input), with read noise
        as :meth:`read`."""
        values = self._w[row].copy()
        if noisy and self.params.read_noise > 0:
            values += self.params.read_noise * self._rng.standard_normal(values.shape)
        return values

    def set_state(self, values: np.ndarray | float) -> None:
        """Place the devices at ``values`` (clamped to each device's bounds) without pulsing.

        Models an initial programming or symmetry-point search that the counters leave out.
        """
        values = np.broadcast_to(np.asarray(values, dtype=float), self.shape)
        if not np.isfinite(values).all():
            raise WorkloadError("values: must be finite")
        self._w[...] = np.clip(values, self.w_min, self.w_max)

    def symmetry_point(self) -> np.ndarray:
        """Per-device symmetry point w* = (a+ - a-) / (a+ / w_max - a- / w_min), where an up and
        a down pulse cancel (normalised units). A device with a bound at 0 or no steps gets 0."""
        regular = (self.w_max > 0) & (self.w_min < 0) & (self.a_up + self.a_down > 0)
        safe_max = np.where(regular, self.w_max, 1.0)
        safe_min = np.where(regular, self.w_min, -1.0)
        denominator = self.a_up / safe_max - self.a_down / safe_min
        safe_denominator = np.where(regular, denominator, 1.0)
        return np.where(regular, (self.a_up - self.a_down) / safe_denominator, 0.0)

    def reference(self, mean: float, std: float) -> np.ndarray:
        """A programmed reference r = w* + xi, xi ~ N(mean, std) per device (normalised units):
        TTv2's differential-read zero, ideally the symmetry point (Rasch et al., Methods)."""
        _check_nonnegative("std", std)
        if not is_real(mean):
            raise WorkloadError(f"mean: must be a finite number, got {mean!r}")
        return self.symmetry_point() + mean + std * self._rng.standard_normal(self.shape)

    def pulse_once(self, index: np.ndarray, up: np.ndarray) -> int:
        """Apply one pulse to each device of ``index`` (flat indices, no repeats); ``up`` (bool,
        same length) selects the direction. Returns the number of pulses applied."""
        if len(index) == 0:
            return 0
        direction = np.asarray(up, dtype=np.intp)
        w = self._w.reshape(-1)
        w_now = w[index]
        factor = 1.0 - w_now * self._inverse_bound[direction, index]
        p = self.params
        if p.sigma_c2c > 0:
            xi = self._rng.standard_normal(len(index))
            if p.c2c_mode == "multiplicative":
                factor *= 1.0 + p.sigma_c2c * xi
            else:
                factor += p.sigma_c2c * xi
        w_new = w_now + self._step[direction, index] * factor
        w[index] = np.minimum(np.maximum(w_new, self._low[index]), self._high[index])
        self.pulses.reshape(-1)[index] += 1
        return len(index)

    def pulse(self, counts: np.ndarray, index: np.ndarray | None = None) -> int:
        """Apply ``|counts|`` pulses to each device, up where ``counts > 0``, down where < 0.

        ``counts`` is an integer array of the array's shape or, with ``index`` (flat device
        indices, no repeats), one count per listed device. Pulses of one device are applied one
        after another (the loop runs over the pulse index, each step vectorised over the devices
        still owed a pulse). Returns the number of pulses applied.
        """
        counts = np.asarray(counts)
        expected = self.shape if index is None else np.shape(index)
        if counts.shape != expected or not np.issubdtype(counts.dtype, np.integer):
            raise WorkloadError(f"counts: must be an integer array of shape {expected}, "
                                f"got {counts.dtype} {counts.shape}")
        flat = counts.reshape(-1)
        where = np.arange(flat.size) if index is None else np.asarray(index, dtype=np.intp)
        magnitude = np.abs(flat)
        total = 0
        for k in range(int(magnitude.max(initial=0))):
            owed = magnitude > k
            total += self.pulse_once(where[owed], flat[owed] > 0)
        return total


@dataclass(frozen=True)
class MultiLevelParams:
    """Parameters of a multi-level bulk-switching RRAM cell with write-and-verify.

    Defaults follow Wu et al. 2023 (arXiv 2305.14547): 4-40 uS in 128 levels, at most 2
    set/reset trials per write during training.

    Attributes:
        g_min_s: Lowest conductance level, in siemens.
        g_max_s: Highest conductance level, in siemens.
        levels: Number of evenly spaced conductance levels (>= 2).
        program_noise: Standard deviation of a programming pulse's result around its target, as
            a fraction of (g_max_s - g_min_s).
        read_noise: Standard deviation of one read, as a fraction of (g_max_s - g_min_s).
        max_trials: Most pulse-and-verify trials per cell and write.
        tolerance_levels: A verify read within this many level steps of the target ends the
            write (0.5: the read rounds to the target level).
    """

    g_min_s: float = 4e-6
    g_max_s: float = 40e-6
    levels: int = 128
    program_noise: float = 0.0
    read_noise: float = 0.0
    max_trials: int = 2
    tolerance_levels: float = 0.5

    def __post_init__(self) -> None:
        if not (is_real(self.g_min_s) and is_real(self.g_max_s)
                and 0 <= self.g_min_s < self.g_max_s):
            raise WorkloadError(f"g_min_s, g_max_s: must satisfy 0 <= g_min_s < g_max_s, got "
                                f"{self.g_min_s!r}, {self.g_max_s!r}")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 2:
            raise WorkloadError(f"levels: must be an integer >= 2, got {self.levels!r}")
        for name in ("program_noise", "read_noise"):
            _check_nonnegative(name, getattr(self, name))
        if (isinstance(self.max_trials, bool) or not isinstance(self.max_trials, int)
                or self.max_trials < 1):
            raise WorkloadError(f"max_trials: must be an integer >= 1, got {self.max_trials!r}")
        if not is_real(self.tolerance_levels) or self.tolerance_levels <= 0:
            raise WorkloadError(f"tolerance_levels: must be > 0, got {self.tolerance_levels!r}")

    @property
    def range_s(self) -> float:
        """Conductance range g_max_s - g_min_s, in siemens."""
        return self.g_max_s - self.g_min_s

    @property
    def level_step_s(self) -> float:
        """Spacing of adjacent levels, in siemens."""
        return self.range_s / (self.levels - 1)


def nearest_level(params: MultiLevelParams, g: np.ndarray | float) -> np.ndarray:
    """The level of ``params`` nearest to each conductance ``g`` (siemens), clamped to
    [g_min_s, g_max_s]."""
    index = np.clip(np.rint((np.asarray(g, dtype=float) - params.g_min_s) / params.level_step_s),
                    0, params.levels - 1)
    return params.g_min_s + index * params.level_step_s


@dataclass(frozen=True)
class WriteResult:
    """Hardware work of one :meth:`MultiLevelArray.program` call.

    Attributes:
        cells: Cells programmed (one write event each).
        pulses: SET/RESET programming pulses applied, one per trial.
        verify_reads: Verify reads, one per trial.
        rounds: Pulse-verify rounds when the cells of a row are programmed in parallel: the sum
            over rows of the most trials any cell of that row took.
        failed: Cells whose last verify read was still outside the tolerance.
    """

    cells: int
    pulses: int
    verify_reads: int
    rounds: int
    failed: int


class MultiLevelArray:
    """An array of multi-level RRAM cells programmed by write-and-verify (Wu et al. 2023).

    A write of one cell is up to ``max_trials`` trials of: one programming pulse (SET if the cell
    reads below the target, RESET if above; the polarity does not change the count), whose
    result is ``target + program_noise * range * xi`` clamped to [g_min_s, g_max_s]; then a
    verify read ``g + read_noise * range * xi``; the write stops once
    ``|read - target| <= tolerance_levels * level_step``.

    Attributes:
        shape: ``(rows, cols)``.
        params: The cell parameters.
        pulses: Programming pulses applied to each cell (int64).
        writes: Write events of each cell (int64): one per :meth:`program` call that selects it.
    """

    def __init__(self, shape: tuple[int, int], params: MultiLevelParams,
                 rng: np.random.Generator, initial_s: np.ndarray | float | None = None) -> None:
        """Cells start at ``initial_s`` (siemens, set without counting) or at g_min_s."""
        self.shape = check_shape(shape)
        if not isinstance(params, MultiLevelParams):
            raise WorkloadError(f"params: must be MultiLevelParams, got {type(params).__name__}")
        self.params = params
        self._rng = rng
        start = params.g_min_s if initial_s is None else initial_s
        start = np.broadcast_to(np.asarray(start, dtype=float), self.shape)
        if not np.isfinite(start).all():
            raise WorkloadError("initial_s: must be finite")
        self._g = np.clip(start, params.g_min_s, params.g_max_s).astype(float)
        self.pulses = np.zeros(self.shape, dtype=np.int64)
        self.writes = np.zeros(self.shape, dtype=np.int64)

    @property
    def conductance(self) -> np.ndarray:
        """The cells' present conductances, read-only view, in siemens (no read noise)."""
        view = self._g.view()
        view.flags.writeable = False
        return view

    def read(self, noisy: bool = True) -> np.ndarray:
        """A copy of the conductances in siemens; with ``noisy``, plus read noise."""
        p = self.params
        if noisy and p.read_noise > 0:
            return self._g + p.read_noise * p.range_s * self._rng.standard_normal(self.shape)
        return self._g.copy()

    def quantise(self, g: np.ndarray | float) -> np.ndarray:
        """The nearest level to each conductance ``g`` (siemens), within [g_min_s, g_max_s]."""
        return nearest_level(self.params, g)

    def program(self, mask: np.ndarray, targets: np.ndarray) -> WriteResult:
        """Write-and-verify the cells where ``mask`` is set to ``targets`` (siemens).

        ``mask`` is boolean and ``targets`` float, both of the array's shape; targets outside
        [g_min_s, g_max_s] are clamped. Unselected cells are untouched.
        """
        mask = np.asarray(mask)
        targets = np.asarray(targets, dtype=float)
        if mask.shape != self.shape or mask.dtype != bool:
            raise WorkloadError(f"mask: must be a boolean array of shape {self.shape}, "
                                f"got {mask.dtype} {mask.shape}")
        if targets.shape != self.shape:
            raise WorkloadError(f"targets: must have shape {self.shape}, got {targets.shape}")
        p = self.params
        index = np.flatnonzero(mask)
        goal = np.clip(targets.reshape(-1)[index], p.g_min_s, p.g_max_s)
        if index.size and not np.isfinite(goal).all():
            raise WorkloadError("targets: must be finite where mask is set")
        g = self._g.reshape(-1)
        trials = np.zeros(index.size, dtype=np.int64)
        active = np.ones(index.size, dtype=bool)
        tolerance = p.tolerance_levels * p.level_step_s
        for _ in range(p.max_trials):
            todo = np.flatnonzero(active)
            if todo.size == 0:
                break
            result = goal[todo]
            if p.program_noise > 0:
                result = result + p.program_noise * p.range_s * self._rng.standard_normal(todo.size)
            g[index[todo]] = np.clip(result, p.g_min_s, p.g_max_s)
            trials[todo] += 1
            verify = g[index[todo]]
            if p.read_noise > 0:
                verify = verify + p.read_noise * p.range_s * self._rng.standard_normal(todo.size)
            active[todo[np.abs(verify - goal[todo]) <= tolerance]] = False
        self.pulses.reshape(-1)[index] += trials
        self.writes.reshape(-1)[index] += 1
        rows = index // self.shape[1]
        per_row = np.zeros(self.shape[0], dtype=np.int64)
        np.maximum.at(per_row, rows, trials)
        total = int(trials.sum())
        return WriteResult(cells=int(index.size), pulses=total, verify_reads=total,
                           rounds=int(per_row.sum()), failed=int(active.sum()))
