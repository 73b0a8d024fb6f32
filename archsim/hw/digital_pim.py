"""Digital processing-in-memory modules: attention's dynamic matrix products (stage: hw).

A transformer's attention multiplies two activations: the queries by the keys (Q K^T), then the
attention weights by the values (softmax x V). Neither operand is a stored weight, so an analog
array cannot hold one for long; HyFlexPIM (archsim/REFERENCES.md [HyFlexPIM]) runs them on
digital RRAM PIM modules: the right operand (K^T or V) is written into the modules' arrays, then
the left one is streamed through bitwise in-memory logic.

Each processing unit (one per tile group) has its own :class:`DigitalPim`: ``modules``
modules working together on one product at a time (a SimPy resource of capacity 1, so the two
products of a unit queue behind each other), counted in the unit's tile group. A product of
``heads`` heads of (m x k) x (k x n) at ``b``-bit operands:

* writes ``heads x k x n x b`` bits at ``write_bits_per_cycle`` per module:
  ``ceil(bits / (modules x write_bits_per_cycle))`` cycles;
* performs ``heads x m x k x n`` multiply-accumulates, each costing ``ceil(b / q)^2``
  operations at the quoted precision ``q`` (a bit-sliced multiplier's work grows with the
  product of the operands' slices): ``ceil(operations / (modules x ops_per_cycle))`` cycles,
  after the writes.

Actions: ``op`` (one multiply-accumulate at the quoted precision), ``write`` (one operand bit
written).
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from archsim.config.schema import DigitalPimConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD
from archsim.stats.timeline import TimelineHooks

__all__ = ["DigitalPim", "MatmulCost"]


class MatmulCost:
    """The work of one dynamic product on one processing unit's modules: ``ops`` operations,
    ``written`` bits, and the cycles of each."""

    __slots__ = ("ops", "written", "compute_cycles", "write_cycles")

    def __init__(self, ops: int, written: int, compute_cycles: int, write_cycles: int) -> None:
        self.ops = ops
        self.written = written
        self.compute_cycles = compute_cycles
        self.write_cycles = write_cycles

    @property
    def cycles(self) -> int:
        """The product's cycles: the writes, then the operations."""
        return self.write_cycles + self.compute_cycles


class DigitalPim(Component):
    """The ``config.modules`` digital PIM modules of one processing unit, tile group ``group``
    (``used``: the workload runs products on them)."""

    KIND = "digital_pim"

    def __init__(
        self, env: simpy.Environment, config: DigitalPimConfig, *, used: bool, group: str,
        unit: int = 0, timeline: TimelineHooks | None = None,
    ) -> None:
        super().__init__(config.modules, config.modules if used else 0, group=group)
        self.env = env
        self.config = config
        #: the processing unit's index (its tile group's position), for a timeline
        self.unit = unit
        self.timeline = timeline
        self.resource = simpy.Resource(env, capacity=1)
        self.declare(
            "op", config.energy.op, f"one multiply-accumulate at {config.operand_bits} bits"
        )
        self.declare("write", config.energy.write, "one operand bit written into the arrays")

    def cost(self, heads: int, m: int, k: int, n: int, operand_bits: int) -> MatmulCost:
        """The work of ``heads`` products of (m x k) x (k x n) at ``operand_bits`` bits."""
        cfg = self.config
        per_mac = math.ceil(operand_bits / cfg.operand_bits) ** 2
        ops = heads * m * k * n * per_mac
        written = heads * k * n * operand_bits
        return MatmulCost(
            ops, written,
            -(-ops // (cfg.modules * cfg.ops_per_cycle)),
            -(-written // (cfg.modules * cfg.write_bits_per_cycle)),
        )

    def execute(
        self, cost: MatmulCost, phase: str = FORWARD, kind: str = "matmul"
    ) -> Generator[simpy.Event, object, None]:
        """SimPy process body: one product of ``cost`` on the modules, once they are free."""
        self.count("op", cost.ops, phase)
        self.count("write", cost.written, phase)
        with self.resource.request() as request:
            yield request
            if self.timeline is not None:
                start = int(self.env.now)
                self.timeline.processing_unit(
                    "pim", self.unit, self.group, kind, cost.ops, start, start + cost.cycles
                )
            if cost.cycles:
                yield self.env.timeout(cost.cycles)
        self.add_busy(cost.cycles * self.config.modules, phase)
