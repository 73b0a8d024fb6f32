"""The bundled sweep specs run, and the examples in hw_configs/sweeps/README.md are valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sweep_fixtures import rows, write_spec

from archsim.config.loader import load_yaml
from archsim.dse import load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[2]
SWEEPS = ROOT / "hw_configs" / "sweeps"
README = SWEEPS / "README.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)


def test_the_bundled_example_runs(tmp_path):
    summary = run_sweep(SWEEPS / "lenet_adc_xbar.yaml", tmp_path / "out", workers=1, progress=False)
    assert (summary.points, summary.ok, summary.errors) == (28, 21, 7)  # as its README says
    got = rows(tmp_path / "out")
    assert {r["error"].split(" (")[0] for r in got if r["status"] == "error"} == {
        "the network needs 11 crossbars"
    }
    assert any(r["pareto"] for r in got)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_spec_loads(path):
    assert load_spec(path).size > 0


def test_the_readme_example_is_the_bundled_file(tmp_path):
    (example,) = [b for b in yaml_blocks() if b.startswith("version: 1")]
    text = example.replace("../wu2023_64x64.yaml", str(ROOT / "hw_configs" / "wu2023_64x64.yaml"))
    text = text.replace("../../traces/", f"{ROOT / 'traces'}/")
    (tmp_path / "example.yaml").write_text(text)
    shown, bundled = load_spec(tmp_path / "example.yaml"), load_spec(SWEEPS / "lenet_adc_xbar.yaml")
    for part in ("name", "config_path", "overrides", "seeds", "axes", "metrics", "pareto"):
        assert getattr(shown, part) == getattr(bundled, part), part
    assert [t.sha256 for t in shown.traces] == [t.sha256 for t in bundled.traces]


@pytest.mark.parametrize("index", range(3))
def test_the_readme_axes_are_valid(tmp_path, index):
    blocks = [b for b in yaml_blocks() if b.startswith("axes:")]
    assert len(blocks) == 3
    (tmp_path / "axes.yaml").write_text(blocks[index])
    spec = load_spec(write_spec(tmp_path, axes=load_yaml(tmp_path / "axes.yaml")["axes"]))
    assert spec.size > 1
