"""The command line: the main job, and user errors as one line, exit 2, nothing written."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import CONFIGS

from archsim.cli import main

WU = str(CONFIGS / "wu2023_64x64.yaml")


def test_run_prints_a_summary_and_writes_identical_reports(chain_trace, tmp_path, capsys):
    trace = str(chain_trace([(25, 4, 12), (100, 12, 3)], samples=2))
    assert main(["run", WU, trace, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "energy breakdown" in out
    assert main(["run", WU, trace, "--out", str(tmp_path / "b")]) == 0
    first = (tmp_path / "a" / "report.json").read_bytes()
    assert first == (tmp_path / "b" / "report.json").read_bytes()
    report = json.loads(first)
    assert report["per_inference"]["counters"]["crossbars"] == 3
    assert (tmp_path / "a" / "report.csv").read_text().startswith("key,value\n")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tile.adc.bits=0"], "tile.adc.bits: must be 1..16, got 0"),
        (["tile.adc.bitz=3"], "tile.adc.bitz: unknown field"),
        (["chip.clock_hz=5"], "chip.clock_hz: expected a quantity in Hz"),
        (["tile.adc.columns_per_adc=7"], "tile.adc.columns_per_adc: must divide"),
        (["chip.tiles=1"], "needs 2 crossbars (fc1: 2) but the chip has 1"),
    ],
)
def test_user_errors_are_one_line_exit_2_and_write_nothing(
    chain_trace, tmp_path, capsys, overrides, message
):
    trace = str(chain_trace([(100, 12, 3)]))
    out = tmp_path / "out"
    args = ["run", WU, trace, "--out", str(out)]
    for override in overrides:
        args += ["--set", override]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_corrupt_and_truncated_traces_are_user_errors(chain_trace, tmp_path, capsys):
    trace = chain_trace([(25, 4, 3)], samples=3)
    lines = trace.read_text().splitlines(keepends=True)
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(lines[:-2]))
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[3:]))
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(trace.read_bytes())[:-20])
    for bad in (truncated, corrupt, gz, tmp_path / "missing.jsonl"):
        assert main(["run", WU, str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("archsim: error: ") and err.count("\n") == 1, err
        assert main(["trace", "validate", str(bad)]) == 2
        capsys.readouterr()


def test_validate_and_trace_info(chain_trace, capsys):
    assert main(["validate", WU]) == 0
    assert "ok: wu2023_64x64" in capsys.readouterr().out
    trace = str(chain_trace([(25, 4, 3)]))
    assert main(["trace", "info", trace]) == 0
    assert "chain" in capsys.readouterr().out


def test_bad_arguments_and_unwritable_output(chain_trace, tmp_path, capsys):
    trace = str(chain_trace([(25, 4, 3)]))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", WU, trace, "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "--seed: expected an integer >= 0" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", WU, trace, "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report to" in err and err.count("\n") == 1


def test_huge_copies_are_refused_at_once(chain_trace, capsys):
    trace = str(chain_trace([(25, 4, 3)]))
    assert main(["run", WU, trace, "--set", "mapping.copies={fc1: 100000000}"]) == 2
    assert "needs 50000000 crossbars" in capsys.readouterr().err


def test_bad_trace_export_arguments(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    assert main(["trace", "export", "alexnet", "--out", str(out)]) == 2
    assert "unknown model 'alexnet'" in capsys.readouterr().err
    assert main(["trace", "export", "vgg8-wu", "--train", "--out", str(out)]) == 2
    capsys.readouterr()
    assert not out.exists()


def test_noc_command_prints_latency_and_throughput(capsys):
    config = str(CONFIGS / "noc_mesh8x8.yaml")
    assert main(["noc", config, "--pattern", "uniform", "--rate", "0.02", "--packets", "300"]) == 0
    out = capsys.readouterr().out
    assert "bisection bound" in out and "overhead A/(A+D)" in out
    assert main(["noc", config, "--pattern", "zigzag", "--rate", "0.02"]) == 2
    assert "--pattern: expected one of" in capsys.readouterr().err
    assert main(["noc", config, "--pattern", "uniform", "--rate", "2"]) == 2
    assert "--rate" in capsys.readouterr().err
    assert main(["noc", str(CONFIGS / "wu2023_64x64.yaml"), "--pattern", "uniform",
                 "--rate", "0.1"]) == 2
    assert "no network-on-chip" in capsys.readouterr().err
    assert main(["noc", config, "--pattern", "uniform", "--rate", "0.1",
                 "--set", "noc.buffer_flits=2"]) == 2
    assert "noc.buffer_flits" in capsys.readouterr().err


def test_noc_report_has_per_link_utilisation(tmp_path, capsys):
    config = str(CONFIGS / "noc_mesh8x8.yaml")
    out = tmp_path / "noc"
    args = ["noc", config, "--pattern", "neighbor", "--rate", "0.05", "--packets", "640",
            "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    noc = report["noc"]
    per_link = noc["link_utilization"]["per_link"]
    assert len(noc["links"]) == len(per_link) == 224  # 8x8 mesh, directed
    assert all(0.0 <= u <= 1.0 for u in per_link)
    # Neighbour traffic, (x, y) -> (x + 1 mod 8, y), never leaves its row: y links stay idle.
    links = [tuple(map(int, link.split("-"))) for link in noc["links"]]
    usage = dict(zip(links, per_link))
    assert all(u == 0.0 for (a, b), u in usage.items() if abs(a - b) == 8)
    assert all(usage[(n, n + 1)] > 0.0 for n in range(64) if n % 8 != 7)
    assert report["traffic"]["packets"] == noc["packets_delivered"] == 640
    first = (out / "report.json").read_bytes()
    assert main(args) == 0
    assert (out / "report.json").read_bytes() == first


def test_program_prints_the_instruction_stream(chain_trace, capsys):
    """Two dense layers on three tiles of a 3x3 mesh: fc2's input travels from fc1's tile to
    fc2's two row-block tiles, so the stream sends and receives packets between the loops."""
    trace = str(chain_trace([(25, 4, 12), (100, 12, 3)]))
    assert main(["program", str(CONFIGS / "wu2023_64x64_noc.yaml"), trace]) == 0
    out = capsys.readouterr().out
    assert "; layer fc1 (dense)" in out and "loop    12" in out
    # fc1's 4 outputs x 8 bits, split by the rows of fc2's two row blocks (64 + 36 of 100).
    assert "send    1       ; 20 bits of fc1 to tile 1" in out
    assert "recv    1       ; 12 bits of fc1 from tile 0" in out
    assert "recv" in out and out.count("barrier 1") == 2


def test_run_on_a_noc_config_reports_controller_and_noc(chain_trace, tmp_path, capsys):
    trace = str(chain_trace([(25, 4, 12), (100, 12, 3)], samples=2))
    noc = str(CONFIGS / "wu2023_64x64_noc.yaml")
    assert main(["run", noc, trace, "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "controller   1 chip core(s)" in out and "noc          mesh" in out
    report = json.loads((tmp_path / "n" / "report.json").read_text())
    breakdown = report["latency_breakdown_s"]
    assert breakdown["noc"] > 0 and breakdown["controller"] > 0
    assert sum(breakdown.values()) == pytest.approx(report["latency_s"]["mean"], rel=1e-12)


def test_scrramble_prints_overhead_and_writes_a_report(tmp_path, capsys):
    """An untrained 3-core network: the measured overhead equals A / (A + D). The widest source
    is the 784-pixel input, 49 blocks of 16; 0.2 of them is 10 blocks, named by 4 bits; 64
    routers take 6: A = 10, D = 16 x 8 = 128."""
    config = str(CONFIGS / "scrramble_256.yaml")
    args = ["scrramble", config, "--cores", "2,1", "--epochs", "0", "--samples", "2"]
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "(untrained)" in out and "A = 10 (6 router + 4 chunk bits), D = 128" in out
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert report["scrramble"]["measured_overhead"] == pytest.approx(10 / (10 + 128), rel=1e-12)
    energy = report["per_inference"]
    assert energy["energy_j"] == pytest.approx(sum(energy["energy_breakdown_j"].values()))
    assert (tmp_path / "s" / "scrramble.jsonl.gz").is_file()  # the trace it ran, to run again


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--density", "0"], "scrramble.density: must be in (0, 1]"),
        (["--cores", "2,x"], "--cores: expected comma-separated integers"),
        (["--set", "tile.crossbar.signed_weights=differential"], "tile.crossbar.signed_weights"),
    ],
)
def test_scrramble_user_errors_are_one_line(argv, message, tmp_path, capsys):
    config = str(CONFIGS / "scrramble_256.yaml")
    code = main(["scrramble", config, "--epochs", "0", "--samples", "1", *argv,
                 "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("archsim: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_noc_warns_when_too_few_packets_make_no_steady_state(capsys):
    """63-flit packets through 1-flit wormhole buffers: 200 packets are all created within
    fewer cycles than one packet's zero-load latency, so the throughput is not a steady
    state and the summary says so; 5,000 4-flit packets at 0.01 packets/node/cycle are."""
    config = str(CONFIGS / "noc_mesh8x8.yaml")
    assert main(["noc", config, "--pattern", "uniform", "--rate", "0.5", "--packets", "200",
                 "--data-bits", "2000", "--set", "noc.flow_control=wormhole",
                 "--set", "noc.buffer_flits=1"]) == 0
    assert "not a steady state" in capsys.readouterr().out
    assert main(["noc", config, "--pattern", "uniform", "--rate", "0.01", "--packets", "5000"]) == 0
    assert "not a steady state" not in capsys.readouterr().out


def test_sweep_then_plot_from_the_command_line(chain_trace, tmp_path, capsys):
    """A 3-point sweep over columns per ADC, then a line plot of its latency: the CLI writes
    the tables and both image formats, and names a misspelt column in one line."""
    trace = chain_trace([(64, 32, 10)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nname: cpa\n"
        f"config: {CONFIGS / 'wu2023_64x64.yaml'}\ntraces: [{trace}]\n"
        "axes:\n  - {path: tile.adc.columns_per_adc, values: [2, 4, 8]}\n"
        "metrics: [per_inference.latency_s, per_inference.energy_j]\n"
    )
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    assert "3 points, 3 ok" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    # 10 vectors x G column groups x (8 slices + 1 conversion) cycles at 10 ns.
    assert [r["per_inference.latency_s"] for r in rows] == pytest.approx(
        [10 * g * 9 * 10e-9 for g in (2, 4, 8)], rel=1e-12
    )
    assert main(["plot", str(out), "--x", "tile.adc.columns_per_adc",
                 "--y", "per_inference.latency_s"]) == 0
    assert (out / "plots" / "line_per_inference.latency_s.png").exists()
    assert (out / "plots" / "line_per_inference.latency_s.svg").exists()
    capsys.readouterr()
    assert main(["plot", str(out), "--x", "tile.adc.columns", "--y", "per_inference.latency_s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsim: error: ") and "tile.adc.columns" in err


def test_run_writes_a_timeline_whose_tile_spans_match_the_report(chain_trace, tmp_path):
    """--timeline writes Chrome Trace Event JSON next to the report; each array's mvm spans
    sum to its tile's busy time in the report (both in seconds; ts/dur in microseconds)."""
    trace = str(chain_trace([(25, 4, 12), (100, 12, 3)], samples=2))
    path = tmp_path / "t.json"
    assert main(["run", WU, trace, "--out", str(tmp_path / "r"), "--timeline", str(path)]) == 0
    events = json.loads(path.read_text())["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    busy: dict[str, float] = {}
    for e in events:
        if e["ph"] == "X" and names[(e["pid"], e["tid"])].startswith("array") and \
                not names[(e["pid"], e["tid"])].endswith("adc"):
            busy[names[(e["pid"], e["tid"])]] = busy.get(names[(e["pid"], e["tid"])], 0.0) + e["dur"]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert sorted(v * 1e-6 for v in busy.values()) == pytest.approx(
        sorted(report["tiles"]["array_busy_s"]), rel=1e-12
    )


def test_run_timeline_window_and_cap_from_the_command_line(chain_trace, tmp_path, capsys):
    trace = str(chain_trace([(25, 4, 12), (100, 12, 3)], samples=4))
    path = tmp_path / "t.json"
    args = ["run", WU, trace, "--out", str(tmp_path / "r"), "--timeline", str(path)]
    window = ["--timeline-first-sample", "1", "--timeline-samples", "2"]
    assert main([*args, *window, "--timeline-max-spans", "5"]) == 0
    other = json.loads(path.read_text())["otherData"]
    assert other["window_first_sample"] == 1 and other["window_samples"] == 2
    assert other["max_events"] == 5 and other["spans_dropped"] > 0
    capsys.readouterr()
    # Without --timeline, or past the trace's last sample: one error, nothing written.
    for bad, message in [
        (["run", WU, trace, "--out", str(tmp_path / "a"), "--timeline-samples", "2"],
         "need --timeline FILE"),
        (["run", WU, trace, "--out", str(tmp_path / "b"), "--timeline", str(tmp_path / "b.json"),
          "--timeline-first-sample", "4"], "has samples 0..3, got 4"),
        (["run", WU, trace, "--out", str(tmp_path / "b"), "--timeline", str(tmp_path / "b.json"),
          "--timeline-first-sample", "3", "--timeline-samples", "2"],
         "samples 3..4 asked for, but"),
    ]:
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("archsim: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not (tmp_path / "b.json").exists()
