"""Energy stage: action counts x per-action energy tables, after the run."""

from archsim.energy.accounting import (
    EnergyResult,
    account,
    action_energies,
    energy_by_component,
    energy_of,
)

__all__ = ["EnergyResult", "account", "action_energies", "energy_by_component", "energy_of"]
