"""Component base class (stage: hw).

A :class:`Component` stands for a bank of identical hardware instances (all the ADCs of the
chip, all its row DACs, ...). It declares the actions it can perform, counts how often they were
performed and how many instance-cycles its instances were busy. Energy is not computed here: the
energy stage multiplies the counts by the config's per-action tables after the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Mapping

if TYPE_CHECKING:
    from archsim.hw.operation import OpCost


class Component:
    """A bank of ``instances`` identical units that count ``ACTIONS``.

    ``busy_cycles`` is summed over instances, so utilization over a run of ``T`` cycles is
    ``busy_cycles / (instances * T)`` over the whole chip, or over ``instances_used``, the
    instances that belong to mapped hardware. Counts are floats because activity-weighted
    actions (cells conducting, for example) are expected values over the trace's statistics.
    """

    ACTIONS: ClassVar[tuple[str, ...]] = ()
    KIND: ClassVar[str] = "component"
    #: Whether the component has a timing model (busy cycles); untimed ones only count actions.
    TIMED: ClassVar[bool] = True

    def __init__(self, instances: int, instances_used: int | None = None) -> None:
        self.instances = instances
        self.instances_used = instances if instances_used is None else instances_used
        self.counts: dict[str, float] = dict.fromkeys(self.ACTIONS, 0.0)
        self.busy_cycles = 0

    def count(self, action: str, times: float) -> None:
        """Record ``times`` performances of ``action`` (one of ``ACTIONS``)."""
        self.counts[action] += times

    def add_busy(self, cycles: int) -> None:
        """Record ``cycles`` instance-cycles of busy time."""
        self.busy_cycles += cycles

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count this component's share of ``operations`` tile operations of ``cost``.

        Tile components override this; components outside the tile charge nothing here.
        """

    def action_counts(self) -> Mapping[str, float]:
        """Counts keyed ``"<kind>.<action>"``, the keys of the energy tables."""
        return {f"{self.KIND}.{action}": n for action, n in self.counts.items()}
