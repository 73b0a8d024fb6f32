"""Start-up cost of the command line: a command imports only what it needs.

``archsim run`` of an inference trace pays for every module it imports before its first
record, and with ``PYTHONDONTWRITEBYTECODE`` for compiling each one as well. The plots
(matplotlib, networkx), the block-sparse and on-chip training models, the zoo's exporters and
the sweeps (``archsim.dse``) belong to other commands. Each check runs in a fresh interpreter,
since this test session has imported most of archsim already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS

import archsim.dse
from archsim.sim.fabric import FABRIC_HANDLERS
from archsim.sim.registry import FABRIC_RECORDS

LENET = Path(__file__).resolve().parents[1] / "traces" / "lenet-wu_trained_16.jsonl.gz"

#: Modules an inference run on a chip without a NoC never needs (prefixes of module names).
NOT_FOR_A_RUN = (
    "matplotlib",
    "networkx",
    "scipy",
    "threadpoolctl",
    "archsim.dse.executor",
    "archsim.dse.spec",
    "archsim.dse.store",
    "archsim.dse.sweep",
    "archsim.report.plots",
    "archsim.report.timeline",
    "archsim.sim.fabric",
    "archsim.sim.traffic",
    "archsim.workload.analog_train",
    "archsim.workload.analog_update",
    "archsim.workload.export",
    "archsim.workload.functional",
)

#: Runs ``archsim`` in-process with the arguments given as JSON, standard error a terminal or
#: not, and prints the modules imported by then as JSON.
_SCRIPT = """
import io, json, sys

class Terminal(io.StringIO):
    def isatty(self):
        return True

argv, terminal = json.loads(sys.argv[1])
if terminal:
    sys.stderr = Terminal()
from archsim.cli import main
if argv:
    status = main(argv)
    assert status == 0, status
else:
    from archsim.cli import build_parser
    build_parser().parse_args(["run", "config.yaml", "trace.jsonl"])
sys.__stdout__.write(json.dumps(sorted(sys.modules)))
"""


def _imported(argv: list[str], terminal: bool = False) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps([argv, terminal])],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def _unneeded(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith(NOT_FOR_A_RUN)]


def test_parsing_a_command_imports_no_stage():
    modules = _imported([])
    assert not [m for m in modules if m.startswith(("numpy", "simpy", "yaml", "archsim.api"))]


@pytest.mark.parametrize("terminal", [False, True], ids=["redirected", "terminal"])
def test_an_inference_run_imports_no_other_commands_modules(tmp_path, terminal):
    argv = ["run", str(CONFIGS / "wu2023_64x64.yaml"), str(LENET), "--out", str(tmp_path)]
    modules = _imported(argv, terminal)
    assert (tmp_path / "report.json").is_file()
    assert _unneeded(modules) == []
    # The progress bar on a terminal takes its module alone from the sweeps' package.
    assert ("archsim.dse.progress" in modules) == terminal


def test_the_sweep_package_exports_every_name_it_lists():
    assert sorted(archsim.dse.__all__) == sorted(archsim.dse._EXPORTS)
    for name in archsim.dse.__all__:
        assert getattr(archsim.dse, name).__name__ == name


def test_the_registry_names_every_record_of_the_fabrics_handlers_in_their_order():
    assert FABRIC_RECORDS == tuple(FABRIC_HANDLERS)
