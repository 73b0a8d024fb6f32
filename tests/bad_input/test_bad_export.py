"""trace export with an output path it cannot write, interrupted at any moment, and its
determinism whatever the BLAS thread count."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from bad_input_cli import ROOT, fails_cleanly

import archsim.workload.export as export_module
import archsim.workload.trace as trace_module
from archsim.errors import WorkloadError
from archsim.workload.export import export_trace
from archsim.workload.trace import TraceWriter, validate_trace

# -- 5. an output path that cannot be written, checked before any work ----------------------


def test_an_existing_directory_is_refused_before_training(tmp_path, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the output path")

    monkeypatch.setattr(export_module, "train_sgd", no_training)
    folder = tmp_path / "traces"
    folder.mkdir()
    for out in (str(folder), str(folder) + "/", str(tmp_path / "new") + "/"):
        args = ["trace", "export", "lenet-wu", "--train", "--out", out]
        line = fails_cleanly(capsys, args, within_s=2)
        assert f"out_path: '{out}' is a directory" in line
    assert list(folder.iterdir()) == [] and not (tmp_path / "new").exists()


def test_a_parent_that_is_a_file_or_a_fifo_target(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "deeper" / "t.jsonl"
    line = fails_cleanly(capsys, ["trace", "export", "mlp", "--out", str(out)])
    assert "out_path:" in line and "is not a directory" in line
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    line = fails_cleanly(capsys, ["trace", "export", "mlp", "--out", str(fifo)], within_s=2)
    assert f"out_path: '{fifo}' exists and is not a regular file" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_folder_that_cannot_be_written_is_refused_up_front(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(WorkloadError, match=r"out_path: cannot write to .*locked"):
            export_trace("mlp", locked / "sub" / "t.jsonl", samples=1)
    finally:
        locked.chmod(0o700)


def test_a_folder_that_cannot_be_written_is_refused_up_front_as_any_user(tmp_path, monkeypatch):
    """The same check when running as root: os.access is what the export consults."""
    real_access = os.access
    locked = tmp_path / "locked"
    locked.mkdir()

    def access(path, mode, *args, **kwargs):
        return False if Path(path) == locked else real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(export_module.os, "access", access)
    with pytest.raises(WorkloadError, match=r"out_path: cannot write to .*locked.*permission"):
        export_trace("mlp", locked / "sub" / "t.jsonl", samples=1)
    assert list(locked.iterdir()) == []


# -- 5. interrupted at any moment: no temporary file left --------------------------------------


def interrupting(real, at: int):
    """A stand-in for function ``real`` that raises KeyboardInterrupt on its ``at``-th call
    (a plain function, so that it binds as a method too); ``.calls`` counts the calls."""

    def stand_in(*args, **kwargs):
        stand_in.calls += 1
        if stand_in.calls == at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    stand_in.calls = 0
    return stand_in


@pytest.mark.parametrize(
    ("target", "name", "at"),
    [
        (export_module, "activity_stats_batch", 2),  # mid-export, between two layers
        (TraceWriter, "_flush", 1),  # inside close(): a small trace is flushed there, once
        (TraceWriter, "_flush", -5),  # inside write(), flushing every record (see below)
        (TraceWriter, "_emit", 1),  # inside __init__: the header
        (TraceWriter, "_emit", 30),  # inside write()
        ("gzip", "GzipFile", 1),  # inside __init__, after the file was created
        (trace_module.os, "replace", 1),  # inside close(), the file complete
    ],
    ids=["mid-export", "close-flush", "write-flush", "header", "write", "gzip", "close"],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_an_interrupted_export_leaves_no_file(
    tmp_path, monkeypatch, capsys, target, name, at, suffix
):
    if name == "GzipFile" and suffix == ".jsonl":
        pytest.skip("no gzip stream for an uncompressed trace")
    if at < 0:  # flush after every line, and interrupt the -at-th flush
        monkeypatch.setattr(trace_module, "_WRITE_CHUNK_BYTES", 1)
        at = -at
    if target == "gzip":  # the trace module's gzip only: the data set is gzip-compressed too
        target = types.SimpleNamespace(GzipFile=gzip.GzipFile)
        monkeypatch.setattr(trace_module, "gzip", target)
    interrupt = interrupting(getattr(target, name), at)
    monkeypatch.setattr(target, name, interrupt)
    out = tmp_path / "out"
    args = ["trace", "export", "lenet-wu", "--samples", "4", "--out", str(out / f"t{suffix}")]
    status = export_main(args)
    assert interrupt.calls >= at, "the interrupt was not reached"
    assert status == 130 and "archsim: interrupted" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no trace, no .t.jsonl.<hex>.tmp


def export_main(args):
    from archsim.cli import main

    return main(args)


def test_an_export_not_interrupted_leaves_just_the_trace(tmp_path):
    summary = export_trace("lenet-wu", tmp_path / "t.jsonl.gz", samples=3)
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl.gz"]
    assert validate_trace(summary.path).records == summary.records


def test_a_full_disk_while_writing_is_a_trace_error(tmp_path, monkeypatch):
    def full(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TraceWriter, "_flush", full)
    with pytest.raises(Exception) as info:
        export_trace("mlp", tmp_path / "t.jsonl", samples=2)
    assert type(info.value).__name__ == "TraceError"
    assert "cannot write trace: No space left on device" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# -- 6. the same bytes whatever the BLAS thread count --------------------------------------------


def _export_in_subprocess(out: Path, threads: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    return subprocess.Popen(
        [sys.executable, "-m", "archsim.cli", "trace", "export", "lenet-wu", "--train",
         "--samples", "2", "--epochs", "1", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_trained_trace_has_the_same_bytes_with_1_and_4_blas_threads(tmp_path):
    start = time.monotonic()
    outs = {threads: tmp_path / f"t{threads}.jsonl.gz" for threads in (1, 4)}
    processes = {threads: _export_in_subprocess(out, threads) for threads, out in outs.items()}
    for threads, process in processes.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    one, four = (gzip.decompress(outs[t].read_bytes()) for t in (1, 4))
    assert one == four
    assert b'"training": {' in one.split(b"\n", 1)[0]
    assert time.monotonic() - start < 60
