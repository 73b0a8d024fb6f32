"""Tile input/output buffers (stage: hw).

Each input vector is read from the buffer and each output vector written back, in accesses of
``width_bits``. Accesses overlap the array operation and add no cycles. Actions: ``read``, ``write``.
"""

from __future__ import annotations

import math

from archsim.config.schema import BufferConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD


class Buffer(Component):
    """The buffers of one tile group (one per tile)."""

    KIND = "buffer"
    TIMED = False

    def __init__(self, config: BufferConfig, instances: int, *, group: str = "") -> None:
        super().__init__(instances, group=group)
        self.width_bits = config.width_bits
        self.declare("read", config.energy.read, f"one read access of {config.width_bits} bits")
        self.declare("write", config.energy.write, f"one write access of {config.width_bits} bits")

    def accesses(self, bits: int) -> int:
        """Accesses needed to move ``bits`` bits."""
        return math.ceil(bits / self.width_bits)

    def move(self, vectors: int, in_bits: int, out_bits: int, phase: str = FORWARD) -> None:
        """Count reading ``vectors`` inputs of ``in_bits`` and writing their ``out_bits`` outputs."""
        self.count("read", vectors * self.accesses(in_bits), phase)
        self.count("write", vectors * self.accesses(out_bits), phase)
