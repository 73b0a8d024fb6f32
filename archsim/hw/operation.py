"""What one tile operation costs (stage: hw).

:class:`OpCost` is computed once per crossbar layout and input precision by
:meth:`archsim.hw.tile.Tiles.op_cost`; each tile component then charges its own share of it
(:meth:`archsim.hw.component.Component.charge`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpCost:
    """Cycles and action counts of one operation of one crossbar, independent of input data.

    ``cycles`` is the operation's length in chip cycles; the ``*_busy_cycles`` fields are
    instance-cycles (summed over the instances of that component on the crossbar).
    """

    cycles: int
    reads: int
    drives: int
    dac_busy_cycles: int
    samples: int
    tia_busy_cycles: int
    conversions: int
    adc_busy_cycles: int
    slice_adds: int
