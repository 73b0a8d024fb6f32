"""Synthetic training traces of one square layer, as Rasch et al. 2024's Table 1 assumes them
(workload stage).

Rasch et al. (Nature Communications 15:7133, Table 1; archsim/REFERENCES.md [Rasch2024]) time
the update pass of one N x N array per input sample under stated assumptions: every pulse train
is ``l_avg = l_max`` slots long, a row of A is transferred every ``n_s`` samples, and mixed
precision (MP) writes W once per batch of B samples, row by row, one pulse slot per row.
:func:`table1_trace` writes such a workload as a trace: it runs the algorithm itself
(:mod:`archsim.workload.analog_update`) on a stream of random samples, so that the FLOPs,
pulses and transfer reads are the algorithm's own counts, and it makes the assumptions hold by
construction: the pulsed algorithms' learning rate onto their array is large enough that every
train is clipped to ``l`` slots, and MP's write of a batch takes one pulse slot per row, N
rounds (its cells and pulses the algorithm's). Simulating it (``archsim run
hw_configs/rasch2024_table1.yaml``) gives the update time per sample that Table 1 prints.
"""

from __future__ import annotations

import os

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.activity import vector_stats_batch
from archsim.workload.analog_train import DEFAULT_SOFT_BOUNDS, mvm_fields, update_records
from archsim.workload.analog_update import (
    MixedPrecisionParams,
    SGDParams,
    TransferParams,
    UpdateWork,
    build_optimizer,
)
from archsim.workload.trace import TraceWriter

__all__ = ["TABLE1_ALGORITHMS", "table1_trace"]

#: The rows of Table 1, by archsim's algorithm names.
TABLE1_ALGORITHMS = ("ttv2", "c-ttv2", "agad", "sgd", "mp")

#: Most rows and columns of the synthetic layer (its devices are simulated one by one).
MAX_N = 4096

#: Learning rate onto the pulsed array: with inputs in [0, 1) and errors of unit spread it
#: asks for far more than ``l`` pulses on the largest element, so every train is ``l`` slots.
_SATURATING_LR = 100.0


def _mvm(sample: int, kind: str, phase: str, n: int, vector: np.ndarray) -> dict[str, object]:
    (stats,) = vector_stats_batch(vector.reshape(1, 1, -1), act_bits=8)
    return {"sample": sample, "phase": phase, "layer": "fc1", **mvm_fields(stats, n, kind, 8)}


def table1_trace(
    path: str | os.PathLike[str],
    algorithm: str,
    *,
    n: int = 512,
    samples: int = 200,
    n_s: int = 2,
    bit_length: int = 5,
    batch: int = 100,
    seed: int = 0,
) -> int:
    """Write the training trace of ``samples`` samples through one ``n`` x ``n`` dense layer
    under Table 1's assumptions (module docstring); return the records written.

    Per sample: the forward ``mvm`` and backward ``mvm_t`` (statistics of the random input and
    error), then the algorithm's update records (:func:`~archsim.workload.analog_train.
    update_records`); for ``mp``, a batch's write is ``n`` rounds of one pulse slot.

    Args:
        path: The trace file.
        algorithm: One of :data:`TABLE1_ALGORITHMS`.
        n: Rows and columns of the layer (N).
        samples: Samples traced (a whole number of MP batches for ``mp``).
        n_s: Samples between transfers (TTv2, c-TTv2, AGAD).
        bit_length: Slots per pulse train (l_avg = l_max).
        batch: MP's batch size B.
        seed: Seed of the samples and the devices.

    Raises:
        WorkloadError: an argument is out of range.
    """
    if algorithm not in TABLE1_ALGORITHMS:
        raise WorkloadError(
            f"algorithm: expected one of {', '.join(TABLE1_ALGORITHMS)}, got {algorithm!r}"
        )
    for name, value, top in (("n", n, MAX_N), ("samples", samples, 1 << 20),
                             ("n_s", n_s, 1 << 20), ("bit_length", bit_length, 1 << 10),
                             ("batch", batch, 1 << 20)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise WorkloadError(f"{name}: must be an integer 1..{top}, got {value!r}")
    if algorithm == "mp" and samples % batch:
        raise WorkloadError(f"samples: must be a multiple of batch ({batch}) for mp")
    rng = np.random.default_rng(seed)
    if algorithm == "sgd":
        params: object = SGDParams(l_max=bit_length)
        lr = _SATURATING_LR
    elif algorithm == "mp":
        params, lr = MixedPrecisionParams(mode="pulse", threshold=0.01), 0.01
    else:
        params = TransferParams(lr_a=_SATURATING_LR, l_max=bit_length, n_s=n_s)
        lr = 0.1
    optimizer = build_optimizer(algorithm, (n, n), params, DEFAULT_SOFT_BOUNDS, rng)
    header = {
        "model": f"table1-{algorithm}",
        "samples": samples,
        "seed": seed,
        "network": {
            "input_shape": [n], "weight_bits": 8, "act_bits": 8,
            "layers": [{"name": "fc1", "kind": "dense", "inputs": ["input"], "in_shape": [n],
                        "out_shape": [n], "rows": n, "cols": n}],
        },
        "meta": {"workload": f"Rasch et al. 2024 Table 1 assumptions: {algorithm}, N={n}, "
                             f"n_s={n_s}, l={bit_length}, B={batch}; random samples"},
    }
    pending: list[tuple[np.ndarray, np.ndarray, list[dict[str, object]]]] = []
    with TraceWriter(path, header, version=3) as writer:
        for sample in range(samples):
            x = rng.random(n)
            d = rng.standard_normal(n)
            passes = [_mvm(sample, "mvm", "forward", n, x),
                      _mvm(sample, "mvm_t", "backward", n, d)]
            if algorithm != "mp":
                work = optimizer.update(x, d, lr)
                for record in (*passes, *update_records("fc1", n, n, work)):
                    writer.write(record if "sample" in record else {"sample": sample, **record})
                continue
            # MP: a batch's samples are written once its update is known (at most B samples
            # wait), each with its share of the batch's digital accumulation.
            pending.append((x, d, passes))
            if len(pending) < batch:
                continue
            work = optimizer.update_batch(
                np.array([p[0] for p in pending]), np.array([p[1] for p in pending]), lr
            )
            first = sample - batch + 1
            for offset, (_, _, records) in enumerate(pending):
                for record in (*records, *_mp_records(n, work, batch, offset)):
                    writer.write(record if "sample" in record
                                 else {"sample": first + offset, **record})
            pending.clear()
        return writer.records


def _mp_records(n: int, work: UpdateWork, batch: int, offset: int) -> list[dict[str, object]]:
    """MP's update records of sample ``offset`` of a batch: its share of the batch's digital
    accumulation and, after the batch's last sample, the write: the algorithm's cells and
    pulses, applied a row at a time with one pulse slot per row (``n`` rounds, no verify
    reads: Table 1's (N / B) t_pulse per sample)."""
    flops, flops_left = divmod(work.flops, batch)
    bits, bits_left = divmod(work.bits_moved, batch)
    last = offset == batch - 1
    records: list[dict[str, object]] = [
        {"phase": "update", "layer": "fc1", "kind": "digital",
         "flops": flops + (flops_left if last else 0), "bits": bits + (bits_left if last else 0)},
    ]
    if last:
        records.append({"phase": "update", "layer": "fc1", "kind": "write",
                        "cells": work.cells, "pulses": work.write_pulses, "verify_reads": 0,
                        "rounds": n})
    return records
