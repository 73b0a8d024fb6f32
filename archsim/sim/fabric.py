"""Handlers of block-sparse training records on the fabric (stage: sim).

Registered by :func:`archsim.sim.registry.default_handlers`, which imports this module only
for a system with a fabric (:class:`~archsim.hw.fabric.Fabric`; the factories decline on any
other, leaving the records to the handlers registered before). One trace sample is one
training step; its records (trace format version 4, ``traces/README.md``) run in trace order:

* ``forward spmm`` and ``backward spmm_t`` (:class:`SparseProduct`): the IMC fetches the
  layer's blocks in force (block-CSR) and sends each to its unit
  (:meth:`~archsim.hw.fabric.Fabric.deliver`); each unit runs its blocks as one streamed job
  (:meth:`~archsim.hw.scu.ScuBank.stream`) on the record's ``vectors``; the record ends with
  its last unit. Its non-zero MACs are ``weights x vectors x input_nz`` (rounded), dealt over
  the units in proportion to their blocks; the rest of the blocks' slots have a zero operand
  or are padding.
* ``update spmm_w`` (:class:`SparseWeightUpdate`): the weight gradient on the blocks in force
  and on the ``scored`` blocks (non-zero MACs ``x input_nz x grad_nz``: the zeros of the two
  operands taken as independent) starts at once, its operands being on chip, while the IMC
  fetches W and the velocity V is read; then each unit runs the optimizer step
  (``optimizer_macs_per_weight`` slots per real weight) on its blocks once W, V and its
  gradients are there; then W and V are written back to DRAM.
* ``update mask`` (:class:`MaskChange`): the DIN controller checks the layer's new mask and,
  if it changed, reassigns the blocks and writes routing entries
  (:class:`~archsim.hw.fabric.DinController`); the block-CSR arrays are rewritten in DRAM (the
  old W and V data read, the new row pointers, column indices, W and V written). Its work is
  booked under the phase ``mask``.
* ``update prune`` and ``update regrow`` (:class:`MaskEvent`): counted, no cost of their own
  (the ``mask`` record that follows carries the work).
* activation, pooling and add records run on the vector unit as on any chip
  (:class:`~archsim.sim.handlers.DigitalOp`); ``flatten`` costs nothing.

With ``execution: dense`` the same records run with dense weights: every block of a layer's
grid fetched (no metadata) and computed, zero operands skipped or gated as the units' config
says; masks are tracked (to check the records) but cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archsim.errors import TraceError
from archsim.hw.fabric import MASK, Fabric, LayerStore, block_assignment
from archsim.hw.scu import ScuJob
from archsim.sim.handlers import (
    Handler,
    Process,
    Simulation,
    split,
)
from archsim.stats.fabric import FabricStatistics
from archsim.workload.trace import LayerSpec, OpRecord

__all__ = [
    "FABRIC_HANDLERS",
    "MaskChange",
    "MaskEvent",
    "SparseProduct",
    "SparseWeightUpdate",
]


def _imbalance(loads: np.ndarray) -> float:
    """Most loaded unit's blocks over the mean (1.0 when there are none)."""
    total = int(loads.sum())
    return float(loads.max()) * loads.size / total if total else 1.0


class FabricHandler(Handler):
    """A fabric record's handler: the fabric, its statistics, the layer's store."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        fabric = sim.system.fabric
        assert fabric is not None and sim.fabric is not None
        self.fabric: Fabric = fabric
        self.stats: FabricStatistics = sim.fabric
        self.dense = fabric.config.execution == "dense"

    @classmethod
    def create(cls, sim: Simulation, layer: LayerSpec) -> FabricHandler | None:
        """The handler, or None on a system without a fabric."""
        return None if sim.system.fabric is None else cls(sim, layer)

    def store(self, record: OpRecord) -> LayerStore:
        """The layer's store, made at its first product (the record names its block size)."""
        try:
            return self.fabric.layer(self.layer.name, record.rows, record.cols, record.block)
        except ValueError as error:
            raise TraceError(f"record {record.index}: block: {error}") from None

    def check_blocks(self, record: OpRecord, store: LayerStore) -> None:
        """The record's ``blocks`` must be the blocks of the mask in force."""
        if record.blocks != store.nnzb:
            raise TraceError(
                f"record {record.index}: blocks: the mask in force on layer "
                f"'{self.layer.name}' has {store.nnzb} blocks (the last mask record's "
                f"blocks_nonzero, or every block before one), got {record.blocks}"
            )

    def observe_balance(self, store: LayerStore, loads: np.ndarray, phase: str) -> None:
        """Record the product's load imbalance, and what the other rule would have given."""
        units = self.fabric.config.scu.units
        other = "static" if self.fabric.config.din.assignment == "balanced" else "balanced"
        positions = np.arange(store.blocks) if self.dense else store.positions
        alt = np.bincount(
            block_assignment(positions, store.grid[1], units, other), minlength=units
        )
        self.stats.imbalance.observe(_imbalance(loads), phase)
        self.stats.imbalance_other.observe(_imbalance(alt), phase)

    def jobs(
        self, blocks: Sequence[int], block: int, vectors: int, macs: int
    ) -> list[ScuJob]:
        """One job per unit: its ``blocks`` on ``vectors`` vectors, ``macs`` non-zero MACs
        dealt in proportion to the blocks."""
        return [
            ScuJob(n, block, vectors, m)
            for n, m in zip(blocks, split(macs, list(blocks)), strict=True)
        ]

    def in_force(self, record: OpRecord, store: LayerStore) -> tuple[int, int]:
        """(real weights, blocks) the product computes on: the record's blocks in force, or
        with dense weights every block of the grid and every weight."""
        if self.dense:
            return record.rows * record.cols, store.blocks
        return record.weights, record.blocks

    def account(
        self, record: OpRecord, store: LayerStore, nonzero: float, phase: str
    ) -> int:
        """The three-way split of the product's dense MACs (:mod:`archsim.stats.fabric`) for
        a non-zero fraction ``nonzero`` of its operand slots; the MACs performed."""
        stats, name = self.stats, self.layer.name
        vectors = record.vectors
        weights, blocks = self.in_force(record, store)
        performed = round(vectors * weights * nonzero)
        dense = vectors * record.rows * record.cols
        in_blocks = vectors * weights
        stats.macs_dense.add(dense, phase, name)
        stats.macs_performed.add(performed, phase, name)
        stats.macs_skipped_zero.add(in_blocks - performed, phase, name)
        stats.macs_skipped_mask.add(dense - in_blocks, phase, name)
        stats.padding_slots.add(vectors * (blocks * record.block**2 - weights), phase, name)
        stats.block_slots.add(vectors * blocks * record.block**2, phase, name)
        stats.block_slots_dense.add(vectors * store.blocks * record.block**2, phase, name)
        return performed


class SparseProduct(FabricHandler):
    """``forward spmm`` and ``backward spmm_t`` records (module docstring)."""

    def size(self, record: OpRecord) -> int:
        """The record's dense MACs."""
        return record.macs

    def execute(self, record: OpRecord) -> Process:
        """Fetch, deliver and compute one product."""
        env, fabric, stats = self.sim.env, self.fabric, self.stats
        phase = record.phase
        store = self.store(record)
        self.check_blocks(record, store)
        if phase == "forward" and record.sample >= self.stats.steps.value:
            # The step's first product: its vectors are the batch's samples x windows.
            stats.samples.add(record.vectors // self.layer.vectors_per_sample, phase)
            stats.steps.add(1, phase)
        begin = int(env.now)
        loads = self.fabric.loads(store)
        self.observe_balance(store, loads, phase)
        performed = self.account(record, store, record.input_nz, phase)
        stats.blocks_fetched.add(int(loads.sum()), phase, self.layer.name)
        arrivals = yield fabric.deliver(self.layer.name, phase)
        jobs = self.jobs(loads.tolist(), store.block, record.vectors, performed)
        ends = fabric.scu.stream(jobs, arrivals, phase, start=begin)  # type: ignore[arg-type]
        end = max(ends, default=int(env.now))
        if end > env.now:
            yield env.timeout(end - env.now)
        stats.span.add(int(env.now) - begin, phase, self.layer.name)
        stats.time.add(int(env.now) - begin, phase, self.layer.name)


class SparseWeightUpdate(FabricHandler):
    """``update spmm_w`` records: weight gradient, optimizer step, write-back (module
    docstring)."""

    def size(self, record: OpRecord) -> int:
        """The record's dense MACs."""
        return record.macs

    def execute(self, record: OpRecord) -> Process:
        """Gradient, fetch of W and V, optimizer step, write-back."""
        env, fabric, stats = self.sim.env, self.fabric, self.stats
        phase, name = record.phase, self.layer.name
        store = self.store(record)
        self.check_blocks(record, store)
        units = fabric.config.scu.units
        begin = int(env.now)
        loads = self.fabric.loads(store)
        self.observe_balance(store, loads, phase)
        nz = record.input_nz * record.grad_nz
        performed = self.account(record, store, nz, phase)
        # Regrowth scores: the dense gradient of the blocks not in force (their real
        # weights: the layer's less those in force, shared evenly).
        scored_real = 0
        scored_loads = np.zeros(units, dtype=np.int64)
        if record.scored and not self.dense:
            free = store.blocks - store.nnzb
            outside = record.rows * record.cols - record.weights
            scored_real = outside if record.scored == free else round(
                outside * record.scored / max(1, free)
            )
            off = np.setdiff1d(np.arange(store.blocks), store.positions, assume_unique=True)
            scored_loads = np.bincount(
                block_assignment(
                    off[: record.scored], store.grid[1], units, fabric.config.din.assignment
                ), minlength=units,
            )
        scored_macs = round(record.vectors * scored_real * nz)
        stats.scored_macs.add(scored_macs, phase, name)
        gradient = [
            ScuJob(n + s, store.block, record.vectors, a + b)
            for n, s, a, b in zip(
                loads.tolist(), scored_loads.tolist(),
                split(performed, loads.tolist()), split(scored_macs, scored_loads.tolist()),
                strict=True,
            )
        ]
        ready = fabric.scu.stream(gradient, [[begin] * job.blocks for job in gradient], phase)
        # Meanwhile W comes block by block to the units, and V is read.
        velocity_bytes = int(loads.sum()) * store.block_bytes
        v_ready = fabric.transfer(store.velocity_address, velocity_bytes, False, phase)
        stats.blocks_fetched.add(int(loads.sum()), phase, name)
        arrivals = yield fabric.deliver(name, phase)
        per_weight = fabric.config.optimizer_macs_per_weight
        weights = self.in_force(record, store)[0]
        optimizer = [
            ScuJob(n, store.block, per_weight, m)
            for n, m in zip(
                loads.tolist(), split(weights * per_weight, loads.tolist()), strict=True
            )
        ]
        stats.optimizer_macs.add(weights * per_weight, phase, name)
        waits = [
            [max(a, v_ready, ready[u]) for a in arrivals[u]]  # type: ignore[index]
            for u in range(units)
        ]
        ends = fabric.scu.stream(optimizer, waits, phase, start=begin)
        end = max([*ends, v_ready, int(env.now)])
        if end > env.now:
            yield env.timeout(end - env.now)
        # Write-back of W and V (dense weights are stored tiled from the region's start).
        data = store.base if self.dense else store.layout.data_address
        written = max(
            fabric.transfer(data, velocity_bytes, True, phase),
            fabric.transfer(store.velocity_address, velocity_bytes, True, phase),
        )
        if written > env.now:
            yield env.timeout(written - env.now)
        stats.span.add(int(env.now) - begin, phase, name)
        stats.time.add(int(env.now) - begin, phase, name)


class MaskChange(FabricHandler):
    """``update mask`` records: the DIN controller and the block-CSR rewrite (module
    docstring)."""

    def execute(self, record: OpRecord) -> Process:
        """Check, reassign, rewrite."""
        env, fabric, stats = self.sim.env, self.fabric, self.stats
        name = self.layer.name
        store = fabric.layers.get(name)
        if store is None:
            raise TraceError(
                f"record {record.index}: a mask record on layer '{name}' before any of its "
                "products (spmm): the block size is not known yet"
            )
        if record.positions is None:
            raise TraceError(
                f"record {record.index}: positions: the fabric needs the blocks' positions, "
                "which mask records carry from trace format version 4"
            )
        if (record.block_rows, record.block_cols) != (store.block, store.block):
            raise TraceError(
                f"record {record.index}: block_rows, block_cols: expected {store.block} x "
                f"{store.block} (the block of layer '{name}'s products), got "
                f"{record.block_rows} x {record.block_cols}"
            )
        if record.blocks_total != store.blocks:
            raise TraceError(
                f"record {record.index}: blocks_total: layer '{name}' has {store.blocks} "
                f"blocks of {store.block} x {store.block}, got {record.blocks_total}"
            )
        positions = np.asarray(record.positions, dtype=np.int64)
        if self.dense:  # dense weights keep every block: nothing to do
            fabric.track_mask(name, positions)
            return
        begin = int(env.now)
        old_bytes = store.nnzb * store.block_bytes
        old_data = store.layout.data_address  # set_mask lays the arrays out anew
        cycles, written, changed = fabric.set_mask(name, positions)
        stats.mask_checks.add(1, MASK, name)
        stats.controller_cycles.add(cycles, MASK, name)
        stats.route_entries.add(written, MASK, name)
        end = begin + cycles
        if changed:
            stats.mask_changes.add(1, MASK, name)
            # Read the old W and V blocks, then write the new arrays.
            read = max(
                fabric.transfer(old_data, old_bytes, False, MASK),
                fabric.transfer(store.velocity_address, old_bytes, False, MASK),
            )
            if read > env.now:
                yield env.timeout(read - env.now)
            layout = store.layout
            new_bytes = store.nnzb * store.block_bytes
            metadata = layout.stats.rowptr_bytes + layout.stats.colidx_bytes
            done = max(
                fabric.transfer(layout.rowptr_address, layout.stats.rowptr_bytes, True, MASK),
                fabric.transfer(layout.colidx_address, layout.stats.colidx_bytes, True, MASK),
                fabric.transfer(layout.data_address, new_bytes, True, MASK),
                fabric.transfer(store.velocity_address, new_bytes, True, MASK),
            )
            stats.rewrite_bytes.add(2 * old_bytes + metadata + 2 * new_bytes, MASK, name)
            end = max(end, done)
        if end > env.now:
            yield env.timeout(end - env.now)
        stats.time.add(int(env.now) - begin, MASK, name)


class MaskEvent(FabricHandler):
    """``update prune`` and ``update regrow`` records: counted (module docstring)."""

    def execute(self, record: OpRecord) -> Process:
        """Count the blocks."""
        counter = self.stats.blocks_pruned if record.kind == "prune" else self.stats.blocks_regrown
        counter.add(record.blocks, MASK, self.layer.name)
        return
        yield  # pragma: no cover - a generator


#: The fabric's handlers by (phase, kind) (registered in :mod:`archsim.sim.registry`).
FABRIC_HANDLERS = {
    ("forward", "spmm"): SparseProduct.create,
    ("backward", "spmm_t"): SparseProduct.create,
    ("update", "spmm_w"): SparseWeightUpdate.create,
    ("update", "mask"): MaskChange.create,
    ("update", "prune"): MaskEvent.create,
    ("update", "regrow"): MaskEvent.create,
}
