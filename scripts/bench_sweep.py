"""Benchmark design-space sweeps: points per minute with 1 and N workers, and a cached re-run.

Sweeps LeNet (the bundled 16-image trace, ``traces/lenet-wu_trained_16.jsonl.gz``; with
``--samples N`` a trace of the first N test images, exported with ``archsim trace export
lenet-wu --train``, so that each point costs more) on
``wu2023_64x64`` over two axes, ADC resolution (``tile.adc.bits``, 3 to 12: energy x 2 per bit,
conversion time x bits / 8) x square crossbar size (``tile.crossbar.rows`` = ``cols``, 32 to 336
in steps of 16), 10 x 20 = 200 points; the 32x32 arrays do not fit LeNet on the 9 tiles, so 10
points record a mapping error, as a real sweep would. Each measurement runs the whole
``run_sweep`` (spec, configs, cache writes, tables) into a fresh output directory, ``--repeat``
times (the best is reported: the machine's other load only ever slows a run down): on 1 worker
(in this process), on N workers (a pool started per sweep), on one pool of N workers reused by
every repetition, and with ``--dask`` on a local Dask cluster of N worker processes. Then the
sweep runs again into a finished directory, every point cached. The tables of every run must be
byte-identical. The columns: seconds, points per minute, speed-up over 1 worker.

The last line is what the machine itself allows: N independent 1-worker sweeps started at once
(separate processes, nothing shared), whose combined rate over one alone is the speed-up a
perfect executor would reach on these cores (below N when the cores slow each other down).

Usage: python scripts/bench_sweep.py [--workers 2] [--repeat 3] [--samples 16] [--dask]
"""

from __future__ import annotations

import argparse
import filecmp
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from archsim.dse import ProcessExecutor, run_sweep
from archsim.dse.executor import default_workers

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "wu2023_64x64.yaml"
TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"
BITS = list(range(3, 13))
SIZES = list(range(32, 337, 16))

SPEC = """\
version: 1
name: bench_lenet_adc_xbar
config: {config}
traces: [{trace}]
axes:
  - {{path: tile.adc.bits, values: {bits}}}
  - zip:
      - {{path: tile.crossbar.rows, values: {sizes}}}
      - {{path: tile.crossbar.cols, values: {sizes}}}
metrics: [per_inference.latency_s, per_inference.energy_j, per_inference.energy_breakdown_j.adc]
pareto: [per_inference.latency_s, per_inference.energy_j]
"""


def timed_sweep(spec: Path, out: Path, **kwargs: object) -> tuple[float, int]:
    """Seconds for one sweep into ``out``, and the points it simulated."""
    start = time.perf_counter()
    summary = run_sweep(spec, out, progress=False, **kwargs)
    return time.perf_counter() - start, summary.simulated


def export_trace(samples: int, folder: Path) -> Path:
    """A LeNet trace of ``samples`` test images (the bundled one for 16)."""
    if samples == 16:
        return TRACE
    path = folder / f"lenet-wu_trained_{samples}.jsonl.gz"
    command = [sys.executable, "-m", "archsim", "trace", "export", "lenet-wu", "--train"]
    subprocess.run([*command, "--samples", str(samples), "--out", str(path)], check=True)
    return path


def _serial_sweep(spec: Path, out: Path) -> None:
    run_sweep(spec, out, workers=1, progress=False)


def independent_sweeps(spec: Path, root: Path, count: int) -> float:
    """Seconds for ``count`` 1-worker sweeps run at once in separate processes."""
    processes = [
        multiprocessing.Process(target=_serial_sweep, args=(spec, root / f"independent{i}"))
        for i in range(count)
    ]
    start = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - start
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise SystemExit(f"an independent sweep failed (exit codes {failed})")
    return elapsed


def same_tables(a: Path, b: Path) -> bool:
    return all(
        filecmp.cmp(a / name, b / name, shallow=False)
        for name in ("results.csv", "results.jsonl", "sweep.json")
    )


def busy_cores(seconds: float = 1.0) -> float | None:
    """Cores kept busy by other work over ``seconds`` (Linux /proc/stat; None elsewhere): the
    figures below mean little unless this is near 0."""

    def busy() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system = (int(v) for v in fields[:3])
        return (user + nice + system) / os.sysconf("SC_CLK_TCK")

    try:
        before = busy()
        time.sleep(seconds)
        return (busy() - before) / seconds
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel run (2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument(
        "--samples", type=int, default=16, help="test images per point (16: the bundled trace)"
    )
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        root = Path(folder)
        trace = export_trace(args.samples, root)
        spec = root / "bench.yaml"
        spec.write_text(SPEC.format(config=CONFIG, trace=trace, bits=BITS, sizes=SIZES))
        points = len(BITS) * len(SIZES)
        load = busy_cores()
        print(
            f"{points} points: LeNet, {args.samples} images, tile.adc.bits {BITS[0]}-{BITS[-1]} x "
            f"crossbar {SIZES[0]}-{SIZES[-1]} square; {default_workers()} cores"
            + ("" if load is None else f", {load:.2f} busy with other work before the run")
        )
        parallel = f"{args.workers} workers"
        reused = f"{args.workers} workers, pool reused"
        pool = stack.enter_context(ProcessExecutor(args.workers))
        runs: list[tuple[str, dict[str, object]]] = [
            ("1 worker", {"workers": 1}),
            (parallel, {"workers": args.workers}),
            (reused, {"executor": pool}),
        ]
        if args.dask:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=args.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            runs.append(
                (f"dask, {args.workers} processes", {"scheduler": cluster.scheduler_address})
            )
        results: dict[str, float] = {}
        outs: dict[str, Path] = {}
        for label, kwargs in runs:
            best = float("inf")
            for attempt in range(args.repeat):
                out = root / f"run{len(outs)}_{attempt}"
                seconds, simulated = timed_sweep(spec, out, **kwargs)
                assert simulated == points, simulated
                best = min(best, seconds)
            outs[label] = out
            results[label] = best
            print(
                f"  {label:<26} {best:6.2f} s  {points / best * 60:7.0f} points/min  "
                f"{results['1 worker'] / best:4.2f}x"
            )
        cached, simulated = timed_sweep(spec, outs[parallel], workers=args.workers)
        assert simulated == 0
        print(f"  {'cached re-run':<26} {cached:6.2f} s  (0 points simulated)")
        identical = all(same_tables(outs["1 worker"], out) for out in outs.values())
        print(f"  tables byte-identical across runs: {'yes' if identical else 'NO'}")
        together = min(
            independent_sweeps(spec, root / f"alone{attempt}", args.workers)
            for attempt in range(args.repeat)
        )
        ceiling = args.workers * results["1 worker"] / together
        print(
            f"  machine ceiling: {args.workers} independent 1-worker sweeps at once take "
            f"{together:.2f} s, {ceiling:.2f}x the rate of one"
        )


if __name__ == "__main__":
    main()
