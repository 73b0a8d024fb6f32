"""Hostile inputs found by fuzzing the tile groups, routed traces and the commands' arguments:
each is refused as one line ``archsim: error: ...`` (exit status 2, no traceback, nothing left
at ``--out``) within a few seconds, naming the field or argument and, for a size budget, the
budget and how to raise it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from bad_input_cli import CONFIGS, ROOT, WU, fails_cleanly
from conftest import write_chain_trace

from archsim import api
from archsim.cli import main
from archsim.config import MAX_TILE_GROUPS
from archsim.report.plot_cli import MAX_CATEGORIES
from archsim.workload.train import MAX_EPOCHS

WU_NOC = CONFIGS / "wu2023_64x64_noc.yaml"
SCRRAMBLE = CONFIGS / "scrramble_256.yaml"
TWO_GROUPS = CONFIGS / "wu2023_two_groups.yaml"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def groups_config(tmp_path: Path, groups: dict[str, Any], **extra: Any) -> Path:
    """A config over wu2023_64x64.yaml whose tiles are ``groups``."""
    return write_config(tmp_path / "groups.yaml", {
        "version": 1, "base": str(WU), "name": "groups",
        "chip": {"tiles": None, "crossbars_per_tile": None}, "tile_groups": groups, **extra,
    })


# -- size budgets ------------------------------------------------------------------------------


def test_a_runs_noc_packets_are_budgeted_before_any_is_sent(tmp_path, capsys):
    """16 samples of a chain on the 3x3 mesh send 16 x (packets per sample) packets: under a
    budget of 10 the run is refused up front, naming the trace, the count and the option."""
    trace = write_chain_trace(tmp_path / "chain.jsonl", [(25, 4, 12), (100, 12, 3)], samples=16)
    out = tmp_path / "out"
    line = fails_cleanly(capsys, ["run", str(WU_NOC), str(trace), "--limit", "packets=10",
                                  "--out", str(out)], within_s=3)
    assert f"{trace}: 16 samples x " in line and "packets over the NoC" in line
    assert "--limit packets=" in line
    assert not out.exists()


def test_thousands_of_tile_groups_are_refused_before_they_are_merged(tmp_path, capsys):
    """A config of 2,000 one-tile groups: refused naming tile_groups and the bound, without
    merging 2,000 tile sections first."""
    path = groups_config(
        tmp_path, {f"g{i}": {"tiles": 1, "crossbars_per_tile": 1} for i in range(2000)}
    )
    line = fails_cleanly(capsys, ["validate", str(path)], within_s=3)
    assert f"tile_groups: at most {MAX_TILE_GROUPS} groups" in line and "got 2,000" in line


@pytest.mark.parametrize("command", [
    ["scrramble", str(SCRRAMBLE), "--epochs", str(10**9)],
    ["trace", "export", "lenet-wu", "--train", "--epochs", str(MAX_EPOCHS + 1)],
])
def test_training_epochs_are_bounded(tmp_path, capsys, command):
    """Training epochs past the bound are refused before anything is built or trained."""
    if command[0] == "trace":
        command = [*command, "--out", str(tmp_path / "t.jsonl")]
    line = fails_cleanly(capsys, command, within_s=3)
    assert "epochs: " in line and str(MAX_EPOCHS) in line
    assert not (tmp_path / "t.jsonl").exists()


def test_a_bar_chart_of_thousands_of_components_is_refused(tmp_path, capsys):
    """A report whose energy breakdown has 5,000 components (a forged file, or a run of
    thousands of groups) is not drawn bar by bar for minutes: one line, the bound named."""
    run = tmp_path / "run"
    api.run(WU, ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz").write(run)
    data = json.loads((run / "report.json").read_text())
    data["per_inference"]["energy_breakdown_j"] = {f"c{i}": 1e-9 for i in range(5000)}
    (run / "report.json").write_text(json.dumps(data))
    line = fails_cleanly(capsys, ["plot", str(run), "--kind", "breakdown",
                                  "--out", str(tmp_path / "plot")], within_s=5)
    assert "5,000 components" in line and str(MAX_CATEGORIES) in line
    assert not list(tmp_path.glob("plot.*"))


# -- names and arguments shown on one line ----------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("a.b", "tile_groups.a.b: a group name is 1 to 64 letters"),
    ("a\nb", "tile_groups.a\\nb: a group name"),
    ("g" * 5000, "..."),
])
def test_a_bad_group_name_is_refused_on_one_short_line(tmp_path, capsys, name, expected):
    """Group names are addressable (no dots), at most 64 characters, and shown escaped and
    cut in the message."""
    path = groups_config(tmp_path, {name: {"tiles": 9, "crossbars_per_tile": 1}})
    line = fails_cleanly(capsys, ["validate", str(path)])
    assert expected in line and len(line) < 400


def test_a_layer_name_with_a_line_break_stays_on_one_line(tmp_path, capsys):
    """``mapping.layers`` naming no layer of the network, with a line break in the name."""
    trace = write_chain_trace(tmp_path / "chain.jsonl", [(25, 4, 12), (100, 12, 3)])
    config = write_config(tmp_path / "c.yaml", {
        "version": 1, "base": str(WU), "name": "c", "mapping": {"layers": {"fc\n1": {}}},
    })
    line = fails_cleanly(capsys, ["run", str(config), str(trace), "--out", str(tmp_path / "o")])
    assert "mapping.layers.fc\\n1" in line and not (tmp_path / "o").exists()


def test_samples_in_flight_without_a_pipeline_is_refused(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", {
        "version": 1, "base": str(WU), "name": "c", "mapping": {"samples_in_flight": 2},
    })
    line = fails_cleanly(capsys, ["validate", str(config)])
    assert "mapping.samples_in_flight: " in line and "pipeline: true" in line


@pytest.mark.parametrize(("limit", "expected"), [
    ("routers=5\nx", "--limit routers=5\\nx: expected a positive integer"),
    ("r" * 100_000 + "=5", "--limit rrrr"),
    ("routers=" + "9" * 100_000, "expected a positive integer below 10^18"),
])
def test_a_limit_argument_is_shown_escaped_and_short(capsys, limit, expected):
    line = fails_cleanly(capsys, ["validate", str(WU), "--limit", limit])
    assert expected in line and len(line) < 400


def test_long_scrramble_cores_are_shown_short(capsys):
    line = fails_cleanly(capsys, ["scrramble", str(SCRRAMBLE), "--cores", "9" * 4000 + ",2"])
    assert "needs more than 10^18 cores" in line and len(line) < 400


@pytest.mark.parametrize("args", [
    ["scrramble", str(SCRRAMBLE), "--cores", "-1,2"],
    ["run"],
    ["bogus"],
])
def test_argument_errors_are_one_line(args):
    """argparse's own errors (a missing argument, an option-like value, an unknown command)
    are one line too, pointing at --help, with exit status 2."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("archsim: error: "), done.stderr
    assert "--help" in lines[0] and done.stdout == ""
    assert time.monotonic() - start < 10


# -- ScRRAMBLe output ---------------------------------------------------------------------------


def test_scrramble_onto_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("mine")
    line = fails_cleanly(capsys, ["scrramble", str(SCRRAMBLE), "--epochs", "0", "--samples",
                                  "1", "--out", str(target)], within_s=10)
    assert str(target) in line and target.read_text() == "mine"


def test_scrramble_refused_after_its_export_leaves_nothing_and_names_the_config(
    tmp_path, capsys
):
    """The NoC's buffers cannot hold the run's packets: found when the run builds the NoC,
    after the trace was exported; nothing is left in --out, and the error names the file."""
    out = tmp_path / "out"
    line = fails_cleanly(capsys, ["scrramble", str(SCRRAMBLE), "--epochs", "0", "--samples",
                                  "1", "--out", str(out), "--set", "noc.buffer_flits=2"],
                         within_s=10)
    assert line.startswith(f"archsim: error: {SCRRAMBLE}: noc.buffer_flits: ")
    assert not out.exists()


def test_plot_takes_the_limit_its_messages_suggest(tmp_path, capsys):
    """A heatmap of a report with more routers than the budget is refused naming --limit
    routers=...; plot takes that option."""
    run = tmp_path / "run"
    api.traffic(CONFIGS / "noc_mesh8x8.yaml", pattern="uniform", rate=0.01, packets=200).write(run)
    line = fails_cleanly(capsys, ["plot", str(run), "--kind", "heatmap", "--limit", "routers=10",
                                  "--out", str(tmp_path / "h")])
    assert "--limit routers=64" in line
    assert main(["plot", str(run), "--kind", "heatmap", "--limit", "routers=64",
                 "--out", str(tmp_path / "h")]) == 0


def test_an_accuracy_evaluation_too_large_is_refused_before_training(capsys):
    """16-bit inputs and weights in 1-bit cells on 1-row arrays with one conversion per input
    slice: about 3 x 10^10 conversions (minutes). Refused before any training, naming the
    budget and how to raise it."""
    line = fails_cleanly(capsys, [
        "accuracy", str(WU), "mlp", "--weight-bits", "16", "--act-bits", "16",
        "--set", "tile.crossbar.cell_bits=1", "--set", "tile.crossbar.rows=1",
        "--set", "tile.adc.accumulate=digital",
    ])
    assert "ADC conversions, over the limit of 4,000,000,000" in line
    assert "--limit conversions=" in line


def test_a_training_trace_too_long_is_refused_before_training(capsys, tmp_path):
    """1,000 epochs of the digits is 1.4 million training samples (hours, gigabytes)."""
    out = tmp_path / "t.jsonl"
    line = fails_cleanly(capsys, ["trace", "export", "mlp", "--train", "--algorithm", "mp",
                                  "--epochs", "1000", "--out", str(out)])
    assert line.endswith("needs 1,438,000 training samples, over the limit of 100,000 (raise "
                         "it with --limit training_samples=1438000)")
    assert not out.exists()
