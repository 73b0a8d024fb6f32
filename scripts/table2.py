"""Print archsim's reproduction of Wu et al. 2023, Table 2 (archsim/REFERENCES.md [Wu2023]).

Exports shape-only traces of the zoo's ``lenet-wu`` (3 images) and ``vgg8-wu`` (2 images), runs
them on ``hw_configs/wu2023_64x64.yaml`` and ``wu2023_256x64.yaml``, and prints each published
figure beside the simulated one and their relative difference. Nothing is typed in but the
published values it compares against.

Usage: python scripts/table2.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from archsim import api

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
PIPE = "mapping.pipeline=true"

# (label, config, trace, overrides, report field, published value, unit scale, unit)
ROWS = [
    ("LeNet crossbars", "wu2023_64x64", "lenet", (), "crossbars", 6, 1, ""),
    ("LeNet ops", "wu2023_64x64", "lenet", (), "vmm_steps", 641, 1, ""),
    ("LeNet tile ops", "wu2023_64x64", "lenet", (), "tile_ops", 707, 1, ""),
    ("LeNet latency", "wu2023_64x64", "lenet", (), "latency", 0.46e-3, 1e3, "ms"),
    ("LeNet pipelined", "wu2023_64x64", "lenet", (PIPE,), "interval", 0.42e-3, 1e3, "ms"),
    ("LeNet pipelined, 8x conv1", "wu2023_64x64", "lenet",
     (PIPE, "mapping.copies={conv1: 8}"), "interval", 0.053e-3, 1e3, "ms"),
    ("LeNet crossbars, 8x conv1", "wu2023_64x64", "lenet",
     (PIPE, "mapping.copies={conv1: 8}"), "crossbars", 9, 1, ""),
    ("LeNet energy", "wu2023_64x64", "lenet", (), "energy", 1.9e-6, 1e6, "uJ"),
    ("VGG-8 crossbars", "wu2023_256x64", "vgg8", (), "crossbars", 78, 1, ""),
    ("VGG-8 ops", "wu2023_256x64", "vgg8", (), "vmm_steps", 2690, 1, ""),
    ("VGG-8 tile ops", "wu2023_256x64", "vgg8", (), "tile_ops", 7713, 1, ""),
    ("VGG-8 latency", "wu2023_256x64", "vgg8", (), "latency", 1.94e-3, 1e3, "ms"),
    ("VGG-8 pipelined", "wu2023_256x64", "vgg8", (PIPE,), "interval", 0.74e-3, 1e3, "ms"),
    ("VGG-8 pipelined, 4x conv1+2", "wu2023_256x64", "vgg8",
     (PIPE, "mapping.copies={conv1: 4, conv2: 4}"), "interval", 0.19e-3, 1e3, "ms"),
    ("VGG-8 energy", "wu2023_256x64", "vgg8", (), "energy", 23e-6, 1e6, "uJ"),
]


def field(per: dict, name: str) -> float:
    """One figure of a report's per-inference section."""
    if name == "latency":
        return per["latency_s"]
    if name == "interval":
        return 1.0 / per["throughput_per_s"]
    if name == "energy":
        return per["energy_j"]
    return per["counters"][name]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        traces = {"lenet": Path(tmp) / "lenet.jsonl.gz", "vgg8": Path(tmp) / "vgg8.jsonl.gz"}
        api.export("lenet-wu", traces["lenet"], samples=3, seed=0)
        api.export("vgg8-wu", traces["vgg8"], samples=2, seed=0)
        print(f"{'Wu et al. 2023 Table 2':<30}{'published':>12}{'archsim':>12}{'diff':>9}")
        for label, config_name, trace, overrides, name, published, scale, unit in ROWS:
            report = api.run(CONFIGS / f"{config_name}.yaml", traces[trace], overrides=overrides)
            per = report["per_inference"]
            value = field(per, name)
            diff = 100 * (value - published) / published
            print(
                f"{label:<30}{published * scale:>9.4g} {unit:<2}{value * scale:>9.4g} {unit:<2}"
                f"{diff:>+8.2f}%"
            )


if __name__ == "__main__":
    main()
