"""The floor the benchmarks compare with: a bare SimPy loop of one timeout per event.

``python scripts/bench_*.py`` import :func:`bare_simpy` (and :func:`counting_events`, the SimPy
events a run processed, so the floor does as many) from here (the scripts' folder is on
``sys.path`` when a script runs), so every benchmark measures its floor the same way: one
SimPy process doing ``events`` timeouts of ``cycles`` each, timed from the first to the last
(``events`` + 2 SimPy steps: the process's start and end).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import simpy

__all__ = ["bare_simpy", "counting_events"]


def bare_simpy(events: int, cycles: int = 1) -> float:
    """Seconds for one SimPy process to do ``events`` timeouts of ``cycles`` each."""

    def loop(env: simpy.Environment):
        for _ in range(events):
            yield env.timeout(cycles)

    env = simpy.Environment()
    env.process(loop(env))
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


@contextmanager
def counting_events() -> Iterator[list[int]]:
    """Count the SimPy events processed inside the block (every environment's
    ``Environment.step``): the list's one entry when the block ends. Counting slows the run,
    so time runs outside it."""
    counted = [0]
    step = simpy.Environment.step

    def counted_step(self: simpy.Environment) -> None:
        counted[0] += 1
        step(self)

    simpy.Environment.step = counted_step  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        simpy.Environment.step = step  # type: ignore[method-assign]
