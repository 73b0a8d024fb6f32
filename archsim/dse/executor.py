"""Executors: where a sweep's design points are simulated (stage: dse).

Each point is one call of the pure function :func:`evaluate`: :func:`archsim.api.run` of
``(config, trace, seed)``, returned as the text of the point's cache file. An
executor runs a stream of :class:`PointTask` and yields a :class:`PointOutcome` per task, in
completion order (the sweep puts the rows back in spec order):

* :class:`SerialExecutor` runs them in the calling process, one after another;
* :class:`ProcessExecutor` on a local process pool (default: one process per core);
* :class:`DaskExecutor` on a Dask distributed cluster (``pip install "archsim[dask]"``). The
  traces are shipped to the workers (scattered once, written to each worker machine's temporary
  directory), so workers need archsim installed at the same version, not the sweep's files.

The pool executors send points in chunks, sized from the measured time per point so that a chunk
takes about :data:`CHUNK_TARGET_S` (one point per chunk for slow points, dozens for fast ones)
and smaller towards the end of the task stream (whose ``__length_hint__``, if it has one, says
how many tasks may still come), and keep two chunks per worker in flight, so that neither
inter-process messages nor the end of the sweep leave workers idle. An executor is a context
manager; a pool is started once and can run several sweeps.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import operator
import os
import signal
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim import __version__, api
from archsim.config.schema import HardwareConfig
from archsim.dse.spec import TraceInput
from archsim.dse.store import CacheEntry, key_inputs, write_entry
from archsim.errors import ArchsimError
from archsim.files import write_atomically
from archsim.limits import DEFAULT_LIMITS, LimitError, Limits

__all__ = [
    "CHUNK_TARGET_S",
    "TRACE_TOKEN",
    "DaskExecutor",
    "Executor",
    "PointOutcome",
    "PointTask",
    "ProcessExecutor",
    "SerialExecutor",
    "SweepError",
    "default_workers",
    "evaluate",
    "evaluate_chunk",
]

#: Wall time one chunk of points should take on a worker, s.
CHUNK_TARGET_S = 0.05
#: Most points in one chunk.
MAX_CHUNK = 64
#: Stands for the trace file's path in cached error messages: the path is not part of the
#: cache key (the file's digest is), and differs between machines and Dask workers.
TRACE_TOKEN = "<trace>"


class SweepError(ArchsimError):
    """A sweep could not go on (a worker died, a cluster is unreachable or runs another archsim
    version). The points finished before it are cached: running the sweep again resumes it."""


# --------------------------------------------------------------------------------------------
# One point
# --------------------------------------------------------------------------------------------


def _pack(value: Any) -> Any:
    """A resolved config as nested tuples that pickle (``MappingProxyType`` does not).

    Rebuilding the frozen dataclasses from this takes ~0.07 ms where loading the config again
    from YAML data takes ~0.8 ms: the difference is a tenth of a small point's simulation.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple(
            (f.name, _pack(getattr(value, f.name))) for f in dataclasses.fields(value) if f.init
        )
        return ("dataclass", type(value), fields)
    if isinstance(value, Mapping):
        return ("mapping", tuple((k, _pack(v)) for k, v in value.items()))
    if isinstance(value, tuple):
        return ("tuple", tuple(_pack(v) for v in value))
    return ("value", value)


def _unpack(packed: Any) -> Any:
    kind, *rest = packed
    if kind == "dataclass":
        cls, fields = rest
        return cls(**{name: _unpack(item) for name, item in fields})
    if kind == "mapping":
        return types.MappingProxyType({k: _unpack(v) for k, v in rest[0]})
    if kind == "tuple":
        return tuple(_unpack(v) for v in rest[0])
    return rest[0]


def _task_from_wire(
    key: str,
    packed: Any,
    config_sha256: str,
    trace: TraceInput,
    seed: int,
    cache_file: str | None,
    limits: Limits,
) -> PointTask:
    return PointTask(key, _unpack(packed), config_sha256, trace, seed, cache_file, limits)


@dataclass(frozen=True)
class PointTask:
    """One simulation to run.

    Attributes:
        key: its cache key (:func:`archsim.dse.store.cache_key`).
        config: the point's resolved hardware config.
        config_sha256: :func:`archsim.report.report.config_digest` of ``config``.
        trace: the trace to replay.
        seed: the simulation seed.
        cache_file: where the worker itself writes the point's cache entry (atomically), when
            it shares the sweep's file system (a local pool: the cache writes then run in
            parallel, not one after another in the sweep process); None: the sweep process
            writes it on receiving the outcome.
        limits: the size budgets the point runs under (a point over one is an error, not
            cached: a later sweep may raise the budget).
    """

    key: str
    config: HardwareConfig
    config_sha256: str
    trace: TraceInput
    seed: int
    cache_file: str | None = None
    limits: Limits = DEFAULT_LIMITS

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to a worker process or a Dask worker) with the config packed into tuples.
        return (
            _task_from_wire,
            (
                self.key,
                _pack(self.config),
                self.config_sha256,
                self.trace,
                self.seed,
                self.cache_file,
                self.limits,
            ),
        )

    @property
    def inputs(self) -> dict[str, Any]:
        """The cache key's inputs."""
        return key_inputs(self.config_sha256, self.trace.sha256, self.seed)


@dataclass(frozen=True)
class PointOutcome:
    """What running a :class:`PointTask` gave.

    Attributes:
        key: the task's cache key.
        entry: the cache file's text (:meth:`~archsim.dse.store.CacheEntry.to_json`), status
            ``ok`` or ``error``; None when the point crashed.
        crash: ``"TypeError: ..."`` when the simulation raised something other than an
            :class:`~archsim.errors.ArchsimError` (a bug: recorded, logged, not cached).
        traceback: the crash's formatted traceback.
        archsim_version: the version that ran it (a Dask worker may differ).
        elapsed_s: the point's wall time on the worker, s.
        stored: the worker wrote ``entry`` to the task's ``cache_file``.
        cacheable: ``entry`` may be cached (False for a point refused by a size budget, which
            depends on the sweep's ``--limit``, not on the point).
    """

    key: str
    entry: str | None
    crash: str | None
    traceback: str | None
    archsim_version: str
    elapsed_s: float
    stored: bool = False
    cacheable: bool = True


def evaluate(task: PointTask, trace_path: str | None = None) -> PointOutcome:
    """Simulate one point with :func:`archsim.api.run` (the report names no file: the trace's
    path differs between machines), as a cache entry.

    A pure function of the task (the elapsed time aside). An
    :class:`~archsim.errors.ArchsimError` (a network that does not fit, a corrupt trace) is the
    point's result, status ``error``; any other exception is a crash, reported, not raised.
    With ``task.cache_file`` set, the entry is also written there (a file that cannot be
    written is left to the sweep process, which reports it).

    Args:
        task: the point.
        trace_path: where the trace is on this machine (default ``task.trace.path``).
    """
    path = trace_path or task.trace.path
    start = time.perf_counter()
    config = task.config
    try:
        report = api.run(
            config, path, seed=task.seed, identify_inputs=False, limits=task.limits
        ).to_dict()
        text = CacheEntry(task.key, task.inputs, "ok", report, None).to_json()
    except LimitError as error:
        message = str(error).replace(path, TRACE_TOKEN)
        text = CacheEntry(task.key, task.inputs, "error", None, message).to_json()
        return PointOutcome(
            task.key, text, None, None, __version__, time.perf_counter() - start,
            cacheable=False,
        )
    except ArchsimError as error:
        message = str(error).replace(path, TRACE_TOKEN)
        text = CacheEntry(task.key, task.inputs, "error", None, message).to_json()
    except Exception as error:  # noqa: BLE001 - a bug at one point must not end a long sweep
        return PointOutcome(
            task.key,
            None,
            f"{type(error).__name__}: {error}",
            traceback.format_exc(),
            __version__,
            time.perf_counter() - start,
        )
    stored = False
    if task.cache_file is not None:
        try:
            write_entry(Path(task.cache_file), text)
            stored = True
        except OSError:
            pass
    return PointOutcome(
        task.key, text, None, None, __version__, time.perf_counter() - start, stored
    )


def evaluate_chunk(tasks: Iterable[PointTask]) -> list[PointOutcome]:
    """:func:`evaluate` each task in turn (the unit of work sent to a pool worker)."""
    return [evaluate(task) for task in tasks]


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


class Executor(abc.ABC):
    """Runs point tasks somewhere; a context manager (leaving it closes the executor)."""

    #: How many points run at once.
    workers: int
    #: The workers see the sweep process's files (so they can write cache entries themselves);
    #: only an executor that knows it says so.
    local: bool = False

    @abc.abstractmethod
    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointOutcome]:
        """Evaluate ``tasks`` and yield one outcome per task, in completion order.

        ``tasks`` is consumed lazily, in the calling thread, as workers become free.

        Raises:
            SweepError: the executor cannot go on (outcomes yielded so far are valid).
        """

    def close(self) -> None:
        """Release workers and connections (an executor is unusable afterwards)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs every point in the calling process, one after another (``--workers 1``)."""

    workers = 1
    local = True

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointOutcome]:
        for task in tasks:
            yield evaluate(task)


class _Chunker:
    """Chunk sizes from the measured mean time per point: one point until something is
    measured, then at most double the previous size (the first points may be unrepresentative,
    such as designs that fail at once), up to :data:`CHUNK_TARGET_S` per chunk.

    Near the end of a sweep the chunks shrink (guided self-scheduling): a chunk holds at most
    a share ``1 / (2 x workers)`` of the tasks still to come, as the task stream estimates them
    (:func:`operator.length_hint`), so that the last chunks end at about the same time on every
    worker instead of one worker finishing a long chunk alone.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._points = 0
        self._seconds = 0.0
        self._last = 1

    def learn(self, outcomes: Iterable[PointOutcome]) -> None:
        for outcome in outcomes:
            self._points += 1
            self._seconds += outcome.elapsed_s

    def size(self, source: Iterator[PointTask]) -> int:
        """The next chunk's size, with ``source`` the task stream it is taken from."""
        if not self._points:
            return 1
        mean_s = self._seconds / self._points
        target = int(CHUNK_TARGET_S / max(mean_s, 1e-6))
        self._last = max(1, min(MAX_CHUNK, 2 * self._last, target))
        remaining = operator.length_hint(source, 0)
        if remaining:
            return max(1, min(self._last, -(-remaining // (2 * self._workers))))
        return self._last


def _watch_parent(sweep: int, interval_s: float) -> None:
    """End this worker once the sweep process ``sweep`` is gone: this process is re-parented as
    soon as its parent dies (even while the dead parent is not yet reaped), and ``sweep`` itself
    is checked too, for start methods whose workers are not its children (forkserver)."""
    parent = os.getppid()
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent:
            os._exit(1)
        try:
            os.kill(sweep, 0)
        except (ProcessLookupError, PermissionError):  # gone, or the pid now someone else's
            os._exit(1)


#: Signal masks need POSIX threads (not on Windows, where Ctrl-C is not a signal).
_MASKS = hasattr(signal, "pthread_sigmask")


def _worker_setup(parent: int, ignore_sigint: bool) -> None:
    """Pool worker initializer.

    Ctrl-C ends a worker at once and silently while it computes points (the sweep process,
    which gets the same SIGINT, stops the sweep; finished points are already cached), unless
    the sweep process itself ignores SIGINT (started in the background by a shell, under
    nohup). While the worker waits for work or sends results back, SIGINT is held blocked:
    a worker killed half-way through writing its results to the pool's pipe leaves a partial
    message that the pool's manager thread waits on for ever, and the sweep process with it
    (the signal, still pending, ends the worker when its next chunk starts, or never if the
    sweep shuts the pool down first). A worker also ends within a second of the sweep process
    being killed outright (SIGKILL, out of memory), which a pool worker waiting for work would
    otherwise not notice: it holds its own end of the task pipe.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)
    if _MASKS and not ignore_sigint:
        # Before the watcher thread starts, which inherits the mask.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    threading.Thread(target=_watch_parent, args=(parent, 0.5), daemon=True).start()


def _evaluate_in_worker(tasks: list[PointTask]) -> list[PointOutcome]:
    """:func:`evaluate_chunk` in a pool worker, interruptible by Ctrl-C while it computes
    (:func:`_worker_setup`)."""
    if not _MASKS:
        return evaluate_chunk(tasks)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        return evaluate_chunk(tasks)
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ProcessExecutor(Executor):
    """Runs points on a local pool of worker processes.

    Args:
        workers: worker processes (default: the cores this process may use).
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (default: the platform's;
            fork starts a pool in ~10 ms, the others in ~0.3 s as each worker imports archsim).
    """

    def __init__(self, workers: int | None = None, *, start_method: str | None = None) -> None:
        import multiprocessing

        self.local = True
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        context = multiprocessing.get_context(start_method) if start_method else None
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_worker_setup,
            initargs=(os.getpid(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN),
        )
        self._chunker = _Chunker(self.workers)

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointOutcome]:
        source = iter(tasks)
        pending: set[Future[list[PointOutcome]]] = set()
        exhausted = False

        def submit() -> None:
            nonlocal exhausted
            while not exhausted and len(pending) < 2 * self.workers:
                chunk = list(itertools.islice(source, self._chunker.size(source)))
                if not chunk:
                    exhausted = True
                    return
                pending.add(self._pool.submit(_evaluate_in_worker, chunk))

        try:
            submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.discard(future)
                    outcomes = future.result()
                    self._chunker.learn(outcomes)
                    yield from outcomes
                submit()
        except BrokenProcessPool:
            # Ctrl-C reaches the workers too, which end at once: give the SIGINT on its way to
            # this process the time to arrive, so that the sweep stops as interrupted (a
            # KeyboardInterrupt raised in this sleep) rather than as failed.
            time.sleep(0.2)
            raise SweepError(
                "a sweep worker process died (killed, or out of memory?); the finished points "
                "are cached: run the sweep again to resume"
            ) from None
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------------


def _local_trace(blob: bytes, trace: TraceInput, root: Path) -> str:
    """The trace ``blob`` as a file under ``root`` on this (worker) machine, written once per
    content (atomically: threads of one worker may ask for it at the same time)."""
    folder = root / "archsim-traces" / trace.sha256
    path = folder / Path(trace.name).name
    try:
        if path.stat().st_size == len(blob):
            return str(path)
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically({path: blob})
    return str(path)


def _evaluate_remote(tasks: list[PointTask], blobs: Mapping[str, bytes]) -> list[PointOutcome]:
    """:func:`evaluate_chunk` on a Dask worker, with the traces shipped as ``blobs`` (sha256 ->
    file bytes)."""
    try:
        from distributed import get_worker

        # The worker's scratch directory, which Dask removes when the worker ends.
        root = Path(get_worker().local_directory)
    except (ImportError, ValueError):  # not inside a Dask worker
        root = Path(tempfile.gettempdir())
    return [
        evaluate(task, _local_trace(blobs[task.trace.sha256], task.trace, root)) for task in tasks
    ]


class DaskExecutor(Executor):
    """Runs points on a Dask distributed cluster (whose workers may be other machines: the
    sweep process writes the cache entries).

    Args:
        address: the scheduler, e.g. ``"tcp://10.0.0.5:8786"``; or
        client: a connected :class:`distributed.Client` (not closed by :meth:`close`).
        timeout_s: how long to wait for the scheduler, s.

    Raises:
        SweepError: Dask is not installed, or the scheduler cannot be reached.
    """

    def __init__(
        self, address: str | None = None, *, client: Any = None, timeout_s: float = 30.0
    ) -> None:
        if (address is None) == (client is None):
            raise ValueError("give a scheduler address or a client, not both")
        try:
            import distributed
        except ImportError:
            raise SweepError(
                "--scheduler needs Dask: pip install 'archsim[dask]' (or \"dask[distributed]\")"
            ) from None
        self._distributed = distributed
        self._own_client = client is None
        if client is None:
            try:
                # A malformed address must be refused before a Client exists: one whose
                # constructor failed still blocks the interpreter's exit for a minute.
                scheme, _ = distributed.comm.parse_address(address)
                if scheme != "inproc":  # in-process clusters have no host and port
                    distributed.comm.get_address_host_port(address)
            except ValueError as error:
                raise SweepError(
                    f"--scheduler: {error}; expected an address such as tcp://10.0.0.5:8786"
                ) from None
            if scheme in ("tls", "wss"):
                raise SweepError(
                    f"--scheduler: {address}: a {scheme}:// scheduler needs certificates, which "
                    "the command line does not take: from Python, pass "
                    "DaskExecutor(client=distributed.Client(address, security=...))"
                )
            try:
                client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as error:
                raise SweepError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        self._client = client
        if not client.nthreads():  # workers may still be starting: wait for the first
            try:
                client.wait_for_workers(1, timeout=timeout_s)
            except TimeoutError:
                self.close()
                raise SweepError(
                    f"the Dask scheduler at {address or client.scheduler.address} has no "
                    f"workers after {timeout_s:g} s: start some with "
                    "dask worker SCHEDULER_ADDRESS --nworkers N --nthreads 1"
                ) from None
        self.workers = max(1, sum(client.nthreads().values()))
        self._blobs: dict[str, Any] = {}
        self._chunker = _Chunker(self.workers)

    def _blob(self, trace: TraceInput) -> Any:
        """The scattered bytes of ``trace`` (sent to every worker once)."""
        if trace.sha256 not in self._blobs:
            data = Path(trace.path).read_bytes()
            self._blobs[trace.sha256] = self._client.scatter(data, broadcast=True, hash=False)
        return self._blobs[trace.sha256]

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointOutcome]:
        source = iter(tasks)
        running = self._distributed.as_completed(loop=self._client.loop)
        live: set[Any] = set()  # held futures keep their results on the cluster: drop when read

        def submit(count: int) -> None:
            for _ in range(count):
                chunk = list(itertools.islice(source, self._chunker.size(source)))
                if not chunk:
                    return
                blobs = {t.trace.sha256: self._blob(t.trace) for t in chunk}
                future = self._client.submit(_evaluate_remote, chunk, blobs, pure=False)
                live.add(future)
                running.add(future)

        try:
            submit(2 * self.workers)
            for future in running:
                try:
                    outcomes = future.result()
                except Exception as error:  # noqa: BLE001 - KilledWorker, lost connection...
                    raise SweepError(
                        f"the Dask cluster failed a chunk of points ({type(error).__name__}: "
                        f"{error}); the finished points are cached: run the sweep again to resume"
                    ) from None
                live.discard(future)
                self._chunker.learn(outcomes)
                yield from outcomes
                submit(1)
        finally:
            if live:
                self._client.cancel(list(live))

    def close(self) -> None:
        if self._own_client:
            self._client.close()
