"""The sparse compute unit bank (archsim/hw/scu.py) on its own.

Cycles are checked against the closed forms of the module docstring, MAC counts against the dense
slots, U against its bounds, the step time of a sparse layer against the dense time x (1 - s),
and the static assignment by position against the balanced one.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from archsim.config.loader import config_from_data
from archsim.config.schema import ScuConfig
from archsim.energy import account
from archsim.errors import ConfigError
from archsim.hw.scu import ScuBank, ScuJob, assign_balanced, assign_static, slot_zero_fraction
from archsim.sim.engine import component_result

CLOCK_HZ = 1e9

SCU = {
    "units": 4,
    "mac_width": 16,
    "pipeline_depth": 5,
    "zero_handling": "skip",
    "value_bits": 8,
    "accumulator_bits": 32,
    "input_buffer_bytes": "4KiB",
    "output_buffer_bytes": "1KiB",
    "energy": {
        "mac": "0.2pJ",
        "skipped_slot": "0.01pJ",
        "gated_slot": "0.03pJ",
        "buffer_read_byte": "0.05pJ",
        "buffer_write_byte": "0.07pJ",
    },
}


def scu_config(**changes: object) -> ScuConfig:
    return config_from_data(ScuConfig, {**SCU, **changes}, (), "<test>")


def bank(**changes: object) -> ScuBank:
    return ScuBank(simpy.Environment(), scu_config(**changes), clock_hz=CLOCK_HZ)


def run_jobs(scu: ScuBank, jobs: list[tuple[int, ScuJob]]) -> list[int]:
    done = [scu.submit(unit, job) for unit, job in jobs]
    scu.env.run()
    return [int(p.value) for p in done]


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handling", ["skip", "gate"])
@pytest.mark.parametrize(("blocks", "b", "vectors", "zeros"), [
    (3, 8, 10, 0.0), (5, 4, 7, 0.5), (1, 16, 3, 0.9), (2, 8, 1, 1.0),
])
def test_job_cycles_follow_the_closed_forms(handling, blocks, b, vectors, zeros):
    scu = bank(zero_handling=handling, pipeline_depth=7, mac_width=12)
    job = ScuJob.with_zeros(blocks, b, vectors, zeros)
    dense = blocks * b * b * vectors
    assert job.dense_slots == dense
    assert job.nonzero_macs == round(dense * (1 - zeros))
    issued = job.nonzero_macs if handling == "skip" else dense
    expected = 7 + math.ceil(issued / 12)
    (end,) = run_jobs(scu, [(0, job)])
    assert end == expected == scu.job_cycles(job)
    assert scu.busy_cycles == expected


def test_jobs_on_one_unit_queue_in_fifo_order_and_units_run_in_parallel():
    scu = bank()
    a, b = ScuJob.with_zeros(2, 8, 4), ScuJob.with_zeros(1, 8, 4, 0.5)
    ca, cb = scu.job_cycles(a), scu.job_cycles(b)
    ends = run_jobs(scu, [(0, a), (0, b), (1, b)])
    assert ends == [ca, ca + cb, cb]
    assert [s.jobs for s in scu.unit_stats()] == [2, 1, 0, 0]


def test_a_job_without_slots_takes_no_cycles():
    scu = bank()
    assert run_jobs(scu, [(0, ScuJob.with_zeros(0, 8, 4))]) == [0]


@pytest.mark.parametrize("handling", ["skip", "gate"])
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    jobs=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 6), st.sampled_from([1, 4, 8]),
                  st.integers(0, 9), st.floats(0.0, 1.0)),
        min_size=1, max_size=8,
    )
)
def test_macs_performed_plus_zero_slots_are_the_dense_macs(handling, jobs):
    scu = bank(zero_handling=handling)
    work = [(u, ScuJob.with_zeros(n, b, v, z)) for u, n, b, v, z in jobs]
    run_jobs(scu, work)
    stats = scu.unit_stats()
    assert sum(s.macs + s.zero_slots for s in stats) == sum(j.dense_slots for _, j in work)
    counts = scu.counts
    zero_action = "skipped_slot" if handling == "skip" else "gated_slot"
    assert counts["mac"] + counts[zero_action] == sum(j.dense_slots for _, j in work)
    for u in scu.utilisation().per_unit + scu.utilisation(scu.env.now or 1).per_unit:
        assert 0.0 <= u <= 1.0


# --------------------------------------------------------------------------------------------
# Utilisation
# --------------------------------------------------------------------------------------------


def test_u_is_one_for_a_balanced_dense_step_without_pipeline_fill():
    scu = bank(pipeline_depth=0, mac_width=16, units=4)
    step = scu.run_step(assign_balanced(np.ones((4, 6), bool), 4), 8, 5)
    scu.env.run()
    result = step.value
    assert result.unit_cycles == (6 * 64 * 5 // 16,) * 4
    for u in (scu.utilisation(), scu.utilisation(result.cycles)):
        assert u.per_unit == (1.0,) * 4 and u.mean == u.minimum == 1.0


def test_u_counts_fill_gating_and_imbalance():
    scu = bank(pipeline_depth=4, mac_width=16, units=2, zero_handling="gate")
    step = scu.run_step((3, 1), 4, 4, zero_fraction=0.25)
    scu.env.run()
    result = step.value
    busy = [4 + 3 * 64 // 16, 4 + 64 // 16]
    assert result.unit_cycles == tuple(busy)
    own = scu.utilisation()
    assert own.per_unit == pytest.approx([3 * 48 / (16 * busy[0]), 48 / (16 * busy[1])])
    over_step = scu.utilisation(result.cycles)
    assert over_step.minimum == pytest.approx(48 / (16 * busy[0]))
    assert over_step.mean == pytest.approx(4 * 48 / (2 * 16 * busy[0]))
    assert bank().utilisation().per_unit == (0.0,) * 4  # nothing ran: no division by zero


# --------------------------------------------------------------------------------------------
# Sparse step time against dense x (1 - s)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_balanced_sparse_step_is_dense_time_times_one_minus_s_within_one_block(sparsity):
    """|T_s - (1 - s) T_d| <= pipeline_depth + B^2 V / mac_width + 1: ceil(nnzb / units) is at
    most one block above nnzb / units, the ceiling of a job's cycles adds under one cycle, and
    the pipeline fill is paid whole by both steps rather than scaled by (1 - s)."""
    units, b, vectors, width, depth = 8, 8, 12, 16, 6
    rows, cols = 20, 10  # 200 blocks: nnzb = 100, 50, 20, none a multiple of 8 units
    rng = np.random.default_rng(11)
    dense_mask = np.ones((rows, cols), bool)
    nnzb = round(rows * cols * (1 - sparsity))
    mask = np.zeros(rows * cols, bool)
    mask[rng.choice(rows * cols, nnzb, replace=False)] = True
    mask = mask.reshape(rows, cols)
    times = []
    for m in (dense_mask, mask):
        scu = bank(units=units, mac_width=width, pipeline_depth=depth)
        step = scu.run_step(assign_balanced(m, units), b, vectors)
        scu.env.run()
        times.append(step.value.cycles)
    dense, sparse = times
    bound = depth + b * b * vectors / width + 1
    assert abs(sparse - (1 - sparsity) * dense) <= bound
    assert sparse < (1 - sparsity) * dense + bound  # and it is a real gain
    assert sparse == depth + math.ceil(math.ceil(nnzb / units) * b * b * vectors / width)


# --------------------------------------------------------------------------------------------
# Assignment policies
# --------------------------------------------------------------------------------------------


def test_assignments_by_hand():
    mask = np.array([[1, 1, 0], [0, 1, 1]], bool)  # positions 0, 1, 4, 5
    assert assign_balanced(mask, 3) == (2, 1, 1)
    assert assign_static(mask, 3) == (1, 2, 1)  # 0 -> 0; 1, 4 -> 1; 5 -> 2
    assert assign_static(mask, 2) == (2, 2)


@seed(20240611)
@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    density=st.floats(0.0, 1.0),
    units=st.integers(1, 32),
    mask_seed=st.integers(0, 2**32 - 1),
)
def test_static_assignment_is_never_better_balanced_than_balanced(shape, density, units, mask_seed):
    mask = np.random.default_rng(mask_seed).random(shape) < density
    balanced, static = assign_balanced(mask, units), assign_static(mask, units)
    assert sum(balanced) == sum(static) == np.count_nonzero(mask)  # every block assigned once
    assert max(static) >= max(balanced)
    assert max(balanced) - min(balanced) <= 1


# --------------------------------------------------------------------------------------------
# Energy and errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handling", ["skip", "gate"])
def test_energy_is_the_sum_of_its_breakdown_and_of_the_declared_actions(handling):
    scu = bank(zero_handling=handling)
    job = ScuJob.with_zeros(3, 8, 10, 0.4)
    run_jobs(scu, [(0, job), (2, job)])
    energy = account(SimpleNamespace(components=(component_result(scu),)))
    assert energy.total_j == pytest.approx(sum(energy.by_action_j.values()), rel=1e-12)
    e = scu.config.energy
    zero = e.skipped_slot if handling == "skip" else e.gated_slot
    input_bytes = 3 * (64 + 8 * 10) * 8 / 8
    output_bytes = 3 * 8 * 10 * 32 / 8
    by_hand = 2 * (
        job.nonzero_macs * e.mac + job.zero_slots * zero
        + (input_bytes + output_bytes) * (e.buffer_read_byte + e.buffer_write_byte)
    )
    assert energy.total_j == pytest.approx(by_hand, rel=1e-12)
    assert set(energy.by_action_j) == {
        "scu.mac", f"scu.{'skipped' if handling == 'skip' else 'gated'}_slot",
        "scu.input_buffer_read", "scu.input_buffer_write",
        "scu.output_buffer_read", "scu.output_buffer_write",
    }


@pytest.mark.parametrize(("changes", "message"), [
    ({"units": 0}, r"units"),
    ({"mac_width": 0}, r"mac_width"),
    ({"pipeline_depth": -1}, r"pipeline_depth"),
    ({"zero_handling": "drop"}, r"zero_handling"),
    ({"input_buffer_bytes": "64"}, r"input_buffer_bytes"),
    ({"output_buffer_bytes": "0.5B"}, r"output_buffer_bytes"),
    ({"energy": {**SCU["energy"], "mac": "-1pJ"}}, r"energy\.mac"),
])
def test_bad_config_values_raise_one_line_errors_naming_the_field(changes, message):
    with pytest.raises(ConfigError, match=message) as error:
        scu_config(**changes)
    assert "\n" not in str(error.value)


def test_bad_jobs_and_inputs_raise_one_line_errors():
    scu = bank(input_buffer_bytes="64B")
    with pytest.raises(ValueError, match=r"input_buffer_bytes"):
        scu.submit(0, ScuJob.with_zeros(1, 8, 1))  # 64 + 8 B
    with pytest.raises(ValueError, match=r"output_buffer_bytes"):
        bank(output_buffer_bytes="16B").submit(0, ScuJob.with_zeros(1, 8, 1))
    with pytest.raises(ValueError, match=r"unit must be in 0\.\.3"):
        scu.submit(4, ScuJob.with_zeros(0, 8, 1))
    with pytest.raises(ValueError, match=r"nonzero_macs"):
        ScuJob(1, 2, 1, 5)
    with pytest.raises(ValueError, match=r"zero_fraction"):
        ScuJob.with_zeros(1, 2, 1, 1.5)
    with pytest.raises(ValueError, match=r"loads must have 4"):
        scu.run_step((1, 2), 2, 1)
    with pytest.raises(ValueError, match=r"units must be >= 1"):
        assign_static(np.ones((2, 2), bool), 0)
    with pytest.raises(ValueError, match=r"input_zero_fraction"):
        slot_zero_fraction(-0.1)
    assert slot_zero_fraction(0.5, 0.5) == pytest.approx(0.75)
