"""Small sweeps for the DSE tests: chain traces on the Wu et al. tile, specs written as JSON
(a subset of YAML the strict loader reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import CONFIGS, write_chain_trace

WU = CONFIGS / "wu2023_64x64.yaml"

#: Two dense layers (3 crossbars of 64x64): simulates in a few milliseconds.
LAYERS = [(25, 4, 12), (100, 12, 3)]


def write_trace(folder: Path, name: str = "chain.jsonl", samples: int = 2) -> Path:
    """A chain trace in ``folder``."""
    return write_chain_trace(folder / name, LAYERS, samples=samples)


def write_spec(folder: Path, filename: str = "sweep.yaml", **fields: Any) -> Path:
    """A spec file in ``folder``: version 1, name ``t``, the Wu config, ``chain.jsonl`` (written
    if missing) and the given fields (``axes``, ``metrics``, ...) over those defaults."""
    if not (folder / "chain.jsonl").exists():
        write_trace(folder)
    data: dict[str, Any] = {
        "version": 1,
        "name": "t",
        "config": str(WU),
        "traces": ["chain.jsonl"],
    }
    data.update(fields)
    path = folder / filename
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


#: A sweep with every kind of point: 2 x 3 grid x a zipped pair = 12 points, of which the
#: columns_per_adc=3 ones do not load (3 does not divide 64 columns) and chip.tiles=2 ones do not
#: fit the 3 crossbars the network needs.
MIXED_AXES = [
    {"path": "tile.adc.bits", "values": [6, 8]},
    {"path": "tile.adc.columns_per_adc", "values": [4, 8, 3]},
    {
        "zip": [
            {"path": "chip.tiles", "values": [9, 2]},
            {"path": "chip.clock_hz", "values": ["100MHz", "200MHz"]},
        ]
    },
]
MIXED_METRICS = [
    "per_inference.latency_s",
    "per_inference.energy_j",
    "per_inference.energy_breakdown_j.*",
]


def table(out: Path) -> dict[str, bytes]:
    """The bytes of a sweep's three results files."""
    return {
        name: (out / name).read_bytes() for name in ("results.csv", "results.jsonl", "sweep.json")
    }


def rows(out: Path) -> list[dict[str, Any]]:
    """The JSON Lines rows of a sweep."""
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
