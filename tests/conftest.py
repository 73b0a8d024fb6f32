"""Shared fixtures: synthetic traces written with the real trace writer."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from archsim.workload.trace import TraceWriter

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"


def write_chain_trace(
    path: Path,
    layers: Sequence[tuple[int, int, int]],
    *,
    samples: int = 1,
    input_bits: int = 8,
    density: float = 0.5,
    relu: bool = False,
) -> Path:
    """A trace of a chain of dense layers ``(rows, cols, vectors)`` named fc1, fc2, ...

    Every bit-plane has density ``density``; with ``relu`` each layer is followed by a ReLU.
    Shapes chain (each layer's in_shape is its producer's out_shape); the matrix shapes are free,
    as for layers applied to ``vectors`` tokens.
    """
    specs, records = [], []
    previous, shape = "input", [layers[0][0]]
    for i, (rows, cols, vectors) in enumerate(layers, start=1):
        name = f"fc{i}"
        specs.append({"name": name, "kind": "dense", "inputs": [previous], "in_shape": shape,
                      "out_shape": [cols], "rows": rows, "cols": cols})
        shape = [cols]
        records.append({"phase": "forward", "layer": name, "kind": "mvm", "vectors": vectors,
                        "rows": rows, "cols": cols, "input_bits": input_bits,
                        "input_nz": min(1.0, 2 * density),
                        "bitplane_nz": [density] * input_bits,
                        "bitplane_allzero": [0.0] * input_bits})
        previous = name
        if relu:
            specs.append({"name": f"relu{i}", "kind": "relu", "inputs": [name],
                          "in_shape": [cols], "out_shape": [cols]})
            records.append({"phase": "forward", "layer": f"relu{i}", "kind": "relu",
                            "elements": cols * vectors})
            previous = f"relu{i}"
    header = {
        "model": "chain",
        "samples": samples,
        "seed": 0,
        "network": {"input_shape": [layers[0][0]], "weight_bits": 8, "act_bits": 8,
                    "layers": specs},
        "meta": {},
    }
    with TraceWriter(path, header) as writer:
        for sample in range(samples):
            for record in records:
                writer.write({"sample": sample, **record})
    return path


@pytest.fixture
def chain_trace(tmp_path: Path):
    """Factory fixture: ``chain_trace(layers, **kw)`` writes a chain trace in tmp_path."""
    counter = iter(range(10_000))

    def make(layers: Sequence[tuple[int, int, int]], **kwargs) -> Path:
        return write_chain_trace(tmp_path / f"chain{next(counter)}.jsonl", layers, **kwargs)

    return make
