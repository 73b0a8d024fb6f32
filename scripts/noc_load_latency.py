"""Latency versus offered load of a config's NoC under synthetic traffic (prints and plots).

Sweeps the offered load from light to past the bisection bound, prints offered and accepted
throughput (flits/node/cycle) and latency, the accepted throughput at saturation as a fraction
of the bisection bound, whether latency rises monotonically below saturation, and writes the
curve as PNG and SVG.

Usage: python scripts/noc_load_latency.py [--config hw_configs/noc_mesh8x8.yaml]
           [--pattern uniform] [--packets 20000] [--data-bits 96]
           [--flow-control wormhole] [--set noc.buffer_flits=4 ...]
           [--out runs/noc_load_latency.png]

``--flow-control`` is shorthand for ``--set noc.flow_control=...``; ``--set`` takes the config
overrides of ``archsim --set``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

from archsim import api
from archsim.errors import ArchsimError
from archsim.hw.noc.network import FLOW_CONTROLS
from archsim.report.plots import metric_lines, save_figure

ROOT = Path(__file__).resolve().parents[1]


class Point(NamedTuple):
    """One load point of the curve: throughput in flits/node/cycle, latency in cycles."""

    offered_flits: float
    accepted_flits: float
    latency_mean: float
    latency_p99: float


def main() -> None:
    """Parse the arguments and run; a user error ends in one line from argparse."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "hw_configs" / "noc_mesh8x8.yaml"))
    parser.add_argument("--pattern", default="uniform")
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--data-bits", type=int, default=96)
    parser.add_argument("--flow-control", choices=FLOW_CONTROLS)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="PATH=VALUE", help="config override, repeatable")
    parser.add_argument("--out", default="runs/noc_load_latency.png")
    args = parser.parse_args()
    try:
        _run(args, parser)
    except ArchsimError as error:
        parser.error(str(error))


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    overrides = list(args.overrides)
    if args.flow_control:
        overrides.append(f"noc.flow_control={args.flow_control}")
    config = api.load(args.config, overrides)
    if config.noc is None:
        parser.error("the config has no noc section")
    probe = api.traffic(config, pattern=args.pattern, rate=0.001, packets=100,
                        data_bits=args.data_bits)["traffic"]
    flits, bound = probe["flits_per_packet"], probe["bisection_bound"]
    reference = bound if bound else 1.0
    fractions = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5]
    rows = []
    print(f"{config.name} ({config.noc.flow_control}, {config.noc.buffer_flits}-flit buffers): "
          f"{args.pattern} traffic, {flits}-flit packets, bisection bound {bound} "
          "flits/node/cycle")
    print(f"{'offered':>9}{'accepted':>10}{'mean lat':>10}{'p99 lat':>9}")
    for fraction in fractions:
        rate = min(1.0, fraction * reference / flits)
        report = api.traffic(config, pattern=args.pattern, rate=rate, packets=args.packets,
                             data_bits=args.data_bits, seed=0)
        latency = report["statistics"]["packet_latency"]
        result = Point(report["traffic"]["offered_flits"], report["traffic"]["accepted_flits"],
                       latency["mean"], latency["p99"])
        rows.append(result)
        print(f"{result.offered_flits:>9.4f}{result.accepted_flits:>10.4f}"
              f"{result.latency_mean:>10.1f}{result.latency_p99:>9.0f}")
    saturation = max(r.accepted_flits for r in rows)
    if bound:
        print(f"accepted throughput at saturation: {saturation:.4f} flits/node/cycle = "
              f"{saturation / bound:.3f} of the bisection bound")
    below = [r for r in rows if r.accepted_flits >= 0.95 * r.offered_flits]
    monotone = all(a.latency_mean <= b.latency_mean for a, b in zip(below, below[1:]))
    print(f"latency monotone below saturation ({len(below)} points): {monotone}")
    offered = [r.offered_flits for r in rows]
    figure = metric_lines(
        {
            "mean": (offered, [r.latency_mean for r in rows]),
            "99th percentile": (offered, [r.latency_p99 for r in rows]),
        },
        x="offered load (flits/node/cycle)",
        y="packet latency (cycles)",
        log_y=True,
        title=f"{config.name}, {config.noc.flow_control}: {args.pattern} traffic",
    )
    if bound:
        axis = figure.axes[0]
        axis.axvline(bound, color="grey", linestyle=":", label="bisection bound")
        axis.legend(loc="best")
    out = save_figure(figure, args.out)
    print(f"wrote {', '.join(map(str, out))}")


if __name__ == "__main__":
    main()
