"""What the controller and the NoC add over tile-only time (prints a table; not a test).

Runs LeNet (the bundled trained trace) on ``wu2023_64x64_noc`` and VGG-8 (a shape-only trace of
2 images, exported here) on ``wu2023_256x64_noc`` (the 256x64 Wu tiles, a 9x9 mesh), in
sequential and pipelined mode, with in-order and traffic-aware placement and with one core per
chip or per tile. For each run it prints the mean latency per sample split into tile,
controller, NoC, digital and waiting time, the interval between inputs, the packets per
inference, the measured header overhead, and the hop-weighted traffic against in-order.

Usage: python scripts/dataflow_breakdown.py [--skip-vgg]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from archsim import api

ROOT = Path(__file__).resolve().parents[1]
LENET_CONFIG = ROOT / "hw_configs" / "wu2023_64x64_noc.yaml"
LENET_TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"
VGG_CONFIG = ROOT / "hw_configs" / "wu2023_256x64_noc.yaml"

VARIANTS = (
    ("sequential, in order, chip core", ()),
    ("sequential, traffic-aware, chip core", ("mapping.placement=traffic_aware",)),
    ("pipelined, in order, chip core", ("mapping.pipeline=true",)),
    ("pipelined, traffic-aware, tile cores",
     ("mapping.pipeline=true", "mapping.placement=traffic_aware", "controller.scope=tile")),
    ("pipelined, no NoC, tile cores", ("mapping.pipeline=true", "controller.scope=tile", "noc=null")),
)


def row(label: str, config_path: Path, trace: Path, overrides: tuple[str, ...]) -> str:
    report = api.run(config_path, trace, overrides=overrides)
    split = report["latency_breakdown_s"]
    noc = report["noc"]
    us = {key: 1e6 * value for key, value in split.items()}
    packets = f"{noc['packets_per_inference']:8.0f} {noc['header_overhead']:7.4f} " \
              f"{noc['bit_hops_per_inference']:>8}/{noc['bit_hops_in_order']:<8}" if noc else \
              f"{'-':>8} {'-':>7} {'-':>17}"
    return (
        f"{label:<40}{1e6 * report['latency_s']['mean']:10.1f}{us['tile']:9.1f}"
        f"{us['controller']:9.1f}{us['noc']:8.2f}{us['digital']:8.1f}{us['waiting']:9.1f}"
        f"{1e6 * report['per_inference']['interval_s']:10.1f} {packets}"
    )


def table(title: str, config_path: Path, trace: Path, base: tuple[str, ...]) -> None:
    print(title)
    print(f"{'':<40}{'latency':>10}{'tile':>9}{'ctrl':>9}{'noc':>8}{'digital':>8}{'waiting':>9}"
          f"{'interval':>10} {'packets':>8} {'ovhd':>7} {'bit-hops/in-order':>17}")
    print(f"{'':<40}{'us':>10}{'us':>9}{'us':>9}{'us':>8}{'us':>8}{'us':>9}{'us':>10}")
    for label, overrides in VARIANTS:
        print(row(label, config_path, trace, base + overrides))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-vgg", action="store_true", help="LeNet only")
    args = parser.parse_args()
    table("LeNet-Wu, 16 trained digits, on wu2023_64x64_noc (3x3 mesh, one RISC-V core)",
          LENET_CONFIG, LENET_TRACE, ())
    if not args.skip_vgg:
        with tempfile.TemporaryDirectory() as tmp:
            trace = Path(tmp) / "vgg8.jsonl.gz"
            api.export("vgg8-wu", trace, samples=2, seed=0)
            table("VGG-8-Wu, 2 random images, on wu2023_256x64_noc (9x9 mesh)", VGG_CONFIG,
                  trace, ())


if __name__ == "__main__":
    main()
