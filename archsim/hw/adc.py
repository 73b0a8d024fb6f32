"""Column ADCs of a crossbar tile (stage: hw).

Each ADC serves ``columns_per_adc`` adjacent columns through a multiplexer and converts them one
after another: column ``g`` of every ADC forms *column group* ``g``, and the groups are converted
in sequence, each conversion taking :func:`conversion_cycles`. A chip that skips idle column
groups converts only groups holding mapped weights; otherwise every group of every operation is
converted (Wu et al. 2023: 8 groups x 9 cycles = 720 ns per operation; archsim/REFERENCES.md
[Wu2023]). Action: ``convert`` (one column converted), whose energy at the configured resolution
is the energy model :func:`archsim.energy.models.adc_convert_energy_j`.
"""

from __future__ import annotations

from archsim.config.schema import AdcConfig
from archsim.energy.models import adc_convert_energy_j
from archsim.hw.component import Component


def conversion_cycles(config: AdcConfig) -> int:
    """Cycles of one conversion at ``config.bits``, at least 1: ``conversion_cycles`` is quoted
    at ``reference_bits``; with ``cycles_scaling: linear`` it becomes ceil(cycles x bits /
    reference_bits), a SAR resolving one bit per comparison."""
    cycles = config.conversion_cycles
    if config.cycles_scaling == "linear":
        cycles = -(-cycles * config.bits // config.reference_bits)
    return max(1, cycles)


class Adc(Component):
    """The column ADCs of one tile group."""

    KIND = "adc"

    def __init__(
        self, config: AdcConfig, array_cols: int, instances: int, instances_used: int,
        *, group: str = "",
    ) -> None:
        super().__init__(instances, instances_used, group=group)
        self.config = config
        self.array_cols = array_cols
        self.per_array = array_cols // config.columns_per_adc
        self.declare(
            "convert", adc_convert_energy_j(config),
            f"one column converted at {config.bits} bits",
        )

    def column_groups(self, cols_used: int) -> int:
        """Column groups converted per slice when columns ``[0, cols_used)`` hold weights."""
        if not self.config.skip_idle_column_groups:
            return self.config.columns_per_adc
        return min(self.config.columns_per_adc, cols_used)

    def columns_converted(self, cols_used: int) -> int:
        """Columns converted per slice: the used ones, or every column without skipping."""
        return cols_used if self.config.skip_idle_column_groups else self.array_cols
