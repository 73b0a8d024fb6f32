"""The units that run on-chip training work: pulsed updates, the update's digital unit and the
write-and-verify engine (stage: hw).

Built by :func:`archsim.hw.system.build_system` from a config's ``training:`` section; the
handlers of :mod:`archsim.sim.training` schedule ``update`` records on them. Each unit is a
:class:`~archsim.hw.component.Component` declaring its actions with their energies and
computing the cycles of one piece of work; none of them ticks.

* :class:`PulseDrivers`: the row and column pulse generators of the arrays. One pulse train of
  ``l`` slots on a layer's arrays takes ``l x slot_cycles`` cycles, twice that when the
  positive and negative pulses are applied one after the other (``polarities: sequential``,
  the factor 2 of Rasch et al. 2024's Methods); every row and column of each array drives
  every slot, and each device pulsed is a ``pulse`` (archsim/REFERENCES.md [Rasch2024]).
* :class:`UpdateDigital`: the digital unit that scales gradients, keeps the hidden matrix of
  TTv2 or the accumulator of mixed precision. ``arrays_per_unit`` arrays share one unit, each
  with an equal share of its rate, as Rasch et al.'s Table 1 divides 0.7 TFLOPS over 4 arrays:
  a static time-slicing, so a layer gets its arrays' shares whether or not the others' are
  busy, and concurrent layers never contend.
* :class:`WriteVerifyEngine`: programs cells to targets, pulse by verify read (Wu et al. 2023
  [Wu2023]): a row's cells together (``parallel: row``) or one cell at a time; it also writes
  mixed precision's blind row-by-row pulses (no verify reads).
"""

from __future__ import annotations

import math
from fractions import Fraction

from archsim.config.schema import TrainingConfig
from archsim.hw.component import Component
from archsim.stats import CHIP


class PulseDrivers(Component):
    """The pulse generators of every array of the chip (one set per array)."""

    KIND = "pulse"

    def __init__(self, config: TrainingConfig, instances: int, instances_used: int) -> None:
        super().__init__(instances, instances_used, group=CHIP)
        pulse = config.pulse
        self.slot_cycles = pulse.slot_cycles
        self.phases = 2 if pulse.polarities == "sequential" else 1
        self.declare("pulse", pulse.energy.pulse, "one device stepped by one pulse")
        self.declare("row_drive", pulse.energy.row_drive, "one row driver for one pulse slot")
        self.declare("col_drive", pulse.energy.col_drive, "one column driver for one pulse slot")

    def train_cycles(self, bit_length: int) -> int:
        """Cycles of one pulse train of ``bit_length`` slots (both polarities)."""
        return bit_length * self.slot_cycles * self.phases

    def charge(
        self, trains: int, bit_length: int, rows: int, cols: int, pulses: int, arrays: int,
        phase: str,
    ) -> None:
        """Count ``trains`` trains of ``bit_length`` slots on ``arrays`` arrays driving
        ``rows`` rows and ``cols`` columns each, with ``pulses`` devices stepped in all."""
        slots = trains * bit_length * self.phases
        self.count("pulse", pulses, phase)
        self.count("row_drive", slots * rows, phase)
        self.count("col_drive", slots * cols, phase)
        self.add_busy(slots * self.slot_cycles * arrays, phase)


class UpdateDigital(Component):
    """The update's digital units: one per ``arrays_per_unit`` arrays."""

    KIND = "update_digital"

    def __init__(self, config: TrainingConfig, arrays: int, arrays_used: int) -> None:
        digital = config.digital
        share = digital.arrays_per_unit
        super().__init__(-(-arrays // share), -(-arrays_used // share), group=CHIP)
        self.flops_per_cycle = digital.flops_per_cycle
        self._rate = Fraction(digital.flops_per_cycle)
        self.arrays_per_unit = share
        self.per_layer = digital.share == "layer"
        self.memory_bits_per_cycle = digital.memory_bits_per_cycle
        self.declare("flop", digital.energy.flop, "one floating-point operation")
        self.declare("bit", digital.energy.bit, "one bit moved to or from the unit's memory")

    def cycles(self, flops: int, bits: int, arrays: int) -> int:
        """Cycles of ``flops`` operations and ``bits`` of memory traffic of a layer on
        ``arrays`` arrays: at its share of the units' rate, ``arrays / arrays_per_unit`` units
        (``share: arrays``), or at one unit's (``share: layer``); memory time adds unless
        hidden (``memory_bits_per_cycle`` 0)."""
        # Exact rational arithmetic: a whole number of cycles never rounds up by float error.
        if self.per_layer:
            compute = math.ceil(Fraction(flops) / self._rate)
        else:
            compute = math.ceil(Fraction(flops * self.arrays_per_unit) / (self._rate * arrays))
        memory = -(-bits // self.memory_bits_per_cycle) if self.memory_bits_per_cycle else 0
        return compute + memory

    def charge(self, flops: int, bits: int, cycles: int, arrays: int, phase: str) -> None:
        """Count the work of one record that took ``cycles`` on its layer's share (busy
        unit-cycles: the share's fraction of a unit, or one unit)."""
        self.count("flop", flops, phase)
        self.count("bit", bits, phase)
        if self.per_layer:
            self.add_busy(cycles, phase)
        else:
            self.add_busy(-(-cycles * arrays // self.arrays_per_unit), phase)


class WriteVerifyEngine(Component):
    """The write-and-verify engine of every array (one per array)."""

    KIND = "write_verify"

    def __init__(self, config: TrainingConfig, instances: int, instances_used: int) -> None:
        super().__init__(instances, instances_used, group=CHIP)
        wv = config.write_verify
        self.pulse_cycles = wv.pulse_cycles
        self.verify_cycles = wv.verify_cycles
        self.row_parallel = wv.parallel == "row"
        # A row's SET and RESET pulses share a slot, or take one each (training.pulse).
        self.phases = 2 if config.pulse.polarities == "sequential" else 1
        self.declare("pulse", wv.energy.pulse, "one SET or RESET pulse on one cell")
        self.declare("verify", wv.energy.verify, "one verify read of one cell")

    def cycles(self, pulses: int, verify_reads: int, rounds: int | None) -> int:
        """Cycles of one write: ``rounds`` rounds of a row in parallel, each its pulse slot
        (two with ``polarities: sequential``: the row's SET pulses, then its RESET pulses)
        and a verify read when the write verifies; or, one cell at a time (``parallel:
        cell``, or rounds unknown), every pulse and verify read in turn."""
        if self.row_parallel and rounds is not None:
            verify = self.verify_cycles if verify_reads else 0
            return rounds * (self.phases * self.pulse_cycles + verify)
        return pulses * self.pulse_cycles + verify_reads * self.verify_cycles

    def charge(self, pulses: int, verify_reads: int, cycles: int, phase: str) -> None:
        """Count one write's pulses and verify reads."""
        self.count("pulse", pulses, phase)
        self.count("verify", verify_reads, phase)
        self.add_busy(cycles, phase)


class TrainingUnits:
    """The training units of one chip, for ``arrays`` arrays of which ``arrays_used`` are
    mapped."""

    def __init__(self, config: TrainingConfig, arrays: int, arrays_used: int) -> None:
        self.config = config
        self.pulses = PulseDrivers(config, arrays, arrays_used)
        self.digital = UpdateDigital(config, arrays, arrays_used)
        self.write_verify = WriteVerifyEngine(config, arrays, arrays_used)

    def components(self) -> tuple[Component, ...]:
        """Every bank, in the order an update uses them."""
        return (self.digital, self.pulses, self.write_verify)
