"""A matrix record's accounting, merged over its crossbar groups, against the per-group formula.

The forward and backward handlers count a record's work once per (component, action),
statistic and instruction class (:class:`archsim.sim.handlers.RecordCost`, whose merged
action table is a :class:`archsim.hw.tile.Charges`), computed once per (layer, input
precision, vectors) for a kind of tile whose costs do not change during a run. The reference
here is the straightforward accounting it replaces: for each group with steps, each action of
the group's cost counted ``count x steps`` times, its busy cycles, its arrays' busy cycles and
its controller instructions. Every count, energy and statistic must come out the same to the
last digit: the merged counts are sums of whole numbers, exact in any order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS

from archsim.config import HardwareConfig, load_hardware
from archsim.energy import account
from archsim.hw import system as system_module
from archsim.hw.component import Component
from archsim.hw.tile import Charges, CrossbarTiles, OpCost
from archsim.sim import SimResult, default_handlers, simulate
from archsim.sim.handlers import MatrixForward, RecordCost
from archsim.sim.training import MatrixBackward
from archsim.workload.trace import OpRecord, TraceWriter

LENET = CONFIGS.parent / "traces" / "lenet-wu_trained_16.jsonl.gz"


class PerGroupAccounting:
    """The reference: a record's accounting group by group, each action counted on its own
    (the formula the merged accounting replaced), from the handler's plans and shares rather
    than from the merged cost it is handed."""

    made: list[MatrixForward] = []
    records = 0

    def __init__(self, sim, layer) -> None:
        super().__init__(sim, layer)
        PerGroupAccounting.made.append(self)

    def _account(self, record: OpRecord, cost: RecordCost) -> None:
        PerGroupAccounting.records += 1
        system, stats, phase = self.sim.system, self.sim.stats, record.phase
        controller, name = system.controller, self.group.name
        plans, shares = self.plans(record.input_bits), self.shares(record.vectors)
        tile_ops = macs = most = 0
        for index, (plan, share, copy_macs) in enumerate(zip(plans, shares, self._copy_macs)):
            steps = max(share.values())
            if not steps:
                continue
            for component, action, n in plan.cost.actions:
                component.count(action, n * steps, phase)
            for component, n in plan.cost.busy:
                component.add_busy(n * steps, phase)
            crossbars = self._crossbars[index]
            system.crossbar_busy[crossbars] += steps * plan.cost.cycles
            tile_ops += steps * len(crossbars)
            macs += sum(n * copy_macs[copy] for copy, n in share.items())
            controller.tally_steps(self._mix[index], steps, phase)
            most = max(most, steps)
        stats.tile_ops.add(tile_ops, phase, name)
        stats.macs.add(macs, phase, name)
        stats.vmm_steps.add(most, phase, name)
        stats.vectors.add(record.vectors, phase, name)
        self.count_data(record)


class ReferenceForward(PerGroupAccounting, MatrixForward):
    """Forward records, accounted group by group."""


class ReferenceBackward(PerGroupAccounting, MatrixBackward):
    """Backward ``mvm_t`` records, accounted group by group."""


def reference_handlers():
    """The default handlers with the per-group accounting for matrix records (a training
    config's backward handler only where the system has training units)."""
    def backward(sim, layer):
        return None if sim.system.training is None else ReferenceBackward(sim, layer)

    return (
        default_handlers()
        .register("forward", "mvm", ReferenceForward)
        .register("backward", "mvm_t", backward)
    )


def _mvm(sample: int, layer: str, rows: int, cols: int, vectors: int, bits: int,
         phase: str = "forward", kind: str = "mvm") -> dict:
    density = [0.1 + 0.8 * k / max(1, bits - 1) for k in range(bits)]
    return {"sample": sample, "phase": phase, "layer": layer, "kind": kind, "vectors": vectors,
            "rows": rows, "cols": cols, "input_bits": bits, "input_nz": 0.93,
            "bitplane_nz": density, "bitplane_allzero": [0.0] * bits}


def mixed_trace(path: Path, *, backward: bool = False) -> Path:
    """fc1 (100 x 12) then fc2 (12 x 10); per sample another vector count and input
    precision (uneven shares over copies, several precisions of one layer), with a backward
    ``mvm_t`` of each layer and a transfer on fc1 when ``backward``."""
    layers = [{"name": "fc1", "kind": "dense", "inputs": ["input"], "in_shape": [100],
               "out_shape": [12], "rows": 100, "cols": 12},
              {"name": "fc2", "kind": "dense", "inputs": ["fc1"], "in_shape": [12],
               "out_shape": [10], "rows": 12, "cols": 10}]
    samples = [(7, 8), (5, 4), (1, 1), (7, 8), (16, 6), (5, 4)]
    header = {"model": "mixed", "samples": len(samples), "seed": 0,
              "network": {"input_shape": [100], "weight_bits": 8, "act_bits": 8,
                          "layers": layers}}
    with TraceWriter(path, header, version=3) as writer:
        for sample, (vectors, bits) in enumerate(samples):
            writer.write(_mvm(sample, "fc1", 100, 12, vectors, bits))
            writer.write(_mvm(sample, "fc2", 12, 10, vectors + 2, bits))
            if backward:
                writer.write(_mvm(sample, "fc2", 12, 10, vectors, bits, "backward", "mvm_t"))
                writer.write(_mvm(sample, "fc1", 100, 12, vectors, 8, "backward", "mvm_t"))
                writer.write({"sample": sample, "phase": "update", "layer": "fc1",
                              "kind": "transfer", "reads": 3, "input_bits": bits,
                              "bit_length": 2, "pulses": 5})
    return path


def same_results(config: HardwareConfig, trace: Path) -> SimResult:
    """Run ``trace`` with the merged accounting and with the reference; every count, busy
    cycle, statistic and energy must be equal (exactly: ``==`` on the frozen results)."""
    PerGroupAccounting.made.clear()
    PerGroupAccounting.records = 0
    merged = simulate(config, trace)
    reference = simulate(config, trace, handlers=reference_handlers())
    assert PerGroupAccounting.records > 0, "the reference accounting did not run"
    assert merged.components == reference.components
    assert merged.tile_busy_cycles == reference.tile_busy_cycles
    assert merged.controller == reference.controller
    assert merged.statistics == reference.statistics
    assert merged == reference
    assert account(merged) == account(reference)
    return merged


def most_groups() -> int:
    """The most crossbar groups of a layer in the reference run just made."""
    return max(len(handler.groups) for handler in PerGroupAccounting.made)


@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("wu2023_64x64.yaml", []),
        ("wu2023_64x64.yaml", ["mapping.copies={fc1: 3, fc2: 4}", "mapping.pack_copies=false",
                               "chip.tiles=16"]),
        ("wu2023_64x64.yaml", ["mapping.copies={fc1: 3, fc2: 5}", "mapping.pipeline=true",
                               "controller.scope=tile", "chip.tiles=16"]),
        ("wu2023_64x64.yaml", ["mapping.copies={fc2: 4}", "controller.enabled=false"]),
        ("isaac_like.yaml", ["mapping.copies={fc1: 2, fc2: 6}"]),
        ("isaac_like.yaml", ["mapping.copies={fc1: 4}", "mapping.pack_copies=false"]),
        ("wu2023_two_groups.yaml", ["mapping.layers={fc1: {group: conv}}",
                                    "mapping.copies={fc1: 3, fc2: 2}"]),
    ],
)
def test_merged_accounting_equals_per_group_accounting(tmp_path, config, overrides):
    """Several copies (several groups per layer, uneven shares), several input precisions
    and vector counts per layer, both schedules, a timed and an untimed controller."""
    hardware = load_hardware(CONFIGS / config, overrides)
    same_results(hardware, mixed_trace(tmp_path / "t.jsonl"))
    if any("copies" in o for o in overrides):
        assert most_groups() > 1


@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("wu2023_64x64.yaml", []),
        ("wu2023_64x64.yaml", ["mapping.copies={conv1: 4, conv2: 3}", "chip.tiles=16"]),
        ("wu2023_two_groups.yaml", ["mapping.copies={conv1: 3}", "mapping.pipeline=true"]),
        ("isaac_like.yaml", ["mapping.copies={conv1: 5, fc1: 2}"]),
    ],
)
def test_merged_accounting_equals_per_group_accounting_on_lenet(config, overrides):
    """LeNet's trace: the records' measured bit-plane densities, float counts among the
    integer ones."""
    same_results(load_hardware(CONFIGS / config, overrides), LENET)


@pytest.mark.parametrize("overrides", [[], ["mapping.copies={fc1: 3, fc2: 2}"],
                                       ["mapping.pipeline=true"]])
def test_backward_records_are_accounted_as_per_group(tmp_path, overrides):
    """Transposed reads (the backward handler's cost hook) and transfers on the training
    config."""
    hardware = load_hardware(CONFIGS / "wu2023_64x64_training.yaml", overrides)
    result = same_results(hardware, mixed_trace(tmp_path / "t.jsonl", backward=True))
    assert set(result.phases) == {"forward", "backward", "update"}
    assert any(isinstance(h, ReferenceBackward) for h in PerGroupAccounting.made)


def test_a_stateful_kind_is_asked_again_for_every_record(tmp_path, monkeypatch):
    """A kind whose costs follow each tile's mode (STATEFUL), the mode flipped after every
    record: the merged accounting must use each record's own costs, never a cost remembered
    from an earlier record (the reference asks the kind again for every record)."""

    class ModalTiles(CrossbarTiles):
        STATEFUL = True

        def op_cost(self, layout, input_bits, tile):
            cost = super().op_cost(layout, input_bits, tile)
            if tile.mode != "slow":
                return cost
            doubled = tuple((c, a, 2 * n + 1) for c, a, n in cost.actions)
            return OpCost(2 * cost.cycles, doubled, tuple((c, 3 * n) for c, n in cost.busy))

    def flipping(base):
        class Flipping(base):
            """Flips the mode of the layer's tiles after each of its records."""

            def execute(self, record):
                yield from super().execute(record)
                for placed in self.mapping.groups:
                    for crossbar in placed.crossbars:
                        tile = self.sim.system.tile_of(crossbar)
                        tile.mode = None if tile.mode == "slow" else "slow"

        return Flipping

    monkeypatch.setattr(system_module, "TILE_KINDS", {"crossbar": ModalTiles})
    config = load_hardware(CONFIGS / "wu2023_64x64.yaml", [
        "mapping.copies={fc1: 3, fc2: 2}", "mapping.pack_copies=false", "chip.tiles=16"
    ])
    trace = mixed_trace(tmp_path / "t.jsonl")
    merged = simulate(config, trace, handlers=default_handlers().register(
        "forward", "mvm", flipping(MatrixForward)))
    reference = simulate(config, trace, handlers=default_handlers().register(
        "forward", "mvm", flipping(ReferenceForward)))
    assert merged == reference
    assert account(merged) == account(reference)
    # The modes did change the costs: a run that never flips counts fewer operations.
    plain = simulate(config, trace)
    ops = {c.kind: c.actions for c in merged.components}["tile"]["tile.op"]
    assert ops > {c.kind: c.actions for c in plain.components}["tile"]["tile.op"]


def test_a_record_cost_is_the_sum_of_its_groups(tmp_path):
    """The merged cost of a record against its groups' plans and shares, for several input
    precisions and vector counts (events, arrays' time and busy cycles included, which the
    reference accounting does not see)."""
    config = load_hardware(CONFIGS / "isaac_like.yaml",
                           ["mapping.copies={fc1: 3, fc2: 4}", "mapping.pack_copies=false"])
    PerGroupAccounting.made.clear()
    simulate(config, mixed_trace(tmp_path / "t.jsonl"), handlers=reference_handlers())
    for handler in PerGroupAccounting.made:
        timed = handler.sim.system.controller.timed
        for bits in (1, 3, 8):
            for vectors in (1, 2, 5, 12, 13):
                cost = handler.record_cost(bits, vectors)
                assert handler.record_cost(bits, vectors) is cost  # remembered
                plans, shares = handler.plans(bits), handler.shares(vectors)
                steps = [max(share.values()) for share in shares]
                work = [(plan, n, i) for i, (plan, n) in enumerate(zip(plans, steps)) if n]
                assert cost.jobs == tuple(work)
                assert cost.events == (sum(steps) if timed else len(steps))
                assert cost.vmm_steps == max(steps)
                assert cost.tile_cycles == max(p.cost.cycles * n for p, n, _ in work)
                assert cost.tile_ops == sum(n * len(handler._crossbars[i]) for _, n, i in work)
                busy = np.zeros(handler.sim.system.crossbar_busy.shape, dtype=np.int64)
                for plan, n, i in work:
                    busy[handler._crossbars[i]] += n * plan.cost.cycles
                merged = np.zeros_like(busy)
                merged[cost.crossbars] += cost.busy_cycles
                assert np.array_equal(merged, busy)
                assert len(set(cost.crossbars.tolist())) == len(cost.crossbars)
                for component, action, n in cost.charges.actions:
                    assert n == sum(k * p.cost.count(component.KIND, action)
                                    for p, k, _ in work)
                    assert isinstance(n, int)


def test_charges_merge_each_action_once():
    """Two costs on the same components: one entry per (component, action), zeros kept."""
    a, b = Component(1), Component(1)
    for component in (a, b):
        component.declare("x", 1e-12, "x")
        component.declare("y", 1e-12, "y")
    first = OpCost(3, ((a, "x", 2), (a, "y", 0), (b, "x", 1)), ((a, 5),))
    second = OpCost(4, ((b, "x", 3), (a, "x", 1)), ((a, 1), (b, 2)))
    charges = Charges.of([(first, 10), (second, 7)])
    assert charges.actions == ((a, "x", 27), (a, "y", 0), (b, "x", 31))
    assert charges.busy == ((a, 57), (b, 14))
    charges.charge("backward")
    assert a.counts_by_phase() == {"backward": {"x": 27.0, "y": 0.0}}
    assert b.counts_by_phase() == {"backward": {"x": 31.0, "y": 0.0}}
    assert (a.busy_by_phase(), b.busy_by_phase()) == ({"backward": 57}, {"backward": 14})


def test_counts_per_record_do_not_grow_with_the_groups(tmp_path, monkeypatch):
    """A record costs one count per (component, action) of its layer, however many crossbar
    groups (here copies, unpacked) share its vectors."""
    calls = 0
    count = Component.count

    def counting(self, action, times, phase="forward"):
        nonlocal calls
        calls += 1
        count(self, action, times, phase)

    monkeypatch.setattr(Component, "count", counting)
    trace = mixed_trace(tmp_path / "t.jsonl")
    per_copies = {}
    for copies in (1, 8):
        calls = 0
        simulate(load_hardware(CONFIGS / "wu2023_64x64.yaml", [
            f"mapping.copies={{fc1: {copies}, fc2: {copies}}}", "mapping.pack_copies=false",
            "chip.tiles=24",
        ]), trace)
        per_copies[copies] = calls
    assert per_copies[1] == per_copies[8]
