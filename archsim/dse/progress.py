"""A progress bar for sweeps and long runs: count, rate and time left, on a terminal only
(stage: dse; ``archsim run`` draws it too).

The bar is written to a stream handed in (the CLI passes ``sys.stderr``) and only when that
stream is a terminal (``isatty()``): redirected to a file or a pipe, or under a test runner, a
sweep writes nothing. The line fits the terminal's width, read at every redraw (the bar
shrinks first, then the text is cut), so a narrow or resized terminal never wraps it and a
redraw leaves no stale text. There is no module state; each sweep makes its own
:class:`ProgressBar`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "format_duration"]


def _is_terminal(stream: TextIO | None) -> bool:
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _columns(stream: TextIO | None) -> int:
    """The width of the terminal ``stream`` writes to (80 when it cannot be told)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size((80, 24)).columns


def format_duration(seconds: float) -> str:
    """``"0:42"``, ``"12:05"`` or ``"3:02:11"`` (hours:minutes:seconds), rounded to seconds."""
    total = int(round(max(0.0, seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """One line, redrawn in place: ``name [#####-----] 97/200 points  48.5/s  ETA 0:02``.

    The rate counts simulated points only (cached ones cost nothing and would make the time
    left look shorter than it is): rate = simulated / time since the bar started; time left =
    points not yet done / rate.

    Args:
        total: the sweep's points.
        stream: where to draw; nothing is drawn unless it is a terminal.
        label: shown before the bar (the sweep's name).
        clock: seconds from an arbitrary origin (for tests); default :func:`time.monotonic`.
        min_interval_s: least time between two redraws, s (the last state is always drawn).
        width: characters of the bar itself, at most (it shrinks to fit the line in
            ``columns``).
        unit: what is counted (``points`` of a sweep, ``samples`` of a run).
        columns: the terminal's width (default: read from ``stream``'s terminal at each
            redraw); the line is kept one character shorter, so it never wraps.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None,
        *,
        label: str = "",
        clock: Callable[[], float] = time.monotonic,
        min_interval_s: float = 0.2,
        width: int = 24,
        unit: str = "points",
        columns: int | None = None,
    ) -> None:
        self.total = total
        self.enabled = _is_terminal(stream)
        self._stream = stream
        self._label = label
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._width = width
        self._unit = unit
        self._columns = columns
        self._start = clock()
        self._last_draw: float | None = None
        self._previous_length = 0
        self.done = 0
        self.simulated = 0
        self.cached = 0
        self.failed = 0

    def advance(
        self, count: int = 1, *, simulated: bool = True, cached: bool = False, failed: bool = False
    ) -> None:
        """Count ``count`` finished points and redraw.

        Args:
            count: points finished.
            simulated: they were simulated now (the rate counts only these).
            cached: they came from the cache.
            failed: they failed (an error, or a config that does not load).
        """
        self.done += count
        self.simulated += count if simulated else 0
        self.cached += count if cached else 0
        self.failed += count if failed else 0
        self._draw(final=False)

    def line(self, columns: int | None = None) -> str:
        """The bar's current text (what :meth:`advance` draws), at most ``columns - 1``
        characters when ``columns`` is given: the bar shrinks to 5 characters first, then
        the text is cut."""
        fraction = self.done / self.total if self.total else 1.0
        elapsed = self._clock() - self._start
        tail = [f"{self.done}/{self.total} {self._unit}"]
        if self.simulated and elapsed > 0:
            rate = self.simulated / elapsed
            tail.append(f"{rate:.3g}/s")
            left = self.total - self.done
            tail.append(
                f"ETA {format_duration(left / rate)}" if left else f"in {format_duration(elapsed)}"
            )
        else:
            tail.append(
                "ETA --:--" if self.done < self.total else f"in {format_duration(elapsed)}"
            )
        notes = []
        if self.cached:
            notes.append(f"{self.cached} cached")
        if self.failed:
            notes.append(f"{self.failed} failed")
        if notes:
            tail.append(f"({', '.join(notes)})")
        rest = "  ".join(tail)
        label = f"{self._label} " if self._label else ""
        width = self._width
        if columns is not None:
            room = columns - 1 - len(label) - len(rest) - 3  # "[", "] "
            width = max(5, min(width, room))
        filled = int(round(fraction * width))
        text = f"{label}[{'#' * filled}{'-' * (width - filled)}] {rest}"
        if columns is not None and len(text) > columns - 1:
            text = text[: max(0, columns - 1)]
        return text

    def _draw(self, *, final: bool) -> None:
        if not self.enabled or self._stream is None:
            return
        now = self._clock()
        if (
            not final
            and self._last_draw is not None
            and now - self._last_draw < self._min_interval_s
        ):
            return
        self._last_draw = now
        text = self.line(self._columns or _columns(self._stream))
        padding = " " * max(0, self._previous_length - len(text))  # erase a longer old line
        self._previous_length = len(text)
        self._stream.write("\r" + text + padding + ("\n" if final else ""))
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line (once the sweep is over, or interrupted)."""
        if self.enabled:
            self._draw(final=True)
        self._last_draw = None
        self.enabled = False
