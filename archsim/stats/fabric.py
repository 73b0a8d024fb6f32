"""The statistics of a block-sparse training fabric's run, each with its unit (stage: stats).

Kept per phase (``forward``, ``backward``, ``update``, and ``mask`` for mask-update work) and,
for the per-layer ones, per layer (the counter's group). The MAC accounting of every product
(forward, backward, weight gradient) splits its dense MACs ``vectors x rows x cols`` exactly
three ways::

    macs_dense = macs_performed + macs_skipped_zero + macs_skipped_mask

(``macs_skipped_mask``: on blocks not in force, never fetched; ``macs_skipped_zero``: inside
the blocks in force, with a zero activation or gradient operand). The slots of the blocks'
zero padding (``padding_slots``) are MAC slots the units see that are not in the dense MACs.
``block_slots`` and ``block_slots_dense`` count the products' MAC slots in whole blocks (the
blocks in force, and every block of the grid: what a dense run issues): their ratio is the
block sparsity that bounds the speed-up.
"""

from __future__ import annotations

from archsim.stats.records import Counter, Tally

__all__ = ["FabricStatistics"]


class FabricStatistics:
    """The fabric's workload and schedule statistics of one run (module docstring)."""

    def __init__(self) -> None:
        self.samples = Counter("train_samples", "samples", "training samples of the steps run")
        self.steps = Counter("train_steps", "steps", "training steps (mini-batches) run")
        self.macs_dense = Counter(
            "macs_dense", "MACs", "MACs of the products run dense (vectors x rows x cols)"
        )
        self.macs_performed = Counter(
            "macs_performed", "MACs", "MACs with two non-zero operands, performed"
        )
        self.macs_skipped_zero = Counter(
            "macs_skipped_zero", "MACs", "MACs in blocks in force with a zero operand"
        )
        self.macs_skipped_mask = Counter(
            "macs_skipped_mask", "MACs", "MACs on blocks not in force (never fetched)"
        )
        self.padding_slots = Counter(
            "padding_slots", "slots", "MAC slots on the zero padding of edge blocks"
        )
        self.block_slots = Counter(
            "block_slots", "slots", "MAC slots of the blocks in force (padding included)"
        )
        self.block_slots_dense = Counter(
            "block_slots_dense", "slots", "MAC slots of every block of the grids"
        )
        self.scored_macs = Counter(
            "scored_macs", "MACs", "gradient MACs on blocks not in force, to score regrowth"
        )
        self.optimizer_macs = Counter(
            "optimizer_macs", "MACs", "MACs of the optimizer step on the weights in force"
        )
        self.blocks_fetched = Counter(
            "blocks_fetched", "blocks", "weight blocks fetched and sent to the units"
        )
        self.time = Counter(
            "time_fabric", "cycles", "cycles of the fabric's records, by phase (mask: updates)"
        )
        self.span = Counter(
            "scu_span", "cycles",
            "cycles of each product record, start to end (an update's write-back included)"
        )
        self.mask_checks = Counter("mask_checks", "checks", "layer masks compared at updates")
        self.mask_changes = Counter("mask_changes", "changes", "layer masks that changed")
        self.blocks_pruned = Counter("blocks_pruned", "blocks", "blocks switched off")
        self.blocks_regrown = Counter("blocks_regrown", "blocks", "blocks switched on")
        self.route_entries = Counter(
            "route_entries", "entries", "routing-table entries the controller wrote"
        )
        self.controller_cycles = Counter(
            "din_cycles", "cycles", "cycles of the assignment controller"
        )
        self.rewrite_bytes = Counter(
            "rewrite_bytes", "B", "bytes of block-CSR read and written again at mask changes"
        )
        #: per product, its most loaded unit's blocks over the mean (1: perfectly balanced)
        self.imbalance = Tally("imbalance", "ratio", "max / mean blocks per unit, per product")
        #: the same for the other assignment rule (static if balanced runs, and the reverse)
        self.imbalance_other = Tally(
            "imbalance_other", "ratio", "max / mean blocks per unit under the other rule"
        )

    def counters(self) -> tuple[Counter, ...]:
        """Every counter, in report order."""
        return (
            self.samples, self.steps, self.macs_dense, self.macs_performed,
            self.macs_skipped_zero, self.macs_skipped_mask, self.padding_slots,
            self.block_slots, self.block_slots_dense, self.scored_macs, self.optimizer_macs,
            self.blocks_fetched, self.time, self.span,
            self.mask_checks, self.mask_changes, self.blocks_pruned, self.blocks_regrown,
            self.route_entries, self.controller_cycles, self.rewrite_bytes,
        )
