"""The timeline recorder: what every component did, when, during one run (stage: stats).

A :class:`Timeline` passed to :func:`archsim.sim.simulate` (``timeline=``) receives the spans
the hardware reports through :class:`TimelineHooks` and keeps them, in
cycles of the chip clock, on one *track* per component instance:

* per tile in use, one track per crossbar (``array i``: the group's jobs, or its steps when the
  controller is timed) and, with ``conversions``, one for its ADC bank (``array i adc``: one
  span per conversion phase of every operation,
  :meth:`archsim.hw.tile.CrossbarTiles.conversion_phases`);
* per controller core (``core c``): every reservation, named by its instruction classes;
* per vector unit (``vector unit u``): every operation;
* per NoC flow (``tile a -> tile b``): every packet, creation to the tail's ejection; packets of
  a flow overlap in flight, so a flow has as many tracks (lanes) as it needs for no two spans
  of one track to overlap, all named after the flow (a viewer tells them apart by thread id;
  :func:`archsim.report.plots.gantt` draws them as the flow's one row).

No two spans of one track overlap. :mod:`archsim.report.timeline` writes the recording as Chrome
Trace Event JSON.

**Bounds.** A long run stays usable in two ways, both stated in the file:

* the *window* ``[first_sample, first_sample + samples)``: recording starts at the cycle
  ``t0`` the sample ``first_sample`` starts and stops at the cycle ``t1`` the sample
  ``first_sample + samples - 1`` completes (``samples=None``: the end of the run). A span is
  recorded iff it starts in ``[t0, t1)`` and was reported after ``t0``. In layer-sequential
  mode that is every span of the window's samples and no other; in pipelined mode it is the
  chip's activity over that interval, other samples' work included (a controller reservation
  made before ``t0`` for a later cycle is missed);
* the *cap* ``max_events``: spans beyond the first ``max_events`` recorded are dropped and
  counted (by category).

When the window is the whole run and nothing was dropped (:attr:`Timeline.complete`), the array
spans of tile ``t`` sum to its busy cycles (the report's ``tiles.array_busy_s[t]`` x clock)
and the spans of core ``c`` to that core's busy cycles, exactly.

A recorder records one run; the engine drives it (:meth:`Timeline.begin_run`,
:meth:`Timeline.sample_started`, :meth:`Timeline.sample_finished`, :meth:`Timeline.end_run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from archsim.config.schema import HardwareConfig
from archsim.mapping.placement import NetworkMapping

#: Conversion phases of one operation: ``(offset, cycles)`` from the operation's start.
Phases = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ArrayWork:
    """What a crossbar group's jobs compute, for the timeline: the ``layer``, and per crossbar
    of the group (in :attr:`~archsim.mapping.placement.PlacedGroup.crossbars` order) the
    phases in which its ADCs convert during one operation."""

    layer: str
    conversions: tuple[Phases, ...]


class TimelineHooks(Protocol):
    """What hardware components tell a timeline recorder while they act.

    A run records a timeline only when it is given a recorder (:class:`Timeline` implements
    this interface). The components report *spans*, intervals ``[start, end)`` in integer
    cycles of the chip clock, computed from the same cycle arithmetic that times them:
    reporting adds no SimPy event, and a component without a recorder never calls a hook (it
    tests for one at most once per job, operation or packet, never per VMM step or per
    controller reservation). A recorder ignores empty spans (``end == start``).
    """

    def arrays(
        self, crossbars: tuple[int, ...], start: int, steps: int, op_cycles: int, work: ArrayWork
    ) -> None:
        """The ``crossbars`` (global indices) of a group compute ``steps`` operations of
        ``op_cycles`` each, back to back from ``start`` (one report per job with an untimed
        controller, one per step, ``steps = 1``, with a timed one); the ADC conversions inside
        each operation follow from :attr:`ArrayWork.conversions`."""

    def instruction(self, core: int, op: str, start: int, end: int) -> None:
        """Controller core ``core`` executes instructions ``op`` (a class, or ``+``-joined
        classes issued together, such as ``load+mvm``) in ``[start, end)``."""

    def packet(
        self, src_tile: int, dst_tile: int, created: int, delivered: int, flits: int, hops: int
    ) -> None:
        """A packet of ``flits`` flits from tile ``src_tile`` (-1: the I/O port) to tile
        ``dst_tile`` over ``hops`` links, created at ``created`` and ejected (tail) at
        ``delivered``."""

    def vector(self, unit: int, kind: str, elements: int, start: int, end: int) -> None:
        """Vector unit ``unit`` runs one ``kind`` operation on ``elements`` elements in
        ``[start, end)``."""

    def processing_unit(
        self, category: str, unit: int, group: str, kind: str, amount: int, start: int, end: int
    ) -> None:
        """The digital PIM modules (``category`` ``pim``) or the special-function unit
        (``sfu``) of processing unit ``unit`` (tile group ``group``) run one ``kind`` record
        of ``amount`` work (multiply-accumulates, or input elements) in ``[start, end)``."""


#: Span categories (the ``cat`` of a Chrome trace event), in the order the file lists them.
CATEGORIES = ("mvm", "adc", "controller", "digital", "noc", "pim", "sfu")

# Track kinds, in display order.
_CONTROLLER, _TILE, _DIGITAL, _NOC = range(4)


class Track(NamedTuple):
    """One component instance's track: ``process`` groups tracks (a tile, the controller, the
    vector units, the NoC), ``thread`` names the instance (the lanes of a NoC flow share its
    name). ``order`` sorts tracks for display and is unique per track: ``(kind, process index,
    ...)``, the first two naming the process."""

    order: tuple[int, ...]
    process: str
    thread: str


class Span(NamedTuple):
    """``[start, end)`` in cycles on track ``track`` (an index into :attr:`Timeline.tracks`)."""

    track: int
    name: str
    category: str
    start: int
    end: int
    args: Mapping[str, int | str] | None


@dataclass(frozen=True)
class RunInfo:
    """What was simulated: names, execution mode, clock and (once ended) the run's length."""

    config_name: str
    model: str
    mode: str
    clock_hz: float
    cycles: int | None = None


class Timeline:
    """A recorder of component spans for one run (see the module docstring).

    ``max_events`` caps the spans kept (>= 1); ``first_sample`` (>= 0) and ``samples`` (>= 1,
    or None for the rest of the run) set the window; ``conversions`` records ADC conversion
    spans (they are most of the spans: ``G`` per operation with analog accumulation).
    """

    def __init__(
        self,
        *,
        max_events: int = 200_000,
        first_sample: int = 0,
        samples: int | None = None,
        conversions: bool = True,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        if first_sample < 0:
            raise ValueError(f"first_sample must be >= 0, got {first_sample}")
        if samples is not None and samples < 1:
            raise ValueError(f"samples must be >= 1 or None, got {samples}")
        self.max_events = max_events
        self.first_sample = first_sample
        self.samples = samples
        self.conversions = conversions
        self.run: RunInfo | None = None
        #: spans not kept because the cap was reached, by category
        self.dropped: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        #: spans reported outside the window
        self.outside_window = 0
        self._spans: list[Span] = []
        self._tracks: list[Track] = []
        self._track_index: dict[tuple[int, ...], int] = {}
        self._arrays: dict[int, tuple[int, int]] = {}  # crossbar -> (array track, adc track)
        self._lanes: dict[tuple[int, int], list[tuple[int, int]]] = {}  # flow -> [(track, end)]
        self._start: int | None = 0 if first_sample == 0 else None
        self._stop: int | None = None

    # ---------------------------------------------------------------------------------------
    # Driven by the engine
    # ---------------------------------------------------------------------------------------

    def begin_run(self, config: HardwareConfig, mapping: NetworkMapping, model: str) -> None:
        """Start recording a run of ``model`` on ``config`` mapped as ``mapping``: one array
        track (and ADC track) per crossbar in use. Raises ``ValueError`` if this recorder has
        recorded a run already."""
        if self.run is not None:
            raise ValueError("a Timeline records one run; make a new one for this run")
        mode = "pipelined" if config.mapping.pipeline else "sequential"
        self.run = RunInfo(config.name, model, mode, config.chip.clock_hz)
        for crossbar, tile in enumerate(mapping.crossbar_tile):
            array = self._track((_TILE, tile, 2 * crossbar), f"tile {tile}", f"array {crossbar}")
            adc = -1
            if self.conversions:
                adc = self._track(
                    (_TILE, tile, 2 * crossbar + 1), f"tile {tile}", f"array {crossbar} adc"
                )
            self._arrays[crossbar] = (array, adc)

    def sample_started(self, sample: int, now: int) -> None:
        """Sample ``sample`` enters the chip at cycle ``now`` (the window may open)."""
        if sample == self.first_sample and self._start is None:
            self._start = now

    def sample_finished(self, sample: int, now: int) -> None:
        """Sample ``sample`` completes at cycle ``now`` (the window may close)."""
        if self.samples is None or sample != self.first_sample + self.samples - 1:
            return
        if self._stop is None:
            self._stop = now
            kept = [span for span in self._spans if span.start < now]
            self.outside_window += len(self._spans) - len(kept)
            self._spans = kept

    def end_run(self, now: int) -> None:
        """The run ends at cycle ``now``."""
        if self.run is None:
            raise ValueError("end_run() before begin_run()")
        self.run = RunInfo(
            self.run.config_name, self.run.model, self.run.mode, self.run.clock_hz, now
        )

    # ---------------------------------------------------------------------------------------
    # What the recording holds
    # ---------------------------------------------------------------------------------------

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every track, in the order they were created."""
        return tuple(self._tracks)

    @property
    def spans(self) -> tuple[Span, ...]:
        """The recorded spans, in the order they were reported."""
        return tuple(self._spans)

    @property
    def window(self) -> tuple[int | None, int | None]:
        """``(t0, t1)`` in cycles: where the window opened and closed (None: not yet; ``t1``
        is the run's end when the window runs to it)."""
        stop = self._stop
        if stop is None and self.run is not None:
            stop = self.run.cycles
        return self._start, stop

    @property
    def complete(self) -> bool:
        """Whether the recording holds every span the run reported: none fell outside the
        window and none was dropped."""
        return self.outside_window == 0 and not any(self.dropped.values())

    # ---------------------------------------------------------------------------------------
    # TimelineHooks: reported by the hardware
    # ---------------------------------------------------------------------------------------

    def arrays(
        self, crossbars: tuple[int, ...], start: int, steps: int, op_cycles: int, work: ArrayWork
    ) -> None:
        """A crossbar group's ``steps`` operations of ``op_cycles`` from ``start``: one span per
        crossbar, and its ADC bank's conversion phases in every operation."""
        end = start + steps * op_cycles
        if end == start:
            return
        args = None
        for crossbar, phases in zip(crossbars, work.conversions):
            array, adc = self._arrays[crossbar]
            if self._admit(start, "mvm"):
                if args is None:
                    args = {"steps": steps, "op_cycles": op_cycles}
                self._spans.append(Span(array, work.layer, "mvm", start, end, args))
            if adc >= 0:
                self._conversions(adc, start, steps, op_cycles, phases)

    def instruction(self, core: int, op: str, start: int, end: int) -> None:
        """A reservation of controller core ``core``."""
        if end > start and self._admit(start, "controller"):
            track = self._track((_CONTROLLER, 0, core), "controller", f"core {core}")
            self._spans.append(Span(track, op, "controller", start, end, None))

    def packet(
        self, src_tile: int, dst_tile: int, created: int, delivered: int, flits: int, hops: int
    ) -> None:
        """A packet of flow ``src_tile -> dst_tile`` (``src_tile`` -1: the I/O port, bringing
        the network input), on the flow's first free lane."""
        if delivered <= created or not self._admit(created, "noc"):
            return
        lanes = self._lanes.setdefault((src_tile, dst_tile), [])
        for position, (track, free_at) in enumerate(lanes):
            if free_at <= created:
                lanes[position] = (track, delivered)
                break
        else:
            source = "I/O port" if src_tile < 0 else f"tile {src_tile}"
            name = f"{source} -> tile {dst_tile}"
            track = self._track((_NOC, 0, src_tile, dst_tile, len(lanes)), "noc", name)
            lanes.append((track, delivered))
        args = {"flits": flits, "hops": hops}
        self._spans.append(Span(track, "packet", "noc", created, delivered, args))

    def processing_unit(
        self, category: str, unit: int, group: str, kind: str, amount: int, start: int, end: int
    ) -> None:
        """A record on a processing unit's digital PIM modules or special-function unit."""
        if end > start and self._admit(start, category):
            track = self._track(
                (_DIGITAL, 1 + CATEGORIES.index(category), unit), category, group
            )
            self._spans.append(Span(track, kind, category, start, end, {"work": amount}))

    def vector(self, unit: int, kind: str, elements: int, start: int, end: int) -> None:
        """An operation of vector unit ``unit``."""
        if end > start and self._admit(start, "digital"):
            track = self._track((_DIGITAL, 0, unit), "digital", f"vector unit {unit}")
            self._spans.append(Span(track, kind, "digital", start, end, {"elements": elements}))

    # ---------------------------------------------------------------------------------------

    def _track(self, order: tuple[int, ...], process: str, thread: str) -> int:
        index = self._track_index.get(order)
        if index is None:
            index = self._track_index[order] = len(self._tracks)
            self._tracks.append(Track(order, process, thread))
        return index

    def _admit(self, start: int, category: str) -> bool:
        """Whether a span starting at ``start`` is kept (counted when it is not)."""
        if self._start is None or start < self._start or (
            self._stop is not None and start >= self._stop
        ):
            self.outside_window += 1
            return False
        if len(self._spans) >= self.max_events:
            self.dropped[category] += 1
            return False
        return True

    def _conversions(
        self, track: int, start: int, steps: int, op_cycles: int, phases: Phases
    ) -> None:
        """The conversion spans of ``steps`` operations from ``start``, in time order; those
        beyond the cap or the window are counted, not built one by one."""
        if self._start is None or start < self._start:
            self.outside_window += steps * len(phases)
            return
        stop = self._stop
        if stop is None and len(self._spans) >= self.max_events:
            self.dropped["adc"] += steps * len(phases)
            return
        inside = steps * len(phases)
        if stop is not None:
            # Operation k's phase at offset o starts in the window iff start + k op + o < stop.
            inside = sum(
                min(steps, max(0, -(-(stop - start - offset) // op_cycles)))
                for offset, _ in phases
            )
            self.outside_window += steps * len(phases) - inside
        room = self.max_events - len(self._spans)
        if inside > room:
            self.dropped["adc"] += inside - max(0, room)
        budget = min(inside, max(0, room))
        spans = self._spans
        for k in range(steps):
            if budget <= 0:
                return
            base = start + k * op_cycles
            if stop is not None and base >= stop:
                return
            for offset, cycles in phases:
                begin = base + offset
                if (stop is not None and begin >= stop) or budget <= 0:
                    continue
                spans.append(Span(track, "convert", "adc", begin, begin + cycles, None))
                budget -= 1
