"""Latencies, bandwidth and energy of the bundled DRAM parts (prints a table per part).

For each part: the row-buffer latencies the model gives (hit, closed bank, conflict, a write to
a closed bank) beside their closed forms, in DRAM cycles and nanoseconds; a sequential stream
and uniformly random reads (hit rate, bandwidth against peak, energy per bit read); and the
per-action energies.

Usage: python scripts/dram_check.py [hw_configs/dram/ddr4_3200.yaml ...] [--accesses 50000]
           [--set address_mapping=ro:ch:ba:bg:co ...]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import simpy

from archsim.config import load_dram
from archsim.config.schema import DramConfig
from archsim.errors import ArchsimError
from archsim.hw.dram import Dram, DramLocation

ROOT = Path(__file__).resolve().parents[1]
PARTS = tuple(ROOT / "hw_configs" / "dram" / f"{name}.yaml" for name in ("ddr4_3200", "hbm2"))


def latencies(config: DramConfig) -> list[tuple[str, int, int]]:
    """(case, model cycles, closed-form cycles) for the four row-buffer cases."""
    t, burst = config.timing, config.burst_cycles
    memory = Dram(simpy.Environment(), config)

    def address(row: int, column: int = 0) -> int:
        return memory.encode(DramLocation(0, 0, 0, row, column))

    miss = memory.issue(address(0), False, 0)
    hit = memory.issue(address(0, 1), False, miss.done)
    conflict = memory.issue(address(1), False, max(hit.done, miss.activate + t.tras))
    write = Dram(simpy.Environment(), config).issue(0, True, 0)
    return [
        ("row hit: CL + burst", hit.latency, t.cl + burst),
        ("closed bank: tRCD + CL + burst", miss.latency, t.trcd + t.cl + burst),
        ("conflict: tRP + tRCD + CL + burst", conflict.latency, t.trp + t.trcd + t.cl + burst),
        ("write, closed bank: tRCD + CWL + burst", write.latency, t.trcd + t.cwl + burst),
    ]


def stream(config: DramConfig, addresses: list[int]) -> str:
    """One line: hit rate, bandwidth and its share of peak, energy per bit read."""
    memory = Dram(simpy.Environment(), config)
    memory.read(addresses)
    stats = memory.stats()
    energy = sum(memory.counts[a] * memory.actions[a].energy_j for a in memory.actions)
    per_bit = energy / (stats.bytes_read * 8)
    return (
        f"hit rate {stats.hit_rate:6.1%}  {stats.bandwidth_bytes_per_s / 1e9:7.2f} GB/s "
        f"({stats.utilisation:6.1%} of peak)  {per_bit * 1e12:5.2f} pJ/bit read"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", type=Path, default=list(PARTS))
    parser.add_argument("--accesses", type=int, default=50_000, help="bursts per stream")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="PATH=VALUE", help="config override, as archsim --set")
    args = parser.parse_args()
    for path in args.parts:
        try:
            config = load_dram(path, args.overrides)
        except ArchsimError as error:
            sys.exit(f"error: {error}")
        ns = config.tck_s * 1e9
        print(f"{config.name}: {config.channels} channel(s) x {config.bus_bits} bits, "
              f"tCK {ns:g} ns, {config.burst_bytes} B per burst, "
              f"mapping {config.address_mapping}, "
              f"peak {config.peak_bandwidth_bytes_per_s / 1e9:g} GB/s")
        for case, cycles, closed in latencies(config):
            print(f"  {case:40s} {cycles:4d} cycles = {cycles * ns:6.2f} ns "
                  f"(closed form {closed})")
        burst = config.burst_bytes
        rng = random.Random(1)
        print(f"  sequential {args.accesses:,} reads: "
              + stream(config, list(range(0, args.accesses * burst, burst))))
        scattered = [rng.randrange(config.capacity_bytes) for _ in range(args.accesses)]
        print(f"  random     {args.accesses:,} reads: " + stream(config, scattered))
        bits = burst * 8
        print(f"  energy: activate {config.energy.activate * 1e9:.3f} nJ, read burst "
              f"{config.energy.read_bit * bits * 1e9:.3f} nJ ({config.energy.read_bit * 1e12:.3f} "
              f"pJ/bit), write burst {config.energy.write_bit * bits * 1e9:.3f} nJ "
              f"({config.energy.write_bit * 1e12:.3f} pJ/bit)")


if __name__ == "__main__":
    main()
