"""Runs that ask for too much or for what the hardware lacks: NoC shapes a run would refuse,
size budgets (routers, hop table, events, packets, cores), records without a handler,
truncated traces and bad ``--limit`` values.

Each is one line ``archsim: error: ...`` on stderr, exit status 2, no traceback, nothing left
in ``--out``, and it is refused in well under a second of archsim's time: the bound asserted,
2 s around the in-process ``main(...)`` call, is generous for a loaded machine, while the work
each request would start (65,535 routers, a 2 GiB hop table, 10^12 events, 10^9 packets) takes
minutes or more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from bad_input_cli import CONFIGS, ROOT, WU, refused
from conftest import write_chain_trace

import archsim.workload.scrramble as scrramble_module
from archsim import api
from archsim.cli import main
from archsim.errors import ArchsimError
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.workload.trace import MAX_COUNT, TraceWriter, validate_trace

WU_NOC = CONFIGS / "wu2023_64x64_noc.yaml"
MESH8 = CONFIGS / "noc_mesh8x8.yaml"
SCRRAMBLE = CONFIGS / "scrramble_256.yaml"

#: Seconds a refusal may take in-process: generous for a loaded 2-core machine.
WITHIN_S = 2.0


def quick(capsys: Any, args: Sequence[str], out: Path | None = None) -> str:
    """:func:`refused`, within ``WITHIN_S`` seconds."""
    line, elapsed = refused(capsys, args, out)
    assert elapsed < WITHIN_S, f"refused after {elapsed:.2f} s: {line}"
    return line


def one_layer_trace(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    """A one-sample trace of a 4x2 dense layer ``fc1``: its forward ``mvm`` record, then
    ``records`` (backward or update records of sample 0, which may follow its forward pass)."""
    header = {
        "model": "m", "samples": 1, "seed": 0, "meta": {},
        "network": {"input_shape": [4], "weight_bits": 8, "act_bits": 8,
                    "layers": [{"name": "fc1", "kind": "dense", "inputs": ["input"],
                                "in_shape": [4], "out_shape": [2], "rows": 4, "cols": 2}]},
    }
    with TraceWriter(path, header) as writer:
        writer.write({"sample": 0, "phase": "forward", "layer": "fc1", "kind": "mvm",
                      "vectors": 1, "rows": 4, "cols": 2, "input_bits": 1, "input_nz": 0.5,
                      "bitplane_nz": [0.5], "bitplane_allzero": [0.0]})
        for record in records:
            writer.write({"sample": 0, **record})
    return path


BACKWARD = {"phase": "backward", "layer": "fc1", "kind": "mvm_t", "vectors": 1, "rows": 4,
            "cols": 2, "input_bits": 1, "input_nz": 0.5, "bitplane_nz": [0.5],
            "bitplane_allzero": [0.0]}
UPDATE = {"phase": "update", "layer": "fc1", "kind": "outer", "vectors": 1, "rows": 4, "cols": 2}


# -- 1. NoC shapes a run would refuse, refused by validate ------------------------------------


@pytest.mark.parametrize("dims", ["[3]", "[3,3,3]", "[]"])
def test_validate_refuses_a_mesh_that_is_not_two_dimensional(capsys, dims):
    """A mesh has exactly two dimensions; ``archsim validate`` builds the topology (as a run
    does), so it refuses one, three or no dimensions naming the file and ``noc.dims``."""
    line = quick(capsys, ["validate", str(WU_NOC), "--set", f"noc.dims={dims}"])
    assert line.startswith(f"archsim: error: {WU_NOC}: noc.dims: ")
    assert "mesh" in line


def test_validate_refuses_fewer_routers_than_tiles(capsys):
    """wu2023_64x64_noc.yaml has 9 tiles, one per router: a 2x2 mesh has 4 routers. The fault
    is the pair (tiles, routers); the message names the tile count's field, both numbers and
    the NoC's shape."""
    line = quick(capsys, ["validate", str(WU_NOC), "--set", "noc.dims=[2,2]"])
    assert line.startswith(f"archsim: error: {WU_NOC}: chip.tiles: ")
    assert "4 routers" in line and "9 tiles" in line and "[2, 2]" in line


# -- 2. the routers budget ----------------------------------------------------------------------


def test_a_tree_of_65535_routers_is_refused_by_the_routers_budget(capsys):
    """A binary tree of depth 15 has 2^16 - 1 = 65,535 routers, four times the default budget
    of 16,384: refused before a router is built, naming the field, the count, the limit and the
    option that raises it (the count itself, so that the suggested option is enough)."""
    line = quick(capsys, ["validate", str(MESH8), "--set", "noc.topology=tree",
                          "--set", "noc.dims=[2,15]"])
    assert line.startswith(f"archsim: error: {MESH8}: noc.dims: ")
    assert "65,535 routers" in line
    assert f"limit of {DEFAULT_LIMITS.routers:,}" in line
    assert line.endswith("(raise it with --limit routers=65535)")


def test_a_tree_of_32767_routers_is_refused_by_default_and_accepted_with_a_higher_limit(capsys):
    """Depth 14: 2^15 - 1 = 32,767 routers, over the default budget (refused at once), and
    within ``Limits(routers=40000)``, which builds it. The accepting half is a real build of
    32,767 routers; if it is slower than 10 s on this machine the half is skipped (it is a
    check of acceptance, not of speed)."""
    args = ["validate", str(MESH8), "--set", "noc.topology=tree", "--set", "noc.dims=[2,14]"]
    line = quick(capsys, args)
    assert "32,767 routers" in line and line.endswith("(raise it with --limit routers=32767)")
    start = time.perf_counter()
    config = api.validate(MESH8, ["noc.topology=tree", "noc.dims=[2,14]"],
                          limits=Limits(routers=40_000))
    elapsed = time.perf_counter() - start
    assert config.noc is not None and config.noc.topology == "tree"
    assert tuple(config.noc.dims) == (2, 14)
    if elapsed > 10:
        pytest.skip(f"accepted, but building 32,767 routers took {elapsed:.1f} s")


# -- 3. the hop table budget --------------------------------------------------------------------


def test_a_dense_hop_table_over_the_budget_is_refused(tmp_path, capsys):
    """Traffic-aware placement searches exhaustively on up to 1,024 routers, over a dense
    table of every router pair (8 bytes each: 32,768 bytes on the 8x8 mesh). Over a budget
    set below that, the refusal is the hop table's, naming it and ``--limit
    hop_table_bytes=`` with the bytes needed, before the table is built. (Larger meshes are
    placed along a space-filling curve, with hop counts in closed form and no table.)"""
    trace = write_chain_trace(tmp_path / "chain.jsonl", [(25, 4, 12), (100, 12, 3)], samples=2)
    out = tmp_path / "out"
    line, elapsed = refused(capsys, [
        "run", str(MESH8), str(trace), "--set", "mapping.placement=traffic_aware",
        "--limit", "hop_table_bytes=32767", "--out", str(out),
    ], out)
    needed = 8 * 64 * 64
    assert line.startswith(f"archsim: error: {MESH8}: a hop table between 64 routers")
    assert f"needs {needed:,} bytes of hop table" in line
    assert line.endswith(f"(raise it with --limit hop_table_bytes={needed})")
    assert elapsed < WITHIN_S, f"refused after {elapsed:.2f} s"


def test_a_large_mesh_is_placed_without_a_hop_table(tmp_path):
    """A 128x128 mesh (16,384 routers, whose dense hop table would be 2 GiB) is placed
    traffic-aware without one, within the default budgets."""
    trace = write_chain_trace(tmp_path / "chain.jsonl", [(25, 4, 12), (100, 12, 3)], samples=1)
    out = tmp_path / "out"
    code = main([
        "run", str(MESH8), str(trace), "--set", "noc.dims=[128,128]", "--set", "chip.tiles=16384",
        "--set", "mapping.placement=traffic_aware", "--out", str(out),
    ])
    assert code == 0
    assert (out / "report.json").exists()


# -- 4. a record of 10^12 vectors ---------------------------------------------------------------


def test_the_trace_format_takes_counts_up_to_2_to_the_40(tmp_path):
    """Record counts are bounded at MAX_COUNT = 2^40 (about 1.1e12), so a record of 10^12
    vectors is a valid trace and 2^40 + 1 is not (the writer checks as the reader does)."""
    assert MAX_COUNT == 2**40 > 10**12
    path = write_chain_trace(tmp_path / "big.jsonl", [(64, 64, 10**12)])
    assert validate_trace(path).records == 1
    with pytest.raises(ArchsimError, match="vectors"):
        write_chain_trace(tmp_path / "over.jsonl", [(64, 64, MAX_COUNT + 1)])


def test_a_record_of_10_to_the_12_vectors_on_a_timed_controller_is_refused(tmp_path, capsys):
    """A timed controller costs one SimPy event per VMM step of each crossbar group: 10^12
    steps are far over the 50,000,000-event budget (at about a million events a second, days
    of simulation). Refused before the first event, naming the record, its vectors and layer,
    and ``--limit events=``."""
    trace = write_chain_trace(tmp_path / "big.jsonl", [(64, 64, 10**12)])
    out = tmp_path / "out"
    line = quick(capsys, [
        "run", str(WU), str(trace), "--set", "controller.enabled=true",
        "--set", "controller.cycles.mvm=1", "--out", str(out),
    ], out)
    assert "record 0 (1,000,000,000,000 vectors on layer 'fc1')" in line
    assert f"over the limit of {DEFAULT_LIMITS.events:,}" in line
    assert "(raise it with --limit events=" in line


def test_the_same_record_runs_on_the_untimed_controller(tmp_path):
    """Untimed, a crossbar group's share of a record is one event however many steps it has,
    so the 10^12-vector record runs (in well under a second). A 64x64 layer fits one copy on
    the 64x64 arrays (its column splits step in lockstep), so its VMM steps are the vectors
    divided by the copies: 10^12."""
    trace = write_chain_trace(tmp_path / "big.jsonl", [(64, 64, 10**12)])
    report = api.run(WU, trace)
    layer = report["mapping"]["layers"][0]
    assert layer["copies"] == 1
    steps = 10**12 // layer["copies"]
    assert report["totals"]["vmm_steps"] == steps
    assert report["statistics"]["vmm_steps"]["total"] == steps
    assert report["totals"]["vectors"] == 10**12


# -- 5. the packets budget ----------------------------------------------------------------------


def test_a_billion_synthetic_packets_are_refused_at_once(capsys):
    """10^9 packets is 100 times the default budget of 10^7: refused before the first is
    generated, naming the option and ``--limit packets=``."""
    line = quick(capsys, ["noc", str(MESH8), "--pattern", "uniform", "--rate", "0.1",
                          "--packets", "1000000000"])
    assert "--packets 1000000000 needs 1,000,000,000 packets" in line
    assert line.endswith("(raise it with --limit packets=1000000000)")


# -- 6. ScRRAMBLe cores -------------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Make training (and the untrained accuracy pass) fail the test if it is ever reached."""
    def trained(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("reached training before refusing the network")

    monkeypatch.setattr(scrramble_module, "train_scrramble", trained)
    monkeypatch.setattr(scrramble_module, "scrramble_accuracy", trained)


def test_two_hundred_thousand_scrramble_cores_are_refused_at_once(tmp_path, capsys, no_training):
    """--cores 100000,100000 is 200,000 cores, over the 16,384 budget: refused from the
    arguments alone, before the digits are loaded or the network drawn."""
    out = tmp_path / "out"
    line = quick(capsys, ["scrramble", str(SCRRAMBLE), "--cores", "100000,100000",
                          "--epochs", "0", "--out", str(out)], out)
    assert "--cores 100000,100000 needs 200,000 cores" in line
    assert line.endswith("(raise it with --limit cores=200000)")


def test_more_scrramble_cores_than_routers_are_refused_before_training(
    tmp_path, capsys, no_training
):
    """ScRRAMBLe maps one core per crossbar and router: 60 + 10 = 70 cores do not fit the 64
    routers of the 8x8 mesh. Refused naming the NoC, its routers and the cores, before any
    training (training would fail the test). The digits loader imports scikit-learn (about a
    second, once per process), which the command does before this check: it is imported first
    here so that the time measured is archsim's."""
    import sklearn.datasets  # noqa: F401

    out = tmp_path / "out"
    line = quick(capsys, ["scrramble", str(SCRRAMBLE), "--cores", "60,10", "--out", str(out)],
                 out)
    assert "noc: " in line and "70 cores" in line and "64 routers" in line


def test_more_scrramble_cores_than_routers_names_the_config_file(tmp_path, capsys, no_training):
    """The same check through :func:`archsim.api.scrramble` names the config file
    (``hw_configs/scrramble_256.yaml: noc: the network has 70 cores ...``); the command line
    says the same."""
    import numpy as np

    from archsim.errors import MappingError
    from archsim.workload.scrramble import ScrrambleSpec, build_scrramble

    network = build_scrramble(ScrrambleSpec(256, 16, 0.2, (60, 10)), np.random.default_rng(0))
    with pytest.raises(MappingError) as raised:
        api.scrramble(SCRRAMBLE, network, np.zeros((1, 784)))
    assert str(raised.value).startswith(f"{SCRRAMBLE}: noc: ")
    line = quick(capsys, ["scrramble", str(SCRRAMBLE), "--cores", "60,10"])
    assert line.startswith(f"archsim: error: {SCRRAMBLE}: noc: ")


# -- 7. mapping and NoC errors name the config file ---------------------------------------------


def test_a_network_larger_than_the_chip_names_the_config_file(tmp_path, capsys, monkeypatch):
    """A 192x10 dense layer needs ceil(192 / 64) = 3 row splits of the 64x64 arrays, i.e. 3
    crossbars; with chip.tiles=2 (one crossbar per tile) the chip has 2. The mapping's error
    names the file as the command line gave it."""
    monkeypatch.chdir(ROOT)
    trace = write_chain_trace(tmp_path / "d192.jsonl", [(192, 10, 1)])
    out = tmp_path / "out"
    line = quick(capsys, ["run", "hw_configs/wu2023_64x64.yaml", str(trace),
                          "--set", "chip.tiles=2", "--out", str(out)], out)
    assert line.startswith(
        "archsim: error: hw_configs/wu2023_64x64.yaml: the network needs 3 crossbars"
    )
    assert "chip.tiles=2" in line


def test_a_run_on_too_small_a_noc_names_the_config_file_and_field(tmp_path, capsys):
    """The run builds the same NoC as validate: 9 tiles on a 2x2 mesh are refused naming the
    file and ``chip.tiles`` (as ``archsim validate`` does, test 1)."""
    trace = write_chain_trace(tmp_path / "d192.jsonl", [(192, 10, 1)])
    out = tmp_path / "out"
    line = quick(capsys, ["run", str(WU_NOC), str(trace), "--set", "noc.dims=[2,2]",
                          "--out", str(out)], out)
    assert line.startswith(f"archsim: error: {WU_NOC}: chip.tiles: ")


# -- 8. archsim program: records without a handler, truncated traces --------------------------


@pytest.mark.parametrize(
    ("record", "named"),
    [(BACKWARD, "backward 'mvm_t'"), (UPDATE, "update 'outer'")],
    ids=["backward", "update"],
)
def test_program_refuses_a_record_without_a_handler(tmp_path, capsys, record, named):
    """``archsim program`` checks the whole trace as a run would: a training record (record
    1, after the forward one) has no handler on this hardware; one line names the file, the
    record, its phase and kind, and nothing is listed on stdout."""
    trace = one_layer_trace(tmp_path / "t.jsonl", [record])
    line = quick(capsys, ["program", str(WU), str(trace)])
    assert line.startswith(f"archsim: error: {trace}: record 1: no handler for {named} records")
    assert "(layer 'fc1')" in line


@pytest.mark.parametrize("cut", ["end record", "mid-line"])
def test_program_refuses_a_truncated_trace(tmp_path, capsys, cut):
    """A valid trace cut before its end record (whole lines kept, or inside a line) is
    truncated: one line naming the file, nothing on stdout, even though every record of
    sample 0 (all that the listing needs) is intact."""
    valid = write_chain_trace(tmp_path / "chain.jsonl", [(25, 4, 12), (100, 12, 3)], samples=2)
    data = valid.read_bytes()
    end = data.rindex(b'{"type": "end"')
    cut_data = data[:end] if cut == "end record" else data[: end - 20]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(cut_data)
    line = quick(capsys, ["program", str(WU), str(path)])
    assert line.startswith(f"archsim: error: {path}: ")
    assert "truncated" in line


# -- 9. archsim run of a record without a handler -----------------------------------------------


def test_run_refuses_an_update_record_naming_the_record_and_what_is_lacking(tmp_path, capsys):
    """An ``update``/``outer`` record after sample 0's forward record: no handler, so one line
    naming the record, ``update 'outer'`` and that the config has no training units; the
    report is not written."""
    trace = one_layer_trace(tmp_path / "u.jsonl", [UPDATE])
    out = tmp_path / "out"
    line = quick(capsys, ["run", str(WU), str(trace), "--out", str(out)], out)
    assert "record 1: no handler for update 'outer' records (layer 'fc1')" in line
    assert "the config has no training section" in line


# -- 10. --limit itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("gizmos=3", "--limit gizmos=3: expected NAME=VALUE with NAME one of routers, "),
        ("routers=-1", "--limit routers=-1: expected a positive integer"),
        ("routers=abc", "--limit routers=abc: expected a positive integer"),
        ("routers=0", "--limit routers=0: expected a positive integer"),
        ("routers", "--limit routers: expected NAME=VALUE"),
    ],
)
def test_a_bad_limit_is_one_line(capsys, limit, expected):
    """An unknown budget name or a value that is not a positive integer is one error naming
    the ``--limit`` text, before the config is read."""
    line = quick(capsys, ["validate", str(WU), "--limit", limit])
    assert line.startswith(f"archsim: error: {expected}")


def test_a_limit_of_a_superscript_digit_is_one_line(capsys):
    """``--limit routers=²``: '²'.isdigit() is True but int('²') raises ValueError, which
    escapes parse_limit as a traceback instead of the one-line ArchsimError."""
    line = quick(capsys, ["validate", str(WU), "--limit", "routers=²"])
    assert "--limit routers=²: expected a positive integer" in line


def test_a_raised_limit_is_used(capsys):
    """``--limit`` is applied, not only parsed: the 32,767-router tree refused by default is
    refused again under a limit just below its size, naming that limit."""
    line = quick(capsys, ["validate", str(MESH8), "--set", "noc.topology=tree",
                          "--set", "noc.dims=[2,14]", "--limit", "routers=32766"])
    assert "over the limit of 32,766" in line
