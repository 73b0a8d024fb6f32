"""archsim plot handed hostile files: deep JSON, huge or non-regular files, overlong CSV cells,
integers beyond a float. One error line each, no plot written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bad_input_cli import fails_cleanly

from archsim.errors import ArchsimError
from archsim.report.results import MAX_NESTING, MAX_RESULTS_BYTES, read_json, read_results

DEEP = 10_000


def plot(capsys, path: Path, *args: str, within_s: float = 5.0) -> str:
    out = path.parent / "plot_out"
    line = fails_cleanly(capsys, ["plot", str(path), *args, "--out", str(out)], within_s=within_s)
    assert not list(path.parent.glob("plot_out*"))  # nothing written
    return line


# -- 2. deeply nested JSON --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["timeline", "heatmap"])
def test_a_deeply_nested_json_document(tmp_path, capsys, kind):
    path = tmp_path / "report.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    line = plot(capsys, path, "--kind", kind)
    assert f"{path}: not JSON this reader accepts: nested too deeply" in line


def test_json_nested_below_the_decoder_limit_is_refused_too(tmp_path, capsys):
    path = tmp_path / "report.json"
    deep = json.loads("[" * 500 + "]" * 500)
    path.write_text(json.dumps({"schema": "archsim-report", "x": deep}))
    line = plot(capsys, path, "--kind", "line", "--x", "point", "--y", "x")
    assert f"nested deeper than {MAX_NESTING} levels" in line


def test_a_deeply_nested_results_row(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text('{"point": 0, "x": 1}\n{"point": 1, "x": ' + "[" * DEEP + "]" * DEEP + "}\n")
    line = plot(capsys, path, "--x", "point", "--y", "x")
    assert f"{path}: line 2: not JSON this reader accepts: nested too deeply" in line


# -- 4. numbers no plot can hold ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_integer_beyond_a_float(tmp_path, capsys, suffix):
    big = "1" + "0" * 400
    path = tmp_path / f"results{suffix}"
    if suffix == ".csv":
        path.write_text(f"point,tile.adc.bits,y\n0,4,{big}\n1,6,2\n")
    else:
        path.write_text(f'{{"point": 0, "tile.adc.bits": 4, "y": {big}}}\n'
                        '{"point": 1, "tile.adc.bits": 6, "y": 2}\n')
    line = plot(capsys, path, "--x", "tile.adc.bits", "--y", "y")
    assert "column 'y': row 1 (point 0) has an integer too large for a plot" in line


def test_a_csv_cell_beyond_the_field_limit(tmp_path, capsys):
    path = tmp_path / "results.csv"
    path.write_text('point,y\n0,1\n1,"' + "a" * 200_000 + '"\n')
    line = plot(capsys, path, "--x", "point", "--y", "y")
    assert f"{path}: line 3: not CSV: field larger than field limit" in line


def test_a_results_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"point": 0}\n{"point": "\xff"}\n')
    assert "line 2: not UTF-8 text" in plot(capsys, path, "--x", "point", "--y", "point")


# -- 12. not a regular file, or too large --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("results.csv", ["--x", "point", "--y", "y"]),
        ("results.jsonl", ["--x", "point", "--y", "y"]),
        ("trace.json", ["--kind", "timeline"]),
        ("report.json", ["--kind", "heatmap"]),
    ],
)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, capsys, name, args):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    line = plot(capsys, fifo, *args, within_s=2)
    assert f"{fifo}: cannot read: not a regular file (a FIFO)" in line


def test_dev_zero_is_refused(capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    args = ["plot", "/dev/zero", "--kind", "timeline", "--out", "/nonexistent/x"]
    line = fails_cleanly(capsys, args)
    assert "/dev/zero: cannot read: not a regular file (a character device)" in line


@pytest.mark.parametrize("name", ["results.csv", "results.jsonl", "trace.json"])
def test_a_file_over_the_limit_is_refused_before_reading(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(MAX_RESULTS_BYTES + 1)  # sparse: no disk space, no time
    read = read_json if name.endswith(".json") else read_results
    with pytest.raises(ArchsimError, match=r"1,073,741,825 bytes; the limit of a file to plot is "
                                           r"1,073,741,824 bytes \(1 GiB\)"):
        read(path)


def test_a_file_growing_past_the_limit_while_read_stops_there(tmp_path, monkeypatch):
    import archsim.report.results as results

    monkeypatch.setattr(results, "MAX_RESULTS_BYTES", 100)
    path = tmp_path / "results.jsonl"
    path.write_text('{"point": 0}\n' * 5)  # 65 bytes: within the limit when opened
    real_open = results._open

    def grows(file):
        handle = real_open(file)
        with open(file, "a") as more:
            more.write('{"point": 1}\n' * 100)
        return handle

    monkeypatch.setattr(results, "_open", grows)
    with pytest.raises(ArchsimError, match="more bytes than that; the limit"):
        read_results(path)


# -- found by fuzzing ----------------------------------------------------------------------------


def test_a_column_name_with_a_line_break_is_one_line(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text('{"point": 0, "per_inference.latency_s": 1, "p\\r_inference.latency_s": 2}\n')
    line = plot(capsys, path, "--x", "point", "--y", "per_inference.latency_z")
    assert "p\\r_inference.latency_s" in line
    path.write_text('{"point": 0, "status": "error", "error": "a\\nb"}\n')
    assert "no design point succeeded" in plot(capsys, path, "--x", "point", "--y", "error")


@pytest.mark.parametrize(
    ("links", "message"),
    [
        (["1" * 5000 + "-1"], "expected a link 'u-v' or [u, v] of router ids"),
        (["\u00b2-1"], "expected a link 'u-v'"),
        ([[10**18, 0]], "the report's network needs more than 10^18 routers"),
        ([[True, False]], "expected a link"),
    ],
)
def test_forged_noc_links(tmp_path, capsys, links, message):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema": "archsim-noc-report", "links": links,
                                "link_utilization": [0.5] * len(links)}))
    line = plot(capsys, path, "--kind", "heatmap", within_s=2)
    assert message in line and len(line) < 400
