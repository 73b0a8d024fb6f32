"""Workload stage: soft-bounds and multi-level device models (archsim.workload.devices)."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.errors import WorkloadError
from archsim.workload.devices import (
    MultiLevelArray,
    MultiLevelParams,
    SoftBoundsArray,
    SoftBoundsParams,
    soft_bounds_after,
)

# Rasch et al. 2024 (Nat. Commun. 15:7133), Fig. 3 device spreads.
FIG3 = SoftBoundsParams(delta=0.05, sigma_b=0.3, sigma_d2d=0.3, sigma_pm=0.3, sigma_c2c=0.3)


def noiseless(params: SoftBoundsParams) -> SoftBoundsParams:
    return SoftBoundsParams(delta=params.delta, sigma_b=params.sigma_b,
                            sigma_d2d=params.sigma_d2d, sigma_pm=params.sigma_pm)


def test_up_and_down_pulses_match_the_closed_form() -> None:
    # sigma_b = 0.2 keeps every bound clear of 0, so that no step reaches its bound.
    params = SoftBoundsParams(delta=0.05, sigma_b=0.2, sigma_d2d=0.3, sigma_pm=0.3)
    rng = np.random.default_rng(1)
    array = SoftBoundsArray((20, 30), params, rng)
    assert (array.a_up < array.w_max).all() and (array.a_down < -array.w_min).all()
    n_up = rng.integers(0, 60, array.shape)
    assert array.pulse(n_up) == n_up.sum()
    expected = soft_bounds_after(0.0, n_up, array.a_up, array.w_max)
    np.testing.assert_allclose(array.state, expected, rtol=1e-12, atol=1e-12)
    start = array.read(noisy=False)
    n_down = rng.integers(0, 60, array.shape)
    assert array.pulse(-n_down) == n_down.sum()
    expected = soft_bounds_after(start, n_down, -array.a_down, array.w_min)
    np.testing.assert_allclose(array.state, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(array.pulses, n_up + n_down)
    # One pulse from 0 moves by exactly the drawn step.
    single = SoftBoundsArray((4, 4), params, np.random.default_rng(2))
    single.pulse(np.ones((4, 4), dtype=np.int64))
    np.testing.assert_allclose(single.state, single.a_up, rtol=1e-15)


def test_device_to_device_draws_follow_the_paper() -> None:
    params = SoftBoundsParams(delta=0.05, sigma_b=0.3, sigma_d2d=0.3, sigma_pm=0.3)
    array = SoftBoundsArray((200, 200), params, np.random.default_rng(3))
    assert params.n_states == pytest.approx(40.0)
    assert np.std(array.w_max) == pytest.approx(0.3, rel=0.05)
    assert np.mean(array.w_min) == pytest.approx(-1.0, abs=0.01)
    # a+ + a- = 2 delta gamma (when |rho| < gamma), gamma log-normal with sigma 0.3.
    gamma = (array.a_up + array.a_down) / (2 * params.delta)
    assert np.std(np.log(gamma)) == pytest.approx(0.3, rel=0.05)
    rho = (array.a_up - array.a_down) / (2 * params.delta)
    assert np.std(rho) == pytest.approx(0.3, rel=0.05)


def test_symmetry_point_is_where_alternating_pulses_settle() -> None:
    array = SoftBoundsArray((10, 10), noiseless(FIG3), np.random.default_rng(4))
    assert (array.w_max > 0).all() and (array.w_min < 0).all()
    star = array.symmetry_point()
    # At w*, an up and a down step have the same size.
    np.testing.assert_allclose(array.a_up * (1 - star / array.w_max),
                               array.a_down * (1 - star / array.w_min), rtol=1e-12)
    array.set_state(np.random.default_rng(5).uniform(-0.8, 0.8, array.shape))
    up, down = np.ones(array.shape, dtype=np.int64), -np.ones(array.shape, dtype=np.int64)
    for _ in range(1500):
        array.pulse(up)
        high = array.read(noisy=False)
        array.pulse(down)
    low = array.read(noisy=False)
    # The settled cycle low -> high -> low brackets w*. Its up step from low equals its down
    # step from high; both steps are linear in w, with slopes a+/w_max and a-/|w_min|, so w*
    # splits the cycle in the ratio of those slopes.
    slope_up, slope_down = array.a_up / array.w_max, array.a_down / -array.w_min
    split = low + (high - low) * slope_down / (slope_up + slope_down)
    assert (low < star).all() and (star < high).all()
    np.testing.assert_allclose(split, star, rtol=0, atol=1e-12)


def test_random_pulses_with_cycle_noise_average_to_the_symmetry_point() -> None:
    rng = np.random.default_rng(6)
    array = SoftBoundsArray((40, 40), FIG3, rng)
    star = array.symmetry_point()
    total, samples = np.zeros(array.shape), 0
    for step in range(3000):
        array.pulse(rng.choice(np.array([-1, 1]), array.shape))
        if step >= 1000:
            total += array.read(noisy=False)
            samples += 1
    # The mean drift is linear in w and zero at w*: the stationary mean is w*.
    assert np.abs(total / samples - star).mean() < 0.02
    assert np.mean(total / samples - star) == pytest.approx(0.0, abs=0.005)


def test_bounds_clamp_and_every_pulse_counts() -> None:
    params = SoftBoundsParams(delta=1.0, sigma_b=1.0)
    array = SoftBoundsArray((30, 30), params, np.random.default_rng(7))
    assert (array.w_max >= 0).all() and (array.w_min <= 0).all()
    assert (array.w_max == 0).any() and (array.w_min == 0).any()
    ones = np.ones(array.shape, dtype=np.int64)
    assert array.pulse(ones) == ones.sum()
    # From 0 one up pulse moves by a+; where that overshoots w_max the device is clamped to it.
    overshoot = array.a_up >= array.w_max
    assert 0.2 < overshoot.mean() < 0.8
    np.testing.assert_array_equal(array.state[overshoot], array.w_max[overshoot])
    np.testing.assert_allclose(array.state[~overshoot], array.a_up[~overshoot])
    # Pulses on a device held at its bound still count.
    assert array.pulse(3 * ones) == 3 * ones.sum()
    np.testing.assert_array_equal(array.state[overshoot], array.w_max[overshoot])
    noisy = SoftBoundsArray((30, 30), SoftBoundsParams(delta=1.0, sigma_b=1.0, sigma_c2c=1.0,
                                                       c2c_mode="additive"),
                            np.random.default_rng(8))
    counts = np.random.default_rng(9).integers(-6, 7, noisy.shape)
    for _ in range(5):
        assert noisy.pulse(counts) == np.abs(counts).sum()
        assert (noisy.state <= noisy.w_max).all() and (noisy.state >= noisy.w_min).all()
    np.testing.assert_array_equal(noisy.pulses, 5 * np.abs(counts))
    np.testing.assert_array_equal(array.pulses, 4 * ones)
    index = np.array([0, 5, 17])
    assert array.pulse(np.array([2, -3, 1]), index) == 6
    assert array.pulses.reshape(-1)[index].tolist() == [6, 7, 5]


def test_reference_offsets_and_read_noise() -> None:
    array = SoftBoundsArray((100, 100), SoftBoundsParams(delta=0.05, sigma_pm=0.3,
                                                         read_noise=0.1),
                            np.random.default_rng(8))
    offset = array.reference(mean=-0.8, std=0.2) - array.symmetry_point()
    assert offset.mean() == pytest.approx(-0.8, abs=0.01)
    assert offset.std() == pytest.approx(0.2, rel=0.05)
    assert (array.read() - array.state).std() == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(array.read(noisy=False), array.state)
    assert array.read_row(3, noisy=False).tolist() == array.state[3].tolist()


def test_same_seed_same_devices() -> None:
    first = SoftBoundsArray((6, 6), FIG3, np.random.default_rng(9))
    second = SoftBoundsArray((6, 6), FIG3, np.random.default_rng(9))
    counts = np.arange(-18, 18).reshape(6, 6)
    first.pulse(counts)
    second.pulse(counts)
    np.testing.assert_array_equal(first.state, second.state)


@pytest.mark.parametrize("kwargs, field", [
    ({"delta": 0.0}, "delta"),
    ({"delta": 0.05, "sigma_b": -0.1}, "sigma_b"),
    ({"delta": 0.05, "sigma_c2c": float("nan")}, "sigma_c2c"),
    ({"delta": 0.05, "c2c_mode": "both"}, "c2c_mode"),
])
def test_soft_bounds_params_refuse_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(WorkloadError, match=f"^{field}: "):
        SoftBoundsParams(**kwargs)


def test_soft_bounds_array_refuses_bad_calls() -> None:
    array = SoftBoundsArray((3, 4), FIG3, np.random.default_rng(0))
    with pytest.raises(WorkloadError, match="^counts: "):
        array.pulse(np.ones((4, 3), dtype=np.int64))
    with pytest.raises(WorkloadError, match="^counts: "):
        array.pulse(np.ones((3, 4)))
    with pytest.raises(WorkloadError, match="^shape: "):
        SoftBoundsArray((3,), FIG3, np.random.default_rng(0))


# Wu et al. 2023 (arXiv 2305.14547): 4-40 uS, 128 levels.
WU = MultiLevelParams()


def test_quantise_rounds_to_the_nearest_level() -> None:
    cells = MultiLevelArray((2, 2), WU, np.random.default_rng(0))
    step = WU.level_step_s
    assert step == pytest.approx(36e-6 / 127)
    levels = cells.quantise(np.array([4e-6, 4e-6 + 0.49 * step, 4e-6 + 0.51 * step, 50e-6]))
    np.testing.assert_allclose(levels, [4e-6, 4e-6, 4e-6 + step, 40e-6])


def test_noiseless_write_takes_one_pulse_and_one_verify_per_cell() -> None:
    rng = np.random.default_rng(1)
    cells = MultiLevelArray((6, 5), WU, rng)
    mask = np.zeros((6, 5), dtype=bool)
    mask[0, 1] = mask[0, 3] = True
    mask[2, :2] = True
    mask[5, 4] = True
    targets = cells.quantise(rng.uniform(4e-6, 40e-6, (6, 5)))
    result = cells.program(mask, targets)
    assert (result.cells, result.pulses, result.verify_reads) == (5, 5, 5)
    assert result.rounds == 3 and result.failed == 0
    np.testing.assert_array_equal(cells.conductance[mask], targets[mask])
    np.testing.assert_array_equal(cells.conductance[~mask], 4e-6)
    np.testing.assert_array_equal(cells.pulses, mask.astype(int))
    np.testing.assert_array_equal(cells.writes, mask.astype(int))


def test_write_and_verify_reaches_tolerance_within_its_budget() -> None:
    # Programming noise of 0.2 level steps: a trial misses half a level with probability
    # about 1.2 %, so eight trials leave a cell out of tolerance with probability ~1e-15.
    step_fraction = 1.0 / 127
    params = MultiLevelParams(program_noise=0.2 * step_fraction, max_trials=8)
    rng = np.random.default_rng(2)
    cells = MultiLevelArray((40, 50), params, rng)
    targets = cells.quantise(rng.uniform(4e-6, 40e-6, (40, 50)))
    mask = rng.random((40, 50)) < 0.7
    result = cells.program(mask, targets)
    assert result.failed == 0
    error = np.abs(cells.conductance - targets)[mask]
    assert (error <= 0.5 * params.level_step_s).all()
    trials = cells.pulses
    assert result.pulses == result.verify_reads == trials.sum()
    assert trials[mask].min() == 1 and 1 < trials.max() <= 8 and (trials[~mask] == 0).all()
    assert result.rounds == trials.max(axis=1).sum()
    assert result.cells == mask.sum()


def test_write_and_verify_reports_cells_left_out_of_tolerance() -> None:
    params = MultiLevelParams(program_noise=2.0 / 127, max_trials=2)
    rng = np.random.default_rng(3)
    cells = MultiLevelArray((30, 30), params, rng)
    targets = cells.quantise(rng.uniform(10e-6, 34e-6, (30, 30)))
    result = cells.program(np.ones((30, 30), dtype=bool), targets)
    # No read noise: the verify read is the conductance, so the failures are visible.
    outside = np.abs(cells.conductance - targets) > 0.5 * params.level_step_s
    assert result.failed == outside.sum() > 0
    assert result.pulses == cells.pulses.sum() <= 2 * 900
    assert (cells.pulses[outside] == 2).all()
    assert result.rounds == 2 * 30


def test_read_noise_and_bad_arguments() -> None:
    params = MultiLevelParams(read_noise=0.01)
    cells = MultiLevelArray((50, 50), params, np.random.default_rng(4), initial_s=20e-6)
    assert (cells.read() - 20e-6).std() == pytest.approx(0.01 * 36e-6, rel=0.05)
    with pytest.raises(WorkloadError, match="^mask: "):
        cells.program(np.ones((50, 50)), np.zeros((50, 50)))
    with pytest.raises(WorkloadError, match="^targets: "):
        cells.program(np.ones((50, 50), dtype=bool), np.zeros((5, 5)))
    for kwargs, field in [({"levels": 1}, "levels"), ({"max_trials": 0}, "max_trials"),
                          ({"g_min_s": 5e-6, "g_max_s": 4e-6}, "g_min_s"),
                          ({"read_noise": -1.0}, "read_noise"),
                          ({"tolerance_levels": 0.0}, "tolerance_levels")]:
        with pytest.raises(WorkloadError, match=f"^{field}"):
            MultiLevelParams(**kwargs)
