"""Regenerate the trace files bundled with archsim (workload stage tooling).

Writes ``traces/lenet-wu_trained_16.jsonl.gz``: lenet-wu trained with the default settings on the
scikit-learn digits (seed 0), then traced on the first 16 test images. Run from anywhere:

    python scripts/make_traces.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim import api  # noqa: E402

BUNDLED = (("lenet-wu", 16, REPO / "traces" / "lenet-wu_trained_16.jsonl.gz"),)
"""(model, samples, path) of every bundled trace; all trained with defaults and seed 0."""


def main() -> int:
    for model, samples, path in BUNDLED:
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = api.export(model, path, samples=samples, train=True, seed=0)
        accuracy = "n/a" if summary.test_accuracy is None else f"{summary.test_accuracy:.2%}"
        print(f"{summary.path}: {summary.records} records, test accuracy {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
