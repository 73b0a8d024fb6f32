"""Tests of the trace format, versions 1 to 4 (archsim.workload.trace): round trips,
validation, streaming (version 5's transformer operations: test_trace_v5.py)."""

from __future__ import annotations

import copy
import gzip
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.errors import TraceError
from archsim.workload.trace import (
    RECORD_KINDS,
    TRACE_VERSION,
    LayerSpec,
    OpRecord,
    TraceReader,
    TraceWriter,
    format_summary,
    read_header,
    trace_info,
    validate_trace,
)

# A small network using every layer kind:
# input 6x6x1 -> conv1 (3x3) -> relu1 -> pool1 (max 2x2) -> apool (avg 1x1) -> flat -> fc1
# -> relu2 -> fc2 -> add1 (relu2 + fc2)
LAYERS: list[dict[str, Any]] = [
    {"name": "conv1", "kind": "conv", "inputs": ["input"], "in_shape": [6, 6, 1],
     "out_shape": [4, 4, 2], "kernel": [3, 3], "stride": 1, "padding": 0, "rows": 9, "cols": 2},
    {"name": "relu1", "kind": "relu", "inputs": ["conv1"], "in_shape": [4, 4, 2],
     "out_shape": [4, 4, 2]},
    {"name": "pool1", "kind": "maxpool", "inputs": ["relu1"], "in_shape": [4, 4, 2],
     "out_shape": [2, 2, 2], "kernel": [2, 2], "stride": 2},
    {"name": "apool", "kind": "avgpool", "inputs": ["pool1"], "in_shape": [2, 2, 2],
     "out_shape": [2, 2, 2], "kernel": [1, 1], "stride": 1, "padding": 0},
    {"name": "flat", "kind": "flatten", "inputs": ["apool"], "in_shape": [2, 2, 2],
     "out_shape": [8]},
    {"name": "fc1", "kind": "dense", "inputs": ["flat"], "in_shape": [8], "out_shape": [4],
     "rows": 8, "cols": 4},
    {"name": "relu2", "kind": "relu", "inputs": ["fc1"], "in_shape": [4], "out_shape": [4]},
    {"name": "fc2", "kind": "dense", "inputs": ["relu2"], "in_shape": [4], "out_shape": [4],
     "rows": 4, "cols": 4},
    {"name": "add1", "kind": "add", "inputs": ["relu2", "fc2"], "in_shape": [4],
     "out_shape": [4]},
]
SAMPLES = 2
README = Path(__file__).resolve().parents[2] / "traces" / "README.md"


def make_header(samples: int = SAMPLES) -> dict[str, Any]:
    return {
        "model": "tiny",
        "samples": samples,
        "seed": 7,
        "network": {"input_shape": [6, 6, 1], "weight_bits": 8, "act_bits": 8,
                    "layers": copy.deepcopy(LAYERS)},
        "meta": {"note": "test", "nested": {"list": [1, 2.5, None]}},
    }


def _mvm(layer: str, rows: int, cols: int, vectors: int, bits: int = 8, kind: str = "mvm",
         phase: str = "forward") -> dict[str, Any]:
    return {"phase": phase, "layer": layer, "kind": kind, "vectors": vectors, "rows": rows,
            "cols": cols, "input_bits": bits, "input_nz": 0.25,
            "bitplane_nz": [0.5 / (i + 1) for i in range(bits)],
            "bitplane_allzero": [i / bits for i in range(bits)]}


def sample_records(sample: int) -> list[dict[str, Any]]:
    """One training step of one sample: every record kind of the table."""
    records = [
        _mvm("conv1", 9, 2, 16),
        {"phase": "forward", "layer": "relu1", "kind": "relu", "elements": 32},
        {"phase": "forward", "layer": "pool1", "kind": "maxpool", "elements": 32, "outputs": 8},
        {"phase": "forward", "layer": "apool", "kind": "avgpool", "elements": 8, "outputs": 8},
        {"phase": "forward", "layer": "flat", "kind": "flatten", "elements": 8},
        _mvm("fc1", 8, 4, 1, bits=4),
        {"phase": "forward", "layer": "relu2", "kind": "relu", "elements": 4},
        _mvm("fc2", 4, 4, 1),
        {"phase": "forward", "layer": "add1", "kind": "add", "elements": 4},
        {"phase": "backward", "layer": "add1", "kind": "add", "elements": 4},
        _mvm("fc2", 4, 4, 1, kind="mvm_t", phase="backward"),
        {"phase": "backward", "layer": "relu2", "kind": "relu", "elements": 4},
        _mvm("fc1", 8, 4, 1, bits=6, kind="mvm_t", phase="backward"),
        {"phase": "backward", "layer": "apool", "kind": "avgpool", "elements": 8, "outputs": 8},
        {"phase": "backward", "layer": "pool1", "kind": "maxpool", "elements": 32, "outputs": 8},
        {"phase": "backward", "layer": "relu1", "kind": "relu", "elements": 32},
        _mvm("conv1", 9, 2, 16, kind="mvm_t", phase="backward"),
        {"phase": "update", "layer": "conv1", "kind": "digital", "flops": 22, "bits": 704},
        {"phase": "update", "layer": "conv1", "kind": "outer", "vectors": 2, "rows": 9, "cols": 2,
         "bit_length": 5, "pulses": 31, "array": "A"},
        {"phase": "update", "layer": "conv1", "kind": "transfer", "reads": 1, "input_bits": 1,
         "bit_length": 1, "pulses": 2},
        {"phase": "update", "layer": "conv1", "kind": "write", "cells": 18, "pulses": 40,
         "verify_reads": 40, "rounds": 9},
        {"phase": "update", "layer": "fc1", "kind": "mask", "block_rows": 4, "block_cols": 2,
         "blocks_total": 4, "blocks_nonzero": 3, "positions": [0, 1, 3]},
        {"phase": "update", "layer": "fc1", "kind": "prune", "blocks": 1},
        {"phase": "update", "layer": "fc1", "kind": "regrow", "blocks": 0},
    ]
    return [{"sample": sample, **record} for record in records]


def all_records(samples: int = SAMPLES) -> list[dict[str, Any]]:
    return [record for sample in range(samples) for record in sample_records(sample)]


def write_trace(path: Path, records: list[dict[str, Any]] | None = None,
                header: dict[str, Any] | None = None, version: int = TRACE_VERSION) -> Path:
    header = make_header() if header is None else header
    with TraceWriter(path, header, version=version) as writer:
        for record in all_records() if records is None else records:
            writer.write(record)
    return path


def read_all(path: Path) -> list[OpRecord]:
    with TraceReader(path) as reader:
        return list(reader)


def expected_record(index: int, record: dict[str, Any]) -> OpRecord:
    fields = {key: tuple(value) if isinstance(value, list) else value
              for key, value in record.items()}
    return OpRecord(index=index, **fields)


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


# The block-sparse products of version 4 replace a layer's mvm records: test_trace_sparse.py.
SPMM_KINDS = {("forward", "spmm"), ("backward", "spmm_t"), ("update", "spmm_w")}
# The transformer operations of version 5 need layers of their own: test_trace_v5.py.
TRANSFORMER_KINDS = {
    ("forward", "matmul"), ("forward", "softmax"), ("forward", "layernorm"), ("forward", "gelu")
}


def test_record_table_covers_every_kind() -> None:
    written = {(record["phase"], record["kind"]) for record in sample_records(0)}
    assert written == set(RECORD_KINDS) - SPMM_KINDS - TRANSFORMER_KINDS


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = write_trace(tmp_path / name)
    records = all_records()
    with TraceReader(path) as reader:
        header = reader.header
        assert reader.compressed == name.endswith(".gz")
        assert list(reader) == [expected_record(i, r) for i, r in enumerate(records)]
    assert header.version == TRACE_VERSION  # as asked (its mask positions need version 4)
    assert (header.model, header.samples, header.seed) == ("tiny", SAMPLES, 7)
    assert header.meta["nested"]["list"] == (1, 2.5, None)
    network = header.network
    assert network.input_shape == (6, 6, 1)
    assert (network.weight_bits, network.act_bits) == (8, 8)
    assert [layer.name for layer in network.layers] == [layer["name"] for layer in LAYERS]
    assert network.layer("conv1") == LayerSpec(
        "conv1", "conv", ("input",), (6, 6, 1), (4, 4, 2), rows=9, cols=2, kernel=(3, 3),
        stride=1, padding=0,
    )
    assert network.layer("add1").inputs == ("relu2", "fc2")
    assert [layer.name for layer in network.matrix_layers()] == ["conv1", "fc1", "fc2"]
    assert network.layer("relu1").is_matrix is False
    with pytest.raises(KeyError):
        network.layer("nope")
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind


def test_written_file_is_json_lines_with_an_end_record(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert (header["format"], header["version"]) == ("archsim-trace", TRACE_VERSION)
    first = json.loads(lines[1])
    assert list(first)[:5] == ["type", "sample", "phase", "layer", "kind"]
    assert json.loads(lines[-1]) == {"type": "end", "records": len(all_records())}
    assert path.read_bytes().endswith(b"\n")


def test_record_properties(tmp_path: Path) -> None:
    records = read_all(write_trace(tmp_path / "t.jsonl"))
    conv = records[0]
    assert (conv.kind, conv.macs, conv.input_nz) == ("mvm", 16 * 9 * 2, 0.25)
    assert isinstance(conv.bitplane_nz, tuple) and len(conv.bitplane_nz) == 8
    assert records[1].macs == 0 and records[1].elements == 32
    outer = next(r for r in records if r.kind == "outer")
    assert outer.macs == 2 * 9 * 2
    with pytest.raises(AttributeError):
        conv.vectors = 3  # type: ignore[misc]


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    gz = write_trace(tmp_path / "t.jsonl.gz")
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    disguised = tmp_path / "plain-looking.jsonl"
    gz.rename(disguised)
    plain = write_trace(tmp_path / "t.jsonl")
    looks_gz = tmp_path / "looks.gz"
    plain.rename(looks_gz)
    assert read_all(disguised) == read_all(looks_gz)
    with TraceReader(disguised) as reader:
        assert reader.compressed
    with TraceReader(looks_gz) as reader:
        assert not reader.compressed


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    a = write_trace(tmp_path / "a.jsonl.gz")
    b = write_trace(tmp_path / "b.jsonl.gz")
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes()) == write_trace(tmp_path / "c.jsonl").read_bytes()


def test_writer_accepts_numpy_values_and_tuples(tmp_path: Path) -> None:
    header = make_header()
    header["samples"] = np.int64(SAMPLES)
    header["network"]["input_shape"] = (6, 6, 1)
    header["meta"] = {"array": np.arange(3), "value": np.float32(0.5)}
    records = all_records()
    records[0] = {**records[0], "vectors": np.int64(16), "input_nz": np.float64(0.25),
                  "bitplane_nz": np.array(records[0]["bitplane_nz"]),
                  "bitplane_allzero": tuple(records[0]["bitplane_allzero"])}
    path = write_trace(tmp_path / "t.jsonl", records, header)
    assert read_all(path) == [expected_record(i, r) for i, r in enumerate(all_records())]
    assert read_header(path).meta == {"array": (0, 1, 2), "value": 0.5}


def test_fraction_fields_accept_integral_zero_and_one(tmp_path: Path) -> None:
    records = all_records()
    records[0] = {**records[0], "input_nz": 1, "bitplane_allzero": [0, 1] + [0.5] * 6}
    read = read_all(write_trace(tmp_path / "t.jsonl", records))[0]
    assert read.input_nz == 1.0 and type(read.input_nz) is float
    assert read.bitplane_allzero[:2] == (0.0, 1.0)


def test_reader_can_iterate_again_and_stale_iterators_stop(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl.gz")
    with TraceReader(path) as reader:
        first = iter(reader)
        head = [next(first), next(first)]
        second = list(reader)
        assert second[:2] == head and len(second) == len(all_records())
        with pytest.raises(RuntimeError, match="stale"):
            next(first)
    with pytest.raises(ValueError, match="closed"):
        iter(reader)


def test_summary_and_info(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl.gz")
    summary = validate_trace(path)
    assert summary.records == len(all_records())
    assert summary.samples_seen == SAMPLES
    assert summary.compressed
    assert summary.counts[("forward", "mvm")] == 3 * SAMPLES
    assert summary.counts[("update", "regrow")] == SAMPLES
    assert sum(summary.counts.values()) == summary.records
    records = read_all(path)
    assert summary.total_macs == sum(record.macs for record in records)
    assert summary.macs_by_phase["update"] == SAMPLES * 2 * 9 * 2
    assert trace_info(path) == summary
    text = format_summary(summary)
    for needle in ("tiny", "seed 7", "conv1", "9 x 2 weights", "kernel 3x3", "mvm_t",
                   f"{summary.total_macs:,}", "note: \"test\""):
        assert needle in text
    assert read_header(path) == summary.header


def test_readme_example_is_a_valid_trace(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    example = text.split("```jsonl\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.jsonl"
    path.write_text(example, encoding="utf-8")
    summary = validate_trace(path)
    assert (summary.records, summary.samples_seen, summary.total_macs) == (4, 2, 24)


def _one_record_per_sample(samples: int) -> list[dict[str, Any]]:
    """A relu per sample: the whole forward pass of :func:`relu_header`'s network."""
    return [{**sample_records(0)[1], "sample": sample} for sample in range(samples)]


def relu_header(samples: int) -> dict[str, Any]:
    """A network of relu1 alone (every sample runs each layer once, in order)."""
    header = make_header(samples)
    header["network"]["input_shape"] = [4, 4, 2]
    header["network"]["layers"] = [{**LAYERS[1], "inputs": ["input"]}]
    return header


def test_header_must_not_promise_more_samples_than_the_records_hold(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl", _one_record_per_sample(16), relu_header(16))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace('"samples": 16', '"samples": 17')
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    message = "header (line 1): field 'samples': header promises 17 samples, the records hold 16"
    # One check, reached by every way of reading the whole file.
    for read in (validate_trace, trace_info, read_all):
        with pytest.raises(TraceError) as info:
            read(path)
        assert str(info.value) == f"{path}: {message}"
    assert read_header(path).samples == 17  # the header alone is well formed


def test_a_trace_without_records_holds_no_sample(tmp_path: Path, valid_lines: list[str]) -> None:
    path = tmp_path / "t.jsonl"
    header = json.loads(valid_lines[0]) | {"samples": 1}
    path.write_text(json.dumps(header) + '\n{"type": "end", "records": 0}\n', encoding="utf-8")
    with pytest.raises(TraceError, match=r"header promises 1 sample, the records hold 0$"):
        validate_trace(path)


def test_summary_counts_every_sample(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl", _one_record_per_sample(5), relu_header(5))
    summary = validate_trace(path)
    assert (summary.records, summary.samples_seen, summary.header.samples) == (5, 5, 5)
    assert "samples   5\n" in format_summary(summary)


# --------------------------------------------------------------------------------------------
# Errors on reading: one table, each case edits a valid file
# --------------------------------------------------------------------------------------------

Edit = Callable[[list[str]], list[str]]


def edit_json(line: int, change: Callable[[Any], Any]) -> Edit:
    """Edit the JSON object on 0-based ``line`` (0 = header, -1 = end record)."""

    def apply(lines: list[str]) -> list[str]:
        obj = json.loads(lines[line])
        change(obj)  # edits in place; a return value (from pop) is ignored
        lines[line] = json.dumps(obj)
        return lines

    return apply


def edits(*steps: Edit) -> Edit:
    """Apply several edits in order."""

    def apply(lines: list[str]) -> list[str]:
        for step in steps:
            lines = step(lines)
        return lines

    return apply


def set_key(line: int, key: str, value: Any) -> Edit:
    return edit_json(line, lambda obj: obj.__setitem__(key, value))


def del_key(line: int, key: str) -> Edit:
    return edit_json(line, lambda obj: obj.__delitem__(key))


def set_layer(index: int, key: str, value: Any) -> Edit:
    return edit_json(0, lambda obj: obj["network"]["layers"][index].__setitem__(key, value))


def replace_line(line: int, text: str) -> Edit:
    def apply(lines: list[str]) -> list[str]:
        lines[line] = text
        return lines

    return apply


def replace_text(line: int, old: str, new: str) -> Edit:
    def apply(lines: list[str]) -> list[str]:
        assert old in lines[line]
        lines[line] = lines[line].replace(old, new)
        return lines

    return apply


N = len(all_records())  # op records in the valid file; lines are header, N records, end
# Record 0 is conv1 mvm (line 2), record 1 relu1 relu (line 3); sample 1 starts at record N/2.
ERROR_CASES: list[tuple[str, Edit, str]] = [
    # header
    ("empty file", lambda lines: [], "header (line 1): missing: the file is empty"),
    ("not json", replace_line(0, "hello"), "header (line 1): not an archsim trace (malformed JSON"),
    ("other format", set_key(0, "format", "csv"),
     "header (line 1): field 'format': not an archsim trace"),
    ("header is a list", replace_line(0, "[1]"),
     "header (line 1): field 'format': not an archsim trace"),
    ("newer version", set_key(0, "version", 6),
     "header (line 1): field 'version': version 6 is newer than this archsim supports (5)"),
    ("version 0", set_key(0, "version", 0), "field 'version': version 0 is not a trace version"),
    ("version string", set_key(0, "version", "1"),
     "field 'version': expected an integer, got \"1\""),
    ("no samples", del_key(0, "samples"), "header (line 1): field 'samples': missing"),
    ("zero samples", set_key(0, "samples", 0), "field 'samples': expected an integer >= 1, got 0"),
    ("extra header key", set_key(0, "colour", 1), "field 'colour': unexpected; expected one of"),
    ("seed float", set_key(0, "seed", 1.5), "field 'seed': expected an integer or null, got 1.5"),
    ("meta list", set_key(0, "meta", []), "field 'meta': expected a JSON object, got []"),
    ("empty model", set_key(0, "model", ""), "field 'model': expected a non-empty string"),
    ("network missing key", edit_json(0, lambda h: h["network"].pop("act_bits")),
     "field 'network.act_bits': missing"),
    ("bad input shape", edit_json(0, lambda h: h["network"].__setitem__("input_shape", [6, 0])),
     "field 'network.input_shape': expected a non-empty list of integers >= 1, got [6, 0]"),
    ("no layers", edit_json(0, lambda h: h["network"].__setitem__("layers", [])),
     "field 'network.layers': expected a non-empty list of layers"),
    ("unknown layer kind", set_layer(1, "kind", "lstm"),
     "field 'network.layers[1].kind': expected one of 'dense', 'conv', 'routed', 'relu', "
     "'maxpool', 'avgpool', 'add', 'flatten', 'matmul', 'softmax', 'layernorm', 'gelu', got "
     "\"lstm\""),
    ("duplicate layer", set_layer(1, "name", "conv1"),
     "field 'network.layers[1].name': 'conv1' is not unique"),
    ("layer named input", set_layer(0, "name", "input"),
     "field 'network.layers[0].name': 'input' is reserved for the network input"),
    ("matrix without rows", edit_json(0, lambda h: h["network"]["layers"][5].pop("rows")),
     "field 'network.layers[5].rows': missing"),
    ("conv without padding", edit_json(0, lambda h: h["network"]["layers"][0].pop("padding")),
     "field 'network.layers[0].padding': missing"),
    ("relu with rows", set_layer(1, "rows", 3), "field 'network.layers[1].rows': unexpected"),
    ("zero cols", set_layer(5, "cols", 0),
     "field 'network.layers[5].cols': expected an integer >= 1, got 0"),
    ("forward reference", set_layer(1, "inputs", ["fc1"]),
     "field 'network.layers[1].inputs': 'fc1' is not 'input' or an earlier layer"),
    ("add with one input", set_layer(8, "inputs", ["fc2"]),
     "field 'network.layers[8].inputs': a add layer takes at least 2 inputs, got 1"),
    ("shape mismatch", set_layer(1, "in_shape", [4, 4, 3]),
     "field 'network.layers[1].in_shape': expected [4, 4, 2] (output shape of 'conv1')"),
    ("bad flatten", set_layer(4, "out_shape", [9]),
     "field 'network.layers[4].out_shape': expected [8], got [9]"),
    # records
    ("malformed record", replace_line(3, '{"type": "op", '), "record 2 (line 4): malformed JSON"),
    ("blank line", replace_line(3, ""), "record 2 (line 4): malformed JSON"),
    ("NaN", replace_text(1, '"input_nz": 0.25', '"input_nz": NaN'),
     "record 0 (line 2): malformed JSON (NaN is not valid JSON)"),
    ("record is a list", replace_line(1, "[1, 2]"),
     "record 0 (line 2): expected a JSON object, got [1, 2]"),
    ("unknown layer", set_key(1, "layer", "conv9"),
     "record 0 (line 2): field 'layer': 'conv9' is not a layer in the header"),
    ("layer not a string", set_key(1, "layer", 3),
     "record 0 (line 2): field 'layer': expected a layer name, got 3"),
    ("mvm rows differ", set_key(1, "rows", 10),
     "record 0 (line 2): field 'rows': expected 9 (rows of layer 'conv1' in the header), got 10"),
    ("mvm cols differ", set_key(6, "cols", 5),
     "record 5 (line 7): field 'cols': expected 4 (cols of layer 'fc1' in the header), got 5"),
    ("outer cols differ", set_key(19, "cols", 5), "record 18 (line 20): field 'cols': expected 2"),
    ("unknown type", set_key(2, "type", "oops"),
     "record 1 (line 3): field 'type': expected 'op' or 'end', got \"oops\""),
    ("missing type", del_key(2, "type"), "record 1 (line 3): field 'type': missing"),
    ("unknown phase", set_key(2, "phase", "fwd"),
     "record 1 (line 3): field 'phase': expected one of 'forward', 'backward', 'update', "
     "got \"fwd\""),
    ("unknown kind", set_key(2, "kind", "swish"),
     "record 1 (line 3): field 'kind': expected one of 'add', 'avgpool', 'flatten', 'gelu', "
     "'layernorm', 'matmul', 'maxpool', 'mvm', 'relu', 'softmax', 'spmm' for phase 'forward', "
     "got \"swish\""),
    ("kind of another phase", set_key(1, "kind", "mvm_t"),
     "record 0 (line 2): field 'kind': expected one of"),
    ("kind list", set_key(2, "kind", ["relu"]), "record 1 (line 3): field 'kind': expected one of"),
    ("record kind vs layer", set_key(2, "layer", "conv1"),
     "record 1 (line 3): field 'layer': a forward relu record needs a relu layer; 'conv1' is conv"),
    ("mvm on relu layer", set_key(1, "layer", "relu1"),
     "record 0 (line 2): field 'layer': a forward mvm record needs a conv, dense or routed "
     "layer"),
    ("missing field", del_key(1, "vectors"),
     "record 0 (line 2): field 'vectors': missing (a forward mvm record needs sample, phase"),
    ("missing sample", del_key(2, "sample"), "record 1 (line 3): field 'sample': missing"),
    ("extra field", set_key(2, "colour", 1),
     "record 1 (line 3): field 'colour': unexpected in a forward relu record"),
    ("string count", set_key(1, "vectors", "5"),
     "record 0 (line 2): field 'vectors': expected an integer >= 1, got \"5\""),
    ("float count", set_key(2, "elements", 3.0),
     "field 'elements': expected an integer >= 0, got 3.0"),
    ("bool count", set_key(2, "elements", True),
     "field 'elements': expected an integer >= 0, got true"),
    ("negative count", set_key(2, "elements", -1),
     "field 'elements': expected an integer >= 0, got -1"),
    ("zero vectors", set_key(1, "vectors", 0), "field 'vectors': expected an integer >= 1, got 0"),
    ("zero input bits", set_key(1, "input_bits", 0),
     "field 'input_bits': expected an integer >= 1"),
    ("fraction above 1", set_key(1, "input_nz", 1.5),
     "record 0 (line 2): field 'input_nz': expected a number in [0, 1], got 1.5"),
    ("fraction string", set_key(1, "input_nz", "0.5"),
     "field 'input_nz': expected a number in [0, 1]"),
    ("fraction bool", set_key(1, "input_nz", True),
     "field 'input_nz': expected a number in [0, 1], got true"),
    ("short bitplanes", set_key(1, "bitplane_nz", [0.5] * 7),
     "record 0 (line 2): field 'bitplane_nz': expected a list of 8 numbers in [0, 1] "
     "(one per input bit, LSB first), got a list of 7"),
    ("bitplanes not a list", set_key(1, "bitplane_nz", 0.5),
     "field 'bitplane_nz': expected a list of 8"),
    ("bad bitplane item", set_key(1, "bitplane_allzero", [0.0, 0.1, -0.5] + [0.0] * 5),
     "record 0 (line 2): field 'bitplane_allzero[2]': expected a number in [0, 1], got -0.5"),
    ("bitplane item string", set_key(1, "bitplane_allzero", ["0"] + [0.0] * 7),
     "field 'bitplane_allzero[0]': expected a number in [0, 1], got \"0\""),
    ("mask nonzero > total", set_key(22, "blocks_nonzero", 5),
     "record 21 (line 23): field 'blocks_nonzero': expected at most blocks_total (4), got 5"),
    ("samples decrease", set_key(N // 2 + 2, "sample", 0),
     f"record {N // 2 + 1} (line {N // 2 + 3}): field 'sample': expected >= 1 "
     "(samples must be non-decreasing), got 0"),
    ("sample too large", set_key(N, "sample", 2),
     f"record {N - 1} (line {N + 1}): field 'sample': expected < 2 (header samples), got 2"),
    ("negative sample", set_key(1, "sample", -1),
     "field 'sample': expected an integer >= 0, got -1"),
    ("first sample not 0", set_key(1, "sample", 1),
     "record 0 (line 2): field 'sample': expected 0 (samples are numbered from 0 without gaps), "
     "got 1"),
    ("sample gap", edits(set_key(0, "samples", 3),
                         *(set_key(line, "sample", 2) for line in range(N // 2 + 1, N + 1))),
     f"record {N // 2} (line {N // 2 + 2}): field 'sample': expected 0 or 1 (samples are "
     "numbered from 0 without gaps), got 2"),
    ("sample bool", set_key(2, "sample", False),
     "record 1 (line 3): field 'sample': expected an integer >= 0, got false"),
    ("header promises more samples", set_key(0, "samples", 3),
     "header (line 1): field 'samples': header promises 3 samples, the records hold 2"),
    # end record
    ("no end record", lambda lines: lines[:-1], f"truncated: no end record after record {N - 1}"),
    ("no records, no end", lambda lines: lines[:1], "truncated: no end record after the header"),
    ("end count", set_key(-1, "records", 5),
     f"end record (line {N + 2}): field 'records': the end record says 5 records, "
     f"but {N} were read"),
    ("end count type", set_key(-1, "records", "5"), "field 'records': expected an integer >= 0"),
    ("end extra field", set_key(-1, "colour", 1), "end record (line "),
    ("data after end", lambda lines: [*lines, '{"type": "op"}'],
     f"line {N + 3}: unexpected data after the end record"),
    ("blank line after end", lambda lines: [*lines, ""],
     f"line {N + 3}: unexpected data after the end"),
    ("two end records", lambda lines: [*lines, lines[-1]], "unexpected data after the end record"),
]


@pytest.fixture(scope="module")
def valid_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = write_trace(tmp_path_factory.mktemp("valid") / "t.jsonl")
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("name", "edit", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_read_errors(tmp_path: Path, valid_lines: list[str], name: str, edit: Edit,
                     message: str) -> None:
    lines = edit(list(valid_lines))
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(TraceError) as info:
        validate_trace(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_read_errors_are_reported_in_gzip_files_too(tmp_path: Path, valid_lines: list[str]) -> None:
    lines = set_key(1, "rows", 10)(list(valid_lines))
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))
    with pytest.raises(TraceError, match=r"record 0 \(line 2\): field 'rows'"):
        validate_trace(path)


def test_last_line_without_newline_is_truncated(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(TraceError, match=r"truncated: the last line is incomplete"):
        validate_trace(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="nope.jsonl: cannot read trace: No such file"):
        TraceReader(tmp_path / "nope.jsonl")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_header(tmp_path)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(TraceError, match=r"header \(line 1\): not an archsim trace"):
        read_header(binary)


def test_header_is_checked_before_any_record(tmp_path: Path, valid_lines: list[str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(valid_lines[0] + "\n", encoding="utf-8")
    assert read_header(path).model == "tiny"  # header alone reads fine ...
    with pytest.raises(TraceError, match="truncated"):
        validate_trace(path)  # ... but the file is incomplete


# --------------------------------------------------------------------------------------------
# Writer errors
# --------------------------------------------------------------------------------------------


def test_invalid_record_aborts_the_write(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    records = all_records()
    records[3] = {**records[3], "outputs": -2}
    with pytest.raises(TraceError) as info:
        write_trace(path, records)
    assert str(info.value) == (
        f"{path}: record 3: field 'outputs': expected an integer >= 0, got -2"
    )
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with TraceWriter(path, make_header()) as writer:
            writer.write(all_records()[0])
            raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["t.jsonl"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("model"), "header: field 'model': missing"),
        (lambda h: h["network"]["layers"][0].pop("rows"),
         "header: field 'network.layers[0].rows': missing"),
        (lambda h: h.__setitem__("samples", -1),
         "header: field 'samples': expected an integer >= 1"),
        (lambda h: h.__setitem__("meta", {"x": float("nan")}), "header: not serialisable as JSON"),
        (lambda h: h.__setitem__("meta", {"x": {1, 2}}), "header: not serialisable as JSON"),
    ],
)
def test_invalid_header_is_rejected_before_writing(tmp_path: Path, change: Callable[[Any], Any],
                                                   message: str) -> None:
    header = make_header()
    change(header)
    path = tmp_path / "t.jsonl"
    with pytest.raises(TraceError) as info:
        TraceWriter(path, header)
    assert str(info.value).startswith(f"{path}: {message}")
    assert os.listdir(tmp_path) == []


def test_writer_programming_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        TraceWriter(tmp_path / "t.jsonl", {**make_header(), "version": 1})
    with pytest.raises(TypeError):
        TraceWriter(tmp_path / "t.jsonl", [])  # type: ignore[arg-type]
    header = make_header(samples=1)
    header["network"]["layers"] = LAYERS[:1]  # conv1 alone: one record is a whole sample
    writer = TraceWriter(tmp_path / "t.jsonl", header)
    with pytest.raises(ValueError, match="type"):
        writer.write({**all_records()[0], "type": "op"})
    with pytest.raises(TypeError):
        writer.write([1])  # type: ignore[arg-type]
    writer.write(all_records()[0])
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write(all_records()[1])
    assert writer.records == 1
    assert validate_trace(tmp_path / "t.jsonl").records == 1


def test_writer_refuses_sample_gaps(tmp_path: Path) -> None:
    records = [r for r in all_records(3) if r["sample"] != 1]
    with pytest.raises(TraceError) as info:
        write_trace(tmp_path / "t.jsonl", records, make_header(samples=3))
    assert str(info.value) == (
        f"{tmp_path / 't.jsonl'}: record {N // 2}: field 'sample': expected 0 or 1 (samples are "
        "numbered from 0 without gaps), got 2"
    )
    assert os.listdir(tmp_path) == []


def test_writer_refuses_to_close_with_samples_missing(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    before = path.read_bytes()
    with pytest.raises(TraceError) as info:
        write_trace(path, all_records(2), make_header(samples=3))
    assert str(info.value) == (
        f"{path}: header: field 'samples': header promises 3 samples, the records hold 2"
    )
    assert path.read_bytes() == before  # the previous file is kept, no temporary file left
    assert os.listdir(tmp_path) == ["t.jsonl"]


def test_writer_rejects_nan_in_fraction_lists(tmp_path: Path) -> None:
    records = all_records()
    records[0] = {**records[0], "bitplane_nz": [float("nan")] * 8}
    with pytest.raises(TraceError, match=r"record 0: field 'bitplane_nz\[0\]'"):
        write_trace(tmp_path / "t.jsonl", records)


def test_writer_to_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot write trace"):
        TraceWriter(tmp_path / "no" / "t.jsonl", make_header())


# --------------------------------------------------------------------------------------------
# Truncation and corruption (property tests)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trace_bytes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("bytes")
    # sample 1 stops after its forward records
    records = all_records()[: len(sample_records(0)) + 9]
    return {
        "plain": write_trace(directory / "t.jsonl", records).read_bytes(),
        "gzip": write_trace(directory / "t.jsonl.gz", records).read_bytes(),
    }


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch") / "cut.jsonl"


def _validate_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    validate_trace(path)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(["plain", "gzip"]))
def test_any_truncation_raises_trace_error(data: st.DataObject, kind: str,
                                           trace_bytes: dict[str, bytes], scratch: Path) -> None:
    full = trace_bytes[kind]
    cut = data.draw(st.integers(0, len(full)), label="cut")
    if cut == len(full):
        _validate_bytes(scratch, full)  # the whole file is valid
        return
    with pytest.raises(TraceError):
        _validate_bytes(scratch, full[:cut])


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corruption_of_gzip_data_is_detected_unless_harmless(
    data: st.DataObject, trace_bytes: dict[str, bytes], scratch: Path
) -> None:
    original = trace_bytes["gzip"]
    corrupt = bytearray(original)
    # Bytes 4-9 of the gzip header (timestamp, compressor flags, OS) are not checked.
    position = data.draw(st.integers(10, len(corrupt) - 1), label="position")
    corrupt[position] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        _validate_bytes(scratch, bytes(corrupt))
    except TraceError:
        return
    # Undetected only if the change does not alter the content: the padding bits of the last
    # deflate byte, or an unused entry of a Huffman table. The CRC-32 catches everything else.
    assert gzip.decompress(bytes(corrupt)) == gzip.decompress(original)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_plain_files_raise_only_trace_errors(
    data: st.DataObject, trace_bytes: dict[str, bytes], scratch: Path
) -> None:
    full = bytearray(trace_bytes["plain"])
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        position = data.draw(st.integers(0, len(full) - 1), label="position")
        full[position] = data.draw(st.integers(0, 255), label="byte")
    try:
        _validate_bytes(scratch, bytes(full))
    except TraceError:
        pass  # detected; anything else escaping is a bug


# --------------------------------------------------------------------------------------------
# Streaming: bounded memory
# --------------------------------------------------------------------------------------------


def _many_records(count: int) -> Iterator[dict[str, Any]]:
    step = sample_records(0)
    for index in range(count):
        record = step[index % len(step)]
        yield {**record, "sample": index // len(step)}


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz"])
def test_reading_streams_in_bounded_memory(tmp_path: Path, name: str) -> None:
    steps = 2100
    count = steps * len(sample_records(0))
    path = write_trace(tmp_path / name, list(_many_records(count)), make_header(samples=steps))
    size = path.stat().st_size
    uncompressed = size if not name.endswith(".gz") else len(gzip.decompress(path.read_bytes()))
    tracemalloc.start()
    try:
        with TraceReader(path) as reader:
            records = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records == count
    assert uncompressed > 5_000_000
    assert peak < min(1_000_000, uncompressed // 50), f"peak {peak} B reading {uncompressed} B"


def test_routed_layers_need_version_2(tmp_path: Path) -> None:
    """Version 2 added the routed layer kind: a writer states version 2 only for a header
    that has one, and a version-1 header that has one is refused (a version-1 reader would
    have refused the unknown kind)."""
    layer = {"name": "core", "kind": "routed", "inputs": ["input"], "in_shape": [8],
             "out_shape": [4], "rows": 4, "cols": 4, "block": 2, "routes": [[0, 3, 0, 1]]}
    header = {"model": "m", "samples": 1, "seed": 0,
              "network": {"input_shape": [8], "weight_bits": 8, "act_bits": 8,
                          "layers": [layer]}}
    path = tmp_path / "routed.jsonl"
    with TraceWriter(path, header) as writer:
        writer.write({"sample": 0, "phase": "forward", "layer": "core", "kind": "mvm",
                      "vectors": 1, "rows": 4, "cols": 4, "input_bits": 1, "input_nz": 0.5,
                      "bitplane_nz": [0.5], "bitplane_allzero": [0.0]})
    assert read_header(path).version == 2
    assert read_header(path).network.layers[0].routes == ((0, 3, 0, 1),)
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"version": 2', '"version": 1')
    (tmp_path / "v1.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"network.layers\[0\].kind.*'routed' layers need trace "
                                         r"version 2, this header says 1"):
        read_header(tmp_path / "v1.jsonl")


def _forward_only(sample: int) -> list[dict[str, Any]]:
    return [r for r in sample_records(sample) if r["phase"] == "forward"]


def test_version_2_update_records_read_in_their_old_shape(tmp_path: Path) -> None:
    """A version-2 file's outer and write records (no pulse train, no rounds) still read, with
    the values the newer fields take for them; the newer shape is refused in such a file."""
    old = [
        {"sample": 0, "phase": "update", "layer": "conv1", "kind": "outer", "vectors": 2,
         "rows": 9, "cols": 2},
        {"sample": 0, "phase": "update", "layer": "conv1", "kind": "write", "cells": 18,
         "pulses": 40, "verify_reads": 40},
    ]
    path = write_trace(
        tmp_path / "v2.jsonl", _forward_only(0) + old, header=make_header(1), version=2
    )
    records = read_all(path)
    assert read_header(path).version == 2
    outer, write = records[-2:]
    assert (outer.bit_length, outer.pulses, outer.array) == (1, 0, "W")
    assert (write.cells, write.pulses, write.verify_reads, write.rounds) == (18, 40, 40, None)
    with pytest.raises(TraceError, match="field 'array': unexpected in an update outer"):
        write_trace(tmp_path / "x.jsonl", _forward_only(0) + [sample_records(0)[-6]],
                    header=make_header(1), version=2)


def test_training_records_need_version_3(tmp_path: Path) -> None:
    """transfer and digital records came with version 3: a version-2 file naming one is
    refused with the version it needs."""
    digital = next(r for r in sample_records(0) if r["kind"] == "digital")
    with pytest.raises(TraceError, match="update 'digital' records need trace version 3, this "
                                         "header says 2"):
        write_trace(tmp_path / "x.jsonl", _forward_only(0) + [digital],
                    header=make_header(1), version=2)
    with pytest.raises(ValueError, match="version must be an integer 1..5"):
        TraceWriter(tmp_path / "y.jsonl", make_header(1), version=6)


def test_outer_array_must_be_w_or_a(tmp_path: Path) -> None:
    outer = dict(next(r for r in sample_records(0) if r["kind"] == "outer"), array="B")
    with pytest.raises(TraceError, match="field 'array': expected one of 'W', 'A', got \"B\""):
        write_trace(tmp_path / "x.jsonl", _forward_only(0) + [outer], header=make_header(1))
