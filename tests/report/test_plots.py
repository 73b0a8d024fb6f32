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
from matplotlib.collections import PatchCollection, PolyCollection
from matplotlib.patches import FancyArrowPatch

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
)
from archsim.sim import simulate

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
    return build_report(result, account(result, config), config=config, config_file=NOC_CONFIG,
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


def test_utilization_bars_of_one_run_in_percent(sweep):
    _, reports = sweep
    utilization = reports[0]["per_inference"]["utilization"]
    ax = utilization_bars(utilization).axes[0]
    assert len(ax.containers) == 1 and len(ax.containers[0]) == len(utilization)
    heights = [b.get_height() for b in ax.containers[0]]
    assert heights == pytest.approx([100 * v for v in utilization.values()])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(utilization)
    assert ax.get_ylabel() == "per_inference.utilization (%)"


def test_utilization_bars_grouped_by_design_point(sweep):
    folder, reports = sweep
    ax = build_plot(folder / "results.jsonl", kind="utilization", x=PIPE).axes[0]
    assert len(ax.containers) == 4
    assert all(len(c) == len(reports[0]["per_inference"]["utilization"]) for c in ax.containers)
    assert ax.get_legend().get_title().get_text() == PIPE
    one = build_plot(folder / "report.json", kind="utilization").axes[0]
    assert len(one.containers) == 1 and "wu2023_64x64_noc" in one.get_title()


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
    assert fig.axes[1].get_ylabel() == "link utilisation (%)"  # the colour bar
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


def test_gantt_draws_a_row_per_track_and_a_bar_per_span():
    tracks = {"tile 0": [(0.0, 2e-6, "conv1"), (3e-6, 1e-6, "conv2")],
              "controller": [(1e-6, 0.5e-6, "issue")], "noc": []}
    ax = gantt(tracks).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tile 0", "controller", "noc"]
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert sum(len(c.get_paths()) for c in bars) == 3
    assert ax.get_xlabel() == "time (µs)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["conv1", "conv2", "issue"]


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
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sample 0", "sample 1"]
    assert sum(len(c.get_paths()) for c in ax.collections) == 2 * len(layers)
    assert ax.get_xlabel() == "time (µs)"


@pytest.mark.parametrize(("trace", "message"), [
    ({"events": []}, "expected a Chrome trace"),
    ({"traceEvents": [{"ph": "X", "ts": "0", "dur": 1}]},
     r"traceEvents\[0\]: a 'X' event needs a finite number ts"),
    ({"traceEvents": [{"ph": "X", "ts": 0, "dur": -1}]}, r"traceEvents\[0\]: negative dur"),
    ({"traceEvents": [{"ph": "E", "ts": 0}]}, r"traceEvents\[0\]: an 'E' event with no open 'B'"),
    ({"traceEvents": [3]}, r"traceEvents\[0\]: expected an event object"),
])
def test_malformed_chrome_traces_are_named(trace, message):
    with pytest.raises(ArchsimError, match=message):
        chrome_trace_tracks(trace, source="t.json")


# --------------------------------------------------------------------------------------------
# Saving: formats, atomicity, reproducible bytes, no global state
# --------------------------------------------------------------------------------------------


def _every_kind(folder):
    yield "line", dict(x=CPA, y=LATENCY, series=PIPE), folder / "results.jsonl"
    yield "pareto", dict(series=PIPE), folder / "results.jsonl"
    yield "breakdown", dict(x=CPA), folder / "results.csv"
    yield "utilization", dict(), folder / "report.json"
    yield "heatmap", dict(), folder / "report.json"


def test_two_renders_give_identical_bytes(sweep, tmp_path):
    folder, _ = sweep
    for kind, args, path in _every_kind(folder):
        first = plot_command(path, kind=kind, out=tmp_path / "a" / kind, **args)
        second = plot_command(path, kind=kind, out=tmp_path / "b" / kind, **args)
        for a, b in zip(first, second):
            assert a.read_bytes() == b.read_bytes(), a.name
        svg = first[1].read_text()
        assert "<dc:date>" not in svg and svg.startswith("<?xml")
        assert first[0].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{kind}.{fmt}" for kind, _, _ in _every_kind(folder) for fmt in ("png", "svg"))


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
    empty = r"no such results \(results.jsonl or results.csv\) \(.* holds no"
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
