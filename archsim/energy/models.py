"""Energy models: how an action's energy follows a component's parameters (stage: energy).

The per-action figures of a config are quoted at one operating point; these functions give the
energy at the configured one. Each is a pure function of a config section. Components call them
when they declare their actions (:meth:`archsim.hw.component.Component.declare`), so the energy
beside each declared action is already the scaled one, and the accounting
(:mod:`archsim.energy.accounting`) only multiplies counts by declared energies.
"""

from __future__ import annotations

from archsim.config.schema import AdcConfig, NocConfig

__all__ = ["adc_convert_energy_j", "link_bit_energy_j"]


def adc_convert_energy_j(config: AdcConfig) -> float:
    """Energy of one conversion at ``config.bits``, J.

    ``energy.convert`` is quoted at ``reference_bits``; ``energy_scaling`` says how it follows
    the resolution: ``fixed`` (unchanged), ``linear`` (x bits / reference_bits: one SAR
    comparison per bit), ``walden`` (x 2^(bits - reference_bits): a constant Walden figure of
    merit, energy per conversion step), ``table`` (``energy_by_bits[bits]``, e.g. ISAAC's
    measured figures per resolution).
    """
    scaling, bits, reference = config.energy_scaling, config.bits, config.reference_bits
    energy = config.energy.convert
    if scaling == "table":
        return float(config.energy_by_bits[bits])
    if scaling == "linear":
        return energy * bits / reference
    if scaling == "walden":
        return energy * 2.0 ** (bits - reference)
    return energy


def link_bit_energy_j(config: NocConfig) -> float:
    """Energy of one bit over one link, J: the energy per bit and millimetre times the link's
    length (``link_length_m`` in metres, so x 1e3 mm/m)."""
    return config.energy.link_bit_mm * config.link_length_m * 1e3
