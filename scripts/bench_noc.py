"""Benchmark the NoC model against a bare SimPy loop (prints figures; not a test).

Uniform random traffic on the 8x8 mesh of hw_configs/noc_mesh8x8.yaml at half the bisection
bound for 100,000 packets; prints packets per wall second, the wall time per packet-hop and per
SimPy event, and the ratio to a bare SimPy process doing as many timeouts as the run processed
events (counted in a separate run of the same packets: like for like), timed in the same
process. A bare loop of one timeout per packet-hop is shown too; it is no floor for a run that
takes more or fewer events than packet-hops.

Usage: python scripts/bench_noc.py [--packets 100000] [--data-bits 96]
           [--flow-control wormhole] [--set noc.buffer_flits=4 ...]

``--flow-control`` is shorthand for ``--set noc.flow_control=...``; ``--set`` takes the config
overrides of ``archsim --set``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bare_simpy import bare_simpy, counting_events  # the same floor in every benchmark

from archsim import api
from archsim.errors import ArchsimError
from archsim.hw.noc.network import FLOW_CONTROLS

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Parse the arguments and run; a user error ends in one line from argparse."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--data-bits", type=int, default=96)
    parser.add_argument("--flow-control", choices=FLOW_CONTROLS)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="PATH=VALUE", help="config override, repeatable")
    args = parser.parse_args()
    try:
        _run(args, parser)
    except ArchsimError as error:
        parser.error(str(error))


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    overrides = list(args.overrides)
    if args.flow_control:
        overrides.append(f"noc.flow_control={args.flow_control}")
    config = api.load(ROOT / "hw_configs" / "noc_mesh8x8.yaml", overrides)
    if config.noc is None:
        parser.error("the config has no noc section")
    probe = api.traffic(config, pattern="uniform", rate=0.001, packets=100,
                        data_bits=args.data_bits)["traffic"]
    if probe["bisection_bound"] is None:
        parser.error("the benchmark's load is half the bisection bound, which only meshes, "
                     "tori and rings have (--set noc.topology)")
    rate = 0.5 * probe["bisection_bound"] / probe["flits_per_packet"]
    def run() -> dict:
        return api.traffic(config, pattern="uniform", rate=rate, packets=args.packets,
                           data_bits=args.data_bits, seed=0)

    start = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - start
    with counting_events() as counted:
        run()
    events = counted[0]
    traffic = report["traffic"]
    flit_hops = int(report["totals"]["actions"]["noc.link_bit"] // config.noc.link_width_bits)
    packet_hops = flit_hops // traffic["flits_per_packet"]
    floor = bare_simpy(events)
    per_hop = bare_simpy(packet_hops)
    noc = config.noc
    print(f"{noc.topology} {'x'.join(map(str, noc.dims))}, {noc.flow_control}, "
          f"{noc.buffer_flits}-flit buffers, uniform, {rate:.4f} packets/node/cycle "
          f"(half the bisection bound), {traffic['packets']} packets of "
          f"{traffic['flits_per_packet']} flits")
    mean = report["statistics"]["packet_latency"]["mean"]
    print(f"archsim NoC: {seconds:.2f} s = {traffic['packets'] / seconds:,.0f} packets/s "
          f"(mean latency {mean:.1f} cycles)")
    print(f"  {packet_hops:,} packet-hops and {events:,} SimPy events: "
          f"{seconds / packet_hops * 1e6:.2f} us per packet-hop, "
          f"{seconds / events * 1e6:.2f} us per event ({events / packet_hops:.2f} events per "
          "packet-hop)")
    print(f"bare SimPy, the same {events:,} events: {floor:.2f} s; archsim / bare = "
          f"{seconds / floor:.2f}x (like for like)")
    print(f"(a bare loop of one event per packet-hop, {per_hop:.2f} s, is no floor for this "
          "run)")


if __name__ == "__main__":
    main()
