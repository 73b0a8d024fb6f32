"""Tile input/output buffers (stage: hw).

Each input vector is read from the buffer and each output vector written back, in accesses of
``width_bits``. Accesses overlap the array operation and add no cycles. Actions: ``read``, ``write``.
"""

from __future__ import annotations

import math

from archsim.config.schema import BufferConfig
from archsim.hw.component import Component


class Buffer(Component):
    """The buffers of every tile."""

    ACTIONS = ("read", "write")
    KIND = "buffer"
    TIMED = False

    def __init__(self, config: BufferConfig, instances: int) -> None:
        super().__init__(instances)
        self.width_bits = config.width_bits

    def accesses(self, bits: int) -> int:
        """Accesses needed to move ``bits`` bits."""
        return math.ceil(bits / self.width_bits)

    def move(self, vectors: int, in_bits: int, out_bits: int) -> None:
        """Count reading ``vectors`` inputs of ``in_bits`` and writing their ``out_bits`` outputs."""
        self.count("read", vectors * self.accesses(in_bits))
        self.count("write", vectors * self.accesses(out_bits))
