"""Figures of runs and sweeps (stage: report).

Every function here takes plain data (numbers, lists, dicts; see :mod:`archsim.report.results`
for reading them from files) and returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API: no pyplot, no global figure or style state. Nothing is drawn on screen;
:func:`save_figure` writes PNG and SVG atomically.

The figures are deterministic: each is built under a fixed style (matplotlib's defaults plus
:data:`STYLE`, whatever the user's matplotlibrc says), the layouts that need randomness use a
fixed seed, and :func:`save_figure` fixes the SVG id salt and leaves the date out, so the same
data gives byte-identical files.

Axis labels carry units, derived from the metric's name (:func:`metric_unit`): ``_s`` seconds,
``_j`` joules, ``_per_s`` per second, utilization fractions drawn as %, and for swept config
paths the unit the config schema declares. SI values are drawn with an engineering prefix
chosen from the data (``latency_s`` in µs).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
import networkx as nx
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import ArrowStyle, Circle, FancyArrowPatch, Patch

from archsim.errors import ArchsimError
from archsim.files import write_atomically
from archsim.hw.noc.topology import TOPOLOGIES
from archsim.report.results import Span, chrome_trace_tracks, config_unit

__all__ = [
    "FORMATS",
    "GANTT_BINS",
    "STYLE",
    "axis_scale",
    "busy_fraction",
    "energy_breakdown",
    "gantt",
    "metric_lines",
    "metric_unit",
    "noc_heatmap",
    "pareto_scatter",
    "save_figure",
    "utilization_bars",
]

#: The file formats :func:`save_figure` writes.
FORMATS = ("png", "svg")

#: rcParams every figure is built and saved under, on top of matplotlib's defaults.
STYLE: Mapping[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "archsim",
}

#: Fixed colours of the energy/utilization components, so a component keeps its colour from
#: one figure to the next (tab10; unknown components get the tab20 colours after these).
_COMPONENT_COLOURS = {
    "adc": "#1f77b4",
    "tia": "#ff7f0e",
    "dac": "#2ca02c",
    "crossbar": "#d62728",
    "tile": "#9467bd",
    "controller": "#8c564b",
    "noc": "#e377c2",
    "buffer": "#7f7f7f",
    "shift_add": "#bcbd22",
    "digital": "#17becf",
}

#: Name suffix -> unit, tried on each dotted part of a metric from the last one back.
_SUFFIX_UNITS = (
    ("_per_s", "/s"),
    ("_s", "s"),
    ("_j", "J"),
    ("_hz", "Hz"),
    ("_w", "W"),
    ("_m", "m"),
    ("_bits", "bit"),
    ("_bytes", "B"),
    ("_cycles", "cycles"),
)
#: Units drawn with an SI prefix chosen from the data.
_PREFIXED = frozenset({"/s", "s", "J", "Hz", "W", "m", "V", "A", "S", "Ohm"})
_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}

#: Links drawn in this colour carried nothing.
_IDLE_COLOUR = "#c8c8c8"
#: The timeline's rug of bins with any activity: its colour and height (in rows).
_ACTIVE_COLOUR = "#8c8c8c"
_ACTIVE_RUG = 0.06
_HEAT_CMAP = "viridis"


# --------------------------------------------------------------------------------------------
# Style, units and saving
# --------------------------------------------------------------------------------------------


@contextmanager
def _style() -> Iterator[None]:
    """Matplotlib's default style plus :data:`STYLE`, restored on exit."""
    with matplotlib.style.context("default"), matplotlib.rc_context(dict(STYLE)):
        yield


def _figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), layout="constrained")


def metric_unit(name: str) -> str | None:
    """The unit of a metric or parameter, from its name.

    ``"%"`` when a dotted part names a utilization (the values are fractions); else the unit
    of the first name suffix (:data:`_SUFFIX_UNITS`) met going from the last dotted part back
    (``per_inference.energy_breakdown_j.adc`` -> ``"J"``, ``throughput_per_s`` -> ``"/s"``);
    else the unit the config schema declares for a config path; None for a plain number.
    """
    parts = [part.split("[", 1)[0] for part in name.split(".")]
    if any("utilization" in part or "utilisation" in part for part in parts):
        return "%"
    for part in reversed(parts):
        for suffix, unit in _SUFFIX_UNITS:
            if part.endswith(suffix):
                return unit
    return config_unit(name)


def axis_scale(name: str, values: Sequence[float] | np.ndarray) -> tuple[float, str]:
    """``(factor, label)`` for drawing ``values`` of metric ``name`` on an axis.

    Multiply the SI values by ``factor``; ``label`` is ``"name (unit)"`` with the engineering
    prefix that puts the largest magnitude in [1, 1000) (``per_inference.latency_s (µs)``),
    ``"name (%)"`` for fractions, and the bare name for plain numbers.
    """
    unit = metric_unit(name)
    if unit is None:
        return 1.0, name
    factor, shown = _prefixed(unit, values)
    return factor, f"{name} ({shown})"


def _prefixed(unit: str, values: Sequence[float] | np.ndarray) -> tuple[float, str]:
    """``(factor, unit text)``: % for fractions, an engineering prefix for SI units."""
    if unit == "%":
        return 100.0, "%"
    if unit not in _PREFIXED:
        return 1.0, unit
    finite = [abs(float(v)) for v in values if math.isfinite(float(v)) and v != 0]
    exponent = 0
    if finite:
        exponent = min(12, max(-15, 3 * math.floor(math.log10(max(finite)) / 3)))
    prefix = _PREFIXES[exponent]
    if unit == "/s":
        return 10.0 ** -exponent, f"{prefix}/s" if prefix else "1/s"
    return 10.0 ** -exponent, prefix + unit


def save_figure(
    figure: Figure, out: str | os.PathLike[str], formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write ``figure`` as ``out.png`` and/or ``out.svg``; return the paths written.

    ``out`` is the path without suffix (a ``.png`` or ``.svg`` suffix is replaced). Each file
    is written to a temporary file beside it and moved into place once all are written, so
    either every file appears complete or none changes. The bytes are reproducible: fixed
    style and SVG id salt, no date in the metadata.

    Raises :class:`ArchsimError` naming the format or the file that cannot be written.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ArchsimError(
            f"plot format: expected one or more of {', '.join(FORMATS)}, got "
            f"{', '.join(map(repr, bad)) or 'none'}"
        )
    stem = Path(out)
    if stem.suffix.lstrip(".") in FORMATS:
        stem = stem.with_suffix("")
    targets = [stem.with_name(f"{stem.name}.{fmt}") for fmt in dict.fromkeys(formats)]
    rendered = {}
    with _style():  # rendered before any directory is made: a failure leaves nothing behind
        for target in targets:
            fmt = target.suffix[1:]
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, metadata=metadata)
            rendered[target] = buffer.getvalue()
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(rendered)
    except OSError as error:
        raise ArchsimError(f"cannot write the plot {stem}: {error.strerror or error}") from None
    return targets


def _palette(count: int) -> list[Any]:
    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _component_colours(names: Sequence[str]) -> dict[str, Any]:
    extra = matplotlib.colormaps["tab20"]
    unknown = [n for n in names if n not in _COMPONENT_COLOURS]
    colours = {n: _COMPONENT_COLOURS[n] for n in names if n in _COMPONENT_COLOURS}
    colours.update({n: extra(i % extra.N) for i, n in enumerate(unknown)})
    return colours


def _integer_ticks(axis: Any, values: Sequence[float], factor: float) -> None:
    """Ticks at each value when there are few and they are whole numbers (swept sizes)."""
    distinct = sorted({float(v) for v in values})
    if factor == 1.0 and 1 < len(distinct) <= 12 and all(v.is_integer() for v in distinct):
        axis.set_ticks(distinct, [f"{int(v)}" for v in distinct])


def _check_lengths(what: str, **sequences: Sequence[Any]) -> int:
    lengths = {name: len(values) for name, values in sequences.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise ValueError(f"{what}: the sequences differ in length ({shown})")
    return next(iter(lengths.values()))


def _rotate_labels(axes: Any, labels: Sequence[str]) -> None:
    """Slant the tick labels when there are many or they are long enough to collide."""
    longest = max((len(s) for s in labels), default=0)
    if len(labels) > 10 or (len(labels) > 2 and longest > 10):
        for text in axes.get_xticklabels():
            text.set_rotation(30)
            text.set_horizontalalignment("right")


# --------------------------------------------------------------------------------------------
# Metric versus parameter
# --------------------------------------------------------------------------------------------


def metric_lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x: str,
    y: str,
    legend_title: str | None = None,
    log_x: bool = False,
    log_y: bool = False,
    title: str | None = None,
) -> Figure:
    """A metric versus a parameter: one line with markers per series.

    Args:
        series: label -> ``(x values, y values)`` in SI units; the points of a series are
            joined in ascending x. A single series may have any label (the legend is left out
            when there is one series and no ``legend_title``).
        x: the parameter's name (column), for the axis label and unit.
        y: the metric's name, for the axis label and unit.
        legend_title: what the series labels are values of (e.g. ``mapping.pipeline``).
        log_x, log_y: logarithmic axes.
        title: the figure title (default: ``y`` versus ``x``).
    """
    if not series:
        raise ValueError("metric_lines: no series to draw")
    for label, (xs, ys) in series.items():
        _check_lengths(f"metric_lines series {label!r}", x=xs, y=ys)
    all_x = [v for xs, _ in series.values() for v in xs]
    all_y = [v for _, ys in series.values() for v in ys]
    fx, x_label = axis_scale(x, all_x)
    fy, y_label = axis_scale(y, all_y)
    with _style():
        fig = _figure(6.4, 4.2)
        ax = fig.add_subplot()
        colours = _palette(len(series))
        # Each series its own dash and marker, later ones smaller: series that coincide
        # (a parameter with no effect on this metric) stay visible through each other.
        styles, markers = ("-", "--", ":", "-."), ("o", "s", "^", "D", "v", "P", "X", "*")
        for i, (label, (xs, ys)) in enumerate(series.items()):
            order = np.argsort(np.asarray(xs, dtype=float), kind="stable")
            ax.plot(
                np.asarray(xs, dtype=float)[order] * fx,
                np.asarray(ys, dtype=float)[order] * fy,
                marker=markers[i % len(markers)], markersize=max(3.0, 7.0 - 1.5 * i),
                color=colours[i], linestyle=styles[i % len(styles)], label=str(label),
                gid=f"series:{label}",
            )
        if log_x:
            ax.set_xscale("log")
        else:
            _integer_ticks(ax.xaxis, all_x, fx)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title or f"{y} versus {x}")
        if len(series) > 1 or legend_title:
            ax.legend(title=legend_title, loc="best")
    return fig


# --------------------------------------------------------------------------------------------
# Latency-energy scatter with the Pareto front
# --------------------------------------------------------------------------------------------


def pareto_scatter(
    x_values: Sequence[float],
    y_values: Sequence[float],
    front: Sequence[bool],
    *,
    x: str = "per_inference.latency_s",
    y: str = "per_inference.energy_j",
    labels: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    legend_title: str | None = None,
    log: bool = False,
    title: str | None = None,
) -> Figure:
    """Design points as a scatter (latency against energy by default), the Pareto front marked.

    Args:
        x_values, y_values: one value per design point, SI units.
        front: per point, whether it is on the Pareto front (computed by the caller, e.g. the
            DSE stage); front points get a black ring and are joined by a staircase in
            ascending x, the shape of a front of two minimised metrics.
        x, y: the metrics' names, for axis labels and units.
        labels: per point, a short name written beside the front points (if at most 15).
        groups: per point, a group name; each group gets its own colour and legend entry.
        legend_title: what the group names are (e.g. a swept parameter).
        log: logarithmic axes.
        title: the figure title (default: counts of points and front points).
    """
    n = _check_lengths("pareto_scatter", x_values=x_values, y_values=y_values, front=front)
    if labels is not None:
        _check_lengths("pareto_scatter", x_values=x_values, labels=labels)
    if groups is not None:
        _check_lengths("pareto_scatter", x_values=x_values, groups=groups)
    xs = np.asarray(x_values, dtype=float)
    ys = np.asarray(y_values, dtype=float)
    mask = np.asarray(front, dtype=bool)
    fx, x_label = axis_scale(x, xs)
    fy, y_label = axis_scale(y, ys)
    with _style():
        fig = _figure(6.4, 4.6)
        ax = fig.add_subplot()
        names = list(dict.fromkeys(groups)) if groups is not None else ["design points"]
        colours = _palette(len(names)) if groups is not None else ["#4c72b0"]
        member = np.asarray(groups if groups is not None else ["design points"] * n)
        for colour, name in zip(colours, names):
            pick = member == name
            ax.scatter(xs[pick] * fx, ys[pick] * fy, s=22, color=colour, alpha=0.8,
                       label=str(name), gid=f"points:{name}", zorder=2)
        if mask.any():
            order = np.argsort(xs[mask], kind="stable")
            fx_pts, fy_pts = xs[mask][order] * fx, ys[mask][order] * fy
            ax.plot(fx_pts, fy_pts, drawstyle="steps-post", color="black", linewidth=1.0,
                    gid="front-line", zorder=3)
            ax.scatter(fx_pts, fy_pts, s=70, facecolors="none", edgecolors="black",
                       linewidths=1.3, label="Pareto front", gid="front", zorder=4)
            if labels is not None and mask.sum() <= 15:
                for i in np.flatnonzero(mask):
                    ax.annotate(str(labels[i]), (xs[i] * fx, ys[i] * fy), xytext=(5, 4),
                                textcoords="offset points", fontsize=7)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title or f"{n} design points, {int(mask.sum())} on the Pareto front")
        ax.legend(loc="best", title=legend_title if groups is not None else None)
    return fig


# --------------------------------------------------------------------------------------------
# Stacked energy breakdown
# --------------------------------------------------------------------------------------------


def energy_breakdown(
    points: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    *,
    y: str = "per_inference.energy_breakdown_j",
    x: str | None = None,
    relative: bool = False,
    title: str | None = None,
) -> Figure:
    """Stacked bars of the energy per component, one bar per design point.

    Args:
        points: per design point, component -> energy, J. Components that are zero at every
            point are left out; the others stack largest (over all points) at the bottom, in
            the fixed colour of their component.
        labels: per design point, the bar's tick label.
        y: the metric the components are parts of, for the axis label and unit.
        x: what the labels are values of, for the x axis label.
        relative: draw each component's share of its bar's total, %, instead of joules.
        title: the figure title.
    """
    n = _check_lengths("energy_breakdown", points=points, labels=labels)
    if n == 0:
        raise ValueError("energy_breakdown: no design points to draw")
    names = list(dict.fromkeys(k for point in points for k in point))
    totals_by = {k: sum(float(p.get(k, 0.0)) for p in points) for k in names}
    names = sorted((k for k in names if totals_by[k] != 0), key=lambda k: -totals_by[k])
    data = np.array([[float(p.get(k, 0.0)) for p in points] for k in names]).reshape(len(names), n)
    totals = data.sum(axis=0)
    if relative:
        data = 100.0 * data / np.where(totals == 0, 1.0, totals)
        factor, y_label = 1.0, f"share of {y} (%)"
    else:
        factor, y_label = axis_scale(y, totals)
    colours = _component_colours(names)
    positions = np.arange(n)
    with _style():
        fig = _figure(max(4.8, 2.6 + 0.5 * n), 4.4)
        ax = fig.add_subplot()
        bottom = np.zeros(n)
        for name, row in zip(names, data):
            ax.bar(positions, row * factor, 0.7, bottom=bottom, color=colours[name],
                   edgecolor="white", linewidth=0.5, label=name, gid=f"component:{name}")
            bottom += row * factor
        if not relative and n <= 24:
            for position, total in zip(positions, bottom):
                ax.annotate(f"{total:.3g}", (position, total), xytext=(0, 2),
                            textcoords="offset points", ha="center", fontsize=7)
        ax.set_xticks(positions, [str(label) for label in labels])
        ax.set_xlim(-0.5 - max(0.0, (3 - n) / 2), n - 0.5 + max(0.0, (3 - n) / 2))
        _rotate_labels(ax, [str(label) for label in labels])
        ax.grid(False, axis="x")
        ax.margins(y=0.08)
        ax.set_ylabel(y_label)
        if x:
            ax.set_xlabel(x)
        ax.set_title(title or f"{y} by component")
        handles, names_shown = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names_shown[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  title="component")
    return fig


# --------------------------------------------------------------------------------------------
# Utilization bars
# --------------------------------------------------------------------------------------------


def utilization_bars(
    utilization: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    *,
    y: str = "per_inference.utilization",
    legend_title: str | None = None,
    title: str | None = None,
) -> Figure:
    """Bars of the busy fraction of each component, drawn in %.

    Args:
        utilization: component -> fraction of the run it was busy (one run, one bar per
            component, the value written on it); or group -> (component -> fraction) to
            compare several runs or views side by side, one bar per group and component
            (e.g. ``{"in use": per["utilization"], "whole chip": per["utilization_chip"]}``).
        y: the metric the fractions come from, for the axis label.
        legend_title: what the group names are (e.g. a swept parameter).
        title: the figure title.
    """
    if utilization and all(isinstance(v, Mapping) for v in utilization.values()):
        groups: Mapping[str, Mapping[str, float]] = utilization  # type: ignore[assignment]
    else:
        groups = {"": utilization}  # type: ignore[dict-item]
    names = list(dict.fromkeys(k for group in groups.values() for k in group))
    if not names:
        raise ValueError("utilization_bars: no components to draw")
    positions = np.arange(len(names))
    width = 0.8 / len(groups)
    colours = _palette(len(groups)) if len(groups) > 1 else ["#4c72b0"]
    with _style():
        bars = len(names) * len(groups)
        single = len(groups) == 1
        width_in = 1.4 + 0.7 * len(names) if single else 2.6 + 0.4 * len(names) + 0.12 * bars
        fig = _figure(min(10.0, max(4.8, width_in)), 4.0)
        ax = fig.add_subplot()
        top = 0.0
        for i, (group, values) in enumerate(groups.items()):
            heights = np.array([100.0 * float(values.get(k, 0.0)) for k in names])
            top = max(top, float(heights.max(initial=0.0)))
            bars = ax.bar(positions + (i - (len(groups) - 1) / 2) * width, heights, width,
                          color=colours[i], label=str(group) or None, gid=f"group:{group}")
            if single:  # 3 digits: a 0.04 % NoC is not "0.0"
                ax.bar_label(bars, labels=[f"{h:.3g}" for h in heights], padding=2, fontsize=7)
        ax.set_xticks(positions, names)
        _rotate_labels(ax, names)
        ax.grid(False, axis="x")
        ax.set_ylim(0.0, max(1.0, top * 1.15))
        ax.set_xlabel("component")
        ax.set_ylabel(f"{y} (%)")
        ax.set_title(title or f"{y} by component")
        if len(groups) > 1:
            ax.legend(title=legend_title, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# --------------------------------------------------------------------------------------------
# NoC link-utilization heat map
# --------------------------------------------------------------------------------------------


def _layout(
    topology: str, coords: Sequence[Sequence[int]], links: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Router positions, about one unit between neighbours."""
    n = len(coords)
    if topology in ("mesh", "torus"):
        if any(len(c) != 2 for c in coords):
            raise ValueError(f"noc_heatmap: a {topology} takes (x, y) coordinates")
        return np.array([(c[0], c[1]) for c in coords], dtype=float)
    if topology == "ring":
        radius = 0.5 if n <= 2 else 1.0 / (2.0 * math.sin(math.pi / n))
        angles = math.pi / 2 - 2 * math.pi * np.array([c[0] for c in coords], dtype=float) / n
        return radius * np.column_stack([np.cos(angles), np.sin(angles)])
    if topology == "tree":
        if any(len(c) != 2 for c in coords):
            raise ValueError("noc_heatmap: a tree takes (level, index) coordinates")
        widths: dict[int, int] = {}
        for level, _ in coords:
            widths[level] = widths.get(level, 0) + 1
        leaves = max(widths.values())
        depth = max(widths)
        gap = max(1.0, leaves / (1.6 * max(1, depth)))
        return np.array(
            [((index + 0.5) * leaves / widths[level], -level * gap) for level, index in coords]
        )
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(links)
    placed = nx.spring_layout(graph, seed=0)
    pos = np.array([placed[i] for i in range(n)], dtype=float)
    lengths = [np.linalg.norm(pos[u] - pos[v]) for u, v in links]
    scale = float(np.median(lengths)) if lengths else 1.0
    return pos / (scale or 1.0)


def _wrap_direction(topology: str, cu: Sequence[int], cv: Sequence[int]) -> np.ndarray | None:
    """For a torus's wrap-around link, the direction it leaves ``u`` in; else None."""
    if topology != "torus":
        return None
    dx, dy = cv[0] - cu[0], cv[1] - cu[1]
    if abs(dx) + abs(dy) == 1:
        return None
    return np.array([-np.sign(dx) if abs(dx) > 1 else 0.0, -np.sign(dy) if abs(dy) > 1 else 0.0])


def noc_heatmap(
    coords: Sequence[Sequence[int]],
    links: Sequence[tuple[int, int]],
    utilization: Sequence[float],
    *,
    topology: str,
    tile_nodes: Sequence[int] = (),
    vmax: float | None = None,
    title: str | None = None,
) -> Figure:
    """The NoC drawn as its topology, each directed link coloured by its utilization.

    Routers are circles labelled with their id (filled blue where a tile is in use). Each
    directed link ``u -> v`` is an arrow offset to its right, so the two directions of a
    physical link sit side by side; a torus's wrap-around links are drawn as two stubs leaving
    and entering the grid's edge. Links that carried nothing are grey.

    Args:
        coords: per router, as :func:`archsim.hw.noc.topology.build_topology` gives them:
            ``(x, y)`` for a mesh or torus (drawn on the grid), ``(i,)`` for a ring (on a
            circle), ``(level, index)`` for a tree (in layers, root on top); an edge list's
            routers are placed by a spring layout with a fixed seed.
        links: the directed links ``(u, v)``.
        utilization: per link, the fraction of the run it was busy.
        topology: ``mesh``, ``torus``, ``ring``, ``tree`` or ``edges``.
        tile_nodes: routers with a tile in use.
        vmax: the fraction at the top of the colour scale (default: the busiest link's).
        title: the figure title.
    """
    _check_lengths("noc_heatmap", links=links, utilization=utilization)
    if topology not in TOPOLOGIES:
        raise ValueError(f"noc_heatmap: topology must be one of {TOPOLOGIES}, got {topology!r}")
    n = len(coords)
    if any(not (0 <= u < n and 0 <= v < n) or u == v for u, v in links):
        raise ValueError(f"noc_heatmap: every link must join two of the {n} routers")
    pos = _layout(topology, coords, links)
    percent = 100.0 * np.asarray(utilization, dtype=float)
    peak = float(percent.max(initial=0.0))
    top = 100.0 * vmax if vmax is not None else (peak if peak > 0 else 1.0)
    norm = Normalize(0.0, top)
    cmap = matplotlib.colormaps[_HEAT_CMAP]
    lo, hi = pos.min(axis=0) - 0.8, pos.max(axis=0) + 0.8
    span = hi - lo
    width_in = min(10.0, max(5.5, 0.8 * span[0] + 1.6))
    height_in = min(9.0, max(3.5, 0.8 * span[1] + 1.3))
    unit_pt = 72.0 * min((width_in - 1.6) / span[0], (height_in - 1.3) / span[1])
    line_pt = min(3.0, max(0.6, 0.06 * unit_pt))
    head = min(10.0, max(4.0, 0.16 * unit_pt))
    font = min(8.0, max(4.0, 0.15 * unit_pt))
    radius, offset, stub = 0.2, 0.08, 0.5
    with _style():
        fig = _figure(width_in, height_in)
        ax = fig.add_subplot()
        for (u, v), value in zip(links, percent):
            colour = cmap(norm(value)) if value > 0 else _IDLE_COLOUR
            lw = line_pt if value > 0 else 0.6 * line_pt
            wrap = _wrap_direction(topology, coords[u], coords[v])
            if wrap is None:
                d = pos[v] - pos[u]
                d = d / (np.linalg.norm(d) or 1.0)
                side = np.array([d[1], -d[0]]) * offset
                pieces = [(pos[u] + d * radius + side, pos[v] - d * radius + side, True)]
            else:
                d, side = wrap, np.array([wrap[1], -wrap[0]]) * offset
                pieces = [(pos[u] + d * radius + side, pos[u] + d * stub + side, False),
                          (pos[v] - d * stub + side, pos[v] - d * radius + side, True)]
            for start, end, arrow in pieces:
                style = ArrowStyle("-|>", head_length=0.4, head_width=0.2) if arrow else "-"
                ax.add_patch(FancyArrowPatch(
                    tuple(start), tuple(end), arrowstyle=style, mutation_scale=head,
                    shrinkA=0, shrinkB=0, color=colour, linewidth=lw, gid=f"link:{u}-{v}",
                    zorder=2 if value > 0 else 1,
                ))
        tiles = set(tile_nodes)
        routers = PatchCollection(
            [Circle(tuple(p), radius) for p in pos],
            facecolors=["#bcd4ec" if i in tiles else "white" for i in range(n)],
            edgecolors="#404040", linewidths=0.8, zorder=3, gid="routers",
        )
        ax.add_collection(routers)
        if n <= 256:
            for i, p in enumerate(pos):
                ax.text(p[0], p[1], str(i), ha="center", va="center", fontsize=font, zorder=4)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_axis_off()
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8,
                     label="link utilization (%)")
        handles = []
        if (percent == 0).any():
            handles.append(Line2D([], [], color=_IDLE_COLOUR, linewidth=1.2, label="idle link"))
        if tiles:
            handles.append(Patch(facecolor="#bcd4ec", edgecolor="#404040",
                                 label="router with a tile in use"))
        if handles:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
        ax.set_title(title or f"{topology}, {n} routers: link utilization (max {peak:.3g} %)")
    return fig


# --------------------------------------------------------------------------------------------
# Timeline (Gantt)
# --------------------------------------------------------------------------------------------


#: Time bins across a timeline's axis (finer than its pixels): each row draws, per bin, the
#: share of the bin its spans cover.
GANTT_BINS = 1000


def busy_fraction(intervals: Sequence[tuple[float, float]], edges: np.ndarray) -> np.ndarray:
    """Per bin ``[edges[i], edges[i + 1])``, the fraction of it covered by the union of
    ``intervals`` (``(start, end)`` in the unit of ``edges``; overlapping intervals count once).
    """
    fraction = np.zeros(len(edges) - 1)
    if not intervals:
        return fraction
    ordered = np.array(sorted(intervals), dtype=float).reshape(-1, 2)
    starts, run_end = ordered[:, 0], np.maximum.accumulate(ordered[:, 1])
    # A new disjoint interval begins wherever a start lies past every earlier end.
    first = np.concatenate([[True], starts[1:] > run_end[:-1]])
    last = np.concatenate([first[1:], [True]])
    lo, hi = starts[first], run_end[last]
    before = np.concatenate([[0.0], np.cumsum(hi - lo)])
    # Covered time up to t: the intervals ended by t, plus the part of the one holding t.
    done = np.searchsorted(hi, edges, side="right")
    begun = np.searchsorted(lo, edges, side="right")
    holding = begun > done
    covered = before[done] + np.where(holding, edges - lo[np.minimum(done, len(lo) - 1)], 0.0)
    return np.diff(covered) / np.diff(edges)


def gantt(
    tracks: Mapping[str, Sequence[Span]] | Mapping[str, Any] | Sequence[Any],
    *,
    title: str | None = None,
    legend_max: int = 12,
) -> Figure:
    """A timeline: one row per component (track), its busy time coloured by label.

    The time axis is cut into :data:`GANTT_BINS` bins; in each bin a row's bar is as tall as
    the share of the bin its spans cover (stacked by label, overlapping spans of one label
    counted once). A span longer than a bin is drawn at full height over its extent, as in a
    Gantt chart; spans shorter than a pixel (a 10 ns conversion on a 10 ms axis) are drawn in
    proportion instead of widened to a pixel, so that a component busy 2 % of the time does
    not look busy all the time. The x label states the bin width.

    Args:
        tracks: track name -> spans ``(start_s, duration_s, label)``, drawn top to bottom in
            the mapping's order; or a loaded Chrome Trace Event document (an object with
            ``traceEvents``, or the list of events), converted with
            :func:`archsim.report.results.chrome_trace_tracks`.
        title: the figure title.
        legend_max: the most labels the legend lists (more: no legend).
    """
    if not isinstance(tracks, Mapping) or "traceEvents" in tracks:
        tracks = chrome_trace_tracks(tracks)
    if not tracks:
        raise ValueError("gantt: no tracks to draw")
    spans = [(float(s), float(d), label) for track in tracks.values() for s, d, label in track]
    ends = [s + d for s, d, _ in spans]
    first, last = min((s for s, _, _ in spans), default=0.0), max(ends, default=0.0)
    # A trace on an absolute clock starts far from 0: begin the axis at its first span.
    left = first if first < 0 or first > 0.1 * last else 0.0
    factor, unit = _prefixed("s", ends)
    right = last + 0.01 * (last - left) if last > left else left + 1.0 / factor
    edges_s = np.linspace(left, right, GANTT_BINS + 1)
    bin_factor, bin_unit = _prefixed("s", [edges_s[1] - edges_s[0]])
    labels = list(dict.fromkeys(label for _, _, label in spans))
    colours = dict(zip(labels, _palette(len(labels))))
    names = list(tracks)
    with _style():
        fig = _figure(8.0, min(40.0, 1.6 + 0.3 * len(names)))
        ax = fig.add_subplot()
        for row, name in enumerate(names):
            by_label: dict[str, list[tuple[float, float]]] = {}
            for start, duration, label in tracks[name]:
                by_label.setdefault(label, []).append(
                    (float(start), float(start) + float(duration))
                )
            if not by_label:
                continue
            shares = np.array([busy_fraction(by_label[label], edges_s) for label in by_label])
            total = shares.sum(axis=0)
            shares /= np.where(total > 1.0, total, 1.0)  # nested spans of several labels
            top = np.cumsum(shares, axis=0)
            for label, upper, lower in zip(by_label, top, top - shares):
                _stairs(ax, row + 0.4 - 0.8 * upper, row + 0.4 - 0.8 * lower, edges_s * factor,
                        colour=colours[label], gid=f"track:{name}:{label}")
            # The rug below the bar marks every bin with any activity, however little.
            active = _ACTIVE_RUG * (total > 0)
            _stairs(ax, row + 0.4 + active, np.full(GANTT_BINS, row + 0.4), edges_s * factor,
                    colour=_ACTIVE_COLOUR, gid=f"active:{name}")
        ax.set_yticks(range(len(names)), names, fontsize=8.0 if len(names) <= 30 else 6.0)
        ax.set_ylim(len(names) - 0.5 + _ACTIVE_RUG, -0.5)
        ax.grid(False, axis="y")
        ax.set_xlim(left * factor, right * factor)
        width = (edges_s[1] - edges_s[0]) * bin_factor
        ax.set_xlabel(f"time ({unit}); bar height: share of each {width:.3g} {bin_unit} bin busy")
        ax.set_title(title or f"timeline: {len(names)} tracks, {len(spans)} spans")
        handles = []
        if 0 < len(labels) <= legend_max and any(labels):
            handles = [
                Patch(facecolor=colours[label], label=label or "(unnamed)") for label in labels
            ]
        if spans:
            handles.append(Patch(facecolor=_ACTIVE_COLOUR, label="any activity in the bin"))
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _stairs(
    ax: Any, upper: np.ndarray, lower: np.ndarray, edges: np.ndarray, *, colour: Any, gid: str
) -> None:
    """A filled step band between ``lower`` and ``upper`` (per bin), with runs of equal bins
    merged so that a long span is one rectangle in the SVG."""
    change = np.concatenate([[True], (upper[1:] != upper[:-1]) | (lower[1:] != lower[:-1])])
    keep = np.flatnonzero(change)
    ax.stairs(upper[keep], np.append(edges[keep], edges[-1]), baseline=lower[keep], fill=True,
              color=colour, linewidth=0, gid=gid)


# --------------------------------------------------------------------------------------------
# Training: accuracy curve and wear maps
# --------------------------------------------------------------------------------------------


def accuracy_curve(
    curves: Mapping[str, Sequence[float]], *, title: str | None = None
) -> Figure:
    """Test accuracy after each epoch, one line per training run.

    Args:
        curves: per run (its legend label), the test accuracy after each epoch, fractions.
        title: the figure title.
    """
    if not curves or not any(len(curve) for curve in curves.values()):
        raise ValueError("accuracy_curve: no accuracies to draw")
    colours = _palette(len(curves))
    with _style():
        fig = _figure(5.2, 3.6)
        ax = fig.add_subplot()
        for colour, (label, curve) in zip(colours, curves.items()):
            epochs = np.arange(1, len(curve) + 1)
            ax.plot(epochs, 100.0 * np.asarray(curve, dtype=float), marker="o", markersize=3,
                    color=colour, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(loc="lower right")
        ax.set_title(title or "test accuracy during training")
    return fig


def wear_maps(
    maps: Mapping[str, np.ndarray], *, unit: str = "pulses", title: str | None = None
) -> Figure:
    """One heat map per array of its devices' wear (rows x columns of the weight matrix).

    Args:
        maps: per array (its label, such as ``"fc1 W"``), a 2-D array of counts per device.
            Arrays that are all zero are left out.
        unit: what the counts are, for the colour bar.
        title: the figure title.
    """
    shown_maps = {label: np.asarray(m) for label, m in maps.items() if np.asarray(m).any()}
    if not shown_maps:
        raise ValueError("wear_maps: every array is unworn")
    for label, counts in shown_maps.items():
        if counts.ndim != 2:
            raise ValueError(f"wear_maps: '{label}' is not a 2-D array of counts")
    n = len(shown_maps)
    columns = min(n, 3)
    rows = -(-n // columns)
    with _style():
        fig = _figure(3.4 * columns, 3.0 * rows)
        for index, (label, counts) in enumerate(shown_maps.items()):
            ax = fig.add_subplot(rows, columns, index + 1)
            image = ax.imshow(counts, aspect="auto", interpolation="nearest", cmap="magma")
            ax.set_title(f"{label} (max {int(counts.max())})", fontsize=9)
            ax.set_xlabel("column")
            ax.set_ylabel("row")
            ax.grid(False)
            fig.colorbar(image, ax=ax, label=f"{unit} per device")
        fig.suptitle(title or "device wear")
    return fig
