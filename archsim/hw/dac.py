"""Row DACs of a crossbar tile (stage: hw).

One DAC drives each word line. A ``bits``-bit DAC applies an ``input_bits`` input in
``ceil(input_bits / bits)`` slices, one per array read (``bits = 1`` is bit-serial input).
Action: ``drive`` (one row driven for one slice).
"""

from __future__ import annotations

import math

from archsim.config.schema import DacConfig
from archsim.hw.component import Component


class Dac(Component):
    """The row DACs of one tile group."""

    KIND = "dac"

    def __init__(
        self, config: DacConfig, instances: int, instances_used: int, *, group: str = ""
    ) -> None:
        super().__init__(instances, instances_used, group=group)
        self.bits = config.bits
        self.declare("drive", config.energy.drive, "one row driven for one input slice")

    def slices(self, input_bits: int) -> int:
        """Slices (array reads) needed to apply one ``input_bits``-bit input vector."""
        return math.ceil(input_bits / self.bits)

    def slice_activity(self, bitplane_nz: tuple[float, ...], input_nz: float) -> float:
        """Expected non-zero rows per row per vector, summed over slices.

        For bit-serial DACs this is the sum of the bit-plane densities. A multi-bit slice is
        non-zero when any of its bits is; bits are taken as independent, capped by the element
        density ``input_nz``.
        """
        if self.bits == 1:
            return float(sum(bitplane_nz))
        total = 0.0
        for start in range(0, len(bitplane_nz), self.bits):
            zero = 1.0
            for p in bitplane_nz[start : start + self.bits]:
                zero *= 1.0 - p
            total += min(input_nz, 1.0 - zero)
        return total
