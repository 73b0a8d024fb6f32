"""HyFlexPIM: throughput, energy efficiency and accuracy against the SLC fraction and the
sequence length (issue 13; archsim/REFERENCES.md [HyFlexPIM], [BERT]).

For every sequence length it writes a shape-only BERT encoder trace (``archsim.api.
export_encoder``: ``--layers`` blocks, ``--samples`` sequences) and replays it on
``hw_configs/hyflexpim.yaml`` at every SLC fraction (``--set mapping.hybrid.slc_fraction``),
and on the all-SLC and all-MLC baselines (``hyflexpim_all_slc.yaml``,
``hyflexpim_all_mlc.yaml``: the matrices themselves in one mode, no SVD). Every figure is the
simulator's: the throughput is the pipelined chip's (the mean gap between completed
sequences), the energy per sequence its accounting. It prints, per sequence length and SLC
fraction, the throughput and the energy efficiency (sequences per joule) against all-SLC and
all-MLC, and where the hybrid chip's energy goes (analog SLC and MLC arrays, digital PIM, SFU,
buffers).

Unless ``--no-accuracy``, it also runs the gradient redistribution on ``vit-tiny`` trained on the
digits (``archsim.api.redistribution``: the encoder blocks' matrices as their SVD, the singular
values fine-tuned, the rank components chosen for SLC by gradient, by magnitude and at random)
and prints the accuracy at every fraction, the layers read on ``hyflexpim.yaml``'s crossbars
through the functional model (``--accuracy crossbars``, the default: each mode's cells and ADC,
the device's programming noise; 2 draws) or with HyFlexPIM's slice noise ``--mlc-std``
(``--accuracy slices``; 5 draws).

It writes ``results.json`` and the figures (PNG and SVG): throughput and energy-efficiency gains
against the SLC fraction (a line per sequence length) and against the sequence length (a line
per SLC fraction), and accuracy against the SLC fraction (a line per rule), to ``--out``
(default ``runs/hyflexpim``).

Runtime: about 10 s for the default 6 lengths x 6 fractions on one BERT-base block, plus
about 3 minutes for the accuracy on crossbars (30 s with ``--accuracy slices``).

Usage: python scripts/hyflexpim_sweep.py [--model bert-base] [--layers 1]
           [--seq-lens 128,256,512,1024,2048,4096] [--fractions 0,0.05,0.1,0.2,0.5,1]
           [--samples 8] [--accuracy crossbars|slices] [--mlc-std 0.4] [--no-accuracy]
           [--seed 0] [--set KEY=VALUE]
           [--out runs/hyflexpim]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsim import api
from archsim.errors import ArchsimError
from archsim.report.plots import metric_lines, save_figure

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "hw_configs"
HYBRID = CONFIGS / "hyflexpim.yaml"
BASELINES = {"all-SLC": CONFIGS / "hyflexpim_all_slc.yaml",
             "all-MLC": CONFIGS / "hyflexpim_all_mlc.yaml"}
#: Where the hybrid chip's energy goes besides the analog arrays: component kinds.
CHIP_PARTS = ("digital_pim", "sfu", "buffer", "digital")


def _numbers(text: str, kind: type) -> list[Any]:
    try:
        values = [kind(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def measure(config: Path, trace: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One run's throughput (sequences/s), energy per sequence (J) and its split."""
    report = api.run(config, trace, overrides=overrides)
    per = report["per_inference"]
    # The analog modules' arrays, drivers, converters and shift-and-add by mode; their
    # buffers apart.
    split = {"analog SLC": 0.0, "analog MLC": 0.0}
    for group in report["groups"].values():
        for part, by_kind in group.get("energy_breakdown_by_part_j", {}).items():
            split[f"analog {part.upper()}"] += sum(
                joules for kind, joules in by_kind.items() if kind != "buffer"
            )
    for kind in CHIP_PARTS:
        split[kind] = per["energy_breakdown_j"].get(kind, 0.0)
    return {
        "throughput_per_s": per["throughput_per_s"],
        "energy_j": per["energy_j"],
        "latency_s": report["latency_s"]["first"],
        "energy_split_j": split,
    }


def sweep(args: argparse.Namespace, traces: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for tokens in args.seq_lens:
        trace = traces / f"{args.model}_{tokens}.jsonl.gz"
        api.export_encoder(
            trace, model=args.model, seq_len=tokens, samples=args.samples, layers=args.layers,
            seed=args.seed,
        )
        base = {name: measure(path, trace, args.set) for name, path in BASELINES.items()}
        points = {}
        for fraction in args.fractions:
            point = measure(
                HYBRID, trace, [*args.set, f"mapping.hybrid.slc_fraction={fraction}"]
            )
            for name, baseline in base.items():
                point[f"throughput_vs_{name}"] = (
                    point["throughput_per_s"] / baseline["throughput_per_s"]
                )
                point[f"efficiency_vs_{name}"] = baseline["energy_j"] / point["energy_j"]
            points[fraction] = point
        results[tokens] = {"baselines": base, "hybrid": points}
        print_length(tokens, results[tokens])
    return results


def print_length(tokens: int, result: dict[str, Any]) -> None:
    print(f"\n{tokens} tokens: throughput and energy efficiency against all-SLC / all-MLC")
    print("  SLC %   thr/SLC  thr/MLC  eff/SLC  eff/MLC   seq/s      J/seq      analog SLC  "
          "analog MLC  digital PIM  SFU       buffers")
    for fraction, p in result["hybrid"].items():
        split = p["energy_split_j"]
        print(
            f"  {100 * fraction:5.1f}  {p['throughput_vs_all-SLC']:7.3f}  "
            f"{p['throughput_vs_all-MLC']:7.3f}  {p['efficiency_vs_all-SLC']:7.3f}  "
            f"{p['efficiency_vs_all-MLC']:7.3f}  {p['throughput_per_s']:9.1f}  "
            f"{p['energy_j']:.3e}  {split['analog SLC']:.3e}   {split['analog MLC']:.3e}   "
            f"{split['digital_pim']:.3e}    {split['sfu']:.2e}  {split['buffer']:.2e}"
        )


def plots(results: dict[str, Any], accuracy: Any, out: Path) -> list[Path]:
    written: list[Path] = []
    for metric, label in (("throughput", "throughput gain"), ("efficiency", "efficiency gain")):
        for baseline in BASELINES:
            key = f"{metric}_vs_{baseline}"
            by_fraction = {
                f"{tokens} tokens": (
                    [float(f) for f in r["hybrid"]], [p[key] for p in r["hybrid"].values()]
                )
                for tokens, r in results.items()
            }
            figure = metric_lines(
                by_fraction, x="SLC fraction", y=f"{label} vs {baseline}",
                legend_title="sequence length",
            )
            written += save_figure(figure, out / f"{metric}_vs_{baseline}_by_fraction")
            fractions = list(next(iter(results.values()))["hybrid"])
            by_length = {
                f"{100 * f:g} % SLC": (
                    [float(t) for t in results], [r["hybrid"][f][key] for r in results.values()]
                )
                for f in fractions
            }
            figure = metric_lines(
                by_length, x="sequence length", y=f"{label} vs {baseline}",
                legend_title="SLC fraction", log_x=True,
            )
            written += save_figure(figure, out / f"{metric}_vs_{baseline}_by_length")
    if accuracy is not None:
        figure = metric_lines(
            {rule: (list(accuracy.fractions), list(values))
             for rule, values in accuracy.accuracy.items()},
            x="SLC fraction", y="accuracy", legend_title="SLC choice",
            title=f"vit-tiny accuracy, {accuracy.hardware}",
        )
        written += save_figure(figure, out / "accuracy_by_fraction")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert-base", choices=("bert-base", "bert-large"))
    parser.add_argument("--layers", type=int, default=1, help="encoder blocks (default 1)")
    parser.add_argument("--seq-lens", type=lambda t: _numbers(t, int),
                        default=[128, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--fractions", type=lambda t: _numbers(t, float),
                        default=[0.0, 0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--samples", type=int, default=8, help="sequences per run (default 8)")
    parser.add_argument("--accuracy", choices=("crossbars", "slices"), default="crossbars",
                        help="read the layers on the crossbars' functional model (default) or "
                        "with HyFlexPIM's slice noise")
    parser.add_argument("--mlc-std", type=float, default=0.4,
                        help="--accuracy slices: relative noise of an MLC slice (default 0.4)")
    parser.add_argument("--no-accuracy", action="store_true", help="skip vit-tiny's accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every chip (e.g. digital_pim.energy.op=5pJ)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "hyflexpim")
    args = parser.parse_args()
    try:
        run(args)
    except ArchsimError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def run(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as traces:
        results = sweep(args, Path(traces))
    print(f"\n(simulation: {time.perf_counter() - start:.1f} s)")
    accuracy = None
    if not args.no_accuracy:
        start = time.perf_counter()
        if args.accuracy == "crossbars":
            accuracy = api.redistribution(
                fractions=args.fractions, seed=args.seed, config=HYBRID, overrides=args.set,
                noise_draws=2, choice_draws=2,
            )
        else:
            accuracy = api.redistribution(
                fractions=args.fractions, mlc_std=args.mlc_std, seed=args.seed
            )
        how = (
            f"MLC slice noise {accuracy.mlc_std:g}" if accuracy.hardware == "mlc slices"
            else accuracy.hardware
        )
        print(f"\nvit-tiny accuracy (full precision {accuracy.full_precision:.4f}, quantised "
              f"{accuracy.quantised:.4f}; {how}, {accuracy.noise_draws} draws; "
              f"{time.perf_counter() - start:.1f} s)")
        print("  SLC %  " + "  ".join(f"{rule:>9}" for rule in accuracy.accuracy))
        for i, fraction in enumerate(accuracy.fractions):
            print(f"  {100 * fraction:5.1f}  " + "  ".join(
                f"{values[i]:9.4f}" for values in accuracy.accuracy.values()))
    args.out.mkdir(parents=True, exist_ok=True)
    data = {
        "model": args.model, "layers": args.layers, "samples": args.samples,
        "results": {str(t): {"baselines": r["baselines"],
                             "hybrid": {str(f): p for f, p in r["hybrid"].items()}}
                    for t, r in results.items()},
        "accuracy": None if accuracy is None else {
            "fractions": accuracy.fractions, "by_rule": dict(accuracy.accuracy),
            "full_precision": accuracy.full_precision, "quantised": accuracy.quantised,
            "mlc_std": accuracy.mlc_std, "hardware": accuracy.hardware,
        },
    }
    (args.out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    written = plots(results, accuracy, args.out)
    print(f"\nwrote {args.out / 'results.json'} and {len(written)} figures to {args.out}")


if __name__ == "__main__":
    main()
