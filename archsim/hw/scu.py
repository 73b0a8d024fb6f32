"""Sparse compute units: a bank of MAC pipelines that skip or gate zero operands (stage: hw).

A :class:`ScuBank` is ``units`` identical sparse compute units (SCUs) configured by an
:class:`~archsim.config.schema.ScuConfig`. Each unit is a :class:`simpy.Resource` of capacity
one serving :class:`ScuJob`\\ s in FIFO order, one timeout per job whose length is computed from
the job (never a per-cycle tick).

A job is the work of ``blocks`` weight blocks of B x B on ``vectors`` input vectors: its
``dense_slots = blocks x B x B x vectors`` MAC slots, of which ``nonzero_macs`` have two non-zero
operands (a slot is zero when the activation or the weight is zero, so weights that are zero
inside a non-zero block count too). Timing, in integer cycles of the chip clock ``clock_hz``
(SimPy time), from the moment the unit takes the job:

- ``skip``: ``pipeline_depth + ceil(nonzero_macs / mac_width)`` cycles: zero slots are removed
  from the stream before the pipeline;
- ``gate``: ``pipeline_depth + ceil(dense_slots / mac_width)`` cycles: zero slots take their
  pipeline slot, with the multiplier gated;
- a job with no slots (``blocks`` or ``vectors`` 0) takes 0 cycles and no fill.

The pipeline is filled once per job (jobs are not overlapped on a unit). Buffer traffic
overlaps the pipeline (double-buffered) and costs no cycles; it is counted per job as: every
block's weights (B x B operands) and its input slice per vector (B operands) written into and
read out of the input buffer once, and per block and vector B partial sums read from and
written back to the output buffer (a read-modify-write). A job needs one block and one input
slice to fit in the input buffer and one slice of partial sums in the output buffer.

A layer's step is run by :meth:`ScuBank.run_step`: per-unit block counts (from
:func:`assign_balanced` or :func:`assign_static`) become one job per unit, all started at
once; the step lasts as long as its most loaded unit.

Streamed jobs (:meth:`ScuBank.stream`), for blocks that arrive one by one from memory: a unit
issues a block's slots once the block has arrived and the previous block's slots are issued,
so with its ``n`` blocks arriving at ``a_1 <= ... <= a_n`` and ``q = issued / (n x
mac_width)`` issue cycles per block, its slots are issued by ``E = max_k (max(a_k, s) + (n - k
+ 1) q)`` (``s`` the cycle the unit is free) and the job ends at ``ceil(E) + pipeline_depth``:
with every block there at ``s``, exactly :meth:`ScuBank.job_cycles` after ``s``. The end is
computed in closed form from the arrivals, with no event per block; the unit's busy cycles
are the job's cycles (fill and issue), not its waits.

Utilisation U = non-zero MACs / MAC slots, per unit (:meth:`ScuBank.utilisation`): the MAC
slots are ``mac_width x`` either the unit's own busy cycles (pipeline fill included) or a
given interval (a step's duration, which also charges the unit's idle time to it).

Actions (energies from ``ScuConfig.energy``): ``mac`` (per non-zero MAC performed),
``skipped_slot`` or ``gated_slot`` (per zero slot, whichever ``zero_handling`` selects; only
that one is declared), ``input_buffer_read``, ``input_buffer_write``, ``output_buffer_read``,
``output_buffer_write`` (per byte). Busy cycles: the jobs' cycles, summed over units.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from archsim.config.schema import ScuConfig
from archsim.hw.component import Component
from archsim.stats import CHIP, FORWARD

__all__ = [
    "ScuBank",
    "ScuJob",
    "ScuStats",
    "StepResult",
    "Utilisation",
    "assign_balanced",
    "assign_static",
    "slot_zero_fraction",
]


def slot_zero_fraction(input_zero_fraction: float, weight_zero_fraction: float = 0.0) -> float:
    """Fraction of MAC slots with a zero operand when activations are zero with probability
    ``input_zero_fraction`` and weights inside the blocks with ``weight_zero_fraction``,
    independently: ``1 - (1 - a)(1 - w)``.

    Raises:
        ValueError: a fraction is outside [0, 1].
    """
    for name, value in (("input_zero_fraction", input_zero_fraction),
                        ("weight_zero_fraction", weight_zero_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"scu: {name} must be in [0, 1], got {value}")
    return 1.0 - (1.0 - input_zero_fraction) * (1.0 - weight_zero_fraction)


@dataclass(frozen=True)
class ScuJob:
    """The work of ``blocks`` B x B weight blocks (``block_size`` = B) on ``vectors`` input
    vectors, of which ``nonzero_macs`` MAC slots have no zero operand.

    Raises:
        ValueError: a count is negative, B is below 1 or ``nonzero_macs`` exceeds the slots.
    """

    blocks: int
    block_size: int
    vectors: int
    nonzero_macs: int

    def __post_init__(self) -> None:
        if self.blocks < 0 or self.vectors < 0:
            raise ValueError(
                f"scu: a job needs blocks, vectors >= 0, got {self.blocks}, {self.vectors}"
            )
        if self.block_size < 1:
            raise ValueError(f"scu: block_size must be >= 1, got {self.block_size}")
        if not 0 <= self.nonzero_macs <= self.dense_slots:
            raise ValueError(
                f"scu: nonzero_macs must be in 0..{self.dense_slots}, got {self.nonzero_macs}"
            )

    @classmethod
    def with_zeros(
        cls, blocks: int, block_size: int, vectors: int, zero_fraction: float = 0.0
    ) -> ScuJob:
        """A job whose slots have a zero operand with fraction ``zero_fraction`` (see
        :func:`slot_zero_fraction`): ``nonzero_macs`` is the dense slots x (1 - z), rounded to
        the nearest whole MAC.

        Raises:
            ValueError: ``zero_fraction`` is outside [0, 1], or as the constructor.
        """
        if not 0.0 <= zero_fraction <= 1.0:
            raise ValueError(f"scu: zero_fraction must be in [0, 1], got {zero_fraction}")
        dense = blocks * block_size * block_size * vectors
        return cls(blocks, block_size, vectors, round(max(dense, 0) * (1.0 - zero_fraction)))

    @property
    def dense_slots(self) -> int:
        """MAC slots of the job if nothing were zero: blocks x B x B x vectors."""
        return self.blocks * self.block_size * self.block_size * self.vectors

    @property
    def zero_slots(self) -> int:
        """Slots with a zero operand: skipped or gated."""
        return self.dense_slots - self.nonzero_macs


@dataclass(frozen=True)
class ScuStats:
    """What one unit did: ``jobs`` served, ``macs`` (non-zero MACs performed), ``zero_slots``
    (skipped or gated) and ``busy_cycles`` (chip cycles spent on jobs, fill included)."""

    jobs: int = 0
    macs: int = 0
    zero_slots: int = 0
    busy_cycles: int = 0

    @property
    def dense_slots(self) -> int:
        """``macs + zero_slots``: the MAC slots of the same work run dense."""
        return self.macs + self.zero_slots

    def utilisation(self, mac_width: int, interval_cycles: int | None = None) -> float:
        """U = ``macs / (mac_width x cycles)``, over ``interval_cycles`` or, if None, the unit's
        own busy cycles; 0.0 over an empty interval."""
        cycles = self.busy_cycles if interval_cycles is None else interval_cycles
        return self.macs / (mac_width * cycles) if cycles > 0 else 0.0


@dataclass(frozen=True)
class Utilisation:
    """U per unit (in unit order) with its mean and minimum over the units, each in [0, 1]."""

    per_unit: tuple[float, ...]
    mean: float
    minimum: float


@dataclass(frozen=True)
class StepResult:
    """One step of :meth:`ScuBank.run_step`: its start and end chip cycles, and each unit's
    cycles for its job (0 for a unit without blocks)."""

    start: int
    end: int
    unit_cycles: tuple[int, ...]

    @property
    def cycles(self) -> int:
        """The step's duration: its most loaded unit's cycles."""
        return self.end - self.start


class ScuBank(Component):
    """``config.units`` sparse compute units on ``env`` at ``clock_hz`` (module docstring)."""

    KIND = "scu"

    def __init__(
        self, env: simpy.Environment, config: ScuConfig, *, clock_hz: float, group: str = CHIP
    ) -> None:
        super().__init__(config.units, group=group)
        if not clock_hz > 0:
            raise ValueError(f"scu: clock_hz must be > 0, got {clock_hz}")
        self.env = env
        self.config = config
        self.clock_hz = clock_hz
        energy = config.energy
        self.declare("mac", energy.mac, "one non-zero multiply-accumulate performed")
        if config.zero_handling == "skip":
            self._zero_action = "skipped_slot"
            self.declare("skipped_slot", energy.skipped_slot, "one zero-operand slot skipped")
        else:
            self._zero_action = "gated_slot"
            self.declare("gated_slot", energy.gated_slot, "one zero-operand slot gated")
        for buffer in ("input", "output"):
            self.declare(f"{buffer}_buffer_read", energy.buffer_read_byte,
                         f"one byte read out of the {buffer} buffer")
            self.declare(f"{buffer}_buffer_write", energy.buffer_write_byte,
                         f"one byte written into the {buffer} buffer")
        #: one FIFO server per unit
        self.units: tuple[simpy.Resource, ...] = tuple(
            simpy.Resource(env, capacity=1) for _ in range(config.units)
        )
        self._stats = [ScuStats() for _ in range(config.units)]
        self._free_at = [0] * config.units  # streamed jobs: the cycle each unit is free

    # ---------------------------------------------------------------------------------------
    # Timing
    # ---------------------------------------------------------------------------------------

    def job_cycles(self, job: ScuJob) -> int:
        """Chip cycles a unit spends on ``job`` (module docstring): the pipeline fill plus the
        slots it issues, ``mac_width`` per cycle; 0 for a job without slots."""
        if job.dense_slots == 0:
            return 0
        issued = job.nonzero_macs if self.config.zero_handling == "skip" else job.dense_slots
        return self.config.pipeline_depth + -(-issued // self.config.mac_width)

    def buffer_problem(self, block_size: int) -> tuple[str, str] | None:
        """Why a unit cannot take jobs of ``block_size`` x ``block_size`` blocks, as (the
        config field, the message), or None: a block and its input slice must fit the input
        buffer, a slice of partial sums the output buffer."""
        b, config = block_size, self.config
        need = (b * b + b) * config.value_bits / 8
        if need > config.input_buffer_bytes:
            return "input_buffer_bytes", (
                f"a {b} x {b} block and its input slice ({need:,.0f} B) do not fit "
                f"({config.input_buffer_bytes:,.0f} B)"
            )
        need = b * config.accumulator_bits / 8
        if need > config.output_buffer_bytes:
            return "output_buffer_bytes", (
                f"{b} partial sums ({need:,.0f} B) do not fit ({config.output_buffer_bytes:,.0f} B)"
            )
        return None

    def _check_fits(self, job: ScuJob) -> None:
        problem = self.buffer_problem(job.block_size)
        if problem is not None:
            raise ValueError(f"scu: {problem[0]}: {problem[1]}")

    def submit(self, unit: int, job: ScuJob, phase: str = FORWARD) -> simpy.Process:
        """Queue ``job`` on ``unit`` now (FIFO): a process whose value is the chip cycle at
        which the job ends.

        Raises:
            ValueError: ``unit`` is not a unit of the bank, or the job does not fit the buffers.
        """
        if not 0 <= unit < len(self.units):
            raise ValueError(f"scu: unit must be in 0..{len(self.units) - 1}, got {unit}")
        if job.dense_slots:
            self._check_fits(job)
        return self.env.process(self._serve(unit, job, phase))

    def _serve(self, unit: int, job: ScuJob, phase: str) -> Generator[simpy.Event, object, int]:
        with self.units[unit].request() as request:
            yield request
            # A streamed job booked on this unit (:meth:`stream`) holds it until it ends.
            booked = self._free_at[unit] - int(self.env.now)
            if booked > 0:
                yield self.env.timeout(booked)
            cycles = self.job_cycles(job)
            self._free_at[unit] = int(self.env.now) + cycles
            self._book(unit, job, cycles, phase)
            yield self.env.timeout(cycles)
        return int(self.env.now)

    def _book(self, unit: int, job: ScuJob, cycles: int, phase: str) -> None:
        """Count ``job`` on ``unit``, taking ``cycles``: its actions, busy cycles and the
        unit's statistics."""
        self._count(job, phase)
        self.add_busy(cycles, phase)
        s = self._stats[unit]
        self._stats[unit] = ScuStats(
            s.jobs + 1, s.macs + job.nonzero_macs, s.zero_slots + job.zero_slots,
            s.busy_cycles + cycles,
        )

    def _count(self, job: ScuJob, phase: str) -> None:
        config = self.config
        self.count("mac", job.nonzero_macs, phase)
        self.count(self._zero_action, job.zero_slots, phase)
        b = job.block_size
        operands = job.blocks * (b * b + b * job.vectors)
        input_bytes = operands * config.value_bits / 8
        output_bytes = job.blocks * b * job.vectors * config.accumulator_bits / 8
        for action, nbytes in (("input_buffer_write", input_bytes),
                               ("input_buffer_read", input_bytes),
                               ("output_buffer_read", output_bytes),
                               ("output_buffer_write", output_bytes)):
            self.count(action, nbytes, phase)

    def run_step(
        self, loads: Sequence[int], block_size: int, vectors: int, zero_fraction: float = 0.0,
        phase: str = FORWARD,
    ) -> simpy.Process:
        """One layer's step: unit ``u`` gets one job of ``loads[u]`` blocks (see
        :meth:`ScuJob.with_zeros`), all queued now; a process whose value is the
        :class:`StepResult` (it ends when the most loaded unit is done).

        Raises:
            ValueError: ``loads`` does not have one count per unit, or as :meth:`submit`.
        """
        if len(loads) != len(self.units):
            raise ValueError(f"scu: loads must have {len(self.units)} entries, got {len(loads)}")
        jobs = [ScuJob.with_zeros(n, block_size, vectors, zero_fraction) for n in loads]
        start = int(self.env.now)
        done = [self.submit(u, job, phase) for u, job in enumerate(jobs)]
        return self.env.process(self._step(start, done))

    def stream(
        self, jobs: Sequence[ScuJob], arrivals: Sequence[Sequence[int]], phase: str = FORWARD,
        *, start: int | None = None,
    ) -> list[int]:
        """Book streamed job ``jobs[u]`` on unit ``u``, its blocks arriving at the chip cycles
        ``arrivals[u]`` (one per block, any order), handed to the units at cycle ``start``
        (default now; earlier when the caller books after the last arrival), each unit
        starting when it is free and not before ``start`` (module docstring): the chip cycle
        at which each unit's job ends (``start`` for a unit without work). No SimPy event:
        the caller waits for the ends it needs.

        Raises:
            ValueError: not one job and one arrival list per unit, an arrival count that is
                not the job's blocks, or a job that does not fit the buffers.
        """
        units = len(self.units)
        if len(jobs) != units or len(arrivals) != units:
            raise ValueError(
                f"scu: stream needs {units} jobs and arrival lists, got {len(jobs)}, "
                f"{len(arrivals)}"
            )
        handed = int(self.env.now) if start is None else start
        depth = self.config.pipeline_depth
        ends = []
        for u, (job, times) in enumerate(zip(jobs, arrivals, strict=True)):
            start = max(handed, self._free_at[u])
            if job.dense_slots == 0:
                ends.append(start)
                continue
            if len(times) != job.blocks:
                raise ValueError(
                    f"scu: unit {u}: {len(times)} arrivals for a job of {job.blocks} blocks"
                )
            self._check_fits(job)
            cycles = self.job_cycles(job)
            issued = cycles - depth  # ceil(issued slots / mac_width)
            n = job.blocks
            # n E = max_k (n max(a_k, s) + (n - k + 1) issued), in exact integers
            a = np.maximum(np.sort(np.asarray(times, dtype=np.int64)), start)
            scaled = int(np.max(n * a + issued * np.arange(n, 0, -1, dtype=np.int64)))
            end = max(start + issued, -(-scaled // n)) + depth
            self._book(u, job, cycles, phase)
            self._free_at[u] = end
            ends.append(end)
        return ends

    def _step(
        self, start: int, done: list[simpy.Process]
    ) -> Generator[simpy.Event, object, StepResult]:
        yield self.env.all_of(done)
        ends = [int(p.value) for p in done]
        return StepResult(start, max(ends, default=start), tuple(e - start for e in ends))

    # ---------------------------------------------------------------------------------------
    # Statistics
    # ---------------------------------------------------------------------------------------

    def unit_stats(self) -> tuple[ScuStats, ...]:
        """Per unit, in unit order, over every job completed so far."""
        return tuple(self._stats)

    def utilisation(self, interval_cycles: int | None = None) -> Utilisation:
        """U per unit (:meth:`ScuStats.utilisation`) over ``interval_cycles`` (such as a
        step's duration) or, if None, over each unit's own busy cycles, where units that were
        never busy are left out of the mean and minimum (all 0.0 if none was busy)."""
        width = self.config.mac_width
        per_unit = tuple(s.utilisation(width, interval_cycles) for s in self._stats)
        counted = [
            u for u, s in zip(per_unit, self._stats, strict=True)
            if interval_cycles is not None or s.busy_cycles > 0
        ]
        if not counted:
            return Utilisation(per_unit, 0.0, 0.0)
        return Utilisation(per_unit, sum(counted) / len(counted), min(counted))


# -------------------------------------------------------------------------------------------
# Assignment of non-zero blocks to units
# -------------------------------------------------------------------------------------------


def _nonzero(mask: np.ndarray) -> int:
    if mask.ndim != 2:
        raise ValueError(f"scu: a block mask must be 2-D, got {mask.ndim}-D")
    return int(np.count_nonzero(mask))


def _check_units(units: int) -> None:
    if units < 1:
        raise ValueError(f"scu: units must be >= 1, got {units}")


def assign_balanced(mask: np.ndarray, units: int) -> tuple[int, ...]:
    """Blocks per unit when the non-zero blocks of the block ``mask`` are dealt round-robin in
    row-major order (the same loads as greedy least-loaded for equal blocks): ``nnzb // units``
    each, one more for the first ``nnzb % units``.

    Raises:
        ValueError: ``mask`` is not 2-D or ``units`` is below 1.
    """
    _check_units(units)
    n = _nonzero(mask)
    q, r = divmod(n, units)
    return tuple(q + (u < r) for u in range(units))


def assign_static(mask: np.ndarray, units: int) -> tuple[int, ...]:
    """Blocks per unit when block (i, j) of the block ``mask`` (``cols`` block columns) goes to
    unit ``(i x cols + j) mod units`` by position, counting only the non-zero blocks.

    Raises:
        ValueError: ``mask`` is not 2-D or ``units`` is below 1.
    """
    _check_units(units)
    _nonzero(mask)
    positions = np.flatnonzero(mask)  # row-major: i x cols + j
    return tuple(int(n) for n in np.bincount(positions % units, minlength=units))
