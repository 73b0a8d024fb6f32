"""Energy stage: energy models (how an action's energy follows its component's parameters) and
the accounting (action counts x declared per-action energies, after the run)."""

from archsim.energy.accounting import EnergyResult, account, action_energies
from archsim.energy.models import adc_convert_energy_j, link_bit_energy_j

__all__ = [
    "EnergyResult",
    "account",
    "action_energies",
    "adc_convert_energy_j",
    "link_bit_energy_j",
]
