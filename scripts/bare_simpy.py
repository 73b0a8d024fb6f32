"""The floor the benchmarks compare with: a bare SimPy loop of one timeout per event.

``python scripts/bench_*.py`` import :func:`bare_simpy` from here (the scripts' folder is on
``sys.path`` when a script runs), so every benchmark measures its floor the same way: one
SimPy process doing ``events`` timeouts of ``cycles`` each, timed from the first to the last
(``events`` + 2 SimPy steps: the process's start and end).
"""

from __future__ import annotations

import time

import simpy

__all__ = ["bare_simpy"]


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
