"""Component base class: declared actions with their energy, counts per phase (stage: hw).

A :class:`Component` stands for a bank of identical hardware instances (all the ADCs of one tile
group, the controller cores of the chip, ...). It declares each action it can perform once, with
the energy of one performance beside it (:meth:`Component.declare`, called from the component's
constructor with its config section, the way hwcomponents declares ``@action`` methods). During
a run it counts how often each action was performed and how many instance-cycles its instances
were busy, per phase of the trace records that caused the work. Energy is not computed here:
the energy stage multiplies each count by the declared energy after the run (Accelergy's split),
and its table is nothing but these declarations, so an action cannot be counted without an
energy or priced without being declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from archsim.stats import CHIP, FORWARD

__all__ = ["Action", "Component"]


@dataclass(frozen=True)
class Action:
    """One action a component performs: its name, the energy of one performance in joules, and
    what one performance is."""

    name: str
    energy_j: float
    description: str


class Component:
    """A bank of ``instances`` identical units of kind ``KIND`` in group ``group`` (and
    ``part`` of it, if any).

    ``busy_cycles`` is summed over instances, so utilization over a run of ``T`` cycles is
    ``busy_cycles / (instances * T)`` over the whole chip, or over ``instances_used``, the
    instances that belong to mapped hardware. Counts are floats because activity-weighted
    actions (cells conducting, for example) are expected values over the trace's statistics.
    Untimed components (``TIMED`` False) only count actions.
    """

    KIND: ClassVar[str] = "component"
    TIMED: ClassVar[bool] = True

    def __init__(
        self, instances: int, instances_used: int | None = None, *, group: str = CHIP,
        part: str = "",
    ) -> None:
        self.instances = instances
        self.instances_used = instances if instances_used is None else instances_used
        self.group = group
        #: the part of its tile group the bank belongs to ("" for none; a hybrid group's
        #: arrays in SLC or MLC mode: "slc", "mlc"), reported apart within the group
        self.part = part
        #: the declared actions, by name, in declaration order
        self.actions: dict[str, Action] = {}
        self._counts: dict[str, dict[str, float]] = {}
        self._busy: dict[str, int] = {}

    def declare(self, name: str, energy_j: float, description: str) -> None:
        """Declare action ``name``: one performance costs ``energy_j`` joules."""
        if name in self.actions:
            raise ValueError(f"{self.KIND}: action {name!r} declared twice")
        self.actions[name] = Action(name, float(energy_j), description)

    def count(self, action: str, times: float, phase: str = FORWARD) -> None:
        """Record ``times`` performances of declared ``action`` by work of ``phase``."""
        counts = self._counts.get(phase)
        if counts is None:
            counts = self._counts[phase] = dict.fromkeys(self.actions, 0.0)
        counts[action] += times

    def add_busy(self, cycles: int, phase: str = FORWARD) -> None:
        """Record ``cycles`` instance-cycles of busy time by work of ``phase``."""
        self._busy[phase] = self._busy.get(phase, 0) + cycles

    @property
    def counts(self) -> dict[str, float]:
        """Performances of each declared action, summed over phases."""
        totals = dict.fromkeys(self.actions, 0.0)
        for counts in self._counts.values():
            for action, times in counts.items():
                totals[action] += times
        return totals

    def counts_by_phase(self) -> Mapping[str, Mapping[str, float]]:
        """Performances of each action per phase (phases that did some work)."""
        return {phase: dict(counts) for phase, counts in self._counts.items()}

    def busy_by_phase(self) -> Mapping[str, int]:
        """Busy instance-cycles per phase."""
        return dict(self._busy)

    @property
    def busy_cycles(self) -> int:
        """Busy instance-cycles over the whole run."""
        return sum(self.busy_by_phase().values())

    def action_counts(self) -> dict[str, float]:
        """Counts keyed ``"<kind>.<action>"``, summed over phases."""
        return {f"{self.KIND}.{action}": n for action, n in self.counts.items()}
