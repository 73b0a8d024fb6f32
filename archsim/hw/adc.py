"""Column ADCs of a crossbar tile (stage: hw).

Each ADC serves ``columns_per_adc`` adjacent columns through a multiplexer and converts them one
after another: column ``g`` of every ADC forms *column group* ``g``, and the groups are converted
in sequence, each conversion taking ``conversion_cycles``. A chip that skips idle column groups
converts only groups holding mapped weights; otherwise every group of every operation is
converted (Wu et al. 2023: 8 groups x 9 cycles = 720 ns per operation, published.md section 1).
Action: ``convert`` (one column converted).

The energy per conversion and the cycles per conversion at the configured resolution ``bits``
follow from the figures quoted at ``reference_bits`` and the scaling rules of
:class:`~archsim.config.schema.AdcConfig` (:func:`convert_energy_j`, :func:`conversion_cycles`).
"""

from __future__ import annotations

from archsim.config.schema import AdcConfig
from archsim.hw.component import Component
from archsim.hw.operation import OpCost


def convert_energy_j(config: AdcConfig) -> float:
    """Energy of one conversion at ``config.bits``, J (rules: AdcConfig)."""
    scaling, bits, ref = config.energy_scaling, config.bits, config.reference_bits
    energy = config.energy.convert
    if scaling == "table":
        return float(config.energy_by_bits[bits])
    if scaling == "linear":
        return energy * bits / ref
    if scaling == "walden":
        return energy * 2.0 ** (bits - ref)
    return energy


def conversion_cycles(config: AdcConfig) -> int:
    """Cycles of one conversion at ``config.bits`` (rules: AdcConfig), at least 1."""
    cycles = config.conversion_cycles
    if config.cycles_scaling == "linear":
        cycles = -(-cycles * config.bits // config.reference_bits)
    return max(1, cycles)


class Adc(Component):
    """The column ADCs of every crossbar on the chip."""

    ACTIONS = ("convert",)
    KIND = "adc"

    def __init__(
        self, config: AdcConfig, array_cols: int, instances: int, instances_used: int
    ) -> None:
        super().__init__(instances, instances_used)
        self.config = config
        self.array_cols = array_cols
        self.per_array = array_cols // config.columns_per_adc

    def column_groups(self, cols_used: int) -> int:
        """Column groups converted per slice when columns ``[0, cols_used)`` hold weights."""
        if not self.config.skip_idle_column_groups:
            return self.config.columns_per_adc
        return min(self.config.columns_per_adc, cols_used)

    def columns_converted(self, cols_used: int) -> int:
        """Columns converted per slice: the used ones, or every column without skipping."""
        return cols_used if self.config.skip_idle_column_groups else self.array_cols

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count the conversions of ``operations`` operations and the cycles they take."""
        self.count("convert", cost.conversions * operations)
        self.add_busy(cost.adc_busy_cycles * operations)
