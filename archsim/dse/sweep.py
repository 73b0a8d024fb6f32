"""Running a sweep: spec -> design points -> cache -> results tables (stage: dse).

:func:`run_sweep` is what ``archsim sweep SPEC --out DIR`` calls. For every design point, in
spec order, it resolves the point's config (the spec's base config, its ``set``, then the
point's swept values, exactly as ``load_hardware(config, overrides)`` would), computes the
point's cache key and either takes the result from the cache or sends the point to the
executor. Each result is cached as soon as it is finished, in whatever order (by the worker
itself on a local pool, by this process for a Dask cluster); the tables are regenerated from
all rows at the end, in spec order. A point whose config does not load (a value the loader
refuses in combination, such as ``columns_per_adc`` not dividing ``cols``) or whose simulation
raises an :class:`~archsim.errors.ArchsimError` (a network that does not fit) is a row with
status ``error`` and the message; the sweep carries on.

Output directory::

    DIR/results.csv     one row per point (columns: see :func:`archsim.dse.store.row_columns`)
    DIR/results.jsonl   the same rows as JSON objects, with native types
    DIR/sweep.json      what was swept: spec, axes, columns, counts, complete or not
    DIR/cache/          one JSON file per simulated point (see :mod:`archsim.dse.store`)
    DIR/.lock           locked (``flock``) while a sweep writes DIR; left in place

Killed at any moment and run again, a sweep resumes from the cache: no finished point is lost or
simulated twice, and the tables end up byte-identical to those of an uninterrupted run.

A folder holds the tables of one spec: a sweep into a folder whose ``sweep.json`` describes
another spec (another :attr:`~archsim.dse.spec.SweepSpec.digest`) is refused, as is a sweep into
a folder another sweep is writing (its lock is held), so two sweeps never replace each other's
tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

try:
    import fcntl
except ImportError:  # Windows: folders are not locked
    fcntl = None  # type: ignore[assignment]

from archsim import __version__
from archsim.config import hardware_from_data
from archsim.config.loader import apply_overrides, apply_settings, open_regular
from archsim.config.schema import HardwareConfig
from archsim.dse.executor import (
    TRACE_TOKEN,
    DaskExecutor,
    Executor,
    PointOutcome,
    PointTask,
    ProcessExecutor,
    SerialExecutor,
    SweepError,
    default_workers,
)
from archsim.dse.pareto import pareto_front
from archsim.dse.progress import ProgressBar, format_duration
from archsim.dse.spec import Point, SweepSpec, load_spec
from archsim.dse.store import (
    RESULT_FILES,
    CacheEntry,
    MetricSelector,
    ResultCache,
    cache_key,
    csv_text,
    jsonl_text,
    row_columns,
)
from archsim.errors import ArchsimError, ConfigError, shown
from archsim.files import write_atomically
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.report.report import config_digest, flatten

__all__ = [
    "LOCK_FILE",
    "MANIFEST_SCHEMA",
    "PointFailure",
    "SweepSummary",
    "format_summary",
    "resolve_config",
    "run_sweep",
]

log = logging.getLogger(__name__)

#: The ``schema`` of ``sweep.json``.
MANIFEST_SCHEMA = "archsim-sweep"
MANIFEST_SCHEMA_VERSION = 1
#: The file in an output folder that a running sweep holds locked.
LOCK_FILE = ".lock"
#: Most of an existing sweep.json read to tell whose folder it is, bytes.
_MAX_MANIFEST_BYTES = 1 << 24
#: How many distinct errors :func:`format_summary` lists, and how many points for each.
LISTED_FAILURES = 5
LISTED_POINTS = 8


@dataclass(frozen=True)
class PointFailure:
    """A design point that has no result.

    Attributes:
        point: its index in spec order.
        message: the error (an :class:`~archsim.errors.ArchsimError`'s message, or
            ``"internal error: ..."`` for a crash).
        crashed: True for an unexpected exception (a bug in archsim; not cached, so the next
            run of the sweep tries the point again).
    """

    point: int
    message: str
    crashed: bool


@dataclass(frozen=True)
class SweepSummary:
    """What :func:`run_sweep` did.

    Attributes:
        name: the sweep's name.
        spec: the spec file.
        points: design points in the spec.
        ok: points with a result.
        errors: points whose config or simulation raised an ArchsimError (status ``error``).
        crashed: points that hit an unexpected exception (also status ``error``).
        simulated: simulations run by this call.
        cached: points answered from the cache by results of earlier runs (a point repeating
            another of this run counts as neither simulated nor cached).
        workers: points run at once.
        elapsed_s: wall time of the call, s.
        files: ``results.csv``, ``results.jsonl`` and ``sweep.json``.
        failures: every failed point, in spec order.
        warnings: ``metrics:`` or ``pareto:`` entries that matched no key of any report.
    """

    name: str
    spec: str
    points: int
    ok: int
    errors: int
    crashed: int
    simulated: int
    cached: int
    workers: int
    elapsed_s: float
    files: tuple[Path, Path, Path]
    failures: tuple[PointFailure, ...]
    warnings: tuple[str, ...]

    @property
    def exit_status(self) -> int:
        """The CLI's exit status: 0, or 1 when a point crashed (a bug to report)."""
        return 1 if self.crashed else 0


def resolve_config(spec: SweepSpec, point: Point) -> HardwareConfig:
    """The resolved hardware config of ``point``: the spec's base config data
    (:attr:`~archsim.dse.spec.SweepSpec.config_data`), the spec's ``set``, then the point's
    settings; what :func:`archsim.config.load_hardware` gives for the same file and overrides,
    without reading the file again.

    Raises:
        ConfigError: the point's config does not load, naming the config file and the field.
    """
    data = apply_overrides(spec.config_data, spec.overrides)
    try:
        data = apply_settings(data, ((s.path, s.value) for s in point.settings))
    except ConfigError as error:
        raise ConfigError(f"{spec.config}: {error}") from None
    return hardware_from_data(data, (), spec.config, folder=os.path.dirname(spec.config_path))


@dataclass(frozen=True)
class _Row:
    """One finished point: its cells, its selected metrics and its objective values."""

    cells: dict[str, Any]
    metrics: dict[str, Any]
    objectives: tuple[float, ...]
    failure: PointFailure | None


class _TaskStream(Iterator[PointTask]):
    """A run's tasks (see :meth:`_Run.tasks`), with ``__length_hint__`` the points not looked
    at yet: at most that many tasks are still to come (cached points will be skipped), which
    the executors use to shrink their chunks near the end (:func:`operator.length_hint`)."""

    def __init__(self, tasks: Iterator[PointTask], run: _Run) -> None:
        self._tasks = tasks
        self._run = run

    def __next__(self) -> PointTask:
        return next(self._tasks)

    def __length_hint__(self) -> int:
        return self._run.spec.size - self._run.looked_at


def _objective(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


class _Run:
    """The state of one :func:`run_sweep` call: rows so far, points waiting for a result."""

    def __init__(
        self,
        spec: SweepSpec,
        cache: ResultCache,
        out: Path,
        bar: ProgressBar,
        *,
        workers_write: bool = False,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.limits = limits
        # Workers on this machine write their entries themselves, in parallel (not when every
        # file must be fsynced: the cache does that itself).
        self.workers_write = workers_write and not cache.durable
        self.out = out
        self.bar = bar
        self.selector = MetricSelector(spec.metrics)
        self.rows: dict[int, _Row] = {}
        self.waiting: dict[str, list[Point]] = {}  # cache key -> points sharing that simulation
        self.sent: set[str] = set()  # cache keys sent to the executor by this run
        self.simulated = 0
        self.cached = 0
        self.looked_at = 0  # points the task stream has gone past

    # -- rows --------------------------------------------------------------------------------

    def _cells(self, point: Point, status: str, error: str | None) -> dict[str, Any]:
        cells: dict[str, Any] = {
            "point": point.index,
            "trace": point.trace.name,
            "seed": point.seed,
        }
        cells.update((s.path, s.resolved) for s in point.settings)
        cells["status"] = status
        cells["error"] = error
        return cells

    def fail(self, point: Point, message: str, *, crashed: bool) -> None:
        failure = PointFailure(point.index, message, crashed)
        objectives = tuple(math.nan for _ in self.spec.pareto)
        self.rows[point.index] = _Row(self._cells(point, "error", message), {}, objectives, failure)

    def fill(self, point: Point, entry: CacheEntry) -> None:
        if entry.status != "ok" or entry.report is None:
            message = (entry.error or "").replace(TRACE_TOKEN, point.trace.name)
            self.fail(point, message, crashed=False)
            return
        flat = flatten(entry.report)
        values = dict(flat)
        objectives = tuple(_objective(values.get(key)) for key in self.spec.pareto)
        self.rows[point.index] = _Row(
            self._cells(point, "ok", None), self.selector.select(flat), objectives, None
        )

    # -- the task stream ---------------------------------------------------------------------

    def tasks(self) -> _TaskStream:
        """The points that need simulating, in spec order; the others are recorded on the way
        (cached results, configs that do not load, repeats of a point already sent)."""
        return _TaskStream(self._tasks(), self)

    def _tasks(self) -> Iterator[PointTask]:
        for point in self.spec.points():
            self.looked_at += 1
            try:
                config = resolve_config(self.spec, point)
            except ArchsimError as error:
                self.fail(point, str(error), crashed=False)
                self.bar.advance(simulated=False, failed=True)
                continue
            digest = config_digest(config)
            key = cache_key(digest, point.trace.sha256, point.seed)
            if key in self.waiting:  # the same simulation as an earlier point
                self.waiting[key].append(point)
                continue
            entry = self.cache.get(key)
            if entry is not None:
                # An earlier point of this run may have simulated it already: a repeat, not
                # a result from the cache (the count must not depend on the executor).
                from_cache = key not in self.sent
                if from_cache:
                    self.cached += 1
                self.fill(point, entry)
                self.bar.advance(simulated=False, cached=from_cache, failed=entry.status != "ok")
                continue
            self.waiting[key] = [point]
            self.sent.add(key)
            cache_file = str(self.cache.path(key)) if self.workers_write else None
            yield PointTask(
                key, config, digest, point.trace, point.seed, cache_file, self.limits
            )

    def record(self, outcome: PointOutcome) -> None:
        """Cache an outcome and fill the rows of the points waiting for it."""
        if outcome.archsim_version != __version__:
            raise SweepError(
                f"a worker runs archsim {outcome.archsim_version}, this sweep {__version__}: "
                "install the same version everywhere (results are cached per version)"
            )
        points = self.waiting.pop(outcome.key)
        if outcome.entry is None:
            log.error(
                "design point %s crashed (a bug in archsim; not cached):\n%s",
                ", ".join(str(p.index) for p in points),
                outcome.traceback,
            )
            for point in points:
                self.fail(point, f"internal error: {outcome.crash}", crashed=True)
            self.bar.advance(len(points), failed=True)
            return
        entry = CacheEntry.from_json(outcome.entry, outcome.key)
        if entry is None:  # cannot happen: the worker wrote it with CacheEntry.to_json
            raise SweepError(f"a worker returned a malformed result for cache key {outcome.key}")
        if outcome.stored:
            self.cache.written(outcome.key)
        elif outcome.cacheable:
            self.cache.put_text(outcome.key, outcome.entry)
        self.simulated += 1
        for point in points:
            self.fill(point, entry)
        self.bar.advance(len(points), failed=entry.status != "ok")

    # -- tables ------------------------------------------------------------------------------

    def write(self, *, complete: bool) -> tuple[tuple[Path, Path, Path], list[str]]:
        """Write the three results files from the rows so far (spec order); return their
        paths and the warnings about entries that matched nothing."""
        rows = [self.rows[index] for index in sorted(self.rows)]
        ok = [row for row in rows if row.failure is None]
        metrics, unmatched = self.selector.columns(row.metrics for row in ok)
        warnings = [  # (no report at all, when every point failed: nothing to match)
            f"metrics[{self.spec.metrics.index(m)}]: '{shown(m)}' matched no key of any report"
            for m in unmatched
            if ok
        ]
        for i, key in enumerate(self.spec.pareto):
            if ok and all(math.isnan(row.objectives[i]) for row in ok):
                warnings.append(f"pareto[{i}]: '{shown(key)}' is not a number in any report")
        columns = row_columns(self.spec.parameters, metrics, pareto=bool(self.spec.pareto))
        table = [{**row.cells, **row.metrics} for row in rows]
        if self.spec.pareto:
            # One front per workload (trace, seed): designs compete on the same work only.
            groups: dict[tuple[str, int], list[int]] = {}
            for position, row in enumerate(rows):
                groups.setdefault((row.cells["trace"], row.cells["seed"]), []).append(position)
            for members in groups.values():
                mask = pareto_front(
                    [rows[m].objectives for m in members], range(len(self.spec.pareto))
                )
                for member, on_front in zip(members, mask):
                    table[member]["pareto"] = bool(on_front)
        crashed = sum(1 for row in rows if row.failure is not None and row.failure.crashed)
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "archsim_version": __version__,
            "name": self.spec.name,
            "description": self.spec.description,
            "spec": Path(self.spec.source).name,
            "spec_sha256": self.spec.sha256,
            "spec_digest": self.spec.digest,
            "config": self.spec.config,
            "set": list(self.spec.overrides),
            "traces": [{"name": t.name, "sha256": t.sha256} for t in self.spec.traces],
            "seeds": list(self.spec.seeds),
            "axes": [
                {"kind": a.kind, "paths": list(a.paths), "levels": len(a.levels)}
                for a in self.spec.axes
            ],
            "parameters": list(self.spec.parameters),
            "metrics": list(self.spec.metrics),
            "pareto": list(self.spec.pareto),
            "columns": columns,
            "points": self.spec.size,
            "rows": len(rows),
            "complete": complete,
            "ok": len(ok),
            "error": len(rows) - len(ok) - crashed,
            "crashed": crashed,
            "files": {"csv": "results.csv", "jsonl": "results.jsonl"},
        }
        paths = tuple(self.out / name for name in RESULT_FILES)
        texts = (
            csv_text(columns, table),
            jsonl_text(columns, table),
            json.dumps(manifest, indent=2, allow_nan=False) + "\n",
        )
        # Every file complete before any is replaced, sweep.json last: its counts describe
        # the tables beside it unless a kill comes between the renames.
        try:
            write_atomically(dict(zip(paths, texts)), durable=True)
        except OSError as error:
            raise ArchsimError(
                f"cannot write the sweep results to {self.out}: {error.strerror or error}"
            ) from None
        return paths, warnings


def _check_folder(out: Path, spec: SweepSpec) -> None:
    """Refuse to write the tables of ``spec`` into ``out`` when its ``sweep.json`` describes
    another spec: they would silently replace the other sweep's tables.

    Raises:
        ArchsimError: naming the folder and both specs (names and digests).
    """
    manifest = out / RESULT_FILES[2]
    if not manifest.exists():
        return
    advice = f"use another --out, or delete {manifest} to replace that sweep's tables"
    try:
        with open_regular(manifest) as handle:  # a sweep's is a few KiB
            data = json.loads(handle.read(_MAX_MANIFEST_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        raise ArchsimError(f"{out}: holds a {manifest.name} that is not a sweep's; {advice}")
    name, digest = data.get("name"), data.get("spec_digest")
    if digest is None:  # written by an archsim before spec digests: the same spec file
        same = name == spec.name and data.get("spec_sha256") == spec.sha256
    else:
        same = digest == spec.digest
    if not same:
        theirs = f"{str(digest)[:12]}" if digest is not None else "no digest"
        raise ArchsimError(
            f"{out}: holds the results of sweep {str(name)[:60]!r} (spec digest {theirs}), not "
            f"of sweep {spec.name!r} (spec digest {spec.digest[:12]}); {advice}"
        )


def _lock(out: Path) -> int | None:
    """Lock ``out`` for this process (``flock`` on ``out/.lock``, without waiting) and return
    the lock file's descriptor: the lock lasts until it is closed (or the process ends; a
    local pool's workers, forked while it is held, hold it until they end too).

    Raises:
        ArchsimError: another sweep holds the lock, or the lock file cannot be created.
    """
    if fcntl is None:
        return None
    path = out / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise ArchsimError(
            f"cannot create the lock file {path}: {error.strerror or error}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ArchsimError(
            f"{out}: another sweep is writing to this folder (it holds {path}); wait for it "
            "to end, or use another --out"
        ) from None
    except OSError as error:  # a file system without flock
        os.close(fd)
        raise ArchsimError(f"cannot lock {path}: {error.strerror or error}") from None
    return fd


def _unlock(fd: int | None) -> None:
    """Release :func:`_lock`'s lock (closing the descriptor does it). The lock file stays: a
    sweep that removed it could leave another locking a file no longer in the folder."""
    if fd is not None:
        os.close(fd)


def _executor(workers: int | None, scheduler: str | None) -> Executor:
    if scheduler is not None and workers is not None:
        raise ArchsimError(
            "give --workers or --scheduler, not both (a Dask cluster's workers are chosen when "
            "they start: dask worker ADDRESS --nworkers N)"
        )
    if scheduler is not None:
        return DaskExecutor(scheduler)
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ArchsimError(f"--workers: expected an integer >= 1, got {count}")
    return SerialExecutor() if count == 1 else ProcessExecutor(count)


def run_sweep(
    spec_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | TextIO = True,
    flush_interval_s: float = 60.0,
    limits: Limits = DEFAULT_LIMITS,
) -> SweepSummary:
    """Run the sweep ``spec_path`` and write its results to ``out_dir`` (see the module doc).

    Args:
        spec_path: the sweep spec (format: ``hw_configs/sweeps/README.md``).
        out_dir: where ``results.csv``, ``results.jsonl``, ``sweep.json`` and (by default) the
            cache go; created if missing.
        workers: local worker processes (default: every core; 1: in this process).
        scheduler: a Dask scheduler address (``tcp://host:8786``) instead of local workers.
        executor: an executor to use instead (not closed here: a pool can serve many sweeps);
            excludes ``workers`` and ``scheduler``.
        cache_dir: the cache (default ``out_dir/cache``); sweeps may share one.
        progress: where to draw the progress bar: True for ``sys.stderr``, False for nowhere,
            or a stream. It is drawn only if the stream is a terminal.
        flush_interval_s: while running, rewrite the tables with the rows so far this often, s
            (``sweep.json`` then says ``"complete": false``); they are written at the end, and
            when the sweep is interrupted, too.
        limits: size budgets; ``limits.sweep_points`` caps the spec's design points (counted
            before any is built), the others bound every point's run (a point over one is
            an error, not cached, so that a sweep with a raised budget runs it).

    Returns:
        A :class:`SweepSummary`; :func:`format_summary` gives the CLI's text.

    Raises:
        ConfigError: the spec is invalid (one message naming the spec field).
        LimitError: the spec has more points than ``limits.sweep_points``.
        SweepError: the executor cannot go on (the finished points are cached).
        ArchsimError: the output directory cannot be written; it holds the results of another
            spec (its ``sweep.json``), or another sweep is writing to it (its lock is held);
            Dask is missing.
        KeyboardInterrupt: passed on, after writing the tables of the finished points.

    ``out_dir`` is locked while the sweep runs (``out_dir/.lock``); the lock is released when
    the call returns or raises.
    """
    start = time.monotonic()
    spec = load_spec(spec_path, limits=limits)
    if executor is not None and (workers is not None or scheduler is not None):
        raise ValueError("executor excludes workers and scheduler")
    owned = executor is None
    pool = _executor(workers, scheduler) if executor is None else executor
    out = Path(out_dir)
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArchsimError(
                f"cannot create the output directory {out}: {error.strerror or error}"
            ) from None
        _check_folder(out, spec)  # before locking: a refused sweep leaves no lock file behind
        lock = _lock(out)
    except BaseException:
        if owned:
            pool.close()
        raise
    try:
        return _run_locked(
            spec, out, start, pool, owned, cache_dir, progress, flush_interval_s, limits
        )
    finally:
        _unlock(lock)


def _run_locked(
    spec: SweepSpec,
    out: Path,
    start: float,
    pool: Executor,
    owned: bool,
    cache_dir: str | os.PathLike[str] | None,
    progress: bool | TextIO,
    flush_interval_s: float,
    limits: Limits,
) -> SweepSummary:
    """:func:`run_sweep` once ``out`` exists and is locked; closes ``pool`` if ``owned``."""
    try:
        _check_folder(out, spec)  # again, now that no other sweep can write sweep.json
        cache = ResultCache(out / "cache" if cache_dir is None else cache_dir)
    except BaseException:
        if owned:
            pool.close()
        raise
    stream = sys.stderr if progress is True else (progress or None)
    bar = ProgressBar(spec.size, stream, label=spec.name)
    run = _Run(spec, cache, out, bar, workers_write=pool.local, limits=limits)
    last_flush = time.monotonic()
    try:
        for outcome in pool.run(run.tasks()):
            run.record(outcome)
            if time.monotonic() - last_flush >= flush_interval_s:
                run.write(complete=False)
                last_flush = time.monotonic()
    except BaseException:
        bar.close()
        with contextlib.suppress(ArchsimError):  # keep the original error
            run.write(complete=False)
        raise
    finally:
        bar.close()
        if owned:
            pool.close()
    if run.waiting:  # every task must come back: an executor bug otherwise
        raise SweepError(f"the executor returned no result for {len(run.waiting)} points")
    files, warnings = run.write(complete=True)
    failures = tuple(row.failure for _, row in sorted(run.rows.items()) if row.failure is not None)
    crashed = sum(1 for f in failures if f.crashed)
    return SweepSummary(
        name=spec.name,
        spec=spec.source,
        points=spec.size,
        ok=spec.size - len(failures),
        errors=len(failures) - crashed,
        crashed=crashed,
        simulated=run.simulated,
        cached=run.cached,
        workers=pool.workers,
        elapsed_s=time.monotonic() - start,
        files=files,
        failures=failures,
        warnings=tuple(warnings),
    )


def format_summary(summary: SweepSummary) -> str:
    """The text ``archsim sweep`` prints when a sweep is over (several lines, no final newline)."""
    rate = summary.simulated / summary.elapsed_s * 60 if summary.elapsed_s > 0 else 0.0
    failed = summary.errors + summary.crashed
    lines = [
        f"sweep {summary.name}: {summary.points} points, {summary.ok} ok, {failed} failed"
        + (f" ({summary.crashed} crashed: a bug, see the log)" if summary.crashed else ""),
        f"  {summary.simulated} simulated, {summary.cached} from the cache, "
        f"{summary.workers} worker{'s' if summary.workers != 1 else ''}, in "
        + (
            f"{summary.elapsed_s:.1f} s"
            if summary.elapsed_s < 60
            else format_duration(summary.elapsed_s)
        )
        + (f" ({rate:.0f} points/min)" if summary.simulated else ""),
    ]
    groups: dict[str, list[int]] = {}  # message -> points, in spec order
    for failure in summary.failures:
        groups.setdefault(failure.message, []).append(failure.point)
    for message, points in list(groups.items())[:LISTED_FAILURES]:
        shown = ", ".join(map(str, points[:LISTED_POINTS]))
        more = f" and {len(points) - LISTED_POINTS} more" if len(points) > LISTED_POINTS else ""
        lines.append(f"  point{'s' if len(points) > 1 else ''} {shown}{more}: {message}")
    if len(groups) > LISTED_FAILURES:
        rest = sum(len(points) for points in list(groups.values())[LISTED_FAILURES:])
        lines.append(f"  ... and {rest} more failed points (column error of the results)")
    csv_path, jsonl_path, manifest = summary.files
    lines.append(f"wrote {csv_path}, {jsonl_path} and {manifest}")
    lines.extend(f"warning: {warning}" for warning in summary.warnings)
    return "\n".join(lines)
