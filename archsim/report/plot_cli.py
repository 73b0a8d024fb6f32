"""What ``archsim plot`` does: read results, pick the columns, draw, save (stage: report).

:func:`plot_command` is the whole command: the CLI parses the arguments, calls it and prints the
paths it returns. :func:`build_plot` is the same without saving. What each kind reads:

=============  ==========================================  =====================================
kind           RESULTS                                     columns
=============  ==========================================  =====================================
line           sweep results (or a run's report.json)      ``x`` parameter, ``y`` metric, lines
                                                           split by ``series``
pareto         sweep results                               ``x`` (default latency) against ``y``
                                                           (default energy), colours by
                                                           ``series``; front from the
                                                           ``pareto`` column if present
breakdown      sweep results or a report.json              stacks the columns below ``y``
                                                           (default per-component energy), one
                                                           bar per value of ``x`` (default: the
                                                           swept parameter, else ``point``,
                                                           bars named by parameter values)
utilization    sweep results or a report.json              the columns below ``y`` (default
                                                           ``per_inference.utilization``), one
                                                           bar group per value of ``x``
heatmap        a run's report.json or ``archsim noc``'s    the NoC section; no columns
timeline       a Chrome Trace Event JSON file              a row per thread name, the busy
                                                           share of each time bin coloured by
                                                           the event field ``series`` (default
                                                           name); the title says what a capped
                                                           or windowed archsim file leaves out
=============  ==========================================  =====================================

A directory stands for the results tables it holds, or else for its ``report.json`` (what
``archsim run --out DIR`` writes). Design points whose ``status`` is not ok are left out (and
logged). Errors in the arguments
or the files are :class:`ArchsimError` naming the column or file and what exists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from archsim.errors import ArchsimError
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.report.plots import (
    FORMATS,
    energy_breakdown,
    gantt,
    metric_lines,
    noc_heatmap,
    pareto_scatter,
    save_figure,
    utilization_bars,
)
from archsim.report.results import (
    PARETO_COLUMN,
    REPORT_FILE,
    RESULTS_FILES,
    ResultsTable,
    chrome_trace_tracks,
    in_folder,
    noc_link_loads,
    read_json,
    read_results,
    trace_coverage,
)
from archsim.stats.pareto import nondominated

__all__ = ["DEFAULT_Y", "KINDS", "build_plot", "default_kind", "pareto_mask", "plot_command"]

log = logging.getLogger(__name__)

#: The kinds of plot, as ``--kind`` takes them.
KINDS = ("line", "pareto", "breakdown", "utilization", "heatmap", "timeline")

#: ``y`` when not given, per kind (None: ``y`` is required, or not used).
DEFAULT_Y = {
    "line": None,
    "pareto": "per_inference.energy_j",
    "breakdown": "per_inference.energy_breakdown_j",
    "utilization": "per_inference.utilization",
}
_DEFAULT_PARETO_X = "per_inference.latency_s"
#: What each kind accepts of x, y and series.
_TAKES = {
    "line": ("x", "y", "series"),
    "pareto": ("x", "y", "series"),
    "breakdown": ("x", "y"),
    "utilization": ("x", "y"),
    "heatmap": (),
    "timeline": ("series",),
}


def plot_command(
    results_path: str | os.PathLike[str],
    *,
    x: str | None = None,
    y: str | None = None,
    series: str | None = None,
    kind: str = "line",
    out: str | os.PathLike[str],
    formats: Sequence[str] = FORMATS,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Path]:
    """Draw one plot of ``results_path`` and write it as ``out.png``/``out.svg``.

    Args:
        results_path: what the kind reads (see the module table): sweep results
            (``results.csv``, ``results.jsonl`` or their directory), a run's ``report.json``
            (or the ``archsim run --out`` directory holding it), an ``archsim noc`` report,
            or a Chrome trace.
        x: the parameter column (``line``, ``pareto``, ``breakdown``, ``utilization``).
        y: the metric column (``line``, ``pareto``) or the prefix of per-component columns
            (``breakdown``, ``utilization``); defaults in :data:`DEFAULT_Y`.
        series: the column whose values split the points into lines (``line``) or colours
            (``pareto``); for ``timeline``, the event field that colours the spans (default
            ``name``; ``cat`` for the category).
        kind: one of :data:`KINDS`.
        out: the output path without suffix (a ``.png``/``.svg`` suffix is replaced).
        formats: any of ``png``, ``svg``.
        limits: size budgets (a heatmap rebuilds a report's NoC: ``limits.routers``).

    Returns:
        The files written, in ``formats`` order.

    Raises:
        ArchsimError: an unknown kind, column or format, a column that is not numeric, an
            argument the kind does not take, or a missing or malformed file.
    """
    figure = build_plot(results_path, x=x, y=y, series=series, kind=kind, limits=limits)
    return save_figure(figure, out, formats)


#: Most components, and most bars, a bar chart draws (more is unreadable, and slow to draw).
MAX_CATEGORIES = 200


def default_kind(
    results_path: str | os.PathLike[str], x: str | None = None, y: str | None = None
) -> str:
    """The kind of plot ``archsim plot`` draws when none is asked for: ``timeline`` for a Chrome
    trace, ``heatmap`` for the report of a synthetic NoC run, ``line`` for sweep results given
    ``x`` and ``y``, else ``breakdown`` (a run's energy by component, or a sweep's per point)."""
    path = in_folder(results_path, (*RESULTS_FILES, REPORT_FILE))
    if path.suffix == ".json" and path.is_file():
        document = read_json(path)
        if isinstance(document, dict) and document.get("schema") == "archsim-report":
            return "heatmap" if document.get("mode") == "traffic" else "breakdown"
        return "timeline"
    return "line" if x is not None and y is not None else "breakdown"


def build_plot(
    results_path: str | os.PathLike[str],
    *,
    x: str | None = None,
    y: str | None = None,
    series: str | None = None,
    kind: str = "line",
    limits: Limits = DEFAULT_LIMITS,
) -> Figure:
    """The figure :func:`plot_command` saves (same arguments, same errors)."""
    if kind not in KINDS:
        raise ArchsimError(f"--kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    given = {"x": x, "y": y, "series": series}
    extra = [
        f"--{name}" for name, value in given.items()
        if value is not None and name not in _TAKES[kind]
    ]
    if extra:
        takes = ", ".join(f"--{name}" for name in _TAKES[kind]) or "no column arguments"
        raise ArchsimError(f"--kind {kind} takes {takes}, got {', '.join(extra)}")
    if kind == "heatmap":
        results_path = in_folder(results_path, (REPORT_FILE,))
        loads = noc_link_loads(read_json(results_path), source=str(results_path), limits=limits)
        return noc_heatmap(loads.coords, loads.links, loads.utilization,
                           topology=loads.topology, tile_nodes=loads.tile_nodes)
    if kind == "timeline":
        trace = read_json(results_path)
        tracks = chrome_trace_tracks(trace, source=str(results_path), label=series or "name")
        coverage = trace_coverage(trace)  # a capped or windowed file is not the whole run
        title = f"timeline of {Path(results_path).name}" + (f" ({coverage})" if coverage else "")
        return gantt(tracks, title=title)
    table = read_results(results_path).succeeded()
    if kind == "line":
        return _line(table, x, y, series)
    if kind == "pareto":
        return _pareto(table, x or _DEFAULT_PARETO_X, y or DEFAULT_Y["pareto"], series)
    return _bars(table, kind, x, y or DEFAULT_Y[kind])


def _line(table: ResultsTable, x: str | None, y: str | None, series: str | None) -> Figure:
    if x is None or y is None:
        missing = " and ".join(f"--{n}" for n, v in (("x", x), ("y", y)) if v is None)
        raise ArchsimError(
            f"--kind line needs {missing} (parameters in {table.source}: "
            f"{', '.join(table.parameters) or 'none swept'})"
        )
    _numeric_parameter(table, x)  # errors name the whole table, not one series of it
    table.numeric(y)
    groups = table.groups(series) if series else {"": table}
    lines = {}
    for value, rows in groups.items():
        xs = _numeric_parameter(rows, x)
        _check_unique(rows, x, xs, series, value)
        lines[str(value)] = (xs, rows.numeric(y))
    return metric_lines(lines, x=x, y=y, legend_title=series)


def _numeric_parameter(table: ResultsTable, x: str) -> np.ndarray:
    try:
        return table.numeric(x)
    except ArchsimError as error:
        if x in table.columns:
            raise ArchsimError(f"{error}; a non-numeric parameter can be a --series") from None
        raise


def _check_unique(
    table: ResultsTable, x: str, xs: np.ndarray, series: str | None, value: Any
) -> None:
    """Refuse two points at one x on one line: the sweep varied something else as well."""
    first: dict[float, int] = {}
    for i, v in enumerate(xs):
        if v not in first:
            first[v] = i
            continue
        pair = table.select([j in (first[v], i) for j in range(len(table))])
        candidates = [c for c in (*table.parameters, "trace", "seed") if c not in (x, series)]
        differ = pair.varying(candidates)
        where = f" in series {series}={value}" if series else ""
        why = (
            f"they differ in {', '.join(differ)}: pass one as --series"
            if differ else "they are the same design point twice"
        )
        raise ArchsimError(
            f"{table.source}: {table.row_name(first[v])} and {table.row_name(i)} both have "
            f"{x}={table.values(x)[i]}{where}; {why}"
        )


def _names(table: ResultsTable, x: str | None = None) -> list[str]:
    """Short names of the rows, for tick labels and annotations.

    With ``x``: its values, and where they repeat, the other swept parameters' values after
    them (``"4, rows=64"``). Without: every swept parameter's value (``"bits=4, rows=64"``).
    The point id is added where that does not tell two rows apart, and is the name when
    nothing is swept.
    """
    head = [str(v) for v in table.values(x)] if x is not None else []
    if head and len(set(head)) == len(head):
        return head
    others = [p for p in table.parameters if p != x]
    names = [
        ", ".join([*head[i:i + 1], *(f"{p.rsplit('.', 1)[-1]}={row.get(p)}" for p in others)])
        for i, row in enumerate(table.rows)
    ]
    if all(names) and len(set(names)) == len(names):
        return names
    ids = _ids(table)
    return [f"{name} ({ids[i]})" if name else ids[i] for i, name in enumerate(names)]


def _ids(table: ResultsTable) -> list[str]:
    """Per row, its design point's id (its 1-based row number without a ``point`` column)."""
    if "point" in table.columns:
        return [str(v) for v in table.values("point")]
    return [str(i + 1) for i in range(len(table))]


def pareto_mask(xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """Per point, whether no other point is at least as good in both metrics and better in
    one (both minimised); identical points are both kept.

    Used only for results without a ``pareto`` column; the sweep writes that column, from the
    DSE stage's front over the same dominance rule (:func:`archsim.stats.pareto.nondominated`).
    """
    return nondominated(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))


def _pareto(table: ResultsTable, x: str, y: str, series: str | None) -> Figure:
    xs, ys = table.numeric(x), table.numeric(y)
    if PARETO_COLUMN in table.columns:
        log.info("%s: marking the front of its %r column", table.source, PARETO_COLUMN)
        front = [_truth(v, table, i) for i, v in enumerate(table.values(PARETO_COLUMN))]
    else:
        log.info("%s: no %r column; computing the front of %s and %s (both minimised)",
                 table.source, PARETO_COLUMN, x, y)
        front = list(pareto_mask(xs, ys))
    groups = [str(v) for v in table.values(series)] if series else None
    return pareto_scatter(xs, ys, front, x=x, y=y, labels=_names(table), groups=groups,
                          legend_title=series)


def _truth(value: Any, table: ResultsTable, row: int) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ArchsimError(
        f"{table.source}: column {PARETO_COLUMN!r}: {table.row_name(row)} has {value!r}, "
        "expected true or false"
    )


def _bars(table: ResultsTable, kind: str, x: str | None, y: str) -> Figure:
    try:
        components = table.under(y)
    except ArchsimError as error:
        if Path(table.source).suffix == ".json":
            raise
        raise ArchsimError(
            f"{error}; a sweep keeps only the metrics its spec lists: add {y}.* to them"
        ) from None
    if len(components) > MAX_CATEGORIES:
        raise ArchsimError(
            f"{table.source}: {y} has {len(components):,} components, more than a bar chart "
            f"can show ({MAX_CATEGORIES}); plot a narrower prefix with --y"
        )
    if len(table) > MAX_CATEGORIES:
        raise ArchsimError(
            f"{table.source}: {len(table):,} rows, more bars than a chart can show "
            f"({MAX_CATEGORIES}); plot them as a line (--kind line)"
        )
    if x is None:
        params = table.parameters
        x = params[0] if len(params) == 1 else "point"
    x_title: str | None
    if x == "point" and len(table) == 1 and "config_name" in table.columns:
        labels, x_title = [str(table.values("config_name")[0])], None  # one run: its name
    elif x == "point":
        if "point" in table.columns:
            table = table.sorted_by("point")
        labels = _names(table)  # the swept values say more than the point ids
        x_title = "design point" if "point" in table.columns else "row"
    else:
        table = table.sorted_by(x)
        labels, x_title = _names(table, x), x
    columns = {c: table.numeric(f"{y}.{c}") for c in components}
    points = [{c: float(values[i]) for c, values in columns.items()} for i in range(len(table))]
    if kind == "breakdown":
        return energy_breakdown(points, labels, y=y, x=x_title)
    if len(points) == 1:
        return utilization_bars(points[0], y=y, title=f"{y} by component: {labels[0]}")
    return utilization_bars(dict(zip(labels, points)), y=y, legend_title=x_title)
