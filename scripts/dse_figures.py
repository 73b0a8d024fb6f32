"""The classic design-space figures for lenet-wu and vgg8-wu (runs sweeps, writes PNGs).

For each model, on the Wu et al. 2023 tiles (``wu2023_64x64.yaml`` for LeNet, the paper's
256x64 arrays ``wu2023_256x64.yaml`` for VGG-8), it sweeps and plots energy and latency per
inference against:

* ADC resolution, one line per number of columns sharing an ADC;
* crossbar size (rows; for LeNet square arrays): the configs charge the array per driven row
  and read (``tile.crossbar.energy.row_read``) and the DACs per row drive, so a larger array
  costs more per read and needs fewer reads; the per-operation remainder ``tile.energy.op`` is
  the same at 64 and 256 rows by the configs' derivation from Wu et al.'s two tiles;
* bits per cell (fewer bits per cell: more cells per weight, more arrays);
* NoC link width, on the 3x3 mesh of ``wu2023_64x64_noc.yaml`` (LeNet) and a 9x9 mesh (VGG-8),
  with the RISC-V controller timed.

Every sweep goes through ``archsim.dse.run_sweep`` (cached under ``--out``: a second run only
redraws) and every figure through ``archsim.report.plot_cli.plot_command``. VGG-8 runs a
shape-only trace of one random 32x32 image (no CIFAR copy ships offline). About two minutes on
two cores; PNGs and SVGs go to ``--out``/<model>_<study>/plots/.

Usage: python scripts/dse_figures.py [--out runs/dse] [--workers N] [--models lenet-wu,vgg8-wu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from archsim.dse import format_summary, run_sweep
from archsim.errors import ArchsimError
from archsim.report.plot_cli import plot_command
from archsim.workload.export import export_trace

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "hw_configs"
LENET_TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"

# model -> (tile config, NoC config, crossbar rows to sweep, square arrays?)
MODELS = {
    "lenet-wu": ("wu2023_64x64.yaml", "wu2023_64x64_noc.yaml", (64, 128, 256), True),
    "vgg8-wu": ("wu2023_256x64.yaml", "wu2023_256x64_noc.yaml", (128, 256, 512), False),
}

def _spec(name: str, config: Path, trace: Path, axes: str, extra: str = "") -> str:
    return (
        f"version: 1\nname: {name}\nconfig: {config}\n{extra}traces: [{trace}]\naxes:\n{axes}"
        "metrics: [per_inference.latency_s, per_inference.energy_j, "
        "per_inference.energy_breakdown_j.*, per_inference.counters.crossbars]\n"
    )


def studies(model: str, out: Path, trace: Path) -> list[tuple[str, str, str, str | None]]:
    """``(study, spec text, x path, series path)`` for ``model``."""
    tile_config, noc_config, rows, square = MODELS[model]
    base = CONFIGS / tile_config
    noc = CONFIGS / noc_config
    if square:  # rows and cols move together
        size_axes = (
            "  - zip:\n"
            f"      - {{path: tile.crossbar.rows, values: {list(rows)}}}\n"
            f"      - {{path: tile.crossbar.cols, values: {list(rows)}}}\n"
        )
    else:
        size_axes = f"  - {{path: tile.crossbar.rows, values: {list(rows)}}}\n"
    return [
        ("adc", _spec(f"{model}_adc", base, trace,
                      "  - {path: tile.adc.bits, values: [4, 5, 6, 7, 8, 9, 10]}\n"
                      "  - {path: tile.adc.columns_per_adc, values: [4, 8, 16]}\n"),
         "tile.adc.bits", "tile.adc.columns_per_adc"),
        ("crossbar", _spec(f"{model}_crossbar", base, trace, size_axes,
                           "set: [chip.tiles=4096]\n"),
         "tile.crossbar.rows", None),
        ("cell_bits", _spec(f"{model}_cell_bits", base, trace,
                            "  - {path: tile.crossbar.cell_bits, values: [1, 2, 4, 7]}\n",
                            "set: [chip.tiles=4096]\n"),
         "tile.crossbar.cell_bits", None),
        ("noc_link", _spec(f"{model}_noc_link", noc, trace,
                           "  - {path: noc.link_width_bits, values: [8, 16, 32, 64]}\n"),
         "noc.link_width_bits", None),
    ]


def main() -> None:
    """Run every study of every model and draw its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/dse")
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--models", default="lenet-wu,vgg8-wu")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        for model in args.models.split(","):
            if model not in MODELS:
                parser.error(f"--models: expected names from {', '.join(MODELS)}, got {model!r}")
            trace = LENET_TRACE
            if model != "lenet-wu":
                trace = out / f"{model}_1.jsonl.gz"
                if not trace.exists():
                    export_trace(model, trace, samples=1, seed=0)
            for study, text, x, series in studies(model, out, trace):
                folder = out / f"{model}_{study}"
                folder.mkdir(exist_ok=True)
                spec = folder / "spec.yaml"
                spec.write_text(text, encoding="utf-8")
                summary = run_sweep(spec, folder, workers=args.workers, progress=False)
                print(format_summary(summary))
                for metric in ("per_inference.energy_j", "per_inference.latency_s"):
                    paths = plot_command(folder, x=x, y=metric, series=series, kind="line",
                                         out=folder / "plots" / f"{metric.split('.')[-1]}_vs_{x.split('.')[-1]}")
                    print("  wrote " + ", ".join(str(p) for p in paths))
    except ArchsimError as error:
        parser.error(str(error))
    print(f"all figures in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
