"""``archsim accuracy`` and ``api.accuracy``: a trained model tested on a config's crossbars."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS

from archsim import api
from archsim.cli import main
from archsim.errors import ConfigError

WU = CONFIGS / "wu2023_64x64.yaml"


def test_adc_bits_cost_accuracy_and_the_seed_draws_the_noise():
    """Fewer ADC bits lose accuracy (2 bits far below 8); with read noise the seed decides the
    result, and the same seed gives the same one."""
    full = api.accuracy(WU, "mlp", epochs=5)
    coarse = api.accuracy(WU, "mlp", epochs=5, overrides=["tile.adc.bits=2"])
    assert full.accuracy > coarse.accuracy + 0.2
    assert abs(full.accuracy - full.software_accuracy) <= 0.01
    noisy = ["device.read_noise=0.3", "device.program_noise=0.1"]
    runs = [api.accuracy(WU, "mlp", epochs=5, overrides=noisy, seed=s) for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0].to_dict() != runs[2].to_dict()


def test_cli_prints_one_summary_or_json(capsys):
    assert main(["accuracy", str(WU), "mlp", "--epochs", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["samples"] == 359 and 0 <= data["accuracy"] <= 1
    assert main(["accuracy", str(WU), "mlp", "--epochs", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("mlp on wu2023_64x64.yaml: ") and "% on hardware" in out[0]


def test_a_config_without_a_device_section_is_refused(capsys):
    with pytest.raises(ConfigError, match="device: missing"):
        api.accuracy(CONFIGS / "isaac_like.yaml", "mlp", epochs=1)
    assert main(["accuracy", str(WU), "resnet18"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["archsim: error: model: 'resnet18' cannot be trained offline; expected "
                   "'mlp' or 'lenet-wu'"]
