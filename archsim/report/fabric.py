"""The fabric section of a report: block-sparse training on the fabric (stage: report).

Built by :func:`archsim.report.build_report` for a run on a chip with a block-sparse training
fabric (:class:`~archsim.sim.result.FabricResult`). One trace sample is one training step
(a mini-batch), so the report's per-inference figures are per step; this section adds:

* **throughput** in training samples per second (the steps' samples over the run time);
* **time and energy per step** by phase (``forward``, ``backward``, ``update``, and ``mask``
  for the mask updates) and the energy by phase and component kind;
* **SCU utilisation** U = non-zero MACs / MAC slots per unit, over its busy cycles (the
  pipeline's own efficiency) and over the products' time (idle waits for blocks and for
  other units counted against it), with the mean and minimum over units;
* **DRAM**: bytes read and written, bandwidth used against the part's peak, row-buffer hit
  rate; **IMC**: block-CSR metadata against data bytes, stalls on a full prefetch buffer;
* **MACs**: the dense MACs of every product split into performed, skipped for a zero operand
  and skipped on blocks not in force; padding slots; regrowth scoring; the optimizer's;
* **DIN**: load imbalance (most loaded unit over the mean, per product) under the
  assignment in force and under the other rule, the controller's work at mask updates;
* the **weight sparsity** of the run (its share of the dense MACs on blocks not in force) and
  its **block sparsity** s (its share of the products' block slots not in force, padding
  included: what a dense run issues and this one does not), with the ideal speed-up
  ``1 / (1 - s)`` from weight sparsity alone (up to the rounding of blocks over units); the
  measured speed-up is this run's time against the same trace on the same fabric with
  ``fabric.execution: dense``.
"""

from __future__ import annotations

from typing import Any

from archsim.energy.accounting import EnergyResult
from archsim.sim.result import SimResult
from archsim.stats import CounterSummary, TallySummary

__all__ = ["FABRIC_PHASES", "fabric_section"]

#: The phases of a training step on the fabric, in order (``mask``: the mask updates).
FABRIC_PHASES = ("forward", "backward", "update", "mask")

#: The statistics that say where a record's time went (they sum to it).
_TIME = ("time_fabric", "time_tile", "time_digital", "time_controller", "time_noc")

_MACS = (
    "macs_dense", "macs_performed", "macs_skipped_zero", "macs_skipped_mask",
    "padding_slots", "scored_macs", "optimizer_macs",
)


def _mean_min(values: tuple[float, ...]) -> dict[str, float]:
    return {
        "mean": sum(values) / len(values) if values else 0.0,
        "min": min(values) if values else 0.0,
    }


def fabric_section(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    """The ``fabric`` section of the report of ``result`` (see the module docstring)."""
    fabric = result.fabric
    assert fabric is not None
    stats = {s.name: s for s in result.statistics}
    counters = {k: v for k, v in stats.items() if isinstance(v, CounterSummary)}
    steps = max(1, int(counters["train_steps"].total))
    clock = result.clock_hz
    run_s = result.total_cycles / clock
    samples = int(counters["train_samples"].total)
    time_s = {
        phase: sum(counters[t].by_phase.get(phase, 0) for t in _TIME if t in counters)
        / clock / steps
        for phase in FABRIC_PHASES
    }
    by_phase = energy.by_phase_component_j
    energy_j = {
        phase: {k: v / steps for k, v in by_phase.get(phase, {}).items()}
        for phase in FABRIC_PHASES if phase in by_phase
    }
    dense = counters["macs_dense"].total
    weight_sparsity = counters["macs_skipped_mask"].total / dense if dense else 0.0
    grid_slots = counters["block_slots_dense"].total
    block_sparsity = 1.0 - counters["block_slots"].total / grid_slots if grid_slots else 0.0
    moved = fabric.dram_bytes_read + fabric.dram_bytes_written
    imbalance: TallySummary = stats["imbalance"]  # type: ignore[assignment]
    other: TallySummary = stats["imbalance_other"]  # type: ignore[assignment]
    other_rule = "static" if fabric.assignment == "balanced" else "balanced"
    return {
        "execution": fabric.execution,
        "memory": fabric.memory,
        "interconnect": fabric.interconnect,
        "steps": int(counters["train_steps"].total),
        "train_samples": samples,
        "throughput_samples_per_s": samples / run_s if run_s else 0.0,
        "time_per_step_s": {**time_s, "total": result.total_cycles / clock / steps},
        "energy_per_step_j": {
            **{phase: sum(kinds.values()) for phase, kinds in energy_j.items()},
            "total": energy.total_j / steps,
        },
        "energy_per_step_by_component_j": energy_j,
        "energy_per_sample_j": energy.total_j / samples if samples else 0.0,
        "scu": {
            "units": fabric.units,
            "mac_width": fabric.mac_width,
            "zero_handling": fabric.zero_handling,
            "utilisation_busy": _mean_min(fabric.utilisation_busy),
            "utilisation_span": _mean_min(fabric.utilisation_span),
            "utilisation_busy_per_unit": list(fabric.utilisation_busy),
            "utilisation_span_per_unit": list(fabric.utilisation_span),
        },
        "dram": {
            "part": fabric.dram_name,
            "bytes_read": fabric.dram_bytes_read,
            "bytes_written": fabric.dram_bytes_written,
            "bandwidth_bytes_per_s": moved / run_s if run_s else 0.0,
            "peak_bandwidth_bytes_per_s": fabric.dram_peak_bytes_per_s,
            "bandwidth_fraction": (
                moved / run_s / fabric.dram_peak_bytes_per_s if run_s else 0.0
            ),
            "row_hit_rate": fabric.dram_hit_rate,
            "row_hits": fabric.dram_row_hits,
            "row_misses": fabric.dram_row_misses,
            "row_conflicts": fabric.dram_row_conflicts,
        },
        "imc": {
            "fetches": fabric.imc_fetches,
            "blocks_fetched": fabric.imc_blocks_fetched,
            "metadata_bytes": fabric.imc_metadata_bytes,
            "data_bytes": fabric.imc_data_bytes,
            "metadata_fraction": fabric.metadata_fraction,
            "prefix_sum_cycles": fabric.imc_prefix_sum_cycles,
            "stall_cycles": fabric.imc_stall_cycles,
            "buffer_max_bytes": fabric.imc_buffer_max_bytes,
        },
        "macs_per_step": {name: counters[name].total / steps for name in _MACS},
        "weight_sparsity": weight_sparsity,
        "block_sparsity": block_sparsity,
        "ideal_speedup": 1.0 / (1.0 - block_sparsity) if block_sparsity < 1 else None,
        "din": {
            "assignment": fabric.assignment,
            # max / mean blocks per unit, per product: under the rule in force (the run's
            # time) and what each rule would give on the same masks
            "imbalance_mean": imbalance.mean,
            "imbalance_max": imbalance.max or 1.0,
            "imbalance": {
                fabric.assignment: {"mean": imbalance.mean, "max": imbalance.max or 1.0},
                other_rule: {"mean": other.mean, "max": other.max or 1.0},
            },
            "mask_checks": int(counters["mask_checks"].total),
            "mask_changes": int(counters["mask_changes"].total),
            "controller_cycles": int(counters["din_cycles"].total),
            "route_entries": int(counters["route_entries"].total),
            "rewrite_bytes": int(counters["rewrite_bytes"].total),
            "blocks_pruned": int(counters["blocks_pruned"].total),
            "blocks_regrown": int(counters["blocks_regrown"].total),
        },
    }
