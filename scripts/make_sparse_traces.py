"""Regenerate the small block-sparse training traces in ``traces/sparse/`` (workload tooling).

Writes ``traces/sparse/mlp_s{S}_b{B}.jsonl.gz`` for sparsity S in 0, 0.5, 0.75, 0.9 and block
side B in 8, 16: ``mlp`` trained on the digits (seed 0) for 3 epochs of 45 steps of 32 images,
the first a dense warm-up, then two block-sparse epochs with a RigL mask update every 6 steps
(11 updates before T_end = 75 % of the 90 sparse steps), every step traced (version-4 trace,
one sample per step; :func:`archsim.api.train_sparse`). Two thirds of the steps are sparse, so
the median step is a sparse one (``scripts/fabric_figures.py`` takes the median step time as
the steady state). S = 0 is the dense baseline in the same records. These feed design-space
sweeps over sparsity and block size (``hw_configs/sweeps/sparse_fabric.yaml``). Prints each
file's size and the test accuracy; each file is about 10-15 kB. Run from anywhere (about 1 s
per trace):

    python scripts/make_sparse_traces.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim import api  # noqa: E402

FOLDER = REPO / "traces" / "sparse"
SPARSITIES = (0.0, 0.5, 0.75, 0.9)
BLOCKS = (8, 16)
EPOCHS = 3
WARMUP_EPOCHS = 1
UPDATE_INTERVAL = 6
SEED = 0


def trace_path(sparsity: float, block: int) -> Path:
    """``traces/sparse/mlp_s{S}_b{B}.jsonl.gz``, S written as ``0``, ``0.5``, ``0.75``, ..."""
    return FOLDER / f"mlp_s{sparsity:g}_b{block}.jsonl.gz"


def main() -> int:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for block in BLOCKS:
        for sparsity in SPARSITIES:
            path = trace_path(sparsity, block)
            done = api.train_sparse(
                "mlp", path, sparsity=sparsity, block=block, epochs=EPOCHS,
                warmup_epochs=WARMUP_EPOCHS, update_interval=UPDATE_INTERVAL, seed=SEED,
            )
            result = done.training
            print(
                f"{path.relative_to(REPO)}: {path.stat().st_size / 1000:.1f} kB, "
                f"{done.steps} steps, {done.records} records, {result.mask_updates} mask "
                f"updates, weight density {100 * result.weight_density:.1f} %, test accuracy "
                f"{100 * result.test_accuracy:.2f} %"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
