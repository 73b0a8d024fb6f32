"""Regression against Wu et al. 2023, Table 2 (arXiv 2305.14547; archsim/REFERENCES.md [Wu2023]).

The networks come from the model zoo (``lenet-wu``, ``vgg8-wu``: archsim's reconstruction of the
shapes, made to match every count of Table 2; see [Wu2023]), the traces from a real NumPy forward
pass, the hardware from ``hw_configs/wu2023_*.yaml`` (the paper's stated parameters: 64x64 or
256x64 arrays, 100 MHz, 8-bit bit-serial inputs, one TIA + ADC per 8 columns, 9 cycles per
conversion, 2.66 or 2.93 nJ per tile operation). The simulator counts; nothing here is typed in
from the table except the expected values.

Tolerances: counts are exact. Times and energies within 3 %, the issue's tolerance: Table 2
prints two or three significant digits (0.46 ms is 0.4615 ms to within rounding; 1.9 uJ is
707 x 2.66 nJ = 1.881 uJ), so a 3 % band covers the table's rounding and nothing more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONFIGS

from archsim.config import load_hardware
from archsim.energy import account
from archsim.report import build_report
from archsim.sim import simulate
from archsim.workload.export import export_trace

REL = 0.03


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "lenet.jsonl.gz"
    export_trace("lenet-wu", path, samples=3, seed=0)
    return path


@pytest.fixture(scope="module")
def vgg8(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "vgg8.jsonl.gz"
    export_trace("vgg8-wu", path, samples=2, seed=0)
    return path


def report(config: str, trace: Path, *overrides: str) -> dict:
    hardware = load_hardware(CONFIGS / config, overrides)
    result = simulate(hardware, trace)
    return build_report(result, account(result))["per_inference"]


def test_lenet_counts_latency_and_energy(lenet):
    """LeNet, 64x64 arrays: 6 crossbars, 641 ops, 707 tile ops, 0.46 ms, 1.9 uJ per image."""
    per = report("wu2023_64x64.yaml", lenet)
    assert per["counters"]["crossbars"] == 6
    assert per["counters"]["vmm_steps"] == 641
    assert per["counters"]["tile_ops"] == 707
    assert per["latency_s"] == pytest.approx(0.46e-3, rel=REL)
    assert per["energy_j"] == pytest.approx(1.9e-6, rel=REL)


def test_lenet_pipelined(lenet):
    """Pipelined: 0.42 ms per image (the slowest layer, conv1: 576 ops x 720 ns)."""
    per = report("wu2023_64x64.yaml", lenet, "mapping.pipeline=true")
    assert 1.0 / per["throughput_per_s"] == pytest.approx(0.42e-3, rel=REL)


def test_lenet_with_eight_copies_of_conv1(lenet):
    """8 copies of conv1, 2 per array: 9 crossbars, 0.053 ms per image (the text's figure;
    Table 2 rounds it to 0.05 ms)."""
    per = report("wu2023_64x64.yaml", lenet, "mapping.pipeline=true", "mapping.copies={conv1: 8}")
    assert per["counters"]["crossbars"] == 9
    assert 1.0 / per["throughput_per_s"] == pytest.approx(0.053e-3, rel=REL)


def test_vgg8_counts_latency_and_energy(vgg8):
    """VGG-8, 256x64 arrays: 78 crossbars, 2690 ops, 7713 tile ops, 1.94 ms, 23 uJ per image."""
    per = report("wu2023_256x64.yaml", vgg8)
    assert per["counters"]["crossbars"] == 78
    assert per["counters"]["vmm_steps"] == 2690
    assert per["counters"]["tile_ops"] == 7713
    assert per["latency_s"] == pytest.approx(1.94e-3, rel=REL)
    assert per["energy_j"] == pytest.approx(23e-6, rel=REL)


def test_vgg8_pipelined(vgg8):
    """Pipelined: 0.74 ms per image (conv1 and conv2: 1024 ops x 720 ns)."""
    per = report("wu2023_256x64.yaml", vgg8, "mapping.pipeline=true")
    assert 1.0 / per["throughput_per_s"] == pytest.approx(0.74e-3, rel=REL)


def test_vgg8_with_four_copies_of_conv1_and_conv2(vgg8):
    """4 copies of conv1 and conv2: 0.19 ms per image. The simulator gives 256 ops x 720 ns =
    0.184 ms (conv1..conv4 all take 256 ops), 2.99 % under the printed 0.19 ms; the text's
    "3.9x faster" (0.737 / 3.9 = 0.189 ms) agrees with it to 2.5 %."""
    per = report("wu2023_256x64.yaml", vgg8, "mapping.pipeline=true",
                 "mapping.copies={conv1: 4, conv2: 4}")
    assert 1.0 / per["throughput_per_s"] == pytest.approx(0.19e-3, rel=REL)
    plain = report("wu2023_256x64.yaml", vgg8, "mapping.pipeline=true")
    assert per["throughput_per_s"] / plain["throughput_per_s"] == pytest.approx(3.9, rel=REL)
