"""Test accuracy of block-sparse dynamic training against dense training, per model and sparsity.

For each model (``--models``, default ``mlp,mlp-wide,lenet-wu``) and seed it trains the dense
model (s = 0, which is :func:`archsim.workload.train.train_sgd` exactly) and the block-sparse one
at each sparsity (``--sparsities``, default 0.5, 0.75, 0.9) with
:func:`archsim.workload.sparse_train.train_block_sparse`: B x B blocks (``--block``, default 8),
one dense warm-up epoch, RigL's schedule (drop fraction 0.3 cosine-annealed to 0 at 75 % of the
sparse steps, an update every ``--interval`` steps, default 100) and regrowth by gradient
(``--regrowth random`` for SET). Hyper-parameters are the model's ``DEFAULT_TRAINING``
(``--epochs`` overrides the epochs). The last matrix layer and layers of fewer than 16 blocks stay
dense, so the printed weight density (kept weights over all matrix weights) is above 1 - s.

One row per model and sparsity: weight density, the sparse layers' kept / total blocks, test
accuracy per seed, its mean, and the mean difference to dense in percentage points.

Runtime: about 1.5 minutes on 2 cores for the defaults (3 seeds; BLAS at one thread; lenet-wu's
convolutions take two thirds of it).

Usage: python scripts/sparse_accuracy.py [--models mlp,mlp-wide,lenet-wu]
           [--sparsities 0.5,0.75,0.9] [--block 8] [--seeds 0,1,2] [--epochs N]
           [--interval 100] [--regrowth gradient|random]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from archsim.workload.sparse_train import (
    REGROWTH_RULES,
    SPARSE_MODELS,
    BlockSparsity,
    SparseTrainResult,
    train_block_sparse,
)
from archsim.workload.train import DEFAULT_TRAINING


def _run(model: str, params: BlockSparsity, seed: int, epochs: int | None) -> SparseTrainResult:
    cfg = DEFAULT_TRAINING[model]
    return train_block_sparse(
        model, params, rng=np.random.default_rng(seed),
        epochs=cfg.epochs if epochs is None else epochs, lr=cfg.lr, momentum=cfg.momentum,
        batch_size=cfg.batch_size,
    )


def _blocks(result: SparseTrainResult) -> str:
    """Kept / total blocks of the sparse layers, e.g. ``fc1 627/6272``."""
    parts = [f"{name} {layer.nnzb}/{layer.blocks}"
             for name, layer in result.layers.items() if layer.sparse]
    return ", ".join(parts) if parts else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SPARSE_MODELS))
    parser.add_argument("--sparsities", default="0.5,0.75,0.9")
    parser.add_argument("--block", type=int, default=8, help="block side B, in weights")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--interval", type=int, default=100, help="steps between mask updates")
    parser.add_argument("--regrowth", default="gradient", choices=REGROWTH_RULES)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    sparsities = [float(s) for s in args.sparsities.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(f"block-sparse training on the digits: B = {args.block}, regrowth {args.regrowth}, "
          f"mask update every {args.interval} steps, seeds {seeds}")
    print(f"{'model':<9} {'s':>5} {'weights%':>8}  {'acc% per seed':<22} {'mean%':>6} "
          f"{'vs dense':>8}  kept/total blocks (sparse layers)")
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        for model in models:
            dense_mean = 0.0
            for s in [0.0, *sparsities]:
                params = BlockSparsity(s, block=args.block, update_interval=args.interval,
                                       regrowth=args.regrowth)
                results = [_run(model, params, seed, args.epochs) for seed in seeds]
                accs = [100 * r.test_accuracy for r in results]
                mean = float(np.mean(accs))
                if s == 0.0:
                    dense_mean = mean
                per_seed = " ".join(f"{a:.1f}" for a in accs)
                print(f"{model:<9} {s:>5.2f} {100 * results[0].weight_density:>8.1f}  "
                      f"{per_seed:<22} {mean:>6.2f} {mean - dense_mean:>+8.2f}  "
                      f"{_blocks(results[0])}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
