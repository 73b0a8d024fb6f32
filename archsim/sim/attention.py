"""Handlers of a transformer's attention and special functions (stage: sim).

* ``forward matmul`` (:class:`DynamicMatmul`): a dynamic matrix product (attention's Q K^T or
  softmax x V) on the digital PIM modules of the layer's processing unit
  (:class:`~archsim.hw.digital_pim.DigitalPim`): its right operand written into their arrays,
  then its multiply-accumulates;
* ``forward softmax``, ``layernorm``, ``gelu`` (:class:`SpecialFunction`): on the
  special-function unit of the layer's processing unit (:class:`~archsim.hw.sfu.Sfu`).

The processing unit of a layer is the tile group
:attr:`archsim.hw.system.System.processing_unit_of` names
(:func:`archsim.mapping.placement.processing_units`); a unit's products and functions queue
for its modules and SFU, and the time a record waits for them is left to the schedule's
``waiting``. On a chip without the unit the factories
decline, and such a record stops the run with one line naming it.
"""

from __future__ import annotations

from archsim.hw.sfu import SFU_FUNCTIONS
from archsim.sim.handlers import Handler, Handlers, Process, Simulation
from archsim.stats import FORWARD
from archsim.workload.trace import LayerSpec, OpRecord

__all__ = ["DynamicMatmul", "SpecialFunction", "register_attention"]


class DynamicMatmul(Handler):
    """``forward matmul`` records on the digital PIM modules of the layer's processing unit."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        self.unit = sim.system.processing_unit_of.get(layer.name, 0)

    def size(self, record: OpRecord) -> int:
        """The record's multiply-accumulates."""
        return record.macs

    def execute(self, record: OpRecord) -> Process:
        """Write the right operand, then multiply, once the unit's modules are free."""
        sim = self.sim
        pim = sim.system.digital_pim[self.unit]
        cost = pim.cost(record.heads, record.m, record.k, record.n, record.operand_bits)
        yield from pim.execute(cost, record.phase)
        stats, phase = sim.stats, record.phase
        stats.pim_macs.add(record.macs, phase, pim.group)
        stats.time_pim.add(cost.cycles, phase, pim.group)

    @staticmethod
    def create(sim: Simulation, layer: LayerSpec) -> DynamicMatmul | None:
        """The layer's handler, or None on a chip without digital PIM modules."""
        return DynamicMatmul(sim, layer) if sim.system.digital_pim else None


class SpecialFunction(Handler):
    """``forward softmax``, ``layernorm`` and ``gelu`` records on the special-function unit of
    the layer's processing unit."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        self.unit = sim.system.processing_unit_of.get(layer.name, 0)

    def size(self, record: OpRecord) -> int:
        """The record's input elements."""
        return record.elements

    def execute(self, record: OpRecord) -> Process:
        """Compute the function once the unit is free."""
        sim = self.sim
        sfu = sim.system.sfu[self.unit]
        cycles = sfu.cycles(record.kind, record.elements)
        yield from sfu.execute(record.kind, record.elements, record.phase)
        stats, phase = sim.stats, record.phase
        stats.sfu_elements.add(record.elements, phase, sfu.group)
        stats.time_sfu.add(cycles, phase, sfu.group)

    @staticmethod
    def create(sim: Simulation, layer: LayerSpec) -> SpecialFunction | None:
        """The layer's handler, or None on a chip without special-function units."""
        return SpecialFunction(sim, layer) if sim.system.sfu else None


def register_attention(handlers: Handlers) -> Handlers:
    """``handlers`` with the dynamic-product and special-function handlers registered."""
    handlers = handlers.register(FORWARD, "matmul", DynamicMatmul.create)
    for function in SFU_FUNCTIONS:
        handlers = handlers.register(FORWARD, function, SpecialFunction.create)
    return handlers
