"""Speed-up and SCU utilisation of block-sparse training on the fabric (runs a sweep, writes PNGs).

Runs ``hw_configs/sweeps/sparse_fabric.yaml`` through ``archsim.dse.run_sweep`` into
``--out``/sweep (cached there: a second run only redraws), or reads the results of that sweep
from ``--results DIR``. Each trace of ``traces/sparse`` (target sparsity s, blocks of B x B) runs
with ``fabric.execution: sparse`` and ``dense`` on the same hardware, zeros skipped or gated;
for every (s, B, SCUs, zero handling, DRAM) the sparse run is paired with the dense run of the
same zero handling (zeros gated: the speed-up of weight sparsity alone, bounded by ``1 / (1 -
b)``; zeros skipped: what block-sparse storage adds to units that skip zero weights anyway) and
with the dense run that gates zeros (a dense accelerator: weight and activation sparsity
together), into

* the steady-state speed-up: dense median step time / sparse median step time (the report's
  ``latency_s.p50``; two thirds of the steps of a trace are sparse, so the median step of the
  sparse run is a sparse one);
* the whole-run speed-up: dense run time / sparse run time (``totals.cycles / clock_hz``; the
  dense warm-up epoch included);
* the ideal of the whole run, the report's ``fabric.ideal_speedup``: ``1 / (1 - b)`` at the
  run's block sparsity b (its share of the products' block slots not in force, padding
  included, warm-up included; close to the weight sparsity w, ``fabric.weight_sparsity``, the
  share of the dense MACs on blocks not in force), and ``1 / (1 - s)`` at the target (the ideal
  of a sparse step, above that of the sparse steps when a layer stays dense).

It prints one row per pair (the SCU, DRAM, IMC and DIN figures are the sparse run's) and draws
into ``--out`` (PNG and SVG):

* ``speedup_vs_weight_sparsity`` and ``speedup_vs_target_sparsity``: the steady-state speed-up
  of weight sparsity alone (zeros gated) and of the fabric as configured (zeros skipped) over a
  dense accelerator against sparsity, one colour per block size, with the ideal ``1 / (1 - x)`` and the 3-5x band of the
  fabric's claim, one panel per DRAM part (columns) and SCU count (rows);
* ``utilisation_vs_sparsity``: SCU utilisation U (non-zero MACs / MAC slots) over the units'
  busy cycles (mean) and over the products' time (mean and min over units) against the target
  sparsity, one colour per block size, panels as above.

The table is also written as ``pairs.csv`` and ``pairs.json``. The output is deterministic (the
sweep is, and the figures are drawn under a fixed style). The full sweep is 128 points, about 11
minutes on 2 cores; ``--quick`` runs only B = 8 on HBM2 with 16 SCUs (16 points)
into ``--out``/quick, sharing the full sweep's cache. Exit status: 0; 1 when a point failed or a
pair is incomplete (the rest is still drawn), or the sweep could not run; 2 with one line on bad
arguments.

Usage: python scripts/fabric_figures.py [--out runs/fabric_figures] [--results DIR]
           [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import matplotlib

matplotlib.use("Agg")

import matplotlib.style  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from archsim.dse import format_summary, run_sweep  # noqa: E402
from archsim.errors import ArchsimError  # noqa: E402
from archsim.report.plots import STYLE, save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "hw_configs" / "sweeps" / "sparse_fabric.yaml"

#: The subset of --quick: B = 8, HBM2, 16 SCUs.
QUICK_BLOCK = 8
QUICK_DRAM = "hbm2"
QUICK_UNITS = 16

#: The fabric's claimed speed-up band.
CLAIM = (3.0, 5.0)

#: Result columns every row of the sweep must have.
REQUIRED = (
    "trace", "status", "fabric.execution", "fabric.dram.part", "latency_s.p50",
    "totals.cycles", "clock_hz", "fabric.weight_sparsity",
)

_TRACE = re.compile(r"_s(?P<s>[0-9]*\.?[0-9]+)_b(?P<b>[0-9]+)\.jsonl(\.gz)?$")
_UNITS = "fabric.scu.units"
_ZERO = "fabric.scu.zero_handling"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Pair:
    """One (target sparsity, block, SCUs, DRAM) with its sparse and dense runs compared."""

    target_sparsity: float
    block: int
    units: int | None
    dram: str
    zero_handling: str
    weight_sparsity: float
    block_sparsity: float | None
    speedup_steady: float
    speedup_run: float
    speedup_vs_gated_steady: float | None
    speedup_vs_gated_run: float | None
    ideal: float
    ideal_target: float
    u_busy_mean: float | None
    u_busy_min: float | None
    u_span_mean: float | None
    u_span_min: float | None
    dram_bandwidth_fraction: float | None
    row_hit_rate: float | None
    metadata_fraction: float | None
    imbalance_balanced_mean: float | None
    imbalance_balanced_max: float | None
    imbalance_static_mean: float | None
    imbalance_static_max: float | None
    zero_skip_share: float | None
    ideal_nonzero: float | None
    sparse_step_p50_s: float
    dense_step_p50_s: float
    sparse_run_s: float
    dense_run_s: float


# --------------------------------------------------------------------------------------------
# Sweeps and results
# --------------------------------------------------------------------------------------------


def _keep(axis: Mapping[str, Any]) -> Mapping[str, Any]:
    """``axis`` with only the --quick levels of the SCU count and the DRAM."""
    if "zip" in axis:
        entries = axis["zip"]
        units = [e for e in entries if e.get("path") == _UNITS]
        if not units:
            return axis
        keep = [i for i, v in enumerate(units[0]["values"]) if v == QUICK_UNITS]
        return {"zip": [{**e, "values": [e["values"][i] for i in keep]} for e in entries]}
    if axis.get("path") == _UNITS:
        return {**axis, "values": [v for v in axis["values"] if v == QUICK_UNITS]}
    if axis.get("path") == "fabric.dram":
        def name(value: Any) -> str:
            return value.get("name", "") if isinstance(value, Mapping) else Path(value).stem
        return {**axis, "values": [v for v in axis["values"] if name(v) == QUICK_DRAM]}
    return axis


def quick_spec(spec: Path, folder: Path) -> Path:
    """Write the --quick subset of ``spec`` (paths made absolute) into ``folder``; its path.
    JSON is YAML: the spec loader reads it as any spec."""
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    here = spec.parent
    traces = [t for t in data["traces"] if _trace_key(t)[1] == QUICK_BLOCK]
    data = {
        **data,
        "name": f"{data['name']}_quick",
        "config": str((here / data["config"]).resolve()),
        "traces": [str((here / t).resolve()) for t in traces],
        "axes": [_keep(axis) for axis in data.get("axes", [])],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def _trace_key(trace: str) -> tuple[float, int]:
    """(target sparsity, block side) from ``.../mlp_s0.75_b8.jsonl.gz``."""
    match = _TRACE.search(trace)
    if match is None:
        raise ArchsimError(f"trace {trace!r}: expected a name ending in _s<S>_b<B>.jsonl.gz")
    return float(match["s"]), int(match["b"])


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of the sweep results in ``folder`` (``results.jsonl``), checked."""
    results, meta = folder / "results.jsonl", folder / "sweep.json"
    if not results.is_file() or not meta.is_file():
        raise ArchsimError(f"{folder}: no sweep results (results.jsonl and sweep.json)")
    try:
        sweep = json.loads(meta.read_text(encoding="utf-8"))
        rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError) as error:
        raise ArchsimError(f"{folder}: cannot read the sweep results: {error}") from None
    columns = sweep.get("columns", []) if isinstance(sweep, Mapping) else []
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ArchsimError(
            f"{folder}: not the results of a sparse_fabric sweep (no column "
            f"{', '.join(missing)})"
        )
    if not sweep.get("complete", False):
        print(f"warning: {folder}: the sweep is not complete ({len(rows)} of "
              f"{sweep.get('points')} points)", file=sys.stderr)
    return rows


def _get(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def pair_rows(
    rows: Sequence[Mapping[str, Any]], quick: bool
) -> tuple[list[Pair], list[str]]:
    """The sparse/dense pairs of ``rows`` (sorted by DRAM, SCUs, B, s) and the problems met."""
    problems: list[str] = []
    groups: dict[tuple[float, int, int | None, str], dict[tuple[str, str], Mapping[str, Any]]] = {}
    drams: list[str] = []
    for row in rows:
        s, block = _trace_key(row["trace"])
        if row.get("status") != "ok":
            problems.append(f"point {row['point']} ({row['trace']}, "
                            f"{row.get('fabric.execution')}): {row.get('error')}")
            continue
        units = row.get(_UNITS)
        dram = str(row["fabric.dram.part"])
        if quick and (block != QUICK_BLOCK or dram != QUICK_DRAM
                      or units not in (None, QUICK_UNITS)):
            continue
        if dram not in drams:
            drams.append(dram)
        run = (row["fabric.execution"], str(row.get(_ZERO) or "skip"))
        group = groups.setdefault((s, block, units, dram), {})
        if run in group:
            problems.append(f"point {row['point']}: a second {run[0]} run ({run[1]}) of "
                            f"s={s:g} B={block} units={units} dram={dram}")
        group[run] = row
    pairs = []
    for key in sorted(groups, key=lambda k: (drams.index(k[3]), k[2] or 0, k[1], k[0])):
        s, block, units, dram = key
        group = groups[key]
        for zero in ("skip", "gate"):
            sparse, dense = group.get(("sparse", zero)), group.get(("dense", zero))
            if sparse is None and dense is None:
                continue
            if sparse is None or dense is None:
                problems.append(f"s={s:g} B={block} units={units} dram={dram} ({zero}): only "
                                f"one of sparse and dense ran; no speed-up")
                continue
            pairs.append(_pair(key, zero, sparse, dense, group.get(("dense", "gate"))))
    return pairs, problems


def _run_s(row: Mapping[str, Any]) -> float:
    return float(row["totals.cycles"]) / float(row["clock_hz"])


def _pair(
    key: tuple[float, int, int | None, str],
    handling: str,
    sparse: Mapping[str, Any],
    dense: Mapping[str, Any],
    gated: Mapping[str, Any] | None,
) -> Pair:
    """The sparse run against the dense one with the same zero handling (weight sparsity
    alone) and against the dense run that gates zeros (a dense accelerator)."""
    s, block, units, dram = key
    w = float(sparse["fabric.weight_sparsity"])
    b = _get(sparse, "fabric.block_sparsity")
    ideal = _get(sparse, "fabric.ideal_speedup") or 1.0 / (1.0 - (w if b is None else b))
    scu, din = "fabric.scu.utilisation_", "fabric.din.imbalance."
    macs = "fabric.macs_per_step."
    dense_macs, performed = _get(sparse, macs + "macs_dense"), _get(sparse, macs + "macs_performed")
    zero = _get(sparse, macs + "macs_skipped_zero")
    return Pair(
        target_sparsity=s, block=block, units=units, dram=dram, zero_handling=handling,
        weight_sparsity=w,
        block_sparsity=b,
        speedup_steady=float(dense["latency_s.p50"]) / float(sparse["latency_s.p50"]),
        speedup_run=_run_s(dense) / _run_s(sparse),
        speedup_vs_gated_steady=(
            None if gated is None
            else float(gated["latency_s.p50"]) / float(sparse["latency_s.p50"])
        ),
        speedup_vs_gated_run=None if gated is None else _run_s(gated) / _run_s(sparse),
        ideal=ideal, ideal_target=1.0 / (1.0 - s),
        u_busy_mean=_get(sparse, scu + "busy.mean"), u_busy_min=_get(sparse, scu + "busy.min"),
        u_span_mean=_get(sparse, scu + "span.mean"), u_span_min=_get(sparse, scu + "span.min"),
        dram_bandwidth_fraction=_get(sparse, "fabric.dram.bandwidth_fraction"),
        row_hit_rate=_get(sparse, "fabric.dram.row_hit_rate"),
        metadata_fraction=_get(sparse, "fabric.imc.metadata_fraction"),
        imbalance_balanced_mean=_get(sparse, din + "balanced.mean"),
        imbalance_balanced_max=_get(sparse, din + "balanced.max"),
        imbalance_static_mean=_get(sparse, din + "static.mean"),
        imbalance_static_max=_get(sparse, din + "static.max"),
        zero_skip_share=None if dense_macs is None or zero is None else zero / dense_macs,
        ideal_nonzero=None if dense_macs is None or not performed else dense_macs / performed,
        sparse_step_p50_s=float(sparse["latency_s.p50"]),
        dense_step_p50_s=float(dense["latency_s.p50"]),
        sparse_run_s=_run_s(sparse), dense_run_s=_run_s(dense),
    )


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

_HEADER = (
    ("s", 5), ("B", 3), ("SCUs", 4), ("dram", 9), ("zeros", 5), ("w", 5), ("b", 5),
    ("steady", 6), ("run", 5), ("acc_st", 6), ("acc_run", 7),
    ("ideal", 6), ("ideal_s", 7), ("Ubusy", 6), ("Ubmin", 6), ("Uspan", 6), ("Usmin", 6),
    ("DRAMbw", 6), ("rowhit", 6), ("meta", 6), ("imb_bal", 11), ("imb_static", 11),
    ("zskip", 5), ("ideal_nz", 8),
)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(pairs: Sequence[Pair]) -> str:
    """The pairs as a fixed-width text table."""
    lines = [
        "speed-ups over the dense run (dense weights) with the same zero handling (zeros gated: "
        "weight sparsity alone; skipped: the gain of block-sparse storage over units that "
        "skip zero weights anyway): steady = dense / sparse median step time, run = dense / "
        "sparse run time; acc_st, acc_run: the same over the dense run that gates zeros (a "
        "dense accelerator); "
        "w, b = the run's weight and block sparsity (warm-up included); ideal = 1/(1-b) (the "
        "report's ideal_speedup), ideal_s = 1/(1-s) at the target s; "
        "U (of the sparse run): busy mean/min, over the products' time (span) mean/min; "
        "imbalance mean/max under the balanced and the static rule; zskip = share of the "
        "dense MACs skipped for a zero operand and ideal_nz = dense MACs / MACs performed "
        "(the sparse run's, over the whole run: the compute-bound ideal with zero skipping)",
        " ".join(f"{name:>{width}}" for name, width in _HEADER),
    ]
    for p in pairs:
        cells = [
            f"{p.target_sparsity:g}", str(p.block), "-" if p.units is None else str(p.units),
            p.dram, p.zero_handling, f"{p.weight_sparsity:.3f}", _num(p.block_sparsity, ".3f"),
            f"{p.speedup_steady:.2f}", f"{p.speedup_run:.2f}",
            _num(p.speedup_vs_gated_steady, ".2f"), _num(p.speedup_vs_gated_run, ".2f"),
            f"{p.ideal:.2f}", f"{p.ideal_target:.2f}",
            _num(p.u_busy_mean, ".3f"), _num(p.u_busy_min, ".3f"), _num(p.u_span_mean, ".3f"),
            _num(p.u_span_min, ".3f"), _num(p.dram_bandwidth_fraction, ".3f"),
            _num(p.row_hit_rate, ".3f"), _num(p.metadata_fraction, ".3f"),
            f"{_num(p.imbalance_balanced_mean, '.3f')}/{_num(p.imbalance_balanced_max, '.2f')}",
            f"{_num(p.imbalance_static_mean, '.3f')}/{_num(p.imbalance_static_max, '.2f')}",
            _num(p.zero_skip_share, ".3f"), _num(p.ideal_nonzero, ".2f"),
        ]
        lines.append(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, _HEADER)))
    return "\n".join(lines)


def checks(pairs: Sequence[Pair]) -> list[str]:
    """Results outside what the model allows, or beyond the weight-only ideal (lines to
    report)."""
    notes = []
    for name, ideal, what in (("speedup_run", "ideal", "whole-run speed-up above 1/(1-b)"),
                              ("speedup_steady", "ideal_target",
                               "steady-state speed-up above 1/(1-s)")):
        over = [p for p in pairs if getattr(p, name) > getattr(p, ideal) * 1.001]
        if over:
            worst = max(over, key=lambda p: getattr(p, name) / getattr(p, ideal))
            notes.append(
                f"{len(over)} of {len(pairs)} pairs have a {what} (most: "
                f"{getattr(worst, name):.2f} against {getattr(worst, ideal):.2f} at "
                f"s={worst.target_sparsity:g} B={worst.block} units={worst.units} "
                f"dram={worst.dram}, zeros {worst.zero_handling}): beyond weight sparsity "
                "alone; a bug to report"
            )
    for p in pairs:
        where = f"s={p.target_sparsity:g} B={p.block} units={p.units} dram={p.dram}"
        if p.ideal_nonzero is not None and p.speedup_run > max(p.ideal, p.ideal_nonzero) * 1.001:
            notes.append(f"{where}: whole-run speed-up {p.speedup_run:.2f} above both 1/(1-b) "
                         f"= {p.ideal:.2f} and ideal_nz = {_num(p.ideal_nonzero, '.2f')}")
        for name in ("u_busy_mean", "u_busy_min", "u_span_mean", "u_span_min"):
            value = getattr(p, name)
            if value is not None and not 0.0 <= value <= 1.0 + 1e-9:
                notes.append(f"{where}: {name} = {value:.4f} outside [0, 1]")
    return notes


def write_tables(pairs: Sequence[Pair], out: Path) -> list[Path]:
    """``pairs.json`` and ``pairs.csv`` in ``out``."""
    records = [asdict(p) for p in pairs]
    names = list(Pair.__dataclass_fields__)
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_csv = out / "pairs.json", out / "pairs.csv"
    as_json.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    lines = [",".join(names)]
    for record in records:
        lines.append(",".join("" if record[n] is None else repr(record[n])
                              if isinstance(record[n], float) else str(record[n])
                              for n in names))
    as_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [as_json, as_csv]


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@contextmanager
def _style() -> Iterator[None]:
    """Matplotlib's defaults plus archsim's plot style, whatever the user's matplotlibrc."""
    with matplotlib.style.context("default"), matplotlib.rc_context(dict(STYLE)):
        yield


def _panels(pairs: Sequence[Pair]) -> tuple[list[int | None], list[str]]:
    units = sorted({p.units for p in pairs}, key=lambda u: u or 0)
    drams = list(dict.fromkeys(p.dram for p in pairs))
    return units, drams


def _grid(units: Sequence[int | None], drams: Sequence[str]) -> tuple[Figure, Any]:
    figure = Figure(figsize=(4.6 * len(drams), 3.4 * len(units)), layout="constrained")
    axes = figure.subplots(len(units), len(drams), squeeze=False, sharex=True)
    for i, u in enumerate(units):
        for j, dram in enumerate(drams):
            axes[i][j].set_title(f"{dram}, {u if u is not None else 'base'} SCUs")
            axes[i][j].grid(True, alpha=0.3)
    return figure, axes


def _colours(pairs: Sequence[Pair]) -> dict[int, Any]:
    cmap = matplotlib.colormaps["tab10"]
    return {b: cmap(i) for i, b in enumerate(sorted({p.block for p in pairs}))}


def speedup_figure(pairs: Sequence[Pair], x_name: str) -> Figure:
    """Speed-up against sparsity (``weight_sparsity`` or ``target_sparsity``)."""
    units, drams = _panels(pairs)
    colours = _colours(pairs)
    figure, axes = _grid(units, drams)
    top = max(max(p.speedup_steady, p.speedup_vs_gated_steady or 0.0) for p in pairs)
    x_max = max(getattr(p, x_name) for p in pairs)
    curve_x = [x_max * 1.02 * k / 200 for k in range(201)]
    label = ("weight sparsity w of the run (warm-up included)" if x_name == "weight_sparsity"
             else "target sparsity s of the sparse epochs")
    for i, u in enumerate(units):
        for j, dram in enumerate(drams):
            ax = axes[i][j]
            ax.axhspan(*CLAIM, color="tab:green", alpha=0.12, label="claim: 3-5x")
            ax.plot(curve_x, [1 / (1 - x) for x in curve_x], color="black", linestyle=":",
                    label="ideal 1/(1-x)")
            ax.axhline(1.0, color="grey", linewidth=0.8)
            for block, colour in colours.items():
                for handling, value, linestyle, marker, text in (
                    ("gate", "speedup_steady", "-", "o", "weight sparsity alone (zeros gated)"),
                    ("skip", "speedup_vs_gated_steady", "--", "s",
                     "zeros skipped, over a dense accelerator"),
                ):
                    line = sorted(
                        (p for p in pairs if p.units == u and p.dram == dram
                         and p.block == block and p.zero_handling == handling
                         and getattr(p, value) is not None),
                        key=lambda p: getattr(p, x_name),
                    )
                    if line:
                        ax.plot([getattr(p, x_name) for p in line],
                                [getattr(p, value) for p in line], color=colour,
                                marker=marker, linestyle=linestyle, label=f"B={block}: {text}")
            ax.set_ylim(0, max(top, CLAIM[1]) * 1.15)
            ax.set_xlim(0, x_max * 1.02 if x_max > 0 else 1)
            if i == len(units) - 1:
                ax.set_xlabel(label)
            if j == 0:
                ax.set_ylabel("speed-up over dense")
    axes[0][0].legend(fontsize="small", loc="upper left")
    figure.suptitle(
        "Block-sparse training on the fabric: steady-state speed-up (median step) over dense"
    )
    return figure


def utilisation_figure(pairs: Sequence[Pair]) -> Figure:
    """SCU utilisation against the target sparsity."""
    units, drams = _panels(pairs)
    colours = _colours(pairs)
    figure, axes = _grid(units, drams)
    styles = (("u_busy_mean", "-", "o", "busy mean"),
              ("u_span_mean", "--", "s", "over the products' time, mean"),
              ("u_span_min", ":", "^", "over the products' time, min"))
    for i, u in enumerate(units):
        for j, dram in enumerate(drams):
            ax = axes[i][j]
            ax.axhline(100.0, color="grey", linewidth=0.8)
            for block, colour in colours.items():
                line = sorted((p for p in pairs if p.units == u and p.dram == dram
                               and p.block == block), key=lambda p: p.target_sparsity)
                for name, linestyle, marker, text in styles:
                    points = [(p.target_sparsity, getattr(p, name)) for p in line
                              if getattr(p, name) is not None]
                    if points:
                        ax.plot([x for x, _ in points], [100 * y for _, y in points],
                                color=colour, linestyle=linestyle, marker=marker,
                                label=f"B={block}: U {text}")
            ax.set_ylim(0, 105)
            if i == len(units) - 1:
                ax.set_xlabel("target sparsity s of the sparse epochs")
            if j == 0:
                ax.set_ylabel("SCU utilisation U (%)")
    axes[0][0].legend(fontsize="small", loc="lower left")
    figure.suptitle("SCU utilisation (non-zero MACs / MAC slots) of the sparse runs")
    return figure


def draw(pairs: Sequence[Pair], out: Path) -> list[Path]:
    """Every figure into ``out``; the paths written."""
    written: list[Path] = []
    # Utilisation of the fabric as configured (zeros skipped) when the sweep has it.
    skipping = [p for p in pairs if p.zero_handling == "skip"] or list(pairs)
    with _style():
        for x_name, stem in (("weight_sparsity", "speedup_vs_weight_sparsity"),
                             ("target_sparsity", "speedup_vs_target_sparsity")):
            written += save_figure(speedup_figure(pairs, x_name), out / stem)
        written += save_figure(utilisation_figure(skipping), out / "utilisation_vs_sparsity")
    return written


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or read) the sweep, print the table, draw the figures; the exit status."""
    parser = _Parser(prog="fabric_figures.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/fabric_figures",
                        help="figures and tables (and the sweep, unless --results)")
    parser.add_argument("--results", default=None,
                        help="the folder of a finished sparse_fabric sweep: draw from it, "
                        "simulate nothing")
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--quick", action="store_true",
                        help=f"only B={QUICK_BLOCK}, {QUICK_DRAM}, {QUICK_UNITS} SCUs")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers: expected an integer >= 1, got {args.workers}")
    if args.results is not None and args.workers is not None:
        parser.error("--workers: nothing is simulated with --results")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out: {out} exists and is not a folder")
    if args.results is not None and not Path(args.results).is_dir():
        parser.error(f"--results: {args.results}: not a folder")
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.results is not None:
        folder = Path(args.results)
        try:
            rows = read_rows(folder)
        except ArchsimError as error:
            parser.error(f"--results: {error}")
    try:
        if args.results is None:
            folder = out / "sweep"
            spec = SPEC
            if args.quick:  # its own tables, the full sweep's cache
                folder = out / "quick" / "sweep"
                spec = quick_spec(SPEC, folder)
            summary = run_sweep(spec, folder, workers=args.workers, progress=False,
                                cache_dir=out / "sweep" / "cache")
            print(format_summary(summary))
            rows = read_rows(folder)
        pairs, problems = pair_rows(rows, args.quick)
        if not pairs:
            raise ArchsimError(f"{folder}: no sparse/dense pair to compare")
        print(table(pairs))
        for note in checks(pairs):
            print(f"check: {note}")
        figures = out / "quick" if args.quick else out
        written = write_tables(pairs, figures) + draw(pairs, figures)
    except ArchsimError as error:
        print(f"fabric_figures.py: error: {error}", file=sys.stderr)
        return 1
    print("wrote " + ", ".join(str(p) for p in written))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
