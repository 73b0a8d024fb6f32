"""Energy accounting: one loop over the declared actions of a run (stage: energy).

The hardware only counts actions; every component declared each of its actions with the energy
of one performance (:meth:`archsim.hw.component.Component.declare`), and a run's
:class:`~archsim.stats.ComponentResult` carries those declarations beside the counts. Here
each count is multiplied by its declared energy, Accelergy-style, with no table of its own: an
action that was counted was declared, and its energy with it. The total is by construction the
sum of its per-component breakdown; the same energies are also split by tile group and by
phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from archsim.stats import ComponentResult

__all__ = ["Counted", "EnergyResult", "account", "action_energies"]


class Counted(Protocol):
    """What the accounting reads of a run (:class:`archsim.sim.result.SimResult` is one): the
    component banks with their declared actions and counts."""

    @property
    def components(self) -> tuple[ComponentResult, ...]: ...


@dataclass(frozen=True)
class EnergyResult:
    """Energy of a whole run in joules: total, per component kind (summed over tile groups),
    per action key ``"<kind>.<action>"``, per tile group (``""`` for chip-level units) and
    component kind, per phase, per phase and component kind, and per part of a tile group
    (a hybrid group's SLC and MLC arrays) and component kind."""

    total_j: float
    by_component_j: Mapping[str, float]
    by_action_j: Mapping[str, float]
    by_group_j: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_phase_j: Mapping[str, float] = field(default_factory=dict)
    #: energy of one performance per action key (:func:`action_energies`)
    per_action_j: Mapping[str, float] = field(default_factory=dict)
    by_phase_component_j: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: per tile group with parts, per part and component kind (the parts' energies are also
    #: in ``by_group_j``)
    by_part_j: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)


def action_energies(result: Counted, by_action_j: Mapping[str, float]) -> dict[str, float]:
    """Energy of one performance of each action key ``"<kind>.<action>"``, in joules: the
    declared energy where every bank declaring the key agrees (one tile group, or groups of
    one design); where tile groups declare different energies, the run's mean, ``by_action_j``
    over the count (the first bank's declaration when the action was never performed)."""
    declared: dict[str, list[float]] = {}
    counts: dict[str, float] = {}
    for component in result.components:
        for key, energy in component.energy_per_action_j.items():
            declared.setdefault(key, []).append(energy)
        for key, count in component.actions.items():
            counts[key] = counts.get(key, 0.0) + count
    table: dict[str, float] = {}
    for key, energies in declared.items():
        if all(energy == energies[0] for energy in energies) or not counts.get(key):
            table[key] = energies[0]
        else:
            table[key] = by_action_j[key] / counts[key]
    return table


def _component_energy(component: ComponentResult) -> tuple[float, dict[str, float]]:
    """A bank's energy and its energy per action key: whole-run counts x declared energies."""
    by_action = {
        key: count * component.energy_per_action_j[key]
        for key, count in component.actions.items()
    }
    subtotal = 0.0
    for energy in by_action.values():
        subtotal += energy
    return subtotal, by_action


def account(result: Counted) -> EnergyResult:
    """Energy of the run in ``result``, from its components' declared per-action energies."""
    by_action: dict[str, float] = {}
    by_component: dict[str, float] = {}
    by_group: dict[str, dict[str, float]] = {}
    by_phase: dict[str, float] = {}
    by_phase_kind: dict[str, dict[str, float]] = {}
    by_part: dict[str, dict[str, dict[str, float]]] = {}
    for component in result.components:
        subtotal, energies = _component_energy(component)
        for key, energy in energies.items():
            by_action[key] = by_action.get(key, 0.0) + energy
        by_component[component.kind] = by_component.get(component.kind, 0.0) + subtotal
        group = by_group.setdefault(component.group, {})
        group[component.kind] = group.get(component.kind, 0.0) + subtotal
        if component.part:
            part = by_part.setdefault(component.group, {}).setdefault(component.part, {})
            part[component.kind] = part.get(component.kind, 0.0) + subtotal
        for phase, counts in component.actions_by_phase.items():
            energy = sum(n * component.energy_per_action_j[key] for key, n in counts.items())
            by_phase[phase] = by_phase.get(phase, 0.0) + energy
            kinds = by_phase_kind.setdefault(phase, {})
            kinds[component.kind] = kinds.get(component.kind, 0.0) + energy
    return EnergyResult(
        total_j=sum(by_component.values()),
        by_component_j=MappingProxyType(by_component),
        by_action_j=MappingProxyType(by_action),
        by_group_j=MappingProxyType({g: MappingProxyType(k) for g, k in by_group.items()}),
        by_phase_j=MappingProxyType(by_phase),
        per_action_j=MappingProxyType(action_energies(result, by_action)),
        by_phase_component_j=MappingProxyType(
            {p: MappingProxyType(k) for p, k in by_phase_kind.items()}
        ),
        by_part_j=MappingProxyType({
            g: MappingProxyType({p: MappingProxyType(k) for p, k in parts.items()})
            for g, parts in by_part.items()
        }),
    )
