"""ScRRAMBLe header overhead, latency, energy and accuracy versus block size and density.

For every block (slot) size and connection density it builds a ScRRAMBLe network of cores of
256 inputs (default 8 hidden + 2 readout cores; REFERENCES.md [ScRRAMBLe]), trains it on the 28x28
digits with SGD (``--epochs``, default 15; ``--epochs 0`` skips training and accuracy), replays
``--samples`` test images on the config's tiles and NoC (``archsim.api.scrramble``: the
network's trace through the simulator), and prints one row
per point: block size, density, test accuracy, header bits A, data bits D, measured and
analytic overhead A / (A + D), packets per sample, mean latency and energy per sample. It writes
overhead, latency, energy and accuracy versus block size (one line per density) as PNG and SVG, and
every result as JSON, to ``--out`` (default ``runs/scrramble/``).

Runtime: about 2-3 minutes on 2 cores for the default 7 block sizes x 5 densities (training
dominates; the NoC replay of a 1-element block at density 0.5 carries ~4000 packets a sample).

Usage: python scripts/scrramble_sweep.py [--config hw_configs/scrramble_256.yaml]
           [--blocks 1,2,4,8,16,32,64] [--densities 0.1,0.2,0.3,0.4,0.5] [--cores 8,2]
           [--epochs 15] [--samples 4] [--seed 0] [--out runs/scrramble]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from archsim import api
from archsim.report import Report
from archsim.report.plots import metric_lines, save_figure
from archsim.workload.data import load_digits_28
from archsim.workload.scrramble import DEFAULT_TRAINING

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Point:
    """One sweep point: its block size and density, accuracy (None if untrained) and the
    run's report."""

    slot_size: int
    density: float
    accuracy: float | None
    report: Report

    @property
    def overhead(self) -> tuple[float, float]:
        """Header overhead measured over the packets sent, and A / (A + D)."""
        section = self.report["scrramble"]
        return section["measured_overhead"], section["analytic_overhead"]


def plot_versus_block(
    series: dict[float, list[tuple[int, float]]], y: str, title: str, *, log_y: bool = False
) -> Figure:
    """One line per density of ``(block size, value)`` points, block size on a log2 axis;
    ``y`` names the metric (a name ending ``_s`` or ``_j`` gets its unit and prefix)."""
    lines = {f"density {d:g}": tuple(zip(*sorted(line))) for d, line in sorted(series.items())}
    figure = metric_lines(
        lines,
        x="block (slot) size s (elements)",
        y=y,
        log_y=log_y,
        title=title,
    )
    figure.axes[0].set_xscale("log", base=2)
    return figure


def _series(
    points: list[Point], value: Callable[[Point], float]
) -> dict[float, list[tuple[int, float]]]:
    """Points grouped by density as ``(block size, value)`` pairs."""
    series: dict[float, list[tuple[int, float]]] = {}
    for p in points:
        series.setdefault(p.density, []).append((p.slot_size, value(p)))
    return series


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "hw_configs" / "scrramble_256.yaml"))
    parser.add_argument("--blocks", default="1,2,4,8,16,32,64")
    parser.add_argument("--densities", default="0.1,0.2,0.3,0.4,0.5")
    parser.add_argument("--cores", default="8,2", help="cores per layer, input side first")
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAINING["default"].epochs)
    parser.add_argument("--samples", type=int, default=4, help="test images replayed")
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/scrramble")
    args = parser.parse_args()
    config = api.load(args.config)
    core_inputs = config.groups[0].tile.crossbar.rows
    cores = tuple(_ints(args.cores))
    digits = load_digits_28(np.random.default_rng(args.seed))
    epochs = max(1, args.epochs) if args.epochs > 0 else 0
    print(f"{config.name}: cores of {core_inputs} inputs, layers {cores}, act_bits "
          f"{args.act_bits}, {args.samples} samples replayed, "
          + (f"SGD {epochs} epochs" if epochs else "untrained"))
    header = (f"{'s':>3} {'dens':>5} {'acc%':>6} {'A':>3} {'D':>4} {'measured':>9} "
              f"{'A/(A+D)':>9} {'pkts':>6} {'lat us':>7} {'E/sample nJ':>12} {'NoC %':>6}")
    print(header)
    points: list[Point] = []
    start = time.perf_counter()
    for density in _floats(args.densities):
        for slot in _ints(args.blocks):
            report = api.scrramble_study(
                args.config, slot_size=slot, density=density, cores=cores, epochs=epochs,
                samples=args.samples, seed=args.seed,
                network_seed=(args.seed, slot, round(density * 1000)),
                act_bits=args.act_bits, digits=digits,
            )
            section = report["scrramble"]
            accuracy = section["test_accuracy"] if epochs else None
            points.append(Point(slot, density, accuracy, report))
            per = report["per_inference"]
            noc_share = per["energy_breakdown_j"]["noc"] / per["energy_j"]
            acc = "-" if accuracy is None else f"{100 * accuracy:.1f}"
            measured, analytic = points[-1].overhead
            print(f"{slot:>3} {density:>5.2f} {acc:>6} {section['header_bits']:>3} "
                  f"{section['data_bits']:>4} {measured:>9.4f} {analytic:>9.4f} "
                  f"{report['noc']['packets_per_inference']:>6.0f} "
                  f"{per['latency_s'] * 1e6:>7.3f} "
                  f"{per['energy_j'] * 1e9:>12.2f} {100 * noc_share:>6.1f}")
    worst = max(abs(p.overhead[0] - p.overhead[1]) for p in points)
    print(f"max |measured - analytic overhead| over {len(points)} points: {worst:.3g}")
    print(f"sweep took {time.perf_counter() - start:.1f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plots: list[tuple[str, Callable[[Point], float], str, str, bool]] = [
        ("overhead", lambda p: p.overhead[0], "header overhead A / (A + D)",
         "packet header overhead", True),
        ("latency", lambda p: p.report["per_inference"]["latency_s"], "per_sample.latency_s",
         "inference latency", False),
        ("energy", lambda p: p.report["per_inference"]["energy_j"], "per_sample.energy_j",
         "inference energy", False),
    ]
    if args.epochs > 0:
        plots.append(("accuracy", lambda p: 100 * (p.accuracy or 0.0),
                      "test accuracy on the digits (%)", "accuracy", False))
    for name, value, y, title, log_y in plots:
        figure = plot_versus_block(_series(points, value), y,
                                   f"{config.name}: ScRRAMBLe {title}", log_y=log_y)
        written = save_figure(figure, out / name)
        print(f"wrote {', '.join(map(str, written))}")
    records = [
        {"slot_size": p.slot_size, "density": p.density, "accuracy": p.accuracy,
         "report": p.report.to_dict()}
        for p in points
    ]
    (out / "sweep.json").write_text(json.dumps(records, indent=1))
    print(f"wrote {out / 'sweep.json'}")


if __name__ == "__main__":
    main()
