"""Energy accounting (stage: energy).

The hardware model only counts actions; here each count is multiplied by the energy per action
that the config declares (``tile.adc.energy.convert`` and so on), Accelergy-style. The total is by
construction the sum of its per-component breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Mapping

from archsim.config.schema import HardwareConfig
from archsim.hw.adc import convert_energy_j
from archsim.sim.engine import SimResult


@dataclass(frozen=True)
class EnergyResult:
    """Energy of a whole run in joules: total, per component kind and per action key."""

    total_j: float
    by_component_j: Mapping[str, float]
    by_action_j: Mapping[str, float]


def _table(prefix: str, energy: Any) -> dict[str, float]:
    return {f"{prefix}.{f.name}": float(getattr(energy, f.name)) for f in fields(energy)}


def action_energies(config: HardwareConfig) -> dict[str, float]:
    """Energy per action in joules, keyed ``"<component>.<action>"`` like the action counts."""
    tile = config.tile
    table: dict[str, float] = {}
    table.update(_table("crossbar", tile.crossbar.energy))
    table.update(_table("dac", tile.dac.energy))
    table.update(_table("tia", tile.tia.energy))
    # The ADC's energy is quoted at its reference resolution and scaled to the configured one.
    table["adc.convert"] = convert_energy_j(tile.adc)
    table.update(_table("shift_add", tile.shift_add.energy))
    table.update(_table("buffer", tile.buffer.energy))
    table.update(_table("tile", tile.energy))
    table.update(_table("controller", config.controller.energy))
    table.update(_table("digital", config.digital.energy))
    if config.noc is not None:
        table["noc.router"] = config.noc.energy.router
        # Per bit over one link: the energy per bit and millimetre times the link length.
        table["noc.link_bit"] = config.noc.energy.link_bit_mm * config.noc.link_length_m * 1e3
    return table


def energy_of(actions: Mapping[str, float], config: HardwareConfig) -> float:
    """Energy in joules of ``actions`` (counts keyed ``"<component>.<action>"``)."""
    table = action_energies(config)
    return sum(count * table[key] for key, count in actions.items())


def energy_by_component(actions: Mapping[str, float], config: HardwareConfig) -> EnergyResult:
    """Energy of ``actions`` (counts keyed ``"<component>.<action>"``) under ``config``'s
    tables, total and by component kind (the part of the key before the dot)."""
    table = action_energies(config)
    by_action: dict[str, float] = {}
    by_component: dict[str, float] = {}
    for key, count in actions.items():
        if key not in table:
            raise KeyError(f"no energy declared for action {key!r}")
        energy = count * table[key]
        by_action[key] = energy
        kind = key.split(".", 1)[0]
        by_component[kind] = by_component.get(kind, 0.0) + energy
    return EnergyResult(
        total_j=sum(by_component.values()),
        by_component_j=MappingProxyType(by_component),
        by_action_j=MappingProxyType(by_action),
    )


def account(result: SimResult, config: HardwareConfig) -> EnergyResult:
    """Energy of the run in ``result`` under the per-action energies of ``config``."""
    table = action_energies(config)
    by_action: dict[str, float] = {}
    by_component: dict[str, float] = {}
    for component in result.components:
        subtotal = 0.0
        for key, count in component.actions.items():
            if key not in table:
                raise KeyError(f"no energy declared for action {key!r}")
            energy = count * table[key]
            by_action[key] = energy
            subtotal += energy
        by_component[component.kind] = subtotal
    return EnergyResult(
        total_j=sum(by_component.values()),
        by_component_j=MappingProxyType(by_component),
        by_action_j=MappingProxyType(by_action),
    )
