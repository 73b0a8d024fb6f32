"""The sweep's result store: a content-addressed cache and the results tables (stage: dse).

**Cache.** Every simulated point is one JSON file, ``<cache>/<key[:2]>/<key>.json``, where the key
is the SHA-256 of (resolved config digest, trace file digest, seed, archsim version) -- the inputs
of the pure function ``simulate(config, trace, seed)``, so a file's content depends on its key
alone and any sweep may reuse it. A file holds the whole run report (or the point's error
message), so changing a spec's ``metrics:`` or extending its axes simulates only new points.

A file is written to a temporary name in the same directory, then renamed over its final name
(:func:`archsim.files.write_atomically`): the rename is atomic, so a sweep killed at any moment
leaves every cache file either complete or absent, never torn; a leftover temporary file is never read (and is
removed by the next sweep once it is an hour old). Cache files are not fsynced: that would only
matter after an operating-system crash or power failure, and then costs one re-simulation, because
every file is checked when read -- one that does not parse, or whose content does not match its
key, is ignored with a warning and simulated again. (An fsync per point took 0.2-3 ms of the
sweep's main process, as much as a small point's simulation.) The tables are fsynced. Workers
of a local pool write their points' files themselves (:func:`write_entry`), so that creating
them (0.1-0.7 ms each on this machine) runs in parallel, not in the sweep's main process.

Why not one append-only JSON Lines file: its rows arrive in completion order (it would have to be
sorted anyway for deterministic output), resuming needs a reader that guesses where a torn last
line ends, and two sweeps sharing a cache would interleave their appends. One file per point
makes "finished" an atomic fact per point, and the tables a pure function of (spec, cache).

**Tables.** ``results.csv`` and ``results.jsonl`` hold one row per design point in spec order,
whatever order the points finished in; ``sweep.json`` describes the sweep. Each is regenerated
whole from the rows and written atomically, so the same spec and cache give byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from archsim import __version__
from archsim.errors import ArchsimError
from archsim.files import TEMP_SUFFIX, write_atomically
from archsim.report.report import csv_cell

__all__ = [
    "CACHE_SCHEMA",
    "RESULT_FILES",
    "CacheEntry",
    "MetricSelector",
    "ResultCache",
    "cache_key",
    "csv_text",
    "jsonl_text",
    "key_inputs",
    "row_columns",
    "write_entry",
]

log = logging.getLogger(__name__)

#: The ``schema`` of a cache file.
CACHE_SCHEMA = "archsim-sweep-point"
CACHE_SCHEMA_VERSION = 1
#: The results files in an output directory: CSV, JSON Lines, the sweep description.
RESULT_FILES = ("results.csv", "results.jsonl", "sweep.json")
#: Temporary files older than this are left over from a killed sweep, s.
_STALE_TEMP_S = 3600.0


def cache_key(
    config_sha256: str, trace_sha256: str, seed: int, archsim_version: str = __version__
) -> str:
    """The cache key of one simulation: SHA-256 of its inputs, as 64 hex digits."""
    return hashlib.sha256(
        json.dumps(
            key_inputs(config_sha256, trace_sha256, seed, archsim_version), sort_keys=True
        ).encode()
    ).hexdigest()


def key_inputs(
    config_sha256: str, trace_sha256: str, seed: int, archsim_version: str = __version__
) -> dict[str, Any]:
    """What :func:`cache_key` hashes, as a cache entry records it (its ``inputs``)."""
    return {
        "config_sha256": config_sha256,
        "trace_sha256": trace_sha256,
        "seed": seed,
        "archsim_version": archsim_version,
    }


def write_entry(path: Path, text: str) -> None:
    """Write a cache entry's text to its file ``path`` (:meth:`ResultCache.path`), creating
    the shard directory if needed, atomically: what a pool worker on the sweep's machine does.

    Raises:
        OSError: the file cannot be written (no temporary file is left).
    """
    path.parent.mkdir(exist_ok=True)
    write_atomically({path: text})


@dataclass(frozen=True)
class CacheEntry:
    """One cached simulation.

    Attributes:
        key: its :func:`cache_key`.
        inputs: the key's inputs (``config_sha256``, ``trace_sha256``, ``seed``,
            ``archsim_version``).
        status: ``"ok"`` (``report`` holds the run report) or ``"error"`` (``error`` holds the
            :class:`~archsim.errors.ArchsimError` message; ``<trace>`` stands for the trace
            file's path, which is not part of the key).
        report: the run report (:func:`archsim.report.report.build_report`), read-only by
            convention.
        error: the error message.
    """

    key: str
    inputs: Mapping[str, Any]
    status: Literal["ok", "error"]
    report: Mapping[str, Any] | None
    error: str | None

    def to_json(self) -> str:
        """The cache file's text: deterministic JSON (sorted keys, no NaN), one line.

        Raises:
            ValueError: the report holds a non-finite number.
        """
        return (
            json.dumps(
                {
                    "schema": CACHE_SCHEMA,
                    "schema_version": CACHE_SCHEMA_VERSION,
                    "key": self.key,
                    "inputs": self.inputs,
                    "status": self.status,
                    "report": self.report,
                    "error": self.error,
                },
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str, key: str) -> CacheEntry | None:
        """Parse a cache file's text; None unless it is a complete entry for ``key``."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not (
            isinstance(data, dict)
            and data.get("schema") == CACHE_SCHEMA
            and data.get("schema_version") == CACHE_SCHEMA_VERSION
            and data.get("key") == key
            and isinstance(data.get("inputs"), dict)
        ):
            return None
        inputs = data["inputs"]
        expected = cache_key(
            inputs.get("config_sha256", ""),
            inputs.get("trace_sha256", ""),
            inputs.get("seed", -1),
            inputs.get("archsim_version", ""),
        )
        if expected != key:
            return None
        status, report, error = data.get("status"), data.get("report"), data.get("error")
        if status == "ok" and isinstance(report, dict) and error is None:
            return cls(key, inputs, "ok", report, None)
        if status == "error" and report is None and isinstance(error, str):
            return cls(key, inputs, "error", None, error)
        return None


class ResultCache:
    """The content-addressed cache of simulated points in one directory (see the module doc).

    Creating it creates the directory, removes temporary files that a killed sweep left more
    than an hour ago and lists the entries present, so that a point not cached costs no file
    system call. Safe to share between sweeps, also running at the same time: two writers of
    one key write the same content, and an entry another process adds after this cache was
    opened is not seen (its point is simulated again, with the same result).

    Args:
        directory: where the cache files live.
        durable: fsync each file before renaming it (default off: see the module docstring).

    Raises:
        ArchsimError: the directory cannot be created.
    """

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = False) -> None:
        # Absolute: pool workers write entries to paths made from it, and a pool can outlive
        # a change of the working directory.
        self.directory = Path(directory).absolute()
        self.durable = durable
        self._shards: set[Path] = set()  # shard directories known to exist
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArchsimError(
                f"cannot create the sweep cache {self.directory}: {error.strerror or error}"
            ) from None
        self._remove_stale_temps()
        self._present = {path.stem for path in self.directory.glob("*/*.json")}

    def _remove_stale_temps(self) -> None:
        now = time.time()
        for temp in self.directory.glob(f"*/.*{TEMP_SUFFIX}"):
            try:
                if now - temp.stat().st_mtime > _STALE_TEMP_S:
                    temp.unlink()
            except OSError:  # another sweep renamed or removed it meanwhile
                continue

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The entry of ``key``, or None if it is not cached (or its file is damaged)."""
        if key not in self._present:
            return None
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            log.warning("ignoring unreadable sweep cache file %s: %s", path, error)
            return None
        entry = CacheEntry.from_json(text, key)
        if entry is None:
            log.warning("ignoring damaged sweep cache file %s; the point is simulated again", path)
        return entry

    def put_text(self, key: str, text: str) -> None:
        """Store an entry's JSON text (:meth:`CacheEntry.to_json`) under ``key``, atomically.

        Raises:
            ArchsimError: the file cannot be written.
        """
        path = self.path(key)
        try:
            if path.parent not in self._shards:
                path.parent.mkdir(exist_ok=True)
                self._shards.add(path.parent)
            write_atomically({path: text}, durable=self.durable)
        except OSError as error:
            raise ArchsimError(
                f"cannot write the sweep cache file {path}: {error.strerror or error}"
            ) from None
        self._present.add(key)

    def written(self, key: str) -> None:
        """Note that a worker of this sweep wrote ``key``'s file (:func:`write_entry`)."""
        self._present.add(key)

    def keys(self) -> list[str]:
        """Every cached key (files present; not checked), sorted."""
        return sorted(p.stem for p in self.directory.glob("*/*.json"))


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


class _Wildcard:
    """A pattern where ``*`` matches any run of characters (dots and the empty string
    included), anchored at both ends, matched in linear time.

    A regular expression of ``.*`` pieces backtracks: ``a*a*a*a*a*a*a*a*a*a*a*b`` against a
    long key of ``a`` takes time exponential in the stars. Here the pattern is split at its
    stars (runs of stars are one): the first piece must start the key, the last end it, and
    each piece between is placed at its leftmost occurrence after the previous one. Leftmost is
    always right, since a star can absorb whatever lies between two pieces, so nothing is ever
    retried: at most O(len(pattern) x len(key)) character comparisons, done by ``str.find``.
    """

    __slots__ = ("_head", "_middle", "_tail")

    def __init__(self, pattern: str) -> None:
        pieces = pattern.split("*")
        if len(pieces) < 2:
            raise ValueError(f"not a wildcard pattern: {pattern!r}")
        self._head, self._tail = pieces[0], pieces[-1]
        self._middle = tuple(piece for piece in pieces[1:-1] if piece)  # "**" is one star

    def matches(self, key: str) -> bool:
        """Whether the whole of ``key`` matches the pattern."""
        head, tail = self._head, self._tail
        if len(key) < len(head) + len(tail) or not key.startswith(head) or not key.endswith(tail):
            return False
        position, end = len(head), len(key) - len(tail)
        for piece in self._middle:
            found = key.find(piece, position, end)
            if found < 0:
                return False
            position = found + len(piece)
        return True


class MetricSelector:
    """Picks a spec's ``metrics:`` from a flattened report and orders the metric columns.

    An entry without ``*`` is one column, present in every row (empty where a report lacks the
    key). An entry with ``*`` (any run of characters, dots and brackets included) expands to the
    matching keys found in the reports, in first-appearance order. No entries: every key of
    every report, in first-appearance order (a report's own keys are sorted, as
    :func:`archsim.report.report.flatten` gives them).

    Args:
        metrics: the spec's ``metrics:`` entries.
    """

    def __init__(self, metrics: Sequence[str]) -> None:
        self.metrics = tuple(metrics)
        self._patterns = {m: _Wildcard(m) for m in self.metrics if "*" in m}

    def select(self, flat: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """The selected ``key -> value`` pairs of one flattened report."""
        if not self.metrics:
            return dict(flat)
        flat = dict(flat)
        chosen: dict[str, Any] = {}
        for metric in self.metrics:
            pattern = self._patterns.get(metric)
            if pattern is None:
                if metric in flat:
                    chosen[metric] = flat[metric]
            else:
                chosen.update((k, v) for k, v in flat.items() if pattern.matches(k))
        return chosen

    def columns(self, selected: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
        """The metric columns for rows whose selections are ``selected`` (in spec order), and
        the entries that matched no key of any of them."""
        seen: dict[str, None] = {}
        for row in selected:
            seen.update(dict.fromkeys(row))
        if not self.metrics:
            return list(seen), []
        columns: dict[str, None] = {}
        unmatched = []
        for metric in self.metrics:
            pattern = self._patterns.get(metric)
            if pattern is None:
                columns[metric] = None
                if metric not in seen:
                    unmatched.append(metric)
            else:
                found = [k for k in seen if pattern.matches(k)]
                columns.update(dict.fromkeys(found))
                if not found:
                    unmatched.append(metric)
        return list(columns), unmatched


def row_columns(parameters: Sequence[str], metrics: Sequence[str], *, pareto: bool) -> list[str]:
    """The columns of the results, in order: ``point``, ``trace``, ``seed``, the swept
    parameters, ``status``, the metrics, ``pareto`` (when the spec asks for a front) and
    ``error`` last, where a long message does not push the numbers out of sight."""
    return [
        "point",
        "trace",
        "seed",
        *parameters,
        "status",
        *metrics,
        *(["pareto"] if pareto else []),
        "error",
    ]


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as CSV: a header of ``columns``, then one line per row (missing cells empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return out.getvalue()


def jsonl_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as JSON Lines: one flat object per row with every column in order (missing
    values null)."""
    return "".join(
        json.dumps({c: row.get(c) for c in columns}, separators=(",", ":"), allow_nan=False) + "\n"
        for row in rows
    )
