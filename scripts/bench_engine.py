"""Benchmark the simulation engine against a bare SimPy loop (prints figures; not a test).

Simulates a ``lenet-wu`` trace of N images (707 tile operations each) on ``wu2023_64x64``,
untimed and with the controller timed (a 1-cycle trigger per step), and on the full multi-tile
model of ``wu2023_64x64_noc`` (the RISC-V core's instruction stream and the activation packets
on a 3x3 mesh). For each it prints the wall time per simulated tile operation and per SimPy
event, and its ratio to a bare SimPy loop doing the same number of events (counted in a
separate run: like for like); a bare loop of one event per tile operation is shown too, but
is no floor for a run with fewer or more events than tile operations. Then the peak traced
Python memory of the simulation for N and 10 N images (it should stay flat: the trace is
streamed).

Usage: python scripts/bench_engine.py [--images 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from bare_simpy import bare_simpy, counting_events  # the same floor in every benchmark

from archsim import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "wu2023_64x64.yaml"
NOC_CONFIG = ROOT / "hw_configs" / "wu2023_64x64_noc.yaml"


def timed_simulation(trace: Path, *overrides: str, config_path: Path = CONFIG) -> tuple[float, int]:
    """Seconds for one full simulation and the tile operations it performed."""
    config = api.load(config_path, overrides)
    start = time.perf_counter()
    report = api.run(config, trace)
    return time.perf_counter() - start, int(report["totals"]["tile_ops"])


def peak_memory(trace: Path, config_path: Path = CONFIG) -> int:
    """Peak traced Python memory (bytes) of one simulation."""
    config = api.load(config_path)
    tracemalloc.start()
    api.run(config, trace)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "lenet_small.jsonl.gz"
        large = Path(tmp) / "lenet_large.jsonl.gz"
        t0 = time.perf_counter()
        api.export("lenet-wu", small, samples=args.images, seed=0)
        api.export("lenet-wu", large, samples=10 * args.images, seed=0)
        print(f"exported traces of {args.images} and {10 * args.images} images "
              f"in {time.perf_counter() - t0:.1f} s (not timed below)")

        cases = (
            ("wu2023_64x64, untimed controller", CONFIG, ()),
            ("wu2023_64x64, timed controller (1-cycle trigger per step, one core)", CONFIG,
             ("controller.enabled=true", "controller.cycles.mvm=1")),
            ("wu2023_64x64_noc (controller + activation packets on a 3x3 mesh)", NOC_CONFIG,
             ()),
        )
        for title, config_path, overrides in cases:
            runs = [
                timed_simulation(small, *overrides, config_path=config_path)
                for _ in range(args.repeat)
            ]
            sim_s, ops = min(seconds for seconds, _ in runs), runs[0][1]
            with counting_events() as counted:
                timed_simulation(small, *overrides, config_path=config_path)
            events = counted[0]
            bare_s = min(bare_simpy(events, 72) for _ in range(args.repeat))
            per_op = bare_simpy(ops, 72)
            print(f"{title}:")
            print(f"  {ops:,} tile ops and {events:,} SimPy events in {sim_s:.2f} s: "
                  f"{sim_s / ops * 1e6:.2f} us per tile op, {sim_s / events * 1e6:.2f} us per "
                  "event")
            print(f"  bare SimPy, the same {events:,} events: {bare_s:.2f} s; "
                  f"archsim / bare = {sim_s / bare_s:.2f}x (like for like)")
            print(f"  (a bare loop of one event per tile op, {per_op:.2f} s, is not a floor "
                  f"for this run: {events / ops:.3f} events per tile op)")
        small_peak, large_peak = peak_memory(small), peak_memory(large)
        print(f"peak traced memory: {small_peak / 2**20:.2f} MiB for {args.images} images, "
              f"{large_peak / 2**20:.2f} MiB for {10 * args.images} images "
              f"(x{large_peak / small_peak:.2f} for 10x the trace)")
        small_peak = peak_memory(small, NOC_CONFIG)
        large_peak = peak_memory(large, NOC_CONFIG)
        print(f"peak traced memory, wu2023_64x64_noc: {small_peak / 2**20:.2f} MiB and "
              f"{large_peak / 2**20:.2f} MiB (x{large_peak / small_peak:.2f} for 10x the trace)")


if __name__ == "__main__":
    main()
