"""Tests of trace format version 5, the transformer operations (archsim.workload.trace): the
matmul, softmax, layernorm and gelu layers and records, their round trips and checks, and
older versions reading as before."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archsim.cli import main
from archsim.errors import TraceError
from archsim.workload.trace import (
    LAYER_KINDS,
    MATRIX_LAYER_KINDS,
    MAX_OPERAND_BITS,
    RECORD_KINDS,
    TRACE_VERSION,
    OpRecord,
    TraceReader,
    TraceWriter,
    format_summary,
    read_header,
    validate_trace,
)

README = Path(__file__).resolve().parents[2] / "traces" / "README.md"
NEW_LAYER_KINDS = ("matmul", "softmax", "layernorm", "gelu")

# Attention over T = 3 tokens of d = 4 features in h = 2 heads, then a GELU:
# input -> ln -> q, k, v -> scores = q x k -> softmax -> context = softmax x v -> gelu
LAYERS: list[dict[str, Any]] = [
    {"name": "ln", "kind": "layernorm", "inputs": ["input"], "in_shape": [3, 4],
     "out_shape": [3, 4]},
    *({"name": name, "kind": "dense", "inputs": ["ln"], "in_shape": [3, 4], "out_shape": [3, 4],
       "rows": 4, "cols": 4} for name in ("q", "k", "v")),
    {"name": "scores", "kind": "matmul", "inputs": ["q", "k"], "in_shape": [3, 4],
     "out_shape": [2, 3, 3]},
    {"name": "softmax", "kind": "softmax", "inputs": ["scores"], "in_shape": [2, 3, 3],
     "out_shape": [2, 3, 3]},
    {"name": "context", "kind": "matmul", "inputs": ["softmax", "v"], "in_shape": [2, 3, 3],
     "out_shape": [3, 4]},
    {"name": "gelu", "kind": "gelu", "inputs": ["context"], "in_shape": [3, 4],
     "out_shape": [3, 4]},
]
SAMPLES = 2


def make_header(samples: int = SAMPLES, layers: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    return {"model": "attention", "samples": samples, "seed": 3,
            "network": {"input_shape": [3, 4], "weight_bits": 8, "act_bits": 8,
                        "layers": copy.deepcopy(LAYERS if layers is None else layers)},
            "meta": {}}


def _mvm(layer: str) -> dict[str, Any]:
    return {"phase": "forward", "layer": layer, "kind": "mvm", "vectors": 3, "rows": 4,
            "cols": 4, "input_bits": 2, "input_nz": 0.75, "bitplane_nz": [0.5, 0.25],
            "bitplane_allzero": [0.0, 1 / 3]}


def sample_records(sample: int) -> list[dict[str, Any]]:
    """One sample's forward pass: every layer once, in header order."""
    records = [
        {"phase": "forward", "layer": "ln", "kind": "layernorm", "elements": 12},
        _mvm("q"), _mvm("k"), _mvm("v"),
        {"phase": "forward", "layer": "scores", "kind": "matmul", "heads": 2, "m": 3, "k": 2,
         "n": 3, "operand_bits": 8},
        {"phase": "forward", "layer": "softmax", "kind": "softmax", "elements": 18},
        {"phase": "forward", "layer": "context", "kind": "matmul", "heads": 2, "m": 3, "k": 3,
         "n": 2, "operand_bits": 6},
        {"phase": "forward", "layer": "gelu", "kind": "gelu", "elements": 12},
    ]
    return [{"sample": sample, **record} for record in records]


def all_records(samples: int = SAMPLES) -> list[dict[str, Any]]:
    return [record for sample in range(samples) for record in sample_records(sample)]


def write_trace(path: Path, records: list[dict[str, Any]] | None = None,
                header: dict[str, Any] | None = None, version: int = 1) -> Path:
    with TraceWriter(path, make_header() if header is None else header,
                     version=version) as writer:
        for record in all_records() if records is None else records:
            writer.write(record)
    return path


def expected_record(index: int, record: dict[str, Any]) -> OpRecord:
    return OpRecord(index=index, **{key: tuple(value) if isinstance(value, list) else value
                                    for key, value in record.items()})


# --------------------------------------------------------------------------------------------
# The table and round trips
# --------------------------------------------------------------------------------------------


def test_version_5_adds_the_transformer_kinds() -> None:
    assert TRACE_VERSION == 5
    assert set(NEW_LAYER_KINDS) <= set(LAYER_KINDS)
    assert not set(NEW_LAYER_KINDS) & MATRIX_LAYER_KINDS  # not mapped onto crossbars
    matmul = RECORD_KINDS["forward", "matmul"]
    assert [(f.name, f.type) for f in matmul.fields] == [
        ("heads", "positive"), ("m", "positive"), ("k", "positive"), ("n", "positive"),
        ("operand_bits", "bits"),
    ]
    assert matmul.layer_kinds == {"matmul"} and not matmul.matrix_shape
    for kind in ("softmax", "layernorm", "gelu"):
        spec = RECORD_KINDS["forward", kind]
        assert [f.name for f in spec.fields] == ["elements"]
        assert spec.layer_kinds == {kind}
    assert MAX_OPERAND_BITS == 32


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_round_trip_of_every_new_kind(tmp_path: Path, name: str) -> None:
    path = write_trace(tmp_path / name)
    records = all_records()
    with TraceReader(path) as reader:
        header = reader.header
        assert list(reader) == [expected_record(i, r) for i, r in enumerate(records)]
    assert header.version == 5  # the lowest version that holds these layers, unasked
    network = header.network
    assert [layer.kind for layer in network.layers] == [layer["kind"] for layer in LAYERS]
    context = network.layer("context")
    assert (context.inputs, context.in_shape, context.out_shape) == (
        ("softmax", "v"), (2, 3, 3), (3, 4)
    )
    assert (context.rows, context.cols, context.is_matrix) == (0, 0, False)
    assert [layer.name for layer in network.matrix_layers()] == ["q", "k", "v"]
    written = {(r["phase"], r["kind"]) for r in records}
    assert {("forward", kind) for kind in NEW_LAYER_KINDS} <= written


def test_matmul_macs_in_the_records_and_the_summary(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    with TraceReader(path) as reader:
        by_layer = {record.layer: record for record in reader if record.sample == 0}
    scores = by_layer["scores"]
    assert (scores.heads, scores.m, scores.k, scores.n, scores.operand_bits) == (2, 3, 2, 3, 8)
    assert scores.macs == scores.sparse_macs == 2 * 3 * 2 * 3
    assert by_layer["context"].macs == 2 * 3 * 3 * 2
    assert by_layer["softmax"].macs == 0 and by_layer["softmax"].elements == 18
    assert by_layer["q"].macs == 3 * 4 * 4
    summary = validate_trace(path)
    per_sample = 3 * (3 * 4 * 4) + 2 * 36
    assert summary.total_macs == SAMPLES * per_sample
    assert dict(summary.macs_by_phase) == {"forward": SAMPLES * per_sample}
    assert summary.matmul_macs == SAMPLES * 72
    assert summary.sparse_macs_by_phase == {}
    assert summary.counts["forward", "matmul"] == 2 * SAMPLES
    text = format_summary(summary)
    assert "archsim-trace v5" in text
    assert "  scores   matmul     3x4 -> 2x3x3              q x k" in text
    assert "  forward   layernorm           2" in text
    assert f"of which {SAMPLES * 72} in matmul records" in text


def test_the_readme_documents_version_5() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("# archsim trace format, version 5\n")
    section = text.split("### Version 5", 1)[1].split("\n### ", 1)[0]
    for name in (*NEW_LAYER_KINDS, "heads", "`m`", "`k`", "`n`", "operand_bits", "elements",
                 "right operand", "digital PIM", "exactly two different inputs"):
        assert name in section, name


def test_the_readme_example_is_valid(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("### Version 5", 1)[1]
    example = section.split("```\n", 2)[1]
    path = tmp_path / "example.jsonl"
    path.write_text(example, encoding="utf-8")
    summary = validate_trace(path)
    assert (summary.header.version, summary.records, summary.total_macs) == (5, 8, 216)
    assert summary.matmul_macs == 72


# --------------------------------------------------------------------------------------------
# Older versions
# --------------------------------------------------------------------------------------------


def _dense_relu_header() -> dict[str, Any]:
    return make_header(1, [
        {"name": "fc", "kind": "dense", "inputs": ["input"], "in_shape": [3, 4],
         "out_shape": [3, 4], "rows": 4, "cols": 4},
        {"name": "act", "kind": "relu", "inputs": ["fc"], "in_shape": [3, 4],
         "out_shape": [3, 4]},
    ])


def _dense_relu_records() -> list[dict[str, Any]]:
    return [{"sample": 0, **_mvm("fc")},
            {"sample": 0, "phase": "forward", "layer": "act", "kind": "relu", "elements": 12}]


@pytest.mark.parametrize("version", [1, 4])
def test_older_versions_still_read(tmp_path: Path, version: int) -> None:
    path = write_trace(tmp_path / "t.jsonl", _dense_relu_records(), _dense_relu_header(),
                       version=version)
    assert read_header(path).version == version
    summary = validate_trace(path)
    assert (summary.records, summary.total_macs, summary.matmul_macs) == (2, 48, 0)


def test_a_writer_states_the_lowest_version_holding_its_header(tmp_path: Path) -> None:
    plain = write_trace(tmp_path / "a.jsonl", _dense_relu_records(), _dense_relu_header())
    assert read_header(plain).version == 1
    for kind in ("softmax", "layernorm", "gelu"):
        header = _dense_relu_header()
        header["network"]["layers"][1]["kind"] = kind
        records = _dense_relu_records()
        records[1]["kind"] = kind
        path = write_trace(tmp_path / f"{kind}.jsonl", records, header, version=2)
        assert read_header(path).version == 5


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _validate_lines(tmp_path: Path, lines: list[str]) -> str:
    """The one-line TraceError of a file of ``lines``."""
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(TraceError) as info:
        validate_trace(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    return text


def test_a_version_4_file_refuses_a_matmul_record(tmp_path: Path) -> None:
    lines = _lines(write_trace(tmp_path / "t.jsonl", _dense_relu_records(),
                               _dense_relu_header(), version=4))
    record = json.loads(lines[2])
    record.update(kind="matmul", heads=1, m=3, k=4, n=3, operand_bits=8)
    del record["elements"]
    lines[2] = json.dumps(record)
    text = _validate_lines(tmp_path, lines)
    assert text.endswith(
        "record 1 (line 3): field 'kind': forward 'matmul' records need trace version 5, this "
        "header says 4"
    )


def test_a_version_4_header_refuses_the_new_layer_kinds(tmp_path: Path) -> None:
    lines = _lines(write_trace(tmp_path / "t.jsonl"))
    header = json.loads(lines[0])
    header["version"] = 4
    lines[0] = json.dumps(header)
    text = _validate_lines(tmp_path, lines)
    assert text.endswith(
        "header (line 1): field 'network.layers[0].kind': 'layernorm' layers need trace "
        "version 5, this header says 4"
    )


# --------------------------------------------------------------------------------------------
# Malformed headers and records: one error each, naming the field
# --------------------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    return lambda obj: obj.__setitem__(key, value)


def _drop(key: str) -> Edit:
    return lambda obj: obj.pop(key)


# (case, line of the edited record or header (0), edit, the message's end)
RECORD_CASES: list[tuple[str, int, Edit, str]] = [
    ("missing k", 5, _drop("k"),
     "record 4 (line 6): field 'k': missing (a forward matmul record needs sample, phase, "
     "layer, kind, heads, m, k, n, operand_bits)"),
    ("negative m", 5, _set("m", -3), "record 4 (line 6): field 'm': expected an integer >= 1, "
                                     "got -3"),
    ("zero heads", 5, _set("heads", 0),
     "record 4 (line 6): field 'heads': expected an integer >= 1, got 0"),
    ("bool heads", 5, _set("heads", True),
     "record 4 (line 6): field 'heads': expected an integer >= 1, got true"),
    ("float k", 5, _set("k", 2.0), "record 4 (line 6): field 'k': expected an integer >= 1, "
                                   "got 2.0"),
    ("string n", 5, _set("n", "3"),
     "record 4 (line 6): field 'n': expected an integer >= 1, got \"3\""),
    ("huge n", 5, _set("n", 2**40 + 1),
     "record 4 (line 6): field 'n': expected at most 1099511627776 (2**40), got 1099511627777"),
    ("33 operand bits", 5, _set("operand_bits", 33),
     "record 4 (line 6): field 'operand_bits': expected an integer 1..32, got 33"),
    ("0 operand bits", 5, _set("operand_bits", 0),
     "record 4 (line 6): field 'operand_bits': expected an integer 1..32, got 0"),
    ("bool operand bits", 5, _set("operand_bits", False),
     "record 4 (line 6): field 'operand_bits': expected an integer 1..32, got false"),
    ("extra field", 5, _set("vectors", 3),
     "record 4 (line 6): field 'vectors': unexpected in a forward matmul record"),
    ("negative softmax elements", 6, _set("elements", -1),
     "record 5 (line 7): field 'elements': expected an integer >= 0, got -1"),
    ("float layernorm elements", 1, _set("elements", 12.0),
     "record 0 (line 2): field 'elements': expected an integer >= 0, got 12.0"),
    ("gelu missing elements", 8, _drop("elements"),
     "record 7 (line 9): field 'elements': missing"),
    ("matmul on a softmax layer", 5, _set("layer", "softmax"),
     "record 4 (line 6): field 'layer': a forward matmul record needs a matmul layer; "
     "'softmax' is softmax"),
    ("softmax record on a gelu layer", 6, _set("layer", "gelu"),
     "record 5 (line 7): field 'layer': a forward softmax record needs a softmax layer; 'gelu' "
     "is gelu"),
    ("layernorm record on a dense layer", 2, lambda r: r.update(kind="layernorm", elements=12)
     or [r.pop(key) for key in ("vectors", "rows", "cols", "input_bits", "input_nz",
                                "bitplane_nz", "bitplane_allzero")],
     "record 1 (line 3): field 'layer': a forward layernorm record needs a layernorm layer; 'q' "
     "is dense"),
    ("gelu on the matmul", 7, lambda r: r.update(kind="gelu", elements=1) or [
        r.pop(key) for key in ("heads", "m", "k", "n", "operand_bits")],
     "record 6 (line 8): field 'layer': a forward gelu record needs a gelu layer; 'context' "
     "is matmul"),
    ("backward matmul", 5, _set("phase", "backward"),
     "record 4 (line 6): field 'kind': expected one of"),
]

HEADER_CASES: list[tuple[str, Edit, str]] = [
    ("matmul with one input", lambda h: h["network"]["layers"][4].__setitem__("inputs", ["q"]),
     "field 'network.layers[4].inputs': a matmul layer takes exactly 2 inputs (the left "
     "operand, then the right), got 1"),
    ("matmul with three inputs",
     lambda h: h["network"]["layers"][4].__setitem__("inputs", ["q", "k", "v"]),
     "field 'network.layers[4].inputs': a matmul layer takes exactly 2 inputs (the left "
     "operand, then the right), got 3"),
    ("matmul of a layer with itself",
     lambda h: h["network"]["layers"][4].__setitem__("inputs", ["q", "q"]),
     "field 'network.layers[4].inputs': names a layer twice: [\"q\", \"q\"]"),
    ("matmul with a later input",
     lambda h: h["network"]["layers"][4].__setitem__("inputs", ["q", "gelu"]),
     "field 'network.layers[4].inputs': 'gelu' is not 'input' or an earlier layer"),
    ("matmul in_shape not its left operand's",
     lambda h: h["network"]["layers"][6].__setitem__("in_shape", [3, 4]),
     "field 'network.layers[6].in_shape': expected [2, 3, 3] (output shape of 'softmax'), got "
     "[3, 4]"),
    ("matmul with rows", lambda h: h["network"]["layers"][4].__setitem__("rows", 4),
     "field 'network.layers[4].rows': unexpected"),
    ("matmul zero shape", lambda h: h["network"]["layers"][4].__setitem__("out_shape", [2, 0]),
     "field 'network.layers[4].out_shape': expected a non-empty list of integers >= 1"),
    ("softmax changes the shape",
     lambda h: h["network"]["layers"][5].__setitem__("out_shape", [2, 9]),
     "field 'network.layers[5].out_shape': expected [2, 3, 3] (= in_shape), got [2, 9]"),
    ("layernorm with two inputs",
     lambda h: h["network"]["layers"][0].__setitem__("inputs", ["input", "input"]),
     "field 'network.layers[0].inputs': names a layer twice"),
    ("gelu with two inputs",
     lambda h: h["network"]["layers"][7].__setitem__("inputs", ["context", "v"]),
     "field 'network.layers[7].inputs': a gelu layer takes exactly 1 input, got 2"),
]


@pytest.fixture(scope="module")
def valid_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return _lines(write_trace(tmp_path_factory.mktemp("valid") / "t.jsonl"))


@pytest.mark.parametrize(("line", "edit", "message"), [c[1:] for c in RECORD_CASES],
                         ids=[c[0] for c in RECORD_CASES])
def test_malformed_records(tmp_path: Path, valid_lines: list[str], line: int, edit: Edit,
                           message: str) -> None:
    lines = list(valid_lines)
    record = json.loads(lines[line])
    edit(record)
    lines[line] = json.dumps(record)
    assert message in _validate_lines(tmp_path, lines)


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in HEADER_CASES],
                         ids=[c[0] for c in HEADER_CASES])
def test_malformed_headers(tmp_path: Path, valid_lines: list[str], edit: Edit,
                           message: str) -> None:
    lines = list(valid_lines)
    header = json.loads(lines[0])
    edit(header)
    lines[0] = json.dumps(header)
    text = _validate_lines(tmp_path, lines)
    assert text.split(": ", 1)[1].startswith("header (line 1): ")
    assert message in text


def test_the_writer_refuses_a_bad_record_naming_the_field(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.jsonl", make_header(1)) as writer:
        for record in sample_records(0)[:4]:
            writer.write(record)
        bad = dict(sample_records(0)[4], operand_bits=64)
        with pytest.raises(TraceError, match=r"record 4: field 'operand_bits': expected an "
                                             r"integer 1\.\.32, got 64$"):
            writer.write(bad)
        for record in sample_records(0)[4:]:  # still usable
            writer.write(record)
    assert validate_trace(tmp_path / "t.jsonl").records == 8


# --------------------------------------------------------------------------------------------
# Network order with the new layers
# --------------------------------------------------------------------------------------------


def test_network_order_covers_the_new_layers(tmp_path: Path, valid_lines: list[str]) -> None:
    # softmax's record before the scores' (lines 6 and 7 swapped)
    lines = list(valid_lines)
    lines[5], lines[6] = lines[6], lines[5]
    assert _validate_lines(tmp_path, lines).endswith(
        "record 4 (line 6): field 'layer': sample 0 must run layer 'scores' next (header "
        "order), got 'softmax'"
    )
    # the layernorm run twice
    lines = [*valid_lines[:2], valid_lines[1], *valid_lines[2:]]
    assert _validate_lines(tmp_path, lines).endswith(
        "record 1 (line 3): field 'layer': sample 0 must run layer 'q' next (header order), "
        "got 'ln'"
    )
    # sample 0 stops after the context: its gelu has no record
    per_sample = len(sample_records(0))
    lines = [valid_lines[0], *valid_lines[1:per_sample], *valid_lines[per_sample + 1:]]
    assert _validate_lines(tmp_path, lines).endswith(
        f"record {per_sample - 1} (line {per_sample + 1}): field 'sample': sample 0 ends after "
        "layer 'context'; layers gelu have no forward record"
    )


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_trace_info_and_validate_print_the_new_kinds(tmp_path: Path, capsys: Any) -> None:
    path = write_trace(tmp_path / "t.jsonl.gz")
    assert main(["trace", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "context  matmul     2x3x3 -> 3x4              softmax x v" in out
    assert "  forward   softmax             2" in out
    assert "of which 144 in matmul records" in out
    assert main(["trace", "validate", str(path)]) == 0
    assert capsys.readouterr().out == "ok: t.jsonl.gz: 16 records, 2 samples\n"
