"""Rasch et al. 2024 Fig. 4 on the toy problem: weight error against the reference offset sigma_r
and the number of device states, for in-memory SGD, TTv2, c-TTv2 and AGAD (prints a table; not a
test).

Setting (Nature Communications 15:7133, Figs. 3-4; archsim/REFERENCES.md [Rasch2024]):
a 5 x 5 target matrix (uniform in [-0.5, 0.5]); soft-bounds devices with sigma_b = sigma_d2d =
sigma_c2c = 0.3 and sigma_pm = 0.1, sigma_b = 0 for W; n_s = 5, l_max = 5, lambda_A = 1,
chopper probability 0.1, beta = 0.5; each step a standard-normal input x and the error
d = x @ (W - target) (:func:`archsim.workload.analog_update.fit_target`). The target and the
input stream are fixed by ``--seed``; the device variations are drawn from three construction
seeds and the errors averaged. The error is the RMS of W - target, averaged over the last 10 %
of the steps, in % of the nominal weight range (2).

SGD and AGAD read no programmed reference, so sigma_r does not enter them: one run per
(n_states, construction seed) fills their whole row (the script says so in its output).

Usage: python scripts/rasch_fig4.py [--seed 0] [--steps 3000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from archsim.workload.analog_update import (
    SGDParams,
    TransferParams,
    build_optimizer,
    fit_target,
)
from archsim.workload.devices import SoftBoundsParams

SIGMA_R = (0.0, 0.1, 0.2, 0.3, 0.5)
N_STATES = (20, 100)
CONSTRUCTION_SEEDS = 3
SHAPE = (5, 5)
LR = 0.03
"""SGD's learning rate, and the TTv2 family's transfer rate (W change per unit of signal)."""
ROWS = (("sgd", "sgd", LR), ("ttv2", "ttv2", LR), ("c-ttv2", "c-ttv2", LR), ("agad", "agad", LR),
        ("agad/2", "agad", LR / 2))
"""Table rows: label, algorithm, rate. AGAD's signal, the change of A between two chopper
periods, is twice c-TTv2's one-sided c (A - r) for the same gradient; ``agad/2`` halves its rate
to compare at equal gain."""
USES_REFERENCE = {"sgd": False, "ttv2": True, "c-ttv2": True, "agad": False}


def devices(n_states: int) -> tuple[SoftBoundsParams, SoftBoundsParams]:
    """A's and W's device parameters of Fig. 4 for ``n_states`` states (delta = 2 / n_states)."""
    a = SoftBoundsParams(delta=2.0 / n_states, sigma_b=0.3, sigma_d2d=0.3, sigma_pm=0.1,
                         sigma_c2c=0.3)
    w = SoftBoundsParams(delta=2.0 / n_states, sigma_b=0.0, sigma_d2d=0.3, sigma_pm=0.1,
                         sigma_c2c=0.3)
    return a, w


def weight_error(algorithm: str, lr: float, sigma_r: float, n_states: int, seed: int,
                 construction: int, steps: int) -> float:
    """Final weight error of one run, in % of the weight range."""
    a_device, w_device = devices(n_states)
    target = np.random.default_rng([seed, 0]).uniform(-0.5, 0.5, SHAPE)
    rng = np.random.default_rng([seed, 1, construction])
    if algorithm == "sgd":
        optimizer = build_optimizer("sgd", SHAPE, SGDParams(l_max=5), w_device, rng)
    else:
        params = TransferParams(lr_a=1.0, l_max=5, n_s=5, reference_std=sigma_r,
                                chopper_prob=0.1, beta=0.5, w_device=w_device)
        optimizer = build_optimizer(algorithm, SHAPE, params, a_device, rng)
    errors = fit_target(optimizer, target, steps, lr, np.random.default_rng([seed, 2]))
    return 100.0 * float(errors[-max(1, steps // 10):].mean()) / 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--seed", type=int, default=0,
                        help="fixes the target, the inputs and the construction seeds")
    parser.add_argument("--steps", type=int, default=3000, help="update steps per run")
    args = parser.parse_args(argv)
    if args.steps < 10:
        parser.error("--steps: must be at least 10")
    if args.seed < 0:
        parser.error("--seed: must be >= 0")

    print(f"Rasch et al. 2024 Fig. 4 toy: {SHAPE[0]}x{SHAPE[1]} target, {args.steps} steps, "
          f"lambda_A 1, n_s 5, l_max 5, chopper p 0.1 (random), beta 0.5, seed {args.seed}, "
          f"mean of {CONSTRUCTION_SEEDS} construction seeds")
    print("A: sigma_b = sigma_d2d = sigma_c2c = 0.3, sigma_pm = 0.1; W: the same with "
          "sigma_b = 0; error: RMS(W - target) over the last 10 % of steps, % of range 2")
    print(f"rate: sgd's learning rate and the TTv2 family's transfer rate {LR}; agad/2: AGAD at "
          f"{LR / 2:g} (its signal has twice c-TTv2's gain)")
    print("sgd and agad read no programmed reference: one run per (n_states, seed) fills "
          "their row")
    header = "".join(f"{f'sigma_r={s:g}':>12}" for s in SIGMA_R)
    print(f"\n{'algorithm':<10}{'n_states':>9}{header}")
    start = time.perf_counter()
    runs = 0
    for n_states in N_STATES:
        for label, algorithm, lr in ROWS:
            offsets = SIGMA_R if USES_REFERENCE[algorithm] else SIGMA_R[:1]
            row = {}
            for sigma_r in offsets:
                row[sigma_r] = np.mean([
                    weight_error(algorithm, lr, sigma_r, n_states, args.seed, k, args.steps)
                    for k in range(CONSTRUCTION_SEEDS)])
                runs += CONSTRUCTION_SEEDS
            cells = "".join(f"{row.get(s, row[0.0]):11.2f}%" for s in SIGMA_R)
            print(f"{label:<10}{n_states:>9}{cells}", flush=True)
    print(f"\n{runs} runs in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
