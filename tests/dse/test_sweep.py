"""Sweeps end to end: identical rows on 1 worker, 2 workers and Dask; failures recorded; a sweep
killed part-way and resumed equals an uninterrupted one; the cache simulates only new points."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import write_chain_trace
from sweep_fixtures import MIXED_AXES, MIXED_METRICS, rows, table, write_spec, write_trace

import archsim.dse.executor as executor_module
from archsim.dse import SerialExecutor, format_summary, pareto_front, run_sweep
from archsim.dse.executor import DaskExecutor, Executor, PointTask, SweepError, evaluate
from archsim.dse.spec import load_spec
from archsim.dse.store import cache_key
from archsim.dse.sweep import resolve_config
from archsim.errors import ArchsimError
from archsim.report.report import config_digest

ROOT = Path(__file__).resolve().parents[2]


def mixed_spec(folder: Path, **fields) -> Path:
    """12 points x 2 traces, the second one truncated: 24 rows, 4 ok."""
    write_trace(folder)
    good = (folder / "chain.jsonl").read_text().splitlines(keepends=True)
    (folder / "cut.jsonl").write_text("".join(good[:-2]))
    return write_spec(
        folder,
        traces=["chain.jsonl", "cut.jsonl"],
        axes=MIXED_AXES,
        metrics=MIXED_METRICS,
        pareto=["per_inference.latency_s", "per_inference.energy_j"],
        **fields,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The mixed sweep run in this process, one point after another."""
    folder = tmp_path_factory.mktemp("reference")
    spec = mixed_spec(folder)
    summary = run_sweep(spec, folder / "out", workers=1, progress=False)
    return spec, folder / "out", summary


def test_rows_failures_and_the_pareto_column(reference):
    spec, out, summary = reference
    got = rows(out)
    assert [r["point"] for r in got] == list(range(24))
    assert summary.points == 24 and summary.ok == 4 and summary.errors == 20
    assert summary.simulated == 16 and summary.cached == 0 and summary.crashed == 0
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == [
        "point",
        "trace",
        "seed",
        "tile.adc.bits",
        "tile.adc.columns_per_adc",
        "chip.tiles",
        "chip.clock_hz",
        "status",
    ]
    assert header[-2:] == ["pareto", "error"]
    assert "per_inference.energy_breakdown_j.adc" in header
    by_status = {}
    for row in got:
        by_status.setdefault(row["status"], []).append(row)
    assert len(by_status["ok"]) == 4
    for row in got:
        if row["tile.adc.columns_per_adc"] == 3:  # does not load: named field, config file named
            assert (
                "tile.adc.columns_per_adc: must divide tile.crossbar.cols (64), got 3"
                in row["error"]
            )
        elif row["chip.tiles"] == 2:  # mapped before the records are read
            assert "needs 3 crossbars" in row["error"] and "the chip has 2" in row["error"]
        elif row["trace"] == "cut.jsonl":  # the trace's own name, not a path of this machine
            assert row["error"].startswith("cut.jsonl: ") and str(out.parent) not in row["error"]
        else:
            assert row["status"] == "ok" and row["error"] is None
            assert row["per_inference.latency_s"] > 0
    assert {r["chip.clock_hz"] for r in got} == {100e6, 200e6}  # SI, not "100MHz"
    ok = [r for r in got if r["status"] == "ok"]
    front = pareto_front(ok, ["per_inference.latency_s", "per_inference.energy_j"])
    assert [r["pareto"] for r in ok] == front.tolist() and any(front)
    assert not any(r["pareto"] for r in got if r["status"] != "ok")
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["complete"] and manifest["rows"] == manifest["points"] == 24
    assert manifest["parameters"] == [
        "tile.adc.bits",
        "tile.adc.columns_per_adc",
        "chip.tiles",
        "chip.clock_hz",
    ]
    text = format_summary(summary)
    assert text.startswith("sweep t: 24 points, 4 ok, 20 failed")
    assert "16 simulated, 0 from the cache, 1 worker" in text
    assert f"wrote {out / 'results.csv'}" in text
    assert summary.exit_status == 0


def test_the_pareto_column_is_one_front_per_trace_and_seed(tmp_path):
    """Designs compete on the same workload only: a small network's points would otherwise
    dominate every point of a large one."""
    write_trace(tmp_path)
    write_chain_trace(tmp_path / "small.jsonl", [(9, 2, 3)], samples=1)
    spec = write_spec(
        tmp_path,
        traces=["chain.jsonl", "small.jsonl"],
        seeds=[0, 1],
        axes=[
            {"path": "tile.adc.bits", "values": [4, 6, 8]},
            {"path": "tile.adc.columns_per_adc", "values": [4, 8]},
        ],
        metrics=["per_inference.latency_s", "per_inference.energy_j"],
        pareto=["per_inference.latency_s", "per_inference.energy_j"],
    )
    run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    got = rows(tmp_path / "out")
    objectives = ["per_inference.latency_s", "per_inference.energy_j"]
    for trace in ("chain.jsonl", "small.jsonl"):
        for seed in (0, 1):
            group = [r for r in got if r["trace"] == trace and r["seed"] == seed]
            assert len(group) == 6 and all(r["status"] == "ok" for r in group)
            expected = pareto_front(group, objectives)
            assert [r["pareto"] for r in group] == expected.tolist()
            assert any(expected)
    small = max(r["per_inference.energy_j"] for r in got if r["trace"] == "small.jsonl")
    large = min(r["per_inference.energy_j"] for r in got if r["trace"] == "chain.jsonl")
    assert small < large  # one front over all rows would leave chain.jsonl none


def test_two_workers_give_identical_tables(reference, tmp_path):
    spec, out, _ = reference
    summary = run_sweep(spec, tmp_path / "out", workers=2, progress=False)
    assert summary.workers == 2 and summary.simulated == 16
    assert table(tmp_path / "out") == table(out)


def test_a_dask_cluster_gives_identical_tables(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec, out, _ = reference
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        summary = run_sweep(
            spec, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False
        )
    assert summary.workers == 2 and summary.simulated == 16
    assert table(tmp_path / "out") == table(out)


def test_a_cached_rerun_simulates_nothing_and_extending_only_the_new_points(reference, tmp_path):
    spec, out, _ = reference
    before = table(out)
    again = run_sweep(spec, out, workers=1, progress=False)
    assert again.simulated == 0 and again.cached == 16
    assert table(out) == before
    # Another metric list: no simulation, other columns.
    folder = spec.parent
    narrow = write_spec(
        folder,
        "narrow.yaml",
        traces=["chain.jsonl"],
        axes=MIXED_AXES,
        metrics=["per_inference.energy_j"],
    )
    summary = run_sweep(narrow, tmp_path / "narrow", cache_dir=out / "cache", progress=False)
    assert summary.simulated == 0
    assert rows(tmp_path / "narrow")[0]["per_inference.energy_j"] > 0
    # One more ADC resolution: only its points run.
    axes = [{"path": "tile.adc.bits", "values": [6, 8, 10]}, *MIXED_AXES[1:]]
    wider = write_spec(
        folder, "wider.yaml", traces=["chain.jsonl"], axes=axes, metrics=MIXED_METRICS
    )
    summary = run_sweep(
        wider, tmp_path / "wider", cache_dir=out / "cache", workers=1, progress=False
    )
    assert summary.points == 18 and summary.simulated == 4 and summary.cached == 8


@pytest.mark.parametrize("workers", [1, 2])
def test_points_with_the_same_config_share_one_simulation(tmp_path, workers):
    spec = write_spec(
        tmp_path, axes=[{"path": "chip.clock_hz", "values": ["100MHz", "0.1GHz", "200MHz"]}]
    )
    summary = run_sweep(spec, tmp_path / "out", workers=workers, progress=False)
    got = rows(tmp_path / "out")
    # The repeat is neither simulated again nor counted as a result from the cache, however
    # the executor interleaves the points.
    assert summary.simulated == 2 and summary.cached == 0 and summary.ok == 3
    assert got[0]["per_inference.latency_s"] == got[1]["per_inference.latency_s"]
    assert got[0]["chip.clock_hz"] == got[1]["chip.clock_hz"] == 100e6


class Recording(Executor):
    """Runs points in this process like :class:`SerialExecutor` and keeps the outcomes; as
    ``local`` or not (then the sweep process must write every cache entry)."""

    workers = 1

    def __init__(self, local: bool) -> None:
        self.local = local
        self.outcomes = []

    def run(self, tasks):
        for outcome in SerialExecutor().run(tasks):
            self.outcomes.append(outcome)
            yield outcome


def test_local_workers_write_their_cache_entries_remote_ones_do_not(reference, tmp_path):
    spec, out, _ = reference
    for local in (True, False):
        executor = Recording(local)
        result = tmp_path / f"local_{local}"
        summary = run_sweep(spec, result, executor=executor, progress=False)
        assert summary.simulated == len(executor.outcomes) == 16
        assert all(outcome.stored is local for outcome in executor.outcomes)
        for outcome in executor.outcomes:  # written, whoever wrote it, with the same text
            path = result / "cache" / outcome.key[:2] / f"{outcome.key}.json"
            assert path.read_text() == outcome.entry
        assert table(result) == table(out)


def test_a_cache_file_the_worker_cannot_write_is_left_to_the_sweep(reference, tmp_path):
    spec, _, _ = reference
    point = next(load_spec(spec).points())
    config = resolve_config(load_spec(spec), point)
    digest = config_digest(config)
    key = cache_key(digest, point.trace.sha256, point.seed)
    blocked = tmp_path / "not_a_directory"
    blocked.write_text("")
    task = PointTask(key, config, digest, point.trace, point.seed, str(blocked / "ab" / "x.json"))
    outcome = evaluate(task)
    assert outcome.entry is not None and not outcome.stored
    assert list(tmp_path.iterdir()) == [blocked]  # no temporary file left behind
    (tmp_path / "cache").mkdir()  # the sweep's cache directory; the worker adds the shard
    written = tmp_path / "cache" / key[:2] / f"{key}.json"
    task = PointTask(key, config, digest, point.trace, point.seed, str(written))
    outcome = evaluate(task)
    assert outcome.stored and written.read_text() == outcome.entry
    assert pickle.loads(pickle.dumps(task)) == task  # the cache file travels to pool workers


def test_a_crash_is_recorded_not_cached_and_retried(tmp_path, monkeypatch, caplog):
    spec = write_spec(tmp_path, axes=[{"path": "tile.adc.bits", "values": [6, 7, 8]}])
    real = executor_module.api.run

    def flaky(config, trace, **options):
        if config.tile.adc.bits == 7:
            raise ZeroDivisionError("a bug")
        return real(config, trace, **options)

    monkeypatch.setattr(executor_module.api, "run", flaky)
    summary = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert (summary.ok, summary.errors, summary.crashed, summary.exit_status) == (2, 0, 1, 1)
    row = rows(tmp_path / "out")[1]
    assert row["status"] == "error" and row["error"] == "internal error: ZeroDivisionError: a bug"
    assert "Traceback" in caplog.text and "design point 1 crashed" in caplog.text
    assert "1 crashed: a bug" in format_summary(summary)
    monkeypatch.setattr(executor_module.api, "run", real)
    again = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert again.simulated == 1 and again.ok == 3 and again.exit_status == 0


class Interrupted(Executor):
    """Runs points in this process and is 'killed' (KeyboardInterrupt) when about to start
    point ``limit``: exactly ``limit`` points finished (and, as ``local``, were cached by the
    'worker' itself)."""

    workers = 1
    local = True

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def run(self, tasks):
        for count, task in enumerate(tasks):
            if count == self.limit:
                raise KeyboardInterrupt
            yield evaluate(task)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(0, 16))
def test_interrupted_after_any_point_and_resumed_equals_an_uninterrupted_run(reference, limit):
    spec, out, _ = reference
    with tempfile.TemporaryDirectory() as folder:
        resumed = Path(folder) / "out"
        if limit < 16:
            with pytest.raises(KeyboardInterrupt):
                run_sweep(spec, resumed, executor=Interrupted(limit), progress=False)
            partial = json.loads((resumed / "sweep.json").read_text())
            assert not partial["complete"]
            assert [r["point"] for r in rows(resumed)] == sorted(
                {r["point"] for r in rows(resumed)}
            )
        else:
            run_sweep(spec, resumed, executor=Interrupted(limit), progress=False)
        summary = run_sweep(spec, resumed, workers=1, progress=False)
        assert summary.simulated == 16 - min(limit, 16) and summary.cached == min(limit, 16)
        assert table(resumed) == table(out)


SLOW_AXES = [
    {"path": "tile.adc.bits", "range": {"start": 1, "stop": 16}},
    {"path": "tile.adc.columns_per_adc", "values": [1, 2, 4, 8, 16]},
]


@pytest.fixture(scope="module")
def slow_sweep(tmp_path_factory):
    """80 points of ~10 ms, and their uninterrupted tables."""
    folder = tmp_path_factory.mktemp("slow")
    write_trace(folder, samples=12)
    spec = write_spec(folder, axes=SLOW_AXES, metrics=["per_inference.latency_s"])
    run_sweep(spec, folder / "reference", workers=1, progress=False)
    return spec, table(folder / "reference")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(
    ("workers", "how"),
    [(1, "SIGKILL group"), (2, "SIGKILL group"), (2, "SIGKILL sweep"), (2, "SIGINT group")],
)
def test_killed_and_resumed_equals_an_uninterrupted_run(slow_sweep, tmp_path, workers, how):
    """SIGKILL to the sweep and its workers at once (a lost machine); to the sweep process
    alone (its workers notice and end too); SIGINT to all (Ctrl-C on a terminal: the sweep
    stops as interrupted, not as failed, and writes the tables of its finished points)."""
    spec, expected = slow_sweep
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        from archsim.dse import run_sweep
        run_sweep({str(spec)!r}, {str(out)!r}, workers={workers}, progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    cache = out / "cache"
    deadline = time.monotonic() + 60
    try:
        while len(list(cache.glob("*/*.json"))) < 10:
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        workers_before = children(process.pid)
        assert len(workers_before) == (0 if workers == 1 else workers)
        if how == "SIGKILL group":
            os.killpg(process.pid, signal.SIGKILL)
        elif how == "SIGKILL sweep":
            os.kill(process.pid, signal.SIGKILL)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        while any(alive(pid) for pid in workers_before):
            assert time.monotonic() < deadline, "orphaned workers did not end"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the session
    finished = len(list(cache.glob("*/*.json")))
    assert 10 <= finished < 80, "the kill came too late to interrupt the sweep"
    if how == "SIGINT group":
        assert "KeyboardInterrupt" in stderr and "SweepError" not in stderr
        partial = json.loads((out / "sweep.json").read_text())
        # Workers cache their points themselves: some may be cached but not yet received
        # by the sweep process, so in the cache but not in its tables (resuming adds them).
        assert not partial["complete"] and partial["rows"] <= finished
    else:
        assert not (out / "results.csv").exists()
    summary = run_sweep(spec, out, workers=1, progress=False)
    assert summary.cached == finished and summary.simulated == 80 - finished
    assert table(out) == expected
    assert len(list(cache.glob("*/*.json"))) == 80


def test_progress_only_on_a_terminal(tmp_path, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    spec = write_spec(tmp_path, axes=[{"path": "tile.adc.bits", "values": [6, 8]}])
    terminal = Terminal()
    run_sweep(spec, tmp_path / "a", workers=1, progress=terminal)
    assert "2/2 points" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    pipe = io.StringIO()
    run_sweep(spec, tmp_path / "b", workers=1, progress=pipe)
    assert pipe.getvalue() == ""
    run_sweep(spec, tmp_path / "c", workers=1)  # default: sys.stderr, not a terminal here
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_workers_and_scheduler_are_exclusive_and_dask_is_optional(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    with pytest.raises(ArchsimError, match="give --workers or --scheduler, not both"):
        run_sweep(spec, tmp_path / "out", workers=2, scheduler="tcp://127.0.0.1:1", progress=False)
    with pytest.raises(ArchsimError, match="--workers: expected an integer >= 1"):
        run_sweep(spec, tmp_path / "out", workers=0, progress=False)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(SweepError, match=r"pip install 'archsim\[dask\]'"):
        run_sweep(spec, tmp_path / "out", scheduler="tcp://127.0.0.1:1", progress=False)


def test_an_unmatched_metric_is_a_warning(tmp_path):
    spec = write_spec(tmp_path, metrics=["per_inference.latency_s", "per_inference.latncy_s"])
    summary = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert summary.warnings == (
        "metrics[1]: 'per_inference.latncy_s' matched no key of any report",
    )
    assert "warning: metrics[1]" in format_summary(summary)


def test_user_errors_write_nothing(tmp_path):
    bad = write_spec(tmp_path, axes=[{"path": "tile.adc.bits", "values": [0]}])
    with pytest.raises(ArchsimError, match=r"axes\[0\]\.values\[0\]: must be 1\.\.16, got 0"):
        run_sweep(bad, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_a_sweep_error():
    pytest.importorskip("distributed")
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        DaskExecutor("tcp://127.0.0.1:1", timeout_s=0.5)


@pytest.mark.parametrize("address", ["notanaddress", "tcp://host-without-port"])
def test_a_malformed_scheduler_address_is_refused_at_once(address):
    pytest.importorskip("distributed")
    start = time.monotonic()
    with pytest.raises(SweepError, match="--scheduler: .*expected an address such as tcp://"):
        DaskExecutor(address)
    assert time.monotonic() - start < 5


def test_a_scheduler_without_workers_is_a_sweep_error():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=0, processes=False, dashboard_address=":0"
    ) as cluster:
        with pytest.raises(SweepError, match="has no workers after 0.5 s: start some"):
            DaskExecutor(cluster.scheduler_address, timeout_s=0.5)


def test_the_remote_evaluation_runs_outside_a_dask_worker_too(reference, tmp_path):
    """Without a Dask worker around, shipped traces go to the temporary directory."""
    spec, _, _ = reference
    loaded = load_spec(spec)
    point = next(loaded.points())
    config = resolve_config(loaded, point)
    digest = config_digest(config)
    task = PointTask(
        cache_key(digest, point.trace.sha256, point.seed), config, digest, point.trace, 0
    )
    blob = Path(point.trace.path).read_bytes()
    (outcome,) = executor_module._evaluate_remote([task], {point.trace.sha256: blob})
    assert outcome.entry == evaluate(task).entry


def test_a_sweeps_limits_bound_every_point_and_a_refusal_is_not_cached(tmp_path):
    """The chain needs 3 crossbars. Under ``crossbars=2`` every point of a 9-tile chip (9
    crossbars) is refused by the budget, naming it; the refusal is not cached, so the same
    sweep under the default budgets simulates the points rather than returning the error."""
    from archsim.limits import Limits

    spec = write_spec(tmp_path, axes=[{"path": "tile.adc.bits", "values": [6, 8]}])
    tight = run_sweep(spec, tmp_path / "out", workers=1, progress=False,
                      limits=Limits(crossbars=2))
    assert (tight.ok, tight.errors) == (0, 2)
    assert all("--limit crossbars=9" in failure.message for failure in tight.failures)
    assert not list((tmp_path / "out" / "cache").glob("*/*.json"))
    again = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert (again.ok, again.simulated, again.cached) == (2, 2, 0)
