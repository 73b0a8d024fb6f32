"""Plots of runs and sweeps: what each figure draws, its labels and units, reproducible bytes,
and the errors a user gets for a bad column or file.

The sweep fixture runs the real pipeline (config -> simulate -> account -> build_report) on the
bundled LeNet trace and writes its rows the way the sweep stage does (swept config paths,
flattened report metrics, point/trace/status/error), so the readers are tested on real keys.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PatchCollection
from matplotlib.patches import FancyArrowPatch

from archsim.cli import main
from archsim.config import load_hardware
from archsim.config.loader import build
from archsim.config.schema import NocConfig
from archsim.energy import account
from archsim.errors import ArchsimError
from archsim.hw.noc.topology import build_topology
from archsim.report import build_report
from archsim.report.plot_cli import build_plot, pareto_mask, plot_command
from archsim.report.plots import (
    axis_scale,
    busy_fraction,
    energy_breakdown,
    gantt,
    metric_lines,
    metric_unit,
    noc_heatmap,
    pareto_scatter,
    save_figure,
    utilization_bars,
)
from archsim.report.report import flatten, to_json
from archsim.report.results import (
    chrome_trace_tracks,
    noc_link_loads,
    read_results,
    trace_coverage,
)
from archsim.report.timeline import write_timeline
from archsim.sim import simulate
from archsim.stats.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
NOC_CONFIG = ROOT / "hw_configs" / "wu2023_64x64_noc.yaml"
TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"
CPA = "tile.adc.columns_per_adc"
PIPE = "mapping.pipeline"
LATENCY = "per_inference.latency_s"
ENERGY = "per_inference.energy_j"


def _run(overrides: list[str]) -> dict:
    config = load_hardware(NOC_CONFIG, overrides)
    result = simulate(config, TRACE, seed=0)
    return build_report(result, account(result), config=config, config_file=NOC_CONFIG,
                        trace_file=TRACE, overrides=overrides)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Four real design points (2 ADC sharings x sequential/pipelined) and one failed point,
    as results.csv and results.jsonl, and point 1's report.json; returns (directory, reports
    by point id)."""
    folder = tmp_path_factory.mktemp("sweep")
    rows, reports = [], {}
    for point, (cpa, pipe) in enumerate([(1, False), (4, False), (1, True), (4, True)]):
        report = _run([f"{CPA}={cpa}", f"{PIPE}={str(pipe).lower()}"])
        reports[point] = report
        rows.append({"point": point, "trace": TRACE.name, "status": "ok", "error": "",
                     CPA: cpa, PIPE: pipe, **dict(flatten(report))})
    rows.append({"point": 4, "trace": TRACE.name, "status": "error",
                 "error": f"{CPA}: must divide the crossbar's 64 columns, got 7", CPA: 7,
                 PIPE: False})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(folder / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c, "") for c in columns])
    with open(folder / "results.jsonl", "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    (folder / "report.json").write_text(to_json(reports[1]))
    return folder, reports


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A real run of the NoC config with its timeline (no conversion spans, to stay small):
    (report, path of the Chrome trace)."""
    config = load_hardware(NOC_CONFIG)
    timeline = Timeline(conversions=False)
    result = simulate(config, TRACE, seed=0, timeline=timeline)
    path = write_timeline(timeline, tmp_path_factory.mktemp("recorded") / "timeline.json")
    return build_report(result, account(result)), path


def _lines(fig):
    return [line for line in fig.axes[0].get_lines() if str(line.get_gid()).startswith("series:")]


def _gid_collection(ax, gid):
    return next(c for c in ax.collections if c.get_gid() == gid)


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "unit"), [
    ("per_inference.latency_s", "s"),
    ("latency_s.mean", "s"),
    ("per_inference.energy_j", "J"),
    ("per_inference.energy_breakdown_j.adc", "J"),
    ("per_inference.throughput_per_s", "/s"),
    ("per_inference.utilization.adc", "%"),
    ("noc.link_utilization.max", "%"),
    ("controller.utilization", "%"),
    ("noc.packet_data_bits", "bit"),
    ("totals.cycles", None),
    ("per_inference.counters.macs", None),
    ("tile.adc.columns_per_adc", None),
    ("noc.energy.router", "J"),       # a config path: the schema's unit
    ("chip.clock_hz", "Hz"),
])
def test_units_come_from_the_metric_name(name, unit):
    assert metric_unit(name) == unit


def test_axis_scale_picks_an_engineering_prefix():
    assert axis_scale(LATENCY, [75e-6, 479e-6]) == (pytest.approx(1e6), f"{LATENCY} (µs)")
    assert axis_scale(ENERGY, [1.9e-6]) == (pytest.approx(1e6), f"{ENERGY} (µJ)")
    assert axis_scale(ENERGY, [1e-3]) == (pytest.approx(1e3), f"{ENERGY} (mJ)")
    assert axis_scale("per_inference.throughput_per_s", [13_000]) == (
        pytest.approx(1e-3), "per_inference.throughput_per_s (k/s)")
    adc = "per_inference.utilization.adc"
    assert axis_scale(adc, [0.2]) == (100.0, f"{adc} (%)")
    assert axis_scale("totals.cycles", [1e6]) == (1.0, "totals.cycles")
    assert axis_scale(LATENCY, [0.0]) == (1.0, f"{LATENCY} (s)")


# --------------------------------------------------------------------------------------------
# Metric versus parameter
# --------------------------------------------------------------------------------------------


def test_metric_lines_draws_one_sorted_line_per_series():
    fig = metric_lines(
        {"a": ([4, 1, 2], [4e-6, 1e-6, 2e-6]), "b": ([1, 2, 4], [2e-6, 3e-6, 5e-6]),
         "c": ([1, 4], [1e-6, 1e-6])},
        x=CPA, y=LATENCY, legend_title="variant",
    )
    lines = _lines(fig)
    assert [line.get_label() for line in lines] == ["a", "b", "c"]
    assert list(lines[0].get_xdata()) == [1, 2, 4]
    assert list(lines[0].get_ydata()) == pytest.approx([1, 2, 4])
    ax = fig.axes[0]
    assert ax.get_xlabel() == CPA
    assert ax.get_ylabel() == f"{LATENCY} (µs)"
    assert ax.get_legend().get_title().get_text() == "variant"


@pytest.mark.parametrize("name", ["results.csv", "results.jsonl", ""])
def test_line_plot_of_a_real_sweep(sweep, name):
    folder, reports = sweep
    fig = build_plot(folder / name, kind="line", x=CPA, y=LATENCY, series=PIPE)
    lines = _lines(fig)
    assert [line.get_label() for line in lines] == ["False", "True"]  # the failed point is left out
    sequential = [reports[0], reports[1]]  # columns_per_adc 1 and 4, mapping.pipeline false
    assert list(lines[0].get_xdata()) == [1, 4]
    assert list(lines[0].get_ydata()) == pytest.approx(
        [r["per_inference"]["latency_s"] * 1e6 for r in sequential])
    assert fig.axes[0].get_ylabel() == f"{LATENCY} (µs)"
    assert fig.axes[0].get_xlabel() == CPA


def test_line_plot_refuses_points_that_differ_in_an_unplotted_parameter(sweep):
    folder, _ = sweep
    message = (r"row 1 \(point 0\) and row 3 \(point 2\) both have tile.adc.columns_per_adc=1; "
               r"they differ in mapping.pipeline: pass one as --series")
    with pytest.raises(ArchsimError, match=message):
        build_plot(folder / "results.jsonl", kind="line", x=CPA, y=LATENCY)


# --------------------------------------------------------------------------------------------
# Pareto scatter
# --------------------------------------------------------------------------------------------


def test_pareto_front_markers_are_the_masked_points():
    xs = [1e-6, 2e-6, 3e-6, 1.5e-6, 2.5e-6]
    ys = [5e-9, 3e-9, 1e-9, 6e-9, 4e-9]
    front = [True, True, True, False, False]
    fig = pareto_scatter(xs, ys, front, labels=list("abcde"))
    ax = fig.axes[0]
    marked = _gid_collection(ax, "front").get_offsets()
    assert np.allclose(marked, [[1, 5], [2, 3], [3, 1]])  # µs, nJ, ascending x
    everything = _gid_collection(ax, "points:design points").get_offsets()
    assert len(everything) == 5
    line = next(line for line in ax.get_lines() if line.get_gid() == "front-line")
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_xdata()) == pytest.approx([1, 2, 3])
    assert ax.get_xlabel() == f"{LATENCY} (µs)" and ax.get_ylabel() == f"{ENERGY} (nJ)"
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c"]
    assert "3 on the Pareto front" in ax.get_title()


def test_pareto_scatter_draws_the_mask_it_is_given_not_its_own():
    fig = pareto_scatter([1, 2, 3], [3, 2, 1], [False, True, False], x="a_s", y="b_j")
    assert np.allclose(_gid_collection(fig.axes[0], "front").get_offsets(), [[2, 2]])


def test_pareto_mask_fallback_keeps_non_dominated_points():
    assert list(pareto_mask([1, 2, 3, 2, 1], [3, 2, 1, 3, 3])) == [True, True, True, False, True]
    assert list(pareto_mask([1.0], [1.0])) == [True]


def test_pareto_plot_of_a_sweep_uses_its_pareto_column(sweep, tmp_path):
    folder, _ = sweep
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for row in rows:
        row["pareto"] = row["point"] == 3
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = build_plot(tmp_path, kind="pareto", series=PIPE)
    ax = fig.axes[0]
    point3 = next(r for r in rows if r["point"] == 3)
    assert np.allclose(_gid_collection(ax, "front").get_offsets(),
                       [[point3[LATENCY] * 1e6, point3[ENERGY] * 1e6]])
    assert {c.get_gid() for c in ax.collections} == {"points:False", "points:True", "front"}
    assert ax.get_legend().get_title().get_text() == PIPE  # what the colours are values of
    assert [t.get_text() for t in ax.texts] == ["columns_per_adc=4, pipeline=True"]
    # Without the column, the front is computed: ADC sharing 1 is faster and cheaper here.
    fig = build_plot(folder / "results.csv", kind="pareto")
    fronts = _gid_collection(fig.axes[0], "front").get_offsets()
    table = read_results(folder / "results.csv").succeeded()
    mask = pareto_mask(table.numeric(LATENCY), table.numeric(ENERGY))
    assert len(fronts) == mask.sum() >= 1


# --------------------------------------------------------------------------------------------
# Energy breakdown and utilisation
# --------------------------------------------------------------------------------------------


def test_energy_breakdown_stacks_nonzero_components_per_point():
    points = [{"adc": 2e-6, "tia": 1e-6, "buffer": 0.0}, {"adc": 1e-6, "tia": 1e-6, "buffer": 0.0},
              {"adc": 3e-6, "tia": 0.5e-6, "noc": 0.1e-6, "buffer": 0.0}]
    fig = energy_breakdown(points, ["1", "2", "4"], x=CPA)
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.containers] == ["adc", "tia", "noc"]
    assert all(len(c) == 3 for c in ax.containers)
    tops = [max(c[i].get_y() + c[i].get_height() for c in ax.containers) for i in range(3)]
    assert tops == pytest.approx([3.0, 2.0, 3.6])
    assert ax.get_ylabel() == "per_inference.energy_breakdown_j (µJ)"
    assert ax.get_xlabel() == CPA
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["noc", "tia", "adc"]
    shares = energy_breakdown(points, ["1", "2", "4"], relative=True).axes[0]
    assert shares.get_ylabel() == "share of per_inference.energy_breakdown_j (%)"
    assert sum(c[0].get_height() for c in shares.containers) == pytest.approx(100.0)


def test_energy_breakdown_of_a_real_sweep_sums_to_the_energy(sweep):
    folder, reports = sweep
    ax = build_plot(folder / "results.csv", kind="breakdown", x=CPA).axes[0]
    assert len(ax.containers[0]) == 4
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [
        "1, pipeline=False", "1, pipeline=True", "4, pipeline=False", "4, pipeline=True"]
    order = [0, 2, 1, 3]  # points sorted by columns_per_adc
    for bar_index, point in enumerate(order):
        total = sum(c[bar_index].get_height() for c in ax.containers)
        assert total == pytest.approx(reports[point]["per_inference"]["energy_j"] * 1e6)
    breakdowns = [r["per_inference"]["energy_breakdown_j"] for r in reports.values()]
    nonzero = {k for breakdown in breakdowns for k, v in breakdown.items() if v}
    assert {c.get_label() for c in ax.containers} == nonzero


def test_a_breakdown_over_several_parameters_names_each_bar_by_their_values(sweep):
    """No --x and two swept parameters: one bar per design point, in point order, named by
    its parameter values rather than its id."""
    folder, reports = sweep
    ax = build_plot(folder / "results.jsonl", kind="breakdown").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "columns_per_adc=1, pipeline=False", "columns_per_adc=4, pipeline=False",
        "columns_per_adc=1, pipeline=True", "columns_per_adc=4, pipeline=True"]
    assert ax.get_xlabel() == "design point"
    for point in range(4):
        total = sum(c[point].get_height() for c in ax.containers)
        assert total == pytest.approx(reports[point]["per_inference"]["energy_j"] * 1e6)


def test_coincident_series_stay_visible():
    """Two series with the same values (a parameter with no effect on the metric): each has
    its own dash and marker, the later marker smaller, so the first shows through."""
    lines = _lines(metric_lines({"a": ([1, 2], [1, 2]), "b": ([1, 2], [1, 2])}, x="p", y="m"))
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_marker() != lines[1].get_marker()
    assert lines[0].get_markersize() > lines[1].get_markersize()


def test_utilization_bars_of_one_run_in_percent(sweep):
    _, reports = sweep
    utilization = reports[0]["per_inference"]["utilization"]
    ax = utilization_bars(utilization).axes[0]
    assert len(ax.containers) == 1 and len(ax.containers[0]) == len(utilization)
    heights = [b.get_height() for b in ax.containers[0]]
    assert heights == pytest.approx([100 * v for v in utilization.values()])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(utilization)
    assert ax.get_ylabel() == "per_inference.utilization (%)"
    # A lightly used NoC reads as its value, not as "0.0".
    tiny = utilization_bars({"noc": 0.000378, "adc": 0.2}).axes[0]
    assert [t.get_text() for t in tiny.texts] == ["0.0378", "20"]


def test_utilization_bars_grouped_by_design_point(sweep):
    folder, reports = sweep
    ax = build_plot(folder / "results.jsonl", kind="utilization", x=PIPE).axes[0]
    assert len(ax.containers) == 4
    assert all(len(c) == len(reports[0]["per_inference"]["utilization"]) for c in ax.containers)
    assert ax.get_legend().get_title().get_text() == PIPE
    one = build_plot(folder / "report.json", kind="utilization").axes[0]
    assert len(one.containers) == 1 and "wu2023_64x64_noc" in one.get_title()


def test_a_run_folder_is_read_as_its_report(sweep, tmp_path):
    """``archsim run --out DIR`` leaves DIR/report.json: DIR stands for it (a folder with
    results tables is still read as the sweep)."""
    folder, _ = sweep
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_bytes((folder / "report.json").read_bytes())
    for kind in ("utilization", "breakdown", "heatmap"):
        by_folder = plot_command(run, kind=kind, out=tmp_path / f"{kind}_folder")
        by_file = plot_command(run / "report.json", kind=kind, out=tmp_path / f"{kind}_file")
        assert [p.read_bytes() for p in by_folder] == [p.read_bytes() for p in by_file]
    sweep_one = build_plot(folder, kind="utilization", x=PIPE).axes[0]
    assert len(sweep_one.containers) == 4


# --------------------------------------------------------------------------------------------
# NoC heat map
# --------------------------------------------------------------------------------------------


BASE_NOC = build(NocConfig, {
    "topology": "mesh", "dims": [2, 2], "router_cycles": 2, "buffer_flits": 16,
    "link_width_bits": 32, "link_cycles": 1, "link_length_m": "1mm",
    "flow_control": "virtual_cut_through", "energy": {"router": "1pJ", "link_bit_mm": "40fJ"},
})
SHAPES = [("mesh", (3, 3), ()), ("torus", (4, 4), ()), ("ring", (6,), ()), ("tree", (2, 2), ()),
          ("edges", (), ((0, 1), (1, 2), (2, 0), (2, 3), (3, 4)))]


def _topology(kind, dims, edges):
    return build_topology(replace(BASE_NOC, topology=kind, dims=tuple(dims), edges=tuple(edges)))


def _link_patches(fig):
    patches = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    gids: dict[str, list] = {}
    for patch in patches:
        gids.setdefault(patch.get_gid(), []).append(patch)
    return gids


@pytest.mark.parametrize(("kind", "dims", "edges"), SHAPES)
def test_heatmap_draws_every_router_and_directed_link(kind, dims, edges):
    topo = _topology(kind, dims, edges)
    utilization = [0.0 if i % 3 == 0 else i / len(topo.links) for i in range(len(topo.links))]
    fig = noc_heatmap(topo.coords, topo.links, utilization, topology=kind, tile_nodes=[0, 1])
    links = _link_patches(fig)
    assert set(links) == {f"link:{u}-{v}" for u, v in topo.links}
    routers = next(c for c in fig.axes[0].collections if c.get_gid() == "routers")
    assert isinstance(routers, PatchCollection) and len(routers.get_paths()) == topo.nodes
    assert fig.axes[1].get_ylabel() == "link utilization (%)"  # the colour bar
    busiest = int(np.argmax(utilization))
    u, v = topo.links[busiest]
    colour = links[f"link:{u}-{v}"][0].get_edgecolor()
    assert np.allclose(colour, matplotlib.colormaps["viridis"](1.0))
    wraps = [g for g, patches in links.items() if len(patches) == 2]
    assert len(wraps) == (16 if kind == "torus" else 0)  # 4 rows + 4 columns, both directions


def test_heatmap_of_a_real_run_sits_on_the_configs_topology(sweep):
    _, reports = sweep
    loads = noc_link_loads(reports[1], source="report.json")
    topo = build_topology(load_hardware(NOC_CONFIG).noc)
    assert (loads.topology, loads.coords, loads.links) == ("mesh", topo.coords, topo.links)
    assert loads.tile_nodes == tuple(reports[1]["noc"]["tile_nodes"])
    fig = noc_heatmap(loads.coords, loads.links, loads.utilization, topology=loads.topology,
                      tile_nodes=loads.tile_nodes)
    assert len(_link_patches(fig)) == len(topo.links) == 24
    assert "max 0.0" not in fig.axes[0].get_title()


@pytest.mark.parametrize(("kind", "dims", "edges"), SHAPES)
def test_the_shape_of_an_archsim_noc_report_is_inferred_from_its_links(kind, dims, edges):
    topo = _topology(kind, dims, edges)
    report = {"schema": "archsim-noc-report", "links": [list(link) for link in topo.links],
              "link_utilization": [0.1] * len(topo.links)}
    loads = noc_link_loads(report)
    assert (loads.topology, loads.dims, loads.coords) == (kind, topo.dims, topo.coords)


# --------------------------------------------------------------------------------------------
# Timeline
# --------------------------------------------------------------------------------------------


def _drawn(ax, gid: str) -> tuple[np.ndarray, np.ndarray]:
    """(bin edges in axis units, share of each bin) of a Gantt band, read off the figure: a
    band of a row's bar rises 0.8 rows at a share of 1."""
    band = next(p for p in ax.patches if p.get_gid() == gid)
    values, edges, baseline = band.get_data()
    return edges, (np.asarray(baseline) - np.asarray(values)) / 0.8


def _busy(ax, gid: str) -> float:
    """The busy time a Gantt band draws, in axis units: its bins' shares times their widths."""
    edges, share = _drawn(ax, gid)
    return float(np.sum(share * np.diff(edges)))


def test_busy_fraction_is_the_covered_share_of_each_bin():
    edges = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    # Overlapping spans count once; a span may run past the edges; an empty one adds nothing.
    intervals = [(0.0, 1.0), (0.5, 1.5), (3.0, 3.25), (2.5, 2.5), (3.75, 9.0)]
    assert list(busy_fraction(intervals, edges)) == pytest.approx([1.0, 0.5, 0.0, 0.5])
    assert list(busy_fraction([], edges)) == [0.0] * 4
    assert list(busy_fraction([(-5.0, 0.5)], edges)) == pytest.approx([0.5, 0, 0, 0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 60)), max_size=40),
       st.integers(1, 12))
def test_busy_fraction_matches_a_cycle_by_cycle_count(spans, bins):
    """Property: on integer cycles, each bin's share is the count of its cycles that some span
    covers, divided by the bin's width (a brute-force reference)."""
    width = 37
    edges = np.arange(bins + 1, dtype=float) * width
    busy = np.zeros(bins * width, dtype=bool)
    for start, length in spans:
        busy[start:start + length] = True
    expected = busy.reshape(bins, width).mean(axis=1)
    intervals = [(float(s), float(s + n)) for s, n in spans]
    assert busy_fraction(intervals, edges) == pytest.approx(expected, abs=1e-12)


def test_gantt_draws_a_row_per_track_and_each_spans_busy_time():
    tracks = {"tile 0": [(0.0, 2e-6, "conv1"), (3e-6, 1e-6, "conv2")],
              "controller": [(1e-6, 0.5e-6, "issue")], "noc": []}
    ax = gantt(tracks).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tile 0", "controller", "noc"]
    assert ax.get_xlabel().startswith("time (µs); bar height: share of each ")
    for gid, busy_us in [("track:tile 0:conv1", 2.0), ("track:tile 0:conv2", 1.0),
                         ("track:controller:issue", 0.5)]:
        assert _busy(ax, gid) == pytest.approx(busy_us, rel=1e-9)
    # Spans longer than a bin are drawn at full height over their whole extent.
    edges, share = _drawn(ax, "track:tile 0:conv1")
    inside = (edges[:-1] >= 0.0) & (edges[1:] <= 2.0)
    assert inside.any() and np.all(share[inside] == pytest.approx(1.0))
    assert not any(str(p.get_gid()).startswith("track:noc") for p in ax.patches)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "conv1", "conv2", "issue", "any activity in the bin"]


def test_gantt_draws_a_sparsely_busy_component_in_proportion():
    """2 000 spans of 1 ns every 50 ns (2 % busy) on a 100 µs axis: each is far under a
    pixel, and the row must read 2 % busy, not busy throughout; the rug marks the bins."""
    spans = [(i * 50e-9, 1e-9, "convert") for i in range(2000)]
    ax = gantt({"adc": spans}).axes[0]
    edges, share = _drawn(ax, "track:adc:convert")
    covered = (edges[1:] <= 100.0)
    assert np.mean(share[covered]) == pytest.approx(0.02, rel=0.02)
    assert share.max() < 0.05
    assert _busy(ax, "track:adc:convert") == pytest.approx(2000 * 1e-3, rel=1e-9)  # µs
    rug_edges, rug = _drawn(ax, "active:adc")  # merged runs: active to the last span, then not
    assert rug_edges[0] == 0.0 and rug[0] < 0 and rug[-1] == 0
    assert 99.9 <= rug_edges[1] <= 100.0 + (ax.get_xlim()[1] - 100.0) / 10


def test_gantt_stacks_nested_spans_within_the_row():
    """A B/E parent with a child span: the two labels share the bins they overlap in, never
    drawing more than the whole row."""
    tracks = {"core": [(0.0, 4e-6, "frame"), (1e-6, 1e-6, "draw")]}
    ax = gantt(tracks).axes[0]
    _, frame = _drawn(ax, "track:core:frame")
    _, draw = _drawn(ax, "track:core:draw")
    assert np.all(frame + draw <= 1.0 + 1e-12)


def test_chrome_trace_events_become_tracks_in_seconds():
    trace = {"traceEvents": [
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 2, "args": {"name": "adc"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "crossbar"}},
        {"ph": "X", "name": "mvm", "pid": 1, "tid": 1, "ts": 10, "dur": 5},
        {"ph": "X", "name": "convert", "pid": 1, "tid": 2, "ts": 12.5, "dur": 1},
        {"ph": "B", "name": "mvm", "pid": 1, "tid": 1, "ts": 20},
        {"ph": "E", "pid": 1, "tid": 1, "ts": 23},
        {"ph": "i", "name": "mark", "pid": 1, "tid": 1, "ts": 21},
        {"ph": "C", "name": "queue", "pid": 1, "ts": 0, "args": {"n": 1}},
    ]}
    tracks = chrome_trace_tracks(trace)
    assert list(tracks) == ["crossbar", "adc"]
    assert tracks["crossbar"] == [(pytest.approx(10e-6), pytest.approx(5e-6), "mvm"),
                                  (pytest.approx(20e-6), pytest.approx(3e-6), "mvm")]
    assert tracks["adc"] == [(pytest.approx(12.5e-6), pytest.approx(1e-6), "convert")]
    by_category = chrome_trace_tracks(
        [{"ph": "X", "name": "mvm", "cat": "tile", "ts": 0, "dur": 1}], label="cat")
    assert by_category == {"0": [(0.0, pytest.approx(1e-6), "tile")]}
    several = chrome_trace_tracks([
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "chip"}},
        {"ph": "X", "name": "a", "pid": 1, "tid": 0, "ts": 0, "dur": 1},
        {"ph": "X", "name": "b", "pid": 2, "tid": 0, "ts": 0, "dur": 1},
    ])
    assert list(several) == ["chip / 0", "2 / 0"]
    ax = gantt(trace).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["crossbar", "adc"]


def test_gantt_of_a_real_runs_layers_from_a_chrome_trace(sweep, tmp_path):
    _, reports = sweep
    report = reports[0]
    layers = report["mapping"]["layers"]
    events = [
        {"ph": "M", "name": "thread_name", "pid": 0, "tid": i, "args": {"name": layer["name"]}}
        for i, layer in enumerate(layers)
    ]
    start = 0.0
    for sample in range(2):  # sequential mode: the layers of a sample run one after another
        for i, layer in enumerate(layers):
            duration = layer["active_s"] / report["samples"] * 1e6
            events.append({"ph": "X", "name": f"sample {sample}", "pid": 0, "tid": i,
                           "ts": start, "dur": duration})
            start += duration
    (tmp_path / "trace.json").write_text(json.dumps({"traceEvents": events}))
    paths = plot_command(tmp_path / "trace.json", kind="timeline", out=tmp_path / "timeline")
    assert [p.name for p in paths] == ["timeline.png", "timeline.svg"]
    ax = build_plot(tmp_path / "trace.json", kind="timeline").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [layer["name"] for layer in layers]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "sample 0", "sample 1", "any activity in the bin"]
    for layer in layers:  # each layer's row draws its active time of the two samples
        per_sample_us = layer["active_s"] / report["samples"] * 1e6
        for sample in range(2):
            assert _busy(ax, f"track:{layer['name']}:sample {sample}") == pytest.approx(
                per_sample_us, rel=1e-9)
    assert ax.get_xlabel().startswith("time (µs)")


def test_gantt_of_a_recorded_run_draws_the_reports_busy_times(recorded, tmp_path):
    """The timeline plot of a real recording, read back from its file: one row per array,
    core and NoC flow (a flow's lanes are one row), and the busy time each row draws is the
    report's: per tile ``tiles.array_busy_s``, for the core ``controller.busy_s``, for the
    NoC one span per packet of the run."""
    report, path = recorded
    ax = build_plot(path, kind="timeline").axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    flows = [r for r in rows if r.startswith("noc / ")]
    assert len(flows) == len(set(flows)) and flows  # lanes merged into their flow's row
    assert rows[0] == "controller / core 0"
    bands = [str(p.get_gid()) for p in ax.patches if str(p.get_gid()).startswith("track:")]
    for tile, busy_s in enumerate(report["tiles"]["array_busy_s"]):
        drawn = sum(_busy(ax, g) for g in bands if g.startswith(f"track:tile {tile} / array "))
        assert drawn * 1e-3 == pytest.approx(busy_s, rel=1e-9)  # ms axis
    drawn = sum(_busy(ax, g) for g in bands if g.startswith("track:controller / core 0:"))
    assert drawn * 1e-3 == pytest.approx(report["controller"]["busy_s"], rel=1e-9)
    assert ax.get_xlabel().startswith("time (ms)")
    assert ax.get_title() == "timeline of timeline.json"  # the whole run: no caveat
    capped = Timeline(max_events=1000, conversions=False)
    simulate(load_hardware(NOC_CONFIG), TRACE, seed=0, timeline=capped)
    title = build_plot(write_timeline(capped, tmp_path / "capped.json"),
                       kind="timeline").axes[0].get_title()
    dropped = json.loads((tmp_path / "capped.json").read_text())["otherData"]["spans_dropped"]
    assert title == f"timeline of capped.json ({dropped} spans dropped by the cap of 1000)"


@pytest.mark.parametrize(("other", "said"), [
    ({"complete": True, "window_first_sample": 0, "window_samples": None}, None),
    ({"complete": False, "window_first_sample": 1, "window_samples": 1, "spans_dropped": 0},
     "sample 1 of the run"),
    ({"complete": False, "window_first_sample": 2, "window_samples": 3, "spans_dropped": 7,
      "max_events": 10}, "samples 2 to 4 of the run; 7 spans dropped by the cap of 10"),
    ({"complete": False, "window_first_sample": 5, "window_samples": None}, "from sample 5 on"),
    ({"complete": False}, "not the whole run"),
    ({"version": "another tool"}, None),
])
def test_trace_coverage_says_what_an_archsim_timeline_leaves_out(other, said):
    assert trace_coverage({"traceEvents": [], "otherData": other}) == said
    assert trace_coverage([]) is None


@pytest.mark.parametrize(("trace", "message"), [
    ({"events": []}, "expected a Chrome trace"),
    ({"traceEvents": [{"ph": "X", "ts": "0", "dur": 1}]},
     r"traceEvents\[0\]: a 'X' event needs a finite number ts"),
    ({"traceEvents": [{"ph": "X", "ts": 0, "dur": -1}]}, r"traceEvents\[0\]: negative dur"),
    ({"traceEvents": [{"ph": "E", "ts": 0}]}, r"traceEvents\[0\]: an 'E' event with no open 'B'"),
    ({"traceEvents": [3]}, r"traceEvents\[0\]: expected an event object"),
    ({"traceEvents": [{"ph": "X", "ts": 0, "dur": 1, "pid": [1]}]},
     r"traceEvents\[0\]: pid: expected an integer or a string"),
    ({"traceEvents": [{"ph": "M", "name": "thread_name", "args": "adc"}]},
     r"traceEvents\[0\]: args: expected an object, got a string"),
    ({"traceEvents": [{"ph": "M", "name": "thread_sort_index", "args": {"sort_index": "a"}}]},
     r"traceEvents\[0\]: args.sort_index: expected a number"),
    ({"traceEvents": [{"ph": "B", "ts": 5}, {"ph": "E", "ts": 2}]},
     r"traceEvents\[1\]: an 'E' event at ts 2.0 before its 'B' event at 5.0"),
])
def test_malformed_chrome_traces_are_named(trace, message):
    with pytest.raises(ArchsimError, match=message):
        chrome_trace_tracks(trace, source="t.json")


# --------------------------------------------------------------------------------------------
# Saving: formats, atomicity, reproducible bytes, no global state
# --------------------------------------------------------------------------------------------


def _every_kind(folder, timeline):
    yield "line", dict(x=CPA, y=LATENCY, series=PIPE), folder / "results.jsonl"
    yield "pareto", dict(series=PIPE), folder / "results.jsonl"
    yield "breakdown", dict(x=CPA), folder / "results.csv"
    yield "timeline", dict(), timeline
    yield "utilization", dict(), folder / "report.json"
    yield "heatmap", dict(), folder / "report.json"


def test_two_renders_give_identical_bytes(sweep, recorded, tmp_path):
    folder, _ = sweep
    for kind, args, path in _every_kind(folder, recorded[1]):
        first = plot_command(path, kind=kind, out=tmp_path / "a" / kind, **args)
        second = plot_command(path, kind=kind, out=tmp_path / "b" / kind, **args)
        for a, b in zip(first, second):
            assert a.read_bytes() == b.read_bytes(), a.name
        svg = first[1].read_text()
        assert "<dc:date>" not in svg and svg.startswith("<?xml")
        assert first[0].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{kind}.{fmt}" for kind, _, _ in _every_kind(folder, recorded[1])
        for fmt in ("png", "svg"))


def test_save_figure_formats_and_errors(tmp_path):
    fig = utilization_bars({"adc": 0.5})
    assert save_figure(fig, tmp_path / "u.svg", ["svg"]) == [tmp_path / "u.svg"]
    both = save_figure(fig, tmp_path / "u", ("svg", "png"))
    assert both == [tmp_path / "u.svg", tmp_path / "u.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.png", "u.svg"]  # no temporary files
    with pytest.raises(ArchsimError, match="expected one or more of png, svg, got 'pdf'"):
        save_figure(fig, tmp_path / "u", ["pdf"])
    (tmp_path / "file").write_text("")
    with pytest.raises(ArchsimError, match="cannot write the plot"):
        save_figure(fig, tmp_path / "file" / "u")


def test_plotting_leaves_rcparams_alone_and_needs_no_pyplot():
    before = dict(matplotlib.rcParams)
    with matplotlib.rc_context({"font.size": 31.0, "axes.grid": False}):
        ax = metric_lines({"": ([1, 2], [1, 2])}, x="a", y="b").axes[0]
        assert ax.xaxis.label.get_fontsize() == 9.0  # the fixed style, not the user's
        assert matplotlib.rcParams["font.size"] == 31.0
    assert dict(matplotlib.rcParams) == before
    code = ("import sys; from archsim.report import plot_cli, plots; "
            "plots.utilization_bars({'adc': 0.5}); print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# User errors
# --------------------------------------------------------------------------------------------


def test_an_unknown_metric_names_it_the_nearest_columns_and_the_parameters(sweep):
    folder, _ = sweep
    with pytest.raises(ArchsimError) as error:
        build_plot(folder / "results.csv", kind="line", x=CPA, y="per_inference.latency",
                   series=PIPE)
    message = str(error.value)
    assert ("results.csv: no column 'per_inference.latency'; "
            "did you mean per_inference.latency_s") in message
    assert f"parameters {CPA}, {PIPE}" in message


@pytest.mark.parametrize("name", ["results.csv", "results.jsonl"])
def test_the_swept_parameters_are_the_config_paths_that_vary(sweep, name):
    folder, _ = sweep
    table = read_results(folder / name)
    # noc.topology, controller.enabled, ... are config paths too, repeated by the report.
    assert table.parameters == (CPA, PIPE)
    assert len(table) == 5 and len(table.succeeded()) == 4
    csv_text = name.endswith("csv")  # CSV keeps the sweep's text; JSON Lines its booleans
    assert table.values(PIPE)[:2] == (("False", "False") if csv_text else (False, False))


def test_a_non_numeric_x_names_its_values(sweep):
    folder, _ = sweep
    message = (r"column 'mapping.pipeline' is not numeric: row 1 \(point 0\) has 'False' "
               r"\(distinct values: 'False', 'True'\); a non-numeric parameter can be a --series")
    with pytest.raises(ArchsimError, match=message):
        build_plot(folder / "results.csv", kind="line", x=PIPE, y=LATENCY)


def test_quantity_strings_are_numeric_in_si(tmp_path):
    (tmp_path / "results.csv").write_text(
        "point,status,noc.link_length_m,per_inference.latency_s\n0,ok,1mm,1e-6\n1,ok,500um,2e-6\n")
    table = read_results(tmp_path)
    assert list(table.numeric("noc.link_length_m")) == pytest.approx([1e-3, 5e-4])
    ax = build_plot(tmp_path, kind="line", x="noc.link_length_m", y=LATENCY).axes[0]
    assert ax.get_xlabel() == "noc.link_length_m (mm)"


def test_missing_files_name_what_exists(sweep, tmp_path):
    folder, _ = sweep
    beside = r"holds report.json, results.csv, results.jsonl\)"
    with pytest.raises(ArchsimError, match=rf"nope.csv: no such results file \(.*{beside}"):
        build_plot(folder / "nope.csv", kind="line", x=CPA, y=LATENCY)
    with pytest.raises(ArchsimError, match=rf"nope.json: no such file \(.*{beside}"):
        build_plot(folder / "nope.json", kind="heatmap")
    empty = r"no such results \(results.jsonl, results.csv, report.json\) \(.* holds no"
    with pytest.raises(ArchsimError, match=empty):
        build_plot(tmp_path, kind="breakdown")


@pytest.mark.parametrize(("args", "message"), [
    (dict(kind="bars"),
     "--kind: expected one of line, pareto, breakdown, utilization, heatmap, timeline, got 'bars'"),
    (dict(kind="heatmap", x=CPA), "--kind heatmap takes no column arguments, got --x"),
    (dict(kind="breakdown", series=PIPE), "--kind breakdown takes --x, --y, got --series"),
    (dict(kind="line", x=CPA),
     r"--kind line needs --y \(parameters in .*: tile.adc.columns_per_adc, mapping.pipeline\)"),
    (dict(kind="breakdown", y="per_inference.energy"),
     r"no columns below 'per_inference.energy'; did you mean per_inference.energy_j"),
    (dict(kind="timeline"), "expected a Chrome trace"),
])
def test_bad_arguments_are_one_message(sweep, args, message):
    folder, _ = sweep
    path = folder / ("report.json" if args["kind"] in ("heatmap", "timeline") else "results.jsonl")
    with pytest.raises(ArchsimError, match=message):
        build_plot(path, **args)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"point": 0, "status": "error", "error": "boom"}\n')
    failed = r"no design point succeeded \(1 with status other than 'ok'; row 1 \(point 0\): boom\)"
    with pytest.raises(ArchsimError, match=failed):
        build_plot(tmp_path, kind="pareto")
    (tmp_path / "results.jsonl").write_text('{"point": 0}\n{"point": \n')
    with pytest.raises(ArchsimError, match=r"results.jsonl: line 2: not JSON"):
        read_results(tmp_path)
    (tmp_path / "bad.csv").write_text("a,b\n1\n")
    with pytest.raises(ArchsimError, match=r"bad.csv: line 2 has 1 cells, the header 2"):
        read_results(tmp_path / "bad.csv")
    report = {"schema": "archsim-report", "noc": None}
    (tmp_path / "report.json").write_text(json.dumps(report))
    with pytest.raises(ArchsimError, match=r"report.json: the run had no network-on-chip"):
        build_plot(tmp_path / "report.json", kind="heatmap")
    (tmp_path / "plots.png").write_bytes(b"\x89PNG")
    with pytest.raises(ArchsimError, match=r"plots.png: not JSON: not UTF-8 text"):
        build_plot(tmp_path / "plots.png", kind="timeline")


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _cli_cases(folder: Path, report: Path, trace: Path):
    """(arguments, the message's expected part) of user errors, inputs written to ``folder``."""
    (folder / "bad.jsonl").write_text('{"point": 0}\n{"point": \n')
    (folder / "array.json").write_text("[1, 2]")
    (folder / "noc_list.json").write_text('{"schema": "archsim-report", "noc": [1]}')
    (folder / "noc_text.json").write_text(json.dumps({
        "schema": "archsim-report", "noc": {"topology": "mesh", "links": ["0-1", "1-0"],
                                            "routers": 2,
                                            "link_utilization": {"per_link": ["a", 0.1]}}}))
    (folder / "blocker").write_text("")
    yield ["nope.csv", "--kind", "line", "--x", CPA, "--y", LATENCY], "no such results file"
    yield [str(report), "--kind", "timeline"], "expected a Chrome trace"
    yield [str(trace), "--kind", "pareto"], "a Chrome trace (plot it with --kind timeline)"
    yield [str(trace), "--kind", "heatmap"], "a Chrome trace (plot it with --kind timeline)"
    yield ["array.json", "--kind", "heatmap"], "or an archsim noc report, got a list"
    yield ["noc_list.json", "--kind", "heatmap"], "noc: expected an object, got a list"
    yield ["noc_text.json", "--kind", "heatmap"], "link utilization [0]: expected a fraction"
    yield [".", "--kind", "heatmap"], "a directory, expected a JSON file"
    yield ["bad.jsonl", "--kind", "pareto"], "bad.jsonl: line 2: not JSON"
    yield [str(report), "--kind", "pareto", "--y", "per_inference.energy"], (
        "no column 'per_inference.energy'; did you mean per_inference.energy_j")
    yield [str(report), "--kind", "pareto", "--x", "latency"], "no column 'latency'"
    yield [str(report), "--kind", "heatmap", "--out", "blocker/heat"], "cannot write the plot"


def test_user_errors_are_one_line_exit_2_and_leave_no_files(sweep, recorded, tmp_path,
                                                             monkeypatch, capsys):
    """Each bad input or argument on the command line: status 2, one line on standard error
    naming the problem, nothing on standard output, no file written (no traceback: anything
    but an ArchsimError would escape main() and fail the test)."""
    folder, _ = sweep
    monkeypatch.chdir(tmp_path)
    for args, message in list(_cli_cases(tmp_path, folder / "report.json", recorded[1])):
        before = _files(tmp_path)
        assert main(["plot", *args]) == 2, args
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and err.startswith("archsim: error: "), err
        assert message in err, (args, err)
        assert _files(tmp_path) == before, args


def test_an_output_in_a_missing_directory_is_made(sweep, tmp_path, capsys):
    folder, _ = sweep
    out = tmp_path / "new" / "dir" / "heat"
    assert main(["plot", str(folder / "report.json"), "--kind", "heatmap", "--out", str(out)]) == 0
    assert _files(tmp_path) == ["new", "new/dir", "new/dir/heat.png", "new/dir/heat.svg"]
    assert capsys.readouterr().out == f"wrote {out}.png and {out}.svg\n"
