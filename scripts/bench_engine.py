"""Benchmark the simulation engine against a bare SimPy loop (prints figures; not a test).

Simulates a ``lenet-wu`` trace of N images (707 tile operations each) on ``wu2023_64x64`` and, in
the same run, a bare SimPy process doing one timeout per tile operation. Prints tile operations
per second for both, their ratio, and the peak traced Python memory of the simulation for N and
10 N images (it should stay flat: the trace is streamed). Then the same with the controller
timed (a 1-cycle trigger per step), and the full multi-tile model of ``wu2023_64x64_noc`` (the
RISC-V core's instruction stream and the activation packets on a 3x3 mesh).

Usage: python scripts/bench_engine.py [--images 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from bare_simpy import bare_simpy  # the same floor in every benchmark (scripts/)

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

        runs = [timed_simulation(small) for _ in range(args.repeat)]
        sim_s = min(seconds for seconds, _ in runs)
        ops = runs[0][1]
        bare_s = min(bare_simpy(ops, 72) for _ in range(args.repeat))
        sim_rate, bare_rate = ops / sim_s, ops / bare_s
        print(f"archsim:    {ops} tile ops in {sim_s:.2f} s = {sim_rate:,.0f} tile ops/s")
        print(f"bare SimPy: {ops} timeouts in {bare_s:.2f} s = {bare_rate:,.0f} timeouts/s")
        print(f"ratio (bare rate / archsim rate): {bare_rate / sim_rate:.2f}x")
        issued = min(
            timed_simulation(small, "controller.enabled=true", "controller.cycles.mvm=1")[0]
            for _ in range(args.repeat)
        )
        print(f"with a timed controller (1-cycle trigger per step, one core): {issued:.2f} s, "
              f"ratio {bare_rate / (ops / issued):.2f}x")
        full = min(
            timed_simulation(small, config_path=NOC_CONFIG)[0] for _ in range(args.repeat)
        )
        print(f"wu2023_64x64_noc (controller + activation packets on a 3x3 mesh): {full:.2f} s, "
              f"ratio {bare_rate / (ops / full):.2f}x")
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
