"""The controller: RISC-V-like in-order cores that run each layer's instruction stream (stage: hw).

A chip has one core (``controller.scope: chip``) or one per tile (``scope: tile``). The
instruction stream of a layer (:mod:`archsim.mapping.program` builds and lists it) uses these
classes, each costing the core ``controller.cycles.<class>`` cycles:

* ``load`` one input vector from the buffer into a crossbar's input register;
* ``mvm`` trigger a crossbar group for one step; ``store`` one group's output vector to the
  buffer;
* ``valu`` one vector-ALU instruction over ``digital.lanes`` elements (activation, pooling,
  residual add); the vector unit's own time is ``digital.cycles``;
* ``send`` hand one packet to the network interface; ``recv`` take one packet from it;
* ``barrier`` join the end-of-layer barrier; ``loop`` the counted loop's counter and branch,
  once per iteration.

**Timing model.** A core is a first-come-first-served reservation: a request for ``c`` cycles at
cycle ``t`` runs from ``max(t, free_at)`` and moves ``free_at`` to its end. For one in-order
server with known service times this gives the same times as a SimPy resource without its four
events per request. One loop iteration of a crossbar group (:meth:`Controller.step`) issues its
``load`` and ``mvm`` instructions, triggers the arrays, and retires the ``store`` (and ``loop``)
instructions while the arrays compute (double-buffered output registers, so the outputs of a step
are stored during the next); the step ends when both the arrays and the core are done. The core
*stalls* while a program is in flight on it and it issues nothing (waiting for an array, a
packet or the barrier): ``stall_cycles``.

With ``enabled: false`` every instruction is still counted (:attr:`Controller.instructions`) but
takes no cycles and charges no energy: the action counts that energy accounting reads stay zero.

:class:`RecordedController`, the variant a chip builds when it records a timeline, also reports
each reservation as a span on its core's track (:class:`archsim.stats.timeline.TimelineHooks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from archsim.config.schema import INSTRUCTION_CLASSES, ControllerConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD
from archsim.stats.timeline import TimelineHooks


class Core:
    """One in-order core: its reservation horizon and statistics, in cycles.

    ``active_cycles`` is the time during which at least one program (a record's work on this
    core) was in flight; ``stall_cycles = active_cycles - busy_cycles`` of those, the core
    issued nothing while it waited for arrays, packets or the barrier.
    """

    __slots__ = ("index", "free_at", "busy_cycles", "active_cycles", "_open", "_since")

    def __init__(self, index: int) -> None:
        self.index = index
        self.free_at = 0
        self.busy_cycles = 0
        self.active_cycles = 0
        self._open = 0
        self._since = 0

    def begin(self, now: int) -> None:
        """A program starts on this core at cycle ``now``."""
        if not self._open:
            self._since = now
        self._open += 1

    def end(self, now: int) -> None:
        """A program ends on this core at cycle ``now``."""
        self._open -= 1
        if not self._open:
            self.active_cycles += now - self._since

    @property
    def stall_cycles(self) -> int:
        """Cycles with a program in flight and no instruction issuing."""
        return max(0, self.active_cycles - self.busy_cycles)


class Controller(Component):
    """The controller cores of a chip; its actions are the instruction classes (energy per
    instruction from ``controller.energy``)."""

    KIND = "controller"

    def __init__(self, config: ControllerConfig, tiles: int, tiles_used: int) -> None:
        cores = tiles if config.scope == "tile" else 1
        used = tiles_used if config.scope == "tile" else 1
        super().__init__(cores, used)
        self.config = config
        self.timed = config.enabled
        self.scope = config.scope
        self.cores = tuple(Core(i) for i in range(cores))
        self.cycles = {name: int(getattr(config.cycles, name)) for name in INSTRUCTION_CLASSES}
        for name in INSTRUCTION_CLASSES:
            self.declare(name, getattr(config.energy, name), f"one {name} instruction")
        #: instructions executed per phase, by class, whether or not the controller is timed
        self.instructions_by_phase: dict[str, dict[str, int]] = {}
        #: busy core-cycles summed over cores (the reservations made)
        self.reserved_cycles = 0

    def core_of(self, tile: int) -> Core:
        """The core that runs the instructions of ``tile``."""
        return self.cores[tile] if self.scope == "tile" else self.cores[0]

    def tally(self, op: str, count: int, charged: bool = True, phase: str = FORWARD) -> None:
        """Count ``count`` instructions of class ``op`` by work of ``phase``, and their energy
        when the controller is timed and the work is ``charged`` (``valu`` work of a disabled
        vector unit is not)."""
        executed = self.instructions_by_phase.get(phase)
        if executed is None:
            executed = self.instructions_by_phase[phase] = dict.fromkeys(INSTRUCTION_CLASSES, 0)
        executed[op] += count
        if self.timed and charged:
            counts = self._counts.get(phase)
            if counts is None:  # the first instruction of this phase
                self.count(op, count, phase)
            else:
                counts[op] += count

    def tally_steps(
        self, mix: tuple[tuple[str, int], ...], steps: int, phase: str = FORWARD
    ) -> None:
        """:meth:`tally` ``steps`` times the instruction mix ``((class, count), ...)`` of one
        step (the same counts as one call per class, in one)."""
        executed = self.instructions_by_phase.get(phase)
        if executed is None:
            executed = self.instructions_by_phase[phase] = dict.fromkeys(INSTRUCTION_CLASSES, 0)
        for op, n in mix:
            executed[op] += steps * n
        if self.timed:
            counts = self._counts.get(phase)
            if counts is None:
                counts = self._counts[phase] = dict.fromkeys(self.actions, 0.0)
            for op, n in mix:
                counts[op] += steps * n

    @property
    def instructions(self) -> dict[str, int]:
        """Instructions executed by class, summed over phases."""
        totals = dict.fromkeys(INSTRUCTION_CLASSES, 0)
        for executed in self.instructions_by_phase.values():
            for op, n in executed.items():
                totals[op] += n
        return totals

    @property
    def busy_cycles(self) -> int:
        """Busy core-cycles over the run, summed over cores: the reservations made."""
        return self.reserved_cycles

    def busy_by_phase(self) -> dict[str, int]:
        """Busy core-cycles per phase: in a run every reserved cycle belongs to a charged
        instruction (:meth:`cost` of the mix that was tallied), so they follow from the counts
        (and sum to :attr:`busy_cycles`)."""
        cycles = self.cycles
        return {
            phase: int(sum(n * cycles[op] for op, n in counts.items()))
            for phase, counts in self.counts_by_phase().items()
        }

    def cost(self, mix: dict[str, int]) -> int:
        """Cycles the instruction mix ``{class: count}`` occupies a core (0 when untimed)."""
        if not self.timed:
            return 0
        cycles = self.cycles
        return sum(cycles[op] * n for op, n in mix.items())

    def reserve(self, core: Core, now: int, cycles: int, op: str = "") -> int:
        """Occupy ``core`` for ``cycles`` from ``max(now, free_at)``; return the end cycle
        (``now`` when there is nothing to reserve). ``op`` names the instructions (a class,
        or ``+``-joined classes) for a timeline (:class:`RecordedController`)."""
        if cycles <= 0:
            return now
        start = core.free_at if core.free_at > now else now
        end = start + cycles
        core.free_at = end
        core.busy_cycles += cycles
        self.reserved_cycles += cycles
        return end

    def reserve_each(self, core: Core, starts: Sequence[int], cycles: int, op: str = "") -> int:
        """:meth:`reserve` ``cycles`` at each of the non-decreasing cycles ``starts`` in turn
        (one instruction per cycle given, at least one); return the last end. The same
        horizon and busy cycles as one call per start."""
        if cycles <= 0:
            return starts[-1]
        end = core.free_at
        for start in starts:
            end = (end if end > start else start) + cycles
        core.free_at = end
        core.busy_cycles += cycles * len(starts)
        self.reserved_cycles += cycles * len(starts)
        return end

    def step(self, core: Core, now: int, issue: int, op_cycles: int, retire: int) -> int:
        """One loop iteration at cycle ``now``: ``issue`` cycles of load/mvm, the arrays'
        ``op_cycles``, ``retire`` cycles of store/loop overlapping them. Returns the cycle at
        which the iteration ends (arrays done and outputs retired)."""
        triggered = self.reserve(core, now, issue, "load+mvm")
        arrays_done = triggered + op_cycles
        retired = self.reserve(core, triggered, retire, "loop+store")
        return arrays_done if arrays_done > retired else retired

    @staticmethod
    def trigger_cycle(now: int, issue: int, op_cycles: int, retire: int, end: int) -> int:
        """The cycle at which a :meth:`step` called at ``now`` that ended at ``end`` triggered
        its arrays: ``now`` without issue cycles; otherwise the core was free when its issue
        reservation ended, so the retire reservation began right then and
        ``end = triggered + max(op_cycles, retire)``."""
        return end - max(op_cycles, retire) if issue > 0 else now

    @property
    def stall_cycles(self) -> int:
        """Stall cycles summed over the cores (none when the controller is untimed)."""
        if not self.timed:
            return 0
        return sum(core.stall_cycles for core in self.cores)


class RecordedController(Controller):
    """A controller that reports every reservation to ``timeline`` as an instruction span on
    its core's track; timing and counts are those of :class:`Controller`."""

    def __init__(
        self, config: ControllerConfig, tiles: int, tiles_used: int, timeline: TimelineHooks
    ) -> None:
        super().__init__(config, tiles, tiles_used)
        self.timeline = timeline

    def reserve(self, core: Core, now: int, cycles: int, op: str = "") -> int:
        """:meth:`Controller.reserve`, reported as a span ``[end - cycles, end)``."""
        end = super().reserve(core, now, cycles, op)
        if cycles > 0:
            self.timeline.instruction(core.index, op, end - cycles, end)
        return end

    def reserve_each(self, core: Core, starts: Sequence[int], cycles: int, op: str = "") -> int:
        """:meth:`Controller.reserve_each`, each instruction reported as a span."""
        end = starts[-1]
        for start in starts:
            end = self.reserve(core, start, cycles, op)
        return end
