"""The training section of a report: time, energy and wear of on-chip training (stage: report).

Built by :func:`archsim.report.build_report` for a run on a chip with training units
(:class:`~archsim.sim.result.TrainingResult`). Per training sample: the time of each phase
(the ``time_*`` statistics of its records; in layer-sequential mode they sum to the sample's
latency), its energy by component kind, and the update's work (pulses on W and A, transfer
row reads, cells written, FLOPs). Per matrix layer, the wear of its devices, one device per
weight in W and in A as a training trace counts them: pulses per device of W (its
programming pulses included) and of A, cells programmed by write-and-verify per weight, and
the samples until the mean device of the more worn array reaches the config's endurance.
"""

from __future__ import annotations

from typing import Any

from archsim.energy.accounting import EnergyResult
from archsim.sim.result import SimResult
from archsim.stats import CounterSummary
from archsim.workload.trace import PHASES

__all__ = ["training_section"]

#: The statistics that say where a record's time went (they sum to it).
TIME_STATISTICS = ("time_tile", "time_digital", "time_controller", "time_noc")

#: The update's work, reported per sample.
WORK_STATISTICS = (
    "pulses_w", "pulses_a", "row_reads", "cell_writes", "write_pulses", "verify_reads",
    "flops", "memory_bits",
)


def training_section(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    """The ``training`` section of the report of ``result`` (see the module docstring)."""
    training = result.training
    assert training is not None
    samples = max(1, result.samples)
    clock = result.clock_hz
    stats = {s.name: s for s in result.statistics if isinstance(s, CounterSummary)}
    phases = [p for p in PHASES if any(stats[t].by_phase.get(p) for t in TIME_STATISTICS)]
    time_s = {
        phase: sum(stats[t].by_phase.get(phase, 0) for t in TIME_STATISTICS) / clock / samples
        for phase in phases
    }
    energy_j = {
        phase: {k: v / samples for k, v in energy.by_phase_component_j.get(phase, {}).items()}
        for phase in energy.by_phase_component_j
    }
    layers = {}
    for layer in result.layers:
        weights = layer.rows * layer.cols
        name = layer.name
        pulses_w = stats["pulses_w"].by_group.get(name, 0)
        pulses_a = stats["pulses_a"].by_group.get(name, 0)
        programmed = stats["cell_writes"].by_group.get(name, 0)
        write_pulses = stats["write_pulses"].by_group.get(name, 0)
        # The worst array: W's pulses include its programming pulses.
        worst = max(pulses_w + write_pulses, pulses_a) / weights / samples
        lifetime = None
        if training.endurance_cycles is not None and worst > 0:
            lifetime = training.endurance_cycles / worst
        layers[name] = {
            "weights": weights,
            "pulses_w_per_device": (pulses_w + write_pulses) / weights,
            "pulses_a_per_device": pulses_a / weights,
            "programmed_per_weight": programmed / weights,
            "lifetime_samples": lifetime,
        }
    return {
        "samples": result.samples,
        "time_per_sample_s": {**time_s, "total": sum(time_s.values())},
        "energy_per_sample_j": {
            **{phase: sum(kinds.values()) for phase, kinds in energy_j.items()},
            "total": energy.total_j / samples,
        },
        "energy_per_sample_by_component_j": energy_j,
        "work_per_sample": {
            name: stats[name].total / samples for name in WORK_STATISTICS if name in stats
        },
        "endurance_cycles": training.endurance_cycles,
        "wear": layers,
    }
