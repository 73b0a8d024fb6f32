"""Helpers for the bad-input tests: run the CLI in-process and check it failed cleanly."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "hw_configs"
WU = CONFIGS / "wu2023_64x64.yaml"
BUNDLED_TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"


def refused(capsys: Any, args: Sequence[str], out: Path | None = None) -> tuple[str, float]:
    """Run ``archsim ARGS`` in this process: exit status 2, one line ``archsim: error: ...`` on
    stderr, no traceback, nothing on stdout, nothing at ``out``. Returns the line and the
    seconds ``main`` took. Arguments argparse refuses end in its ``SystemExit(2)``, which
    ``archsim`` turns into the process's exit status."""
    capsys.readouterr()  # drop anything printed before
    start = time.perf_counter()
    try:
        status = main(list(args))
    except SystemExit as exit_:
        status = exit_.code
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    assert status == 2, (status, captured.err[-2000:])
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err[-2000:]
    assert lines[0].startswith("archsim: error: ")
    assert captured.out == ""
    if out is not None:
        assert not out.exists()
    return lines[0], elapsed


def fails_cleanly(capsys: Any, args: Sequence[str], *, within_s: float = 5.0) -> str:
    """:func:`refused`, within ``within_s`` seconds. Returns the line."""
    line, elapsed = refused(capsys, args)
    assert elapsed < within_s, f"took {elapsed:.1f} s"
    return line


def trace_lines(path: Path = BUNDLED_TRACE) -> list[str]:
    """The lines of a trace (decompressed), without their newlines."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8").splitlines()


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    """A trace file of ``lines``, each ended by a newline."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def edited(lines: Sequence[str], index: int, **changes: Any) -> list[str]:
    """``lines`` with the JSON object on line ``index`` updated by ``changes``."""
    result = list(lines)
    obj = json.loads(result[index])
    obj.update(changes)
    result[index] = json.dumps(obj)
    return result


def write_spec(folder: Path, filename: str = "sweep.yaml", **fields: Any) -> Path:
    """A sweep spec in ``folder`` (JSON, which the strict YAML loader reads): the Wu config, a
    two-layer chain trace (written if missing) and ``fields`` over those defaults."""
    from conftest import write_chain_trace

    if not (folder / "chain.jsonl").exists():
        write_chain_trace(folder / "chain.jsonl", [(25, 4, 12), (100, 12, 3)], samples=2)
    data: dict[str, Any] = {"version": 1, "name": "t", "config": str(WU), "traces": ["chain.jsonl"]}
    data.update(fields)
    path = folder / filename
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def results_files(out: Path) -> dict[str, bytes]:
    """The bytes of a sweep's three results files."""
    names = ("results.csv", "results.jsonl", "sweep.json")
    return {name: (out / name).read_bytes() for name in names}
