"""A run's timeline as Chrome Trace Event JSON, for Perfetto or chrome://tracing (stage: report).

:func:`to_chrome_trace` turns a :class:`~archsim.stats.timeline.Timeline` into the JSON object
format of the Trace Event spec: ``traceEvents`` holds one complete event (``"ph": "X"``) per
span, with ``ts`` and ``dur`` in microseconds (cycles / clock x 1e6, floats: a cycle of a
100 MHz clock is 0.01 us), ``cat`` one of ``mvm``, ``adc``, ``controller``, ``digital``,
``noc``, and ``"M"`` events naming every process (a tile, the controller, the vector units,
the NoC; ``pid`` from 1) and thread (one per component instance, see
:mod:`archsim.stats.timeline`; ``tid`` from 1, unique over the file), with sort indexes that keep
the display order.
``otherData``, a flat dict, states what the file holds: the run, the window
(``window_first_sample``, ``window_samples``, ``window_start_us``, ``window_end_us``), the cap
(``max_events``), the spans recorded, dropped by the cap (``spans_dropped``, and per category
``spans_dropped_<cat>``) and outside the window, and ``complete``, true when the file holds
every span of the run (then the ``mvm`` spans of a tile sum to its ``tiles.array_busy_s`` in
the report).

There is no ``displayTimeUnit``: Perfetto would read it as the unit of ``ts`` (the spec makes it
a display hint only). Strings are written as UTF-8, not ``\\u`` escapes, which Perfetto's
tokenizer refuses. The text is deterministic: the same recording gives the same bytes.
:func:`write_timeline` writes it atomically (a temporary file in the target's directory, then
``os.replace``).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.errors import ArchsimError
from archsim.files import write_atomically
from archsim.stats.timeline import Timeline

_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def to_chrome_trace(timeline: Timeline) -> str:
    """The Chrome Trace Event JSON text of a recorded run (raises ``ValueError`` when the
    run has not ended: :meth:`Timeline.end_run`)."""
    return "".join(_chunks(timeline))


def write_timeline(timeline: Timeline, path: str | os.PathLike[str]) -> Path:
    """Write ``timeline`` to ``path`` as Chrome Trace Event JSON, atomically; return the path.

    Raises ``ValueError`` when the run has not ended and :class:`ArchsimError` naming the file
    when it cannot be written.
    """
    target = Path(path)
    chunks = _chunks(timeline)
    first = next(chunks)  # checks the recording before anything is written
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically({target: itertools.chain((first,), chunks)})
    except OSError as error:
        raise ArchsimError(
            f"cannot write the timeline to {target}: {error.strerror or error}"
        ) from None
    return target


def _chunks(timeline: Timeline) -> Iterator[str]:
    run = timeline.run
    if run is None or run.cycles is None:
        raise ValueError("the timeline's run has not ended (simulate() ends it)")
    per_us = run.clock_hz / 1e6  # cycles per microsecond
    tracks = timeline.tracks
    processes = sorted({(t.order[:2], t.process) for t in tracks})
    pid_of = {key: pid for pid, (key, _) in enumerate(processes, start=1)}
    # Threads are numbered in display order, from 1 and unique across processes: Perfetto
    # reads a tid as a kernel thread id (unique on a machine, 0 the idle task), and its JSON
    # importer merged tid 0 into tid 1 until 2025 (google/perfetto pull request 2278).
    ids: list[tuple[int, int]] = [(0, 0)] * len(tracks)
    for tid, index in enumerate(sorted(range(len(tracks)), key=lambda i: tracks[i].order), 1):
        ids[index] = (pid_of[tracks[index].order[:2]], tid)
    yield '{"traceEvents":['
    separator = "\n"
    for pid, (_, name) in enumerate(processes, start=1):
        for meta in (
            _meta("process_name", pid, 0, {"name": name}),
            _meta("process_sort_index", pid, 0, {"sort_index": pid}),
        ):
            yield separator + _COMPACT.encode(meta)
            separator = ",\n"
    for index in sorted(range(len(tracks)), key=lambda i: ids[i]):
        pid, tid = ids[index]
        for meta in (
            _meta("thread_name", pid, tid, {"name": tracks[index].thread}),
            _meta("thread_sort_index", pid, tid, {"sort_index": tid}),
        ):
            yield separator + _COMPACT.encode(meta)
            separator = ",\n"
    spans = sorted(timeline.spans, key=lambda s: (s.start, ids[s.track]))
    for span in spans:
        pid, tid = ids[span.track]
        event: dict[str, Any] = {
            "name": span.name,
            "cat": span.category,
            "ph": "X",
            "ts": span.start / per_us,
            "dur": (span.end - span.start) / per_us,
            "pid": pid,
            "tid": tid,
        }
        if span.args:
            event["args"] = dict(span.args)
        yield separator + _COMPACT.encode(event)
        separator = ",\n"
    start, stop = timeline.window
    other: dict[str, Any] = {
        "generator": f"archsim {__version__}",
        "config_name": run.config_name,
        "model": run.model,
        "mode": run.mode,
        "clock_hz": run.clock_hz,
        "run_cycles": run.cycles,
        "time_unit": "us (ts and dur); spans are whole cycles of clock_hz",
        "window_first_sample": timeline.first_sample,
        "window_samples": timeline.samples,
        "window_start_us": None if start is None else start / per_us,
        "window_end_us": None if stop is None else stop / per_us,
        "window_rule": "a span is recorded iff it starts in [window_start_us, window_end_us) "
        "and was reported after window_start_us",
        "max_events": timeline.max_events,
        "spans_recorded": len(spans),
        "spans_dropped": sum(timeline.dropped.values()),
        **{f"spans_dropped_{cat}": n for cat, n in timeline.dropped.items()},
        "spans_outside_window": timeline.outside_window,
        "conversions": timeline.conversions,
        "complete": timeline.complete,
        **{f"cat_{cat}": text for cat, text in _CATEGORY_TEXT.items()},
    }
    yield '\n],\n"otherData":' + json.dumps(other, indent=1, allow_nan=False, ensure_ascii=False)
    yield "}\n"


#: What each category's spans are, stated in the file.
_CATEGORY_TEXT = {
    "mvm": "a crossbar group's job (untimed controller) or VMM step (timed) on each of its "
    "arrays, named by layer; per tile these sum to tiles.array_busy_s",
    "adc": "an array's ADCs converting: per operation, one span per column group (analog "
    "accumulation) or per slice (digital accumulation)",
    "controller": "one reservation of a core, named by its instruction classes",
    "digital": "one vector-unit operation",
    "noc": "one packet, creation to the tail's ejection, on a lane of its flow",
    "pim": "one dynamic product on a processing unit's digital PIM modules (operand writes, "
    "then multiply-accumulates), named by record kind",
    "sfu": "one softmax, LayerNorm or GELU record on a processing unit's special-function unit",
}


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args}
