"""Hostile traces: deep nesting, unhashable values where names belong, huge integers, records
out of layer order, duplicate keys, paths that are not regular files. Each is one TraceError
naming the file and the record (or header), exit status 2 from the CLI, quickly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bad_input_cli import WU, edited, fails_cleanly, trace_lines, write_lines
from conftest import write_chain_trace

from archsim.errors import TraceError
from archsim.workload.trace import (
    MAX_COUNT,
    MAX_HEADER_INT,
    TraceReader,
    TraceWriter,
    read_header,
    validate_trace,
)

DEEP = 10_000

# The bundled trace: lenet-wu, 16 samples of 8 forward records (conv1 relu1 pool1 conv2 relu2
# pool2 flatten fc1 ...). Record i is on line i + 2 (0-based: line i + 1 of the list).
LINES = trace_lines()
HEADER = json.loads(LINES[0])
ORDER = [layer["name"] for layer in HEADER["network"]["layers"]]
PER_SAMPLE = len(ORDER)


def record(index: int) -> dict:
    return json.loads(LINES[index + 1])


def check(
    tmp_path: Path, capsys, lines: list[str], *expected: str, command: str = "validate"
) -> str:
    """The file of ``lines`` fails ``archsim trace COMMAND`` (and validate_trace) with one line
    holding every text of ``expected``."""
    path = write_lines(tmp_path / "bad.jsonl", lines)
    line = fails_cleanly(capsys, ["trace", command, str(path)])
    assert line.startswith(f"archsim: error: {path}: ")
    for text in expected:
        assert text in line, line
    with pytest.raises(TraceError):
        validate_trace(path)
    return line


# -- 2. deeply nested JSON --------------------------------------------------------------------


def test_a_deeply_nested_record_is_malformed_json_of_that_record(tmp_path, capsys):
    lines = list(LINES)
    lines[4] = '{"type": "op", "sample": ' + "[" * DEEP + "]" * DEEP + "}"
    check(tmp_path, capsys, lines, "record 3 (line 5): malformed JSON (nested too deeply)")


def test_a_deeply_nested_header_is_refused(tmp_path, capsys):
    lines = list(LINES)
    lines[0] = LINES[0][:-1] + ', "x": ' + "[" * DEEP + "]" * DEEP + "}"
    check(tmp_path, capsys, lines, "header (line 1)", "nested too deeply")


def test_a_header_meta_nested_below_the_decoder_limit_is_refused_too(tmp_path, capsys):
    header = dict(HEADER, meta={"deep": json.loads("[" * 500 + "]" * 500)})
    lines = [json.dumps(header), *LINES[1:]]
    check(tmp_path, capsys, lines, "header (line 1): nested deeper than 64 levels")
    check(tmp_path, capsys, lines, "nested deeper than 64 levels", command="info")


def test_a_deep_value_in_a_record_field_is_shown_briefly(tmp_path, capsys):
    lines = edited(LINES, 1, vectors=json.loads("[" * 900 + "]" * 900))
    line = check(tmp_path, capsys, lines, "record 0 (line 2): field 'vectors': expected")
    assert len(line) < 400


# -- 3. lists and objects where a name belongs ----------------------------------------------


@pytest.mark.parametrize("value", [["conv"], {}, {"a": 1}, None, 3])
def test_a_layer_kind_that_is_not_a_string(tmp_path, capsys, value):
    header = json.loads(LINES[0])
    header["network"]["layers"][0]["kind"] = value
    check(
        tmp_path, capsys, [json.dumps(header), *LINES[1:]],
        "header (line 1): field 'network.layers[0].kind': expected one of 'dense', 'conv'",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("layer", ["conv1"], "field 'layer': expected a layer name, got [\"conv1\"]"),
        ("layer", {"conv1": 1}, "field 'layer': expected a layer name"),
        ("phase", ["forward"], "field 'phase': expected one of 'forward', 'backward', 'update'"),
        ("phase", {}, "field 'phase': expected one of"),
        ("kind", {"mvm": 1}, "field 'kind': expected one of 'add', 'avgpool'"),
        ("kind", ["mvm"], "field 'kind': expected one of"),
        ("type", ["op"], "field 'type': expected 'op' or 'end'"),
        ("sample", [0], "field 'sample': expected an integer >= 0"),
    ],
)
def test_a_record_name_that_is_a_list_or_object(tmp_path, capsys, field, value, message):
    check(tmp_path, capsys, edited(LINES, 1, **{field: value}), "record 0 (line 2): " + message)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("inputs", [["input"]],
         "field 'network.layers[0].inputs': expected a non-empty list of layer names"),
        ("inputs", [{"input": 1}], "field 'network.layers[0].inputs': expected a non-empty list"),
        ("name", ["conv1"], "field 'network.layers[0].name': expected a non-empty string"),
        ("name", "a\nb", "field 'network.layers[0].name': expected a non-empty string"),
    ],
)
def test_a_header_name_that_is_not_a_string(tmp_path, capsys, where, value, message):
    header = json.loads(LINES[0])
    header["network"]["layers"][0][where] = value
    check(tmp_path, capsys, [json.dumps(header), *LINES[1:]], "header (line 1): " + message)


@pytest.mark.parametrize(("key", "value"), [("meta", []), ("meta", "x"), ("model", ["m"])])
def test_header_meta_and_model_of_the_wrong_type(tmp_path, capsys, key, value):
    header = dict(HEADER, **{key: value})
    check(tmp_path, capsys, [json.dumps(header), *LINES[1:]], f"field '{key}': expected")


def test_a_model_name_that_would_leave_the_runs_folder(tmp_path, capsys):
    header = dict(HEADER, model="../../etc")
    check(tmp_path, capsys, [json.dumps(header), *LINES[1:]],
          "field 'model': expected letters, digits, '_', '.' or '-'")


def test_an_unknown_key_with_a_newline_stays_on_one_line(tmp_path, capsys):
    lines = edited(LINES, 1, **{"x\ny": 1})
    check(tmp_path, capsys, lines, "record 0 (line 2): field 'x\\ny': unexpected")


# -- 4. integers of thousands of digits, and huge but parseable ones -----------------------


def test_a_vectors_count_of_thousands_of_digits(tmp_path, capsys):
    assert record(3)["kind"] == "mvm"
    lines = list(LINES)
    lines[4] = lines[4].replace(f'"vectors": {record(3)["vectors"]}', '"vectors": ' + "9" * 5000)
    assert lines[4] != LINES[4]
    check(tmp_path, capsys, lines, "record 3 (line 5): malformed JSON", "4300 digits")


def test_a_header_samples_count_of_thousands_of_digits(tmp_path, capsys):
    lines = [LINES[0].replace('"samples": 16', '"samples": ' + "1" * 5000), *LINES[1:]]
    check(tmp_path, capsys, lines, "header (line 1)", "4300 digits")


@pytest.mark.parametrize(
    ("index", "field"),
    [(0, "vectors"), (2, "elements"), (2, "outputs"), (0, "input_bits")],
)
def test_record_counts_above_two_to_the_forty(tmp_path, capsys, index, field):
    value = MAX_COUNT + 1
    check(
        tmp_path, capsys, edited(LINES, index + 1, **{field: value}),
        f"record {index} (line {index + 2}): field '{field}': expected at most "
        f"{MAX_COUNT} (2**40), got {value}",
    )


def test_counts_of_exactly_two_to_the_forty_are_valid(tmp_path):
    path = write_chain_trace(tmp_path / "t.jsonl", [(4, 1, MAX_COUNT)], relu=True)
    assert validate_trace(path).total_macs == 4 * MAX_COUNT  # exact: Python integers


def test_update_counts_above_two_to_the_forty_are_refused_by_the_writer(tmp_path):
    path = tmp_path / "w.jsonl"
    message = r"record 1: field 'pulses': expected at most 1099511627776"
    with pytest.raises(TraceError, match=message):
        with TraceWriter(path, _header_of_one_dense_layer()) as writer:
            writer.write(_forward(0))
            writer.write({"sample": 0, "phase": "update", "layer": "fc1", "kind": "write",
                          "cells": 1, "pulses": MAX_COUNT + 1, "verify_reads": 0})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"samples": MAX_HEADER_INT + 1}, "field 'samples': expected at most 2147483648 (2**31)"),
        ({"network": {**HEADER["network"], "act_bits": MAX_HEADER_INT + 1}},
         "field 'network.act_bits': expected at most 2147483648"),
        ({"network": {**HEADER["network"], "input_shape": [MAX_HEADER_INT + 1, 28, 1]}},
         "field 'network.input_shape[0]': expected at most 2147483648"),
        ({"network": {**HEADER["network"], "input_shape": [1] * 9}},
         "field 'network.input_shape': expected at most 8 entries, got 9"),
    ],
)
def test_header_sizes_are_bounded(tmp_path, capsys, change, message):
    header = dict(HEADER, **change)
    check(tmp_path, capsys, [json.dumps(header), *LINES[1:]], "header (line 1): " + message)


def test_a_huge_flatten_shape_is_refused_in_bounded_time(tmp_path, capsys):
    header = json.loads(LINES[0])
    layer = header["network"]["layers"][0]
    layer["in_shape"] = [MAX_HEADER_INT] * 1_000_000  # math.prod of this would take minutes
    check(tmp_path, capsys, [json.dumps(header), *LINES[1:]], "expected at most 8 entries")


# -- 7. records in layer order ------------------------------------------------------------


def _swap(lines: list[str], a: int, b: int) -> list[str]:
    result = list(lines)
    result[a + 1], result[b + 1] = result[b + 1], result[a + 1]
    return result


def test_records_out_of_layer_order(tmp_path, capsys):
    lines = _swap(LINES, 1, 2)  # relu1 and pool1 of sample 0
    check(
        tmp_path, capsys, lines,
        f"record 1 (line 3): field 'layer': sample 0 must run layer '{ORDER[1]}' next "
        f"(header order), got '{ORDER[2]}'",
    )


def test_a_layer_missing_in_a_sample(tmp_path, capsys):
    lines = [line for i, line in enumerate(LINES) if i != 2 + PER_SAMPLE]  # sample 1's relu1
    lines[-1] = json.dumps({"type": "end", "records": len(lines) - 2})
    check(
        tmp_path, capsys, lines,
        f"record {PER_SAMPLE + 1} (line {PER_SAMPLE + 3}): field 'layer': sample 1 must run "
        f"layer '{ORDER[1]}' next (header order), got '{ORDER[2]}'",
    )


def test_a_layer_repeated_in_a_sample(tmp_path, capsys):
    lines = [*LINES[: 2 + 1], LINES[2], *LINES[2 + 1 :]]  # sample 0's relu1 twice
    check(tmp_path, capsys, lines, "record 2 (line 4): field 'layer': sample 0 must run layer",
          f"got '{ORDER[1]}'")


def test_a_sample_that_ends_early_is_an_error_of_the_next_sample(tmp_path, capsys):
    lines = [line for i, line in enumerate(LINES) if i != PER_SAMPLE]  # sample 0's last layer
    missing = ORDER[-1]
    check(
        tmp_path, capsys, lines,
        f"record {PER_SAMPLE - 1} (line {PER_SAMPLE + 1}): field 'sample': sample 0 ends "
        f"after layer '{ORDER[-2]}'; layers {missing} have no forward record",
    )


def test_the_last_sample_ending_early_is_an_error_of_the_end_record(tmp_path, capsys):
    lines = [*LINES[:-2], json.dumps({"type": "end", "records": len(LINES) - 3})]
    check(tmp_path, capsys, lines, f"end record (line {len(lines)}): sample 15 ends after layer")


def test_order_is_checked_by_every_reader_and_the_writer(tmp_path, capsys):
    path = write_lines(tmp_path / "bad.jsonl", _swap(LINES, 1, 2))
    fails_cleanly(capsys, ["trace", "info", str(path)])
    fails_cleanly(capsys, ["run", str(WU), str(path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    with TraceReader(path) as reader, pytest.raises(TraceError, match="must run layer"):
        list(reader)
    records = [json.loads(line) for line in LINES[1:-1]]
    header = {key: HEADER[key] for key in ("model", "samples", "seed", "network", "meta")}
    with pytest.raises(TraceError, match="record 1: field 'layer': sample 0 must run layer"):
        with TraceWriter(tmp_path / "w.jsonl", header) as writer:
            for item in (records[0], records[2]):
                writer.write({k: v for k, v in item.items() if k != "type"})
    assert not (tmp_path / "w.jsonl").exists()


def _header_of_one_dense_layer(samples: int = 1) -> dict:
    return {"model": "m", "samples": samples, "seed": 0, "meta": {},
            "network": {"input_shape": [4], "weight_bits": 8, "act_bits": 1,
                        "layers": [{"name": "fc1", "kind": "dense", "inputs": ["input"],
                                    "in_shape": [4], "out_shape": [2], "rows": 4, "cols": 2}]}}


def _forward(sample: int) -> dict:
    return {"sample": sample, "phase": "forward", "layer": "fc1", "kind": "mvm", "vectors": 1,
            "rows": 4, "cols": 2, "input_bits": 1, "input_nz": 0.5, "bitplane_nz": [0.5],
            "bitplane_allzero": [0.0]}


def _outer(sample: int) -> dict:
    return {"sample": sample, "phase": "update", "layer": "fc1", "kind": "outer", "vectors": 1,
            "rows": 4, "cols": 2}


def _mvm_t(sample: int) -> dict:
    return {**_forward(sample), "phase": "backward", "kind": "mvm_t"}


def test_training_phases_follow_the_forward_pass_in_order(tmp_path):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, _header_of_one_dense_layer(2)) as writer:
        for sample in range(2):
            for item in (_forward(sample), _mvm_t(sample), _outer(sample), _outer(sample)):
                writer.write(item)
    assert validate_trace(path).records == 8


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([_outer(0), _forward(0)], "record 0: field 'phase': sample 0 must run layer 'fc1' next "
         "(header order), got an update record"),
        ([_forward(0), _outer(0), _mvm_t(0)], "record 2: field 'phase': sample 0 has update "
         "records already, got 'backward'"),
        ([_forward(0), _mvm_t(0), _forward(0)], "record 2: field 'phase': sample 0 has backward "
         "records already, got 'forward' (phases run forward, backward, update)"),
        ([_forward(0), _forward(0)], "record 1: field 'layer': sample 0 has run every header "
         "layer already, got another forward record of 'fc1'"),
    ],
)
def test_phase_order_within_a_sample(tmp_path, records, message):
    with pytest.raises(TraceError) as info:
        with TraceWriter(tmp_path / "t.jsonl", _header_of_one_dense_layer()) as writer:
            for item in records:
                writer.write(item)
    assert message in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_refused_record_leaves_the_writer_usable(tmp_path):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, _header_of_one_dense_layer()) as writer:
        with pytest.raises(TraceError):
            writer.write(_outer(0))
        writer.write(_forward(0))
    assert validate_trace(path).records == 1


# -- 8. duplicate keys ------------------------------------------------------------------------


def test_a_duplicate_key_in_a_record(tmp_path, capsys):
    lines = list(LINES)
    lines[1] = lines[1].replace('"sample": 0,', '"sample": 0, "sample": 1,', 1)
    assert lines[1] != LINES[1]
    check(tmp_path, capsys, lines, "record 0 (line 2): field 'sample': duplicate key (given twice)")


def test_a_duplicate_key_with_colons_in_strings(tmp_path, capsys):
    # More colons than keys without a duplicate: the slow path must decide.
    header = json.loads(LINES[0])
    header["meta"] = {"note": "a:b:c"}
    lines = [json.dumps(header), *LINES[1:]]
    assert validate_trace(write_lines(tmp_path / "ok.jsonl", lines)).records == len(LINES) - 2
    lines[2] = lines[2].replace('"kind": "relu"', '"kind": "relu", "kind": "relu"', 1)
    assert lines[2] != LINES[2]
    check(tmp_path, capsys, lines, "record 1 (line 3): field 'kind': duplicate key")


def test_a_duplicate_key_with_spaces_before_the_colon(tmp_path, capsys):
    lines = list(LINES)
    lines[1] = lines[1].replace('"sample": 0,', '"sample" : 0, "sample"  :  0,', 1)
    check(tmp_path, capsys, lines, "record 0 (line 2): field 'sample': duplicate key")


def test_a_duplicate_key_in_the_header_and_the_end_record(tmp_path, capsys):
    lines = [LINES[0].replace('"samples": 16,', '"samples": 16, "samples": 15,', 1), *LINES[1:]]
    assert lines[0] != LINES[0]
    check(tmp_path, capsys, lines, "header (line 1): duplicate key \"samples\" (given twice)")
    text = LINES[0].replace('"kind": "conv",', '"kind": "conv", "kind": "conv",', 1)
    assert text != LINES[0]
    check(tmp_path, capsys, [text, *LINES[1:]], "header (line 1): duplicate key \"kind\"")
    end = LINES[-1].replace("}", ', "records": 0}')
    check(tmp_path, capsys, [*LINES[:-1], end],
          f"end record (line {len(LINES)}): field 'records': duplicate key")


# -- 12. not a regular file -------------------------------------------------------------------


def test_a_trace_that_is_a_fifo_or_a_directory(tmp_path, capsys):
    fifo = tmp_path / "t.jsonl"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), (tmp_path, "a directory")):
        for command in ("validate", "info"):
            line = fails_cleanly(capsys, ["trace", command, str(path)], within_s=2)
            assert f"{path}: cannot read trace: not a regular file ({kind})" in line
        with pytest.raises(TraceError, match="not a regular file"):
            read_header(path)
    args = ["run", str(WU), str(fifo), "--out", str(tmp_path / "o")]
    line = fails_cleanly(capsys, args, within_s=2)
    assert "not a regular file (a FIFO)" in line and not (tmp_path / "o").exists()


def test_dev_zero_is_not_a_trace(capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    line = fails_cleanly(capsys, ["trace", "validate", "/dev/zero"])
    assert "not a regular file (a character device)" in line
