"""Print archsim's reproduction of Rasch et al. 2024, Table 1 (archsim/REFERENCES.md
[Rasch2024]): the update-pass time per input sample of one 512 x 512 array pair.

For each algorithm, :func:`archsim.workload.synthetic.table1_trace` runs it on random samples
under Table 1's assumptions (l = 5 slots per train, a transfer every 2 samples, MP batch 100)
and writes its work as a trace; ``hw_configs/rasch2024_table1.yaml`` (t_MVM 40 ns, 5 ns pulse
slot, 0.7 TFLOPS shared by 4 arrays) runs it. Printed: the simulated time beside the published
total, and the time with the Methods' factor 2 on the pulse terms (positive and negative
pulses one after the other), which Table 1's totals leave out.

Usage: python scripts/rasch_table1.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from archsim import api
from archsim.workload.synthetic import table1_trace

CONFIG = Path(__file__).resolve().parents[1] / "hw_configs" / "rasch2024_table1.yaml"
PUBLISHED_NS = {"ttv2": 56.3, "c-ttv2": 56.3, "agad": 62.1, "sgd": 30.9, "mp": 3024.5}


def main() -> None:
    print("Rasch et al. 2024, Table 1: update time per sample, one 512 x 512 array pair")
    print(f"{'algorithm':<10}{'published':>12}{'archsim':>12}{'diff':>9}{'factor 2':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm, published in PUBLISHED_NS.items():
            trace = Path(tmp) / f"{algorithm}.jsonl"
            table1_trace(trace, algorithm, samples=100 if algorithm == "mp" else 20)
            times = []
            for polarities in ("together", "sequential"):
                report = api.run(
                    CONFIG, trace, overrides=[f"training.pulse.polarities={polarities}"]
                )
                times.append(report["training"]["time_per_sample_s"]["update"] * 1e9)
            diff = 100 * (times[0] - published) / published
            print(f"{algorithm:<10}{published:>10.1f}ns{times[0]:>10.1f}ns{diff:>+8.2f}%"
                  f"{times[1]:>10.1f}ns")


if __name__ == "__main__":
    main()
