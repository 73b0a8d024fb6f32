"""Benchmark on-chip training: export and simulation of one epoch of ``lenet-wu``
mixed-precision training (prints figures; not a test).

Trains ``lenet-wu`` for one epoch of the digits training split (1438 samples) with mixed
precision (Wu et al. 2023: digital accumulation, write-and-verify past 1/15 of the range),
writing every step as a trace, and simulates that trace on ``wu2023_64x64_training`` (the
tiles of ``wu2023_64x64`` with its training units). Prints the export time, the simulation
time, the peak traced Python memory of each, and the simulation's rate against a bare SimPy
loop doing the same number of events (one timeout each) in the same process: SimPy's
``Environment.step`` is counted during the simulation, and the bare loop runs that many.

Usage: python scripts/bench_training.py [--epochs 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import simpy
from bare_simpy import bare_simpy  # the same floor in every benchmark (scripts/)

from archsim import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "wu2023_64x64_training.yaml"


def counted_run(trace: Path) -> tuple[float, int]:
    """Seconds of one simulation and the SimPy events it processed."""
    steps = 0
    original = simpy.Environment.step

    def step(self: simpy.Environment) -> None:
        nonlocal steps
        steps += 1
        original(self)

    simpy.Environment.step = step  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        api.run(CONFIG, trace)
        return time.perf_counter() - start, steps
    finally:
        simpy.Environment.step = original  # type: ignore[method-assign]


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def peak(function, *args) -> int:
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "lenet_mp.jsonl.gz"

        def export() -> None:
            api.train("lenet-wu", "mp", trace, epochs=args.epochs)

        export_s = min(timed(export) for _ in range(args.repeat))
        export_peak = peak(export)
        summary = api.train("lenet-wu", "mp", trace, epochs=args.epochs)
        print(f"export: lenet-wu, mp, {args.epochs} epoch(s), {summary.training.samples} "
              f"samples, {summary.records:,} records, {trace.stat().st_size / 1e6:.2f} MB "
              f"gzip; {export_s:.2f} s (best of {args.repeat}), peak traced memory "
              f"{export_peak / 2**20:.1f} MiB; test accuracy "
              f"{100 * summary.training.test_accuracy:.2f} %")

        # Plain timings first (counting steps costs a Python call per event).
        sim_s = min(timed(api.run, CONFIG, trace) for _ in range(args.repeat))
        _, events = counted_run(trace)
        bare_s = min(bare_simpy(events, 72) for _ in range(args.repeat))
        sim_peak = peak(api.run, CONFIG, trace)
        print(f"simulation: {sim_s:.2f} s (best of {args.repeat}), {events:,} SimPy events, "
              f"{events / sim_s:,.0f} events/s; {summary.records / sim_s:,.0f} records/s; "
              f"peak traced memory {sim_peak / 2**20:.1f} MiB")
        print(f"bare SimPy, same events: {bare_s:.3f} s, {events / bare_s:,.0f} events/s; "
              f"simulation / bare = {sim_s / bare_s:.2f}x (goal: within 3x)")


if __name__ == "__main__":
    main()
