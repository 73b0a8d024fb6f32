"""Off-chip DRAM: channels, bank groups, banks with open rows, and their timing (stage: hw).

A :class:`Dram` is the memory behind the chip's memory controllers: ``channels`` independent
channels (each its own data bus and banks), one rank each, configured by a
:class:`~archsim.config.schema.DramConfig` (``hw_configs/dram/*.yaml``). An access moves one
burst (``burst_bytes``) at a byte address, which the address mapping splits into (channel, bank
group, bank, row, column); the offset within the burst is ignored.

Timing: a bank/bus state machine in integer cycles of the DRAM clock, one computation per access
and O(1) state per bank and channel, never a per-cycle process. Each channel issues its
requests in arrival order (first come, first served, without reordering) and pipelines them:
a request's commands issue as early as its constraints allow, so many can be in flight. Open-page
policy: a row stays open until another row of its bank is needed. Per access:

* row hit: the column command (RD/WR) at arrival; data ``CL`` later (``CWL`` for a write),
  ``burst_cycles`` long: latency ``CL + burst``;
* closed bank (miss): ACT at arrival, column command ``tRCD`` after it: ``tRCD + CL + burst``;
* conflict: PRE at arrival, ACT ``tRP`` after it: ``tRP + tRCD + CL + burst``;

each command delayed by what it must respect: a PRE no earlier than ``tRAS`` after its bank's
ACT, ``tRTP`` after its bank's last read command and ``tWR`` after its last write data; an ACT
``tRRD_S`` after the channel's previous ACT (``tRRD_L`` in the same bank group) and ``tFAW``
after the fourth-last; a column command ``tCCD_S`` after the channel's previous one (``tCCD_L``
in the same bank group), after the previous column command (in order), and late enough that
its data starts when the data bus is free (bus occupancy: a stream of hits is bandwidth-bound).
An access completes with its last data beat.

Not modelled: refresh (tREFI/tRFC: about 4.5 % of DDR4-3200's time is lost to it), the
write-to-read and read-to-write turnarounds (tWTR_S/L, tRTRS: only the bus occupancy separates
reads from writes), ranks (one per channel), command-bus conflicts (a PRE, an ACT and a column
command may share a cycle), request reordering (FR-FCFS), power-down, and the background
(standby) energy IDD2N/IDD3N x VDD x time.

Clocks: SimPy time counts integer cycles of the chip clock ``clock_hz`` (the DRAM clock when
None). A request made at chip cycle ``t`` arrives at the first DRAM cycle at or after ``t``; a
completion at DRAM cycle ``d`` is reported at the first chip cycle at or after ``d``. The
clocks' ratio ``tck_s x clock_hz`` is taken as a fraction with a denominator of at most 2^20
(exact for clocks such as 0.625 ns at 1 GHz = 5/8), so the conversion is exact integer
arithmetic.

Actions (energies from ``DramConfig.energy``): ``activate`` (one ACT with its later PRE, per
activate), ``read`` and ``write`` (per burst: ``burst_bytes x 8`` bits at ``read_bit`` or
``write_bit``). Busy cycles: data-bus cycles summed over channels, in chip cycles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import simpy

from archsim.config.schema import DRAM_ADDRESS_FIELDS, DramConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD, Counter

__all__ = ["CLOCK_RATIO_DENOMINATOR", "Dram", "DramAccess", "DramLocation", "DramStats"]

#: Largest denominator of the chip-to-DRAM clock ratio (module docstring).
CLOCK_RATIO_DENOMINATOR = 1 << 20

Outcome = Literal["hit", "miss", "conflict"]

# Long before any command: a constraint measured from it never binds.
_NEVER = -(1 << 62)
# Positions in a phase's tally.
_READS, _WRITES, _HITS, _MISSES, _CONFLICTS = range(5)
_OUTCOMES: tuple[Outcome, ...] = ("hit", "miss", "conflict")


@dataclass(frozen=True)
class DramLocation:
    """Where a byte address lives: its channel, bank group, bank within the group, row, and
    column (the burst within the row, 0 .. bursts_per_row - 1)."""

    channel: int
    bank_group: int
    bank: int
    row: int
    column: int


@dataclass(frozen=True)
class DramAccess:
    """One access and the commands it issued, all in DRAM cycles: ``precharge`` and
    ``activate`` are None when not needed (a hit; a closed bank needs no precharge),
    ``column`` is the RD or WR command, ``data_start`` its first data beat and ``done`` the
    end of its last."""

    address: int
    is_write: bool
    location: DramLocation
    outcome: Outcome
    arrival: int
    precharge: int | None
    activate: int | None
    column: int
    data_start: int
    done: int

    @property
    def latency(self) -> int:
        """DRAM cycles from arrival to the last data beat."""
        return self.done - self.arrival


@dataclass(frozen=True)
class DramStats:
    """A DRAM's statistics over a run: accesses by kind and row-buffer outcome, bytes moved,
    data-bus busy cycles (DRAM cycles, summed over channels), and the span from the first
    arrival to the last completion (DRAM cycles; 0 before any access)."""

    reads: int
    writes: int
    row_hits: int
    row_misses: int
    row_conflicts: int
    bytes_read: int
    bytes_written: int
    bus_busy_cycles: int
    span_cycles: int
    tck_s: float
    channels: int
    peak_bandwidth_bytes_per_s: float

    @property
    def accesses(self) -> int:
        """Accesses (bursts) of every kind."""
        return self.reads + self.writes

    @property
    def activates(self) -> int:
        """Activates issued: one per miss and per conflict."""
        return self.row_misses + self.row_conflicts

    @property
    def hit_rate(self) -> float:
        """Row hits per access (0 without accesses)."""
        return self.row_hits / self.accesses if self.accesses else 0.0

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Bytes moved per second over the span (0 without accesses)."""
        if not self.span_cycles:
            return 0.0
        return (self.bytes_read + self.bytes_written) / (self.span_cycles * self.tck_s)

    @property
    def utilisation(self) -> float:
        """Bandwidth achieved over peak: the data buses' busy fraction over the span."""
        if not self.span_cycles:
            return 0.0
        return self.bus_busy_cycles / (self.channels * self.span_cycles)


class _Bank:
    """One bank's row buffer and the earliest cycle of each of its next commands."""

    __slots__ = ("col_ready", "open_row", "pre_ready")

    def __init__(self) -> None:
        self.open_row: int | None = None
        self.col_ready = 0
        self.pre_ready = 0


class _Channel:
    """One channel's banks, data bus and the command history its constraints look back on."""

    __slots__ = (
        "banks",
        "bg_last_act",
        "bg_last_col",
        "bus_free",
        "faw",
        "faw_next",
        "last_act",
        "last_col",
    )

    def __init__(self, banks: int, bank_groups: int) -> None:
        self.banks = [_Bank() for _ in range(banks)]
        self.bus_free = 0
        self.last_col = _NEVER
        self.bg_last_col = [_NEVER] * bank_groups
        self.last_act = _NEVER
        self.bg_last_act = [_NEVER] * bank_groups
        #: the last four activates, oldest at faw_next
        self.faw = [_NEVER] * 4
        self.faw_next = 0


class Dram(Component):
    """The channels of one DRAM part on SimPy environment ``env`` (module docstring).

    ``clock_hz`` is the clock SimPy time counts (the chip's; None: the DRAM clock). Requests
    must be made in order of time: :meth:`access` and :meth:`read`/:meth:`write`/:meth:`stream`
    at the environment's current time, :meth:`issue` at non-decreasing arrival cycles.
    """

    KIND = "dram"

    def __init__(
        self, env: simpy.Environment, config: DramConfig, *, clock_hz: float | None = None,
        group: str = "",
    ) -> None:
        super().__init__(config.channels, group=group)
        self.env = env
        self.config = config
        bits = config.burst_bytes * 8
        self.declare("activate", config.energy.activate, "one activate and its precharge")
        self.declare("read", config.energy.read_bit * bits, f"one {bits}-bit read burst")
        self.declare("write", config.energy.write_bit * bits, f"one {bits}-bit write burst")
        if clock_hz is None:
            ratio = Fraction(1)
        else:
            ratio = Fraction(config.tck_s * clock_hz).limit_denominator(CLOCK_RATIO_DENOMINATOR)
            if ratio <= 0:
                raise ValueError(f"dram: clock ratio tck_s x clock_hz = {ratio} is not positive")
        #: chip cycles per DRAM cycle, numerator and denominator
        self.ratio = ratio
        self._num, self._den = ratio.numerator, ratio.denominator
        sizes = {
            "ro": config.rows, "ba": config.banks_per_group, "bg": config.bank_groups,
            "co": config.bursts_per_row, "ch": config.channels,
        }
        fields = config.address_mapping.split(":")
        #: (position in DRAM_ADDRESS_FIELDS, size) from the least significant field up
        self._radix = tuple((DRAM_ADDRESS_FIELDS.index(f), sizes[f]) for f in reversed(fields))
        self._channels = [
            _Channel(config.banks, config.bank_groups) for _ in range(config.channels)
        ]
        #: the column is the least significant field: consecutive bursts run along a row
        self._rows_stream = fields[-1] == "co"
        timing = config.timing
        self._timing = (
            timing.trp, timing.trcd, timing.tras, timing.trrd_s, timing.trrd_l, timing.tfaw,
            timing.tccd_s, timing.tccd_l, timing.cl, timing.cwl, timing.trtp, timing.twr,
            config.burst_cycles,
        )
        self._banks_per_group = config.banks_per_group
        self._burst_bytes = config.burst_bytes
        self._tally: dict[str, list[int]] = {}
        self._busy_credited: dict[str, int] = {}
        self._first_arrival = -_NEVER  # none yet
        self._last_done = 0

    # ---------------------------------------------------------------------------------------
    # Clocks and addresses
    # ---------------------------------------------------------------------------------------

    def to_chip_cycles(self, dram_cycles: int) -> int:
        """The first chip cycle at or after DRAM cycle ``dram_cycles``."""
        return -(-dram_cycles * self._num // self._den)

    def to_dram_cycles(self, chip_cycles: int) -> int:
        """The first DRAM cycle at or after chip cycle ``chip_cycles``."""
        return -(-chip_cycles * self._den // self._num)

    def decode(self, address: int) -> DramLocation:
        """The location of byte ``address`` under the config's address mapping.

        Raises:
            ValueError: the address is negative or beyond ``capacity_bytes``.
        """
        ro, ba, bg, co, ch = self._decode(address)
        return DramLocation(ch, bg, ba, ro, co)

    def encode(self, location: DramLocation) -> int:
        """The first byte address of the burst at ``location`` (the inverse of :meth:`decode`).

        Raises:
            ValueError: a field of ``location`` is outside its range.
        """
        digits = (
            location.row, location.bank, location.bank_group, location.column, location.channel
        )
        block = 0
        for slot, size in reversed(self._radix):
            if not 0 <= digits[slot] < size:
                name = DRAM_ADDRESS_FIELDS[slot]
                raise ValueError(f"dram: {name} {digits[slot]} is outside 0..{size - 1}")
            block = block * size + digits[slot]
        return block * self._burst_bytes

    def _decode(self, address: int) -> list[int]:
        """(row, bank, bank group, column, channel) of ``address``, in DRAM_ADDRESS_FIELDS order."""
        if address < 0:
            raise ValueError(f"dram: address {address} is negative")
        block = address // self._burst_bytes
        digits = [0, 0, 0, 0, 0]
        for slot, size in self._radix:
            block, digits[slot] = divmod(block, size)
        if block:
            raise ValueError(
                f"dram: address {address:#x} is beyond the capacity of "
                f"{self.config.capacity_bytes:#x} bytes"
            )
        return digits

    # ---------------------------------------------------------------------------------------
    # The state machine
    # ---------------------------------------------------------------------------------------

    def _schedule(
        self, address: int, is_write: bool, arrival: int, tally: list[int]
    ) -> tuple[int, int | None, int | None, int, int, int, list[int]]:
        """Issue one access arriving at DRAM cycle ``arrival``; count it in ``tally``.

        Returns (outcome index, precharge, activate, column command, data start, done, the
        decoded fields)."""
        trp, trcd, tras, trrd_s, trrd_l, tfaw, tccd_s, tccd_l, cl, cwl, trtp, twr, burst = (
            self._timing
        )
        digits = self._decode(address)
        row, bg = digits[0], digits[2]
        channel = self._channels[digits[4]]
        bank = channel.banks[bg * self._banks_per_group + digits[1]]
        precharge = activate = None
        if bank.open_row == row:
            outcome = 0
            earliest = max(arrival, bank.col_ready)
        else:
            if bank.open_row is None:
                outcome = 1
                earliest = arrival
            else:
                outcome = 2
                precharge = max(arrival, bank.pre_ready)
                earliest = precharge + trp
            faw = channel.faw
            activate = max(
                earliest, channel.last_act + trrd_s, channel.bg_last_act[bg] + trrd_l,
                faw[channel.faw_next] + tfaw,
            )
            channel.last_act = channel.bg_last_act[bg] = faw[channel.faw_next] = activate
            channel.faw_next = (channel.faw_next + 1) & 3
            bank.open_row = row
            bank.col_ready = earliest = activate + trcd
            bank.pre_ready = activate + tras
        latency = cwl if is_write else cl
        column = max(
            earliest, channel.last_col + tccd_s, channel.bg_last_col[bg] + tccd_l,
            channel.bus_free - latency,
        )
        channel.last_col = channel.bg_last_col[bg] = column
        data_start = column + latency
        done = channel.bus_free = data_start + burst
        if is_write:
            ready = done + twr
            tally[_WRITES] += 1
        else:
            ready = column + trtp
            tally[_READS] += 1
        bank.pre_ready = max(bank.pre_ready, ready)
        tally[_HITS + outcome] += 1
        self._first_arrival = min(self._first_arrival, arrival)
        self._last_done = max(self._last_done, done)
        return outcome, precharge, activate, column, data_start, done, digits

    def _phase_tally(self, phase: str) -> list[int]:
        tally = self._tally.get(phase)
        if tally is None:
            tally = self._tally[phase] = [0, 0, 0, 0, 0]
        return tally

    def _charge(self, phase: str, tally: list[int], before: list[int]) -> None:
        """Count the actions and busy cycles ``tally`` gained since ``before``."""
        reads = tally[_READS] - before[_READS]
        writes = tally[_WRITES] - before[_WRITES]
        activates = (tally[_MISSES] + tally[_CONFLICTS]) - (before[_MISSES] + before[_CONFLICTS])
        if activates:
            self.count("activate", activates, phase)
        if reads:
            self.count("read", reads, phase)
        if writes:
            self.count("write", writes, phase)
        # Busy chip cycles rounded once on the phase's running total, so that many short
        # bursts do not each round up.
        bus = (tally[_READS] + tally[_WRITES]) * self.config.burst_cycles
        busy = self.to_chip_cycles(bus)
        credited = self._busy_credited.get(phase, 0)
        if busy > credited:
            self.add_busy(busy - credited, phase)
            self._busy_credited[phase] = busy

    # ---------------------------------------------------------------------------------------
    # Requests
    # ---------------------------------------------------------------------------------------

    def issue(
        self, address: int, is_write: bool, arrival: int, phase: str = FORWARD
    ) -> DramAccess:
        """Issue one access of the burst holding byte ``address`` arriving at DRAM cycle
        ``arrival`` (no SimPy event; arrivals must not decrease) and return its commands."""
        tally = self._phase_tally(phase)
        before = list(tally)
        outcome, precharge, activate, column, data_start, done, digits = self._schedule(
            address, is_write, arrival, tally
        )
        self._charge(phase, tally, before)
        ro, ba, bg, co, ch = digits
        return DramAccess(
            address, is_write, DramLocation(ch, bg, ba, ro, co), _OUTCOMES[outcome], arrival,
            precharge, activate, column, data_start, done,
        )

    def access(self, address: int, is_write: bool = False, phase: str = FORWARD) -> simpy.Event:
        """One access made now: an event that fires at its completion (chip cycles), with the
        completion cycle as its value."""
        now = int(self.env.now)
        (done,) = self._batch((address,), is_write, now, phase)
        return self.env.timeout(done - now, value=done)

    def read(self, addresses: Iterable[int], phase: str = FORWARD) -> list[int]:
        """Read the bursts holding ``addresses``, all requested now, in order: their completion
        chip cycles (no SimPy event; the caller waits for what it needs)."""
        return self._batch(addresses, False, int(self.env.now), phase)

    def write(self, addresses: Iterable[int], phase: str = FORWARD) -> list[int]:
        """Write the bursts holding ``addresses``, all requested now, in order: their
        completion chip cycles (no SimPy event)."""
        return self._batch(addresses, True, int(self.env.now), phase)

    def stream(
        self, addresses: Iterable[int], is_write: bool = False, phase: str = FORWARD
    ) -> simpy.Event:
        """Read (or write) the bursts holding ``addresses``, all requested now: one event that
        fires when the last completes, with every completion chip cycle as its value."""
        now = int(self.env.now)
        done = self._batch(addresses, is_write, now, phase)
        return self.env.timeout(max(done, default=now) - now, value=done)

    def _batch(self, addresses: Iterable[int], is_write: bool, now: int, phase: str) -> list[int]:
        arrival = self.to_dram_cycles(now)
        tally = self._phase_tally(phase)
        before = list(tally)
        schedule, to_chip = self._schedule, self.to_chip_cycles
        try:
            if (
                self._rows_stream and isinstance(addresses, range)
                and addresses.step == self._burst_bytes
            ):
                done = self._row_runs(addresses, is_write, arrival, tally)
            else:
                done = [to_chip(schedule(int(a), is_write, arrival, tally)[5]) for a in addresses]
        finally:
            self._charge(phase, tally, before)
        return done

    def _row_runs(
        self, addresses: range, is_write: bool, arrival: int, tally: list[int]
    ) -> list[int]:
        """:meth:`_schedule` for consecutive bursts when the column is the least significant
        address field: each burst that opens a run in a row is scheduled in full; the rest of
        the run are row hits in the same bank, one after the other, whose column commands are
        ``max(tCCD_L, burst)`` apart (the same bank group's column spacing, or the data bus)
        in closed form. The same cycles and counts as one :meth:`_schedule` per burst."""
        trp, trcd, tras, trrd_s, trrd_l, tfaw, tccd_s, tccd_l, cl, cwl, trtp, twr, burst = (
            self._timing
        )
        latency = cwl if is_write else cl
        step = max(tccd_l, burst)
        per_row = self.config.bursts_per_row
        to_chip = self.to_chip_cycles
        same_clock = self._num == self._den == 1
        done: list[int] = []
        count = len(addresses)
        i = 0
        while i < count:
            first = self._schedule(addresses[i], is_write, arrival, tally)
            column, finished, digits = first[3], first[5], first[6]
            done.append(to_chip(finished))
            run = min(count - i - 1, per_row - 1 - digits[3])
            i += 1
            if run <= 0:
                continue
            channel = self._channels[digits[4]]
            bg = digits[2]
            bank = channel.banks[bg * self._banks_per_group + digits[1]]
            last = column + run * step
            end = last + latency + burst
            runs = range(finished + step, end + 1, step)  # each hit's completion
            done.extend(runs if same_clock else map(to_chip, runs))
            channel.last_col = channel.bg_last_col[bg] = last
            channel.bus_free = end
            ready = end + twr if is_write else last + trtp
            bank.pre_ready = max(bank.pre_ready, ready)
            tally[_WRITES if is_write else _READS] += run
            tally[_HITS] += run
            self._last_done = max(self._last_done, end)
            i += run
        return done

    # ---------------------------------------------------------------------------------------
    # Statistics
    # ---------------------------------------------------------------------------------------

    def stats(self) -> DramStats:
        """The statistics of every access so far, over all phases."""
        totals = [sum(column) for column in zip(*self._tally.values())] or [0] * 5
        config = self.config
        span = max(0, self._last_done - self._first_arrival)
        return DramStats(
            reads=totals[_READS],
            writes=totals[_WRITES],
            row_hits=totals[_HITS],
            row_misses=totals[_MISSES],
            row_conflicts=totals[_CONFLICTS],
            bytes_read=totals[_READS] * config.burst_bytes,
            bytes_written=totals[_WRITES] * config.burst_bytes,
            bus_busy_cycles=(totals[_READS] + totals[_WRITES]) * config.burst_cycles,
            span_cycles=span,
            tck_s=config.tck_s,
            channels=config.channels,
            peak_bandwidth_bytes_per_s=config.peak_bandwidth_bytes_per_s,
        )

    def counters(self) -> tuple[Counter, ...]:
        """The access statistics as counters with units, per phase (for the report stage)."""
        burst = self.config.burst_bytes
        declared = (
            ("dram_reads", "bursts", "read bursts", _READS, 1),
            ("dram_writes", "bursts", "write bursts", _WRITES, 1),
            ("dram_row_hits", "accesses", "accesses to the open row", _HITS, 1),
            ("dram_row_misses", "accesses", "accesses to a closed bank", _MISSES, 1),
            ("dram_row_conflicts", "accesses", "accesses to another row than the open one",
             _CONFLICTS, 1),
            ("dram_bytes_read", "B", "bytes read", _READS, burst),
            ("dram_bytes_written", "B", "bytes written", _WRITES, burst),
        )
        counters = []
        for name, unit, description, index, scale in declared:
            counter = Counter(name, unit, description)
            for phase, tally in self._tally.items():
                counter.add(tally[index] * scale, phase)
            counters.append(counter)
        return tuple(counters)
