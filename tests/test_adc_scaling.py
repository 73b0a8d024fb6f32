"""ADC resolution scaling: energy and conversion time at bits other than the quoted ones.

Closed forms from the AdcConfig rules; the ISAAC table: archsim/REFERENCES.md [ISAAC].
"""

from __future__ import annotations

import math

import pytest
from conftest import CONFIGS

from archsim.config import load_hardware
from archsim.energy.models import adc_convert_energy_j as convert_energy_j
from archsim.errors import ConfigError
from archsim.hw.adc import Adc, conversion_cycles
from archsim.sim import simulate

WU = CONFIGS / "wu2023_64x64.yaml"
ISAAC = CONFIGS / "isaac_like.yaml"


@pytest.mark.parametrize("bits", range(1, 17))
def test_wu_scaling_closed_forms(bits):
    """Walden: 10 pJ x 2^(bits - 8); linear cycles: ceil(1 x bits / 8)."""
    adc = load_hardware(WU, [f"tile.adc.bits={bits}"]).tile.adc
    assert convert_energy_j(adc) == pytest.approx(10e-12 * 2.0 ** (bits - 8), rel=1e-12)
    assert conversion_cycles(adc) == math.ceil(bits / 8)


@pytest.mark.parametrize("scaling,expected", [("fixed", 10e-12), ("linear", 10e-12 * 12 / 8)])
def test_fixed_and_linear_energy(scaling, expected):
    adc = load_hardware(WU, [f"tile.adc.energy_scaling={scaling}", "tile.adc.bits=12"]).tile.adc
    assert convert_energy_j(adc) == pytest.approx(expected, rel=1e-12)


def test_isaac_table_is_used_as_published():
    """The ADC declares its convert action with the table's energy at its resolution."""
    for bits, pj in {4: 0.79, 6: 1.20, 8: 1.67, 10: 2.38}.items():
        adc = load_hardware(ISAAC, [f"tile.adc.bits={bits}"]).tile.adc
        declared = Adc(adc, 128, instances=1, instances_used=1).actions["convert"].energy_j
        assert declared == pytest.approx(pj * 1e-12, rel=1e-12)


def test_table_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"tile\.adc\.energy_by_bits: energy_scaling: table "
                                          r"needs the energy at tile\.adc\.bits \(12\)"):
        load_hardware(ISAAC, ["tile.adc.bits=12"])
    with pytest.raises(ConfigError, match=r"tile\.adc\.energy_by_bits: only used with "
                                          r"energy_scaling: table"):
        load_hardware(WU, ["tile.adc.energy_by_bits={8: 1pJ}"])
    with pytest.raises(ConfigError, match=r"tile\.adc\.energy_by_bits: keys must be integers"):
        load_hardware(ISAAC, ["tile.adc.energy_by_bits={eight: 1pJ}"])
    with pytest.raises(ConfigError, match=r"tile\.adc\.energy_by_bits\.8: expected a quantity"):
        load_hardware(ISAAC, ["tile.adc.energy_by_bits={8: 1}"])


def test_more_adc_bits_cost_time_and_energy_on_the_wu_chip(chain_trace):
    """One 64x64 layer, 10 vectors: 8 column groups x (8 slices + conversion) cycles per
    operation; at 8 bits the conversion is 1 cycle, at 12 bits 2 (72 -> 80 cycles), and each
    conversion costs 16x the energy."""
    trace = chain_trace([(64, 32, 10)])
    base = simulate(load_hardware(WU), trace)
    wide = simulate(load_hardware(WU, ["tile.adc.bits=12"]), trace)
    assert (base.latency.mean, wide.latency.mean) == (10 * 72, 10 * 80)
    count = lambda r: next(c for c in r.components if c.kind == "adc").actions["adc.convert"]
    assert count(base) == count(wide)  # same conversions, each dearer
