"""Hostile training input: version-3 update records (``digital``, ``transfer``, ``outer``,
``write``) and their version-2 shapes, absurd record sizes, the ``training:`` and ``device:``
config sections, and the ``archsim accuracy`` and ``archsim trace export --train --algorithm``
command lines.

Each refusal is one line ``archsim: error: ...`` on stderr naming the file and the record or
field, exit status 2, nothing on stdout, no traceback and no output file. Training commands are
refused before any training starts (the training functions are replaced by ones that fail the
test).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from bad_input_cli import CONFIGS, ROOT, fails_cleanly, refused, write_lines

import archsim.workload.export as export_module
import archsim.workload.train as train_module
from archsim import api
from archsim.cli import main
from archsim.errors import TraceError
from archsim.workload.trace import MAX_COUNT, TraceWriter, validate_trace

TRAINING = CONFIGS / "wu2023_64x64_training.yaml"
WU = CONFIGS / "wu2023_64x64.yaml"
RASCH = CONFIGS / "rasch2024_table1.yaml"  # a training section, no device section
TWO_GROUPS = CONFIGS / "wu2023_two_groups.yaml"

#: Seconds a refusal may take in-process: generous for a loaded 2-core machine.
WITHIN_S = 2.0

# -- trace lines, written raw (the writer would refuse most of them) --------------------------

ROWS, COLS = 4, 2


def _header(version: int = 3, samples: int = 1) -> dict[str, Any]:
    layer = {"name": "fc1", "kind": "dense", "inputs": ["input"], "in_shape": [ROWS],
             "out_shape": [COLS], "rows": ROWS, "cols": COLS}
    return {"format": "archsim-trace", "version": version, "model": "m", "samples": samples,
            "seed": 0, "network": {"input_shape": [ROWS], "weight_bits": 8, "act_bits": 8,
                                   "layers": [layer]}, "meta": {}}


def _forward(sample: int = 0) -> dict[str, Any]:
    return {"type": "op", "sample": sample, "phase": "forward", "layer": "fc1", "kind": "mvm",
            "vectors": 1, "rows": ROWS, "cols": COLS, "input_bits": 1, "input_nz": 0.5,
            "bitplane_nz": [0.5], "bitplane_allzero": [0.0]}


#: A valid version-3 record of each update kind (its fields in the README's order).
UPDATE_FIELDS: dict[str, dict[str, Any]] = {
    "digital": {"flops": 10, "bits": 64},
    "outer": {"vectors": 1, "rows": ROWS, "cols": COLS, "bit_length": 2, "pulses": 3,
              "array": "W"},
    "transfer": {"reads": 1, "input_bits": 1, "bit_length": 1, "pulses": 1},
    "write": {"cells": 2, "pulses": 3, "verify_reads": 3, "rounds": 2},
}
#: The version-2 shapes of the kinds that changed.
V2_FIELDS: dict[str, dict[str, Any]] = {
    "outer": {"vectors": 1, "rows": ROWS, "cols": COLS},
    "write": {"cells": 2, "pulses": 3, "verify_reads": 3},
}
_DROP = object()


def update(kind: str, sample: int = 0, fields: dict[str, Any] | None = None,
           **changes: Any) -> dict[str, Any]:
    """An update record of ``kind`` (version-3 fields, or ``fields``) with ``changes``; a
    change to ``_DROP`` removes the key."""
    record = {"type": "op", "sample": sample, "phase": "update", "layer": "fc1", "kind": kind,
              **(UPDATE_FIELDS[kind] if fields is None else fields)}
    for key, value in changes.items():
        if value is _DROP:
            record.pop(key)
        else:
            record[key] = value
    return record


def trace_file(path: Path, records: Sequence[dict[str, Any]], version: int = 3) -> Path:
    """A one-sample trace: the header, the forward record of fc1, then ``records``, then the
    end record (counting them all)."""
    lines = [json.dumps(_header(version)), json.dumps(_forward())]
    lines += [json.dumps(record) for record in records]
    lines.append(json.dumps({"type": "end", "records": len(records) + 1}))
    return write_lines(path, lines)


def refused_everywhere(tmp_path: Path, capsys: Any, path: Path, *expected: str) -> str:
    """``trace validate``, ``trace info`` and ``run`` on the training config each refuse
    ``path`` with the same one line (naming the file first and holding every ``expected``),
    quickly, and the run writes no report."""
    lines = set()
    out = tmp_path / "report"
    for args in (["trace", "validate", str(path)], ["trace", "info", str(path)],
                 ["run", str(TRAINING), str(path), "--out", str(out)]):
        line, elapsed = refused(capsys, args, out)
        assert elapsed < WITHIN_S, f"{args[:2]} refused after {elapsed:.2f} s"
        assert line.startswith(f"archsim: error: {path}: "), line
        for text in expected:
            assert text in line, line
        lines.add(line)
    assert len(lines) == 1, lines
    with pytest.raises(TraceError):
        validate_trace(path)
    return lines.pop()


def runs(tmp_path: Path, capsys: Any, path: Path, *extra: str) -> str:
    """``archsim run`` on the training config succeeds; returns its stdout."""
    capsys.readouterr()
    status = main(["run", str(TRAINING), str(path), "--out", str(tmp_path / "report"), *extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    assert captured.err == ""
    return captured.out


# -- 1. version-3 update records: types, ranges, keys ------------------------------------------


def test_every_update_kind_is_valid_and_runs(tmp_path, capsys):
    """The baseline: one record of each version-3 update kind validates and runs on the
    training config (so that every refusal below is the bad field's)."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind) for kind in UPDATE_FIELDS])
    assert validate_trace(path).records == 5
    assert "wrote " in runs(tmp_path, capsys, path)


_WRONG_VALUES = [
    ("a string", "1", 'got "1"'),
    ("a float", 1.5, "got 1.5"),
    ("a whole float", 2.0, "got 2.0"),
    ("true", True, "got true"),
    ("false", False, "got false"),
    ("null", None, "got null"),
    ("negative", -1, "got -1"),
    ("a list", [1], "got [1]"),
    ("an object", {"n": 1}, 'got {"n": 1}'),
]
_COUNT_FIELDS = [
    ("digital", "flops"), ("digital", "bits"),
    ("outer", "vectors"), ("outer", "bit_length"), ("outer", "pulses"),
    ("transfer", "reads"), ("transfer", "input_bits"), ("transfer", "bit_length"),
    ("transfer", "pulses"),
    ("write", "cells"), ("write", "pulses"), ("write", "verify_reads"), ("write", "rounds"),
]


@pytest.mark.parametrize(("kind", "field"), _COUNT_FIELDS, ids=[f"{k}.{f}" for k, f in
                                                                 _COUNT_FIELDS])
@pytest.mark.parametrize(("what", "value", "shown"), _WRONG_VALUES,
                         ids=[w for w, _, _ in _WRONG_VALUES])
def test_a_count_of_the_wrong_type_is_one_line_naming_the_field(
    tmp_path, capsys, kind, field, what, value, shown
):
    """Every integer field of the new records refuses strings, floats (even whole ones),
    booleans, null, negatives and containers: one line naming record 1, its line and field."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind, **{field: value})])
    refused_everywhere(tmp_path, capsys, path, f"record 1 (line 3): field '{field}': expected "
                       "an integer >= ", shown)


@pytest.mark.parametrize(("kind", "field"), _COUNT_FIELDS, ids=[f"{k}.{f}" for k, f in
                                                                 _COUNT_FIELDS])
def test_a_count_above_two_to_the_forty_is_refused(tmp_path, capsys, kind, field):
    path = trace_file(tmp_path / "t.jsonl", [update(kind, **{field: MAX_COUNT + 1})])
    refused_everywhere(tmp_path, capsys, path, f"field '{field}': expected at most {MAX_COUNT} "
                       f"(2**40), got {MAX_COUNT + 1}")


@pytest.mark.parametrize(
    ("kind", "field"),
    [("outer", "vectors"), ("outer", "bit_length"), ("transfer", "reads"),
     ("transfer", "input_bits")],
)
def test_a_zero_where_at_least_one_is_needed(tmp_path, capsys, kind, field):
    """``vectors``, ``bit_length`` of an outer product, ``reads`` and ``input_bits`` of a
    transfer are >= 1 (a transfer's ``bit_length`` may be 0: nothing written)."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind, **{field: 0})])
    refused_everywhere(tmp_path, capsys, path, f"field '{field}': expected an integer >= 1, "
                       "got 0")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_malformed_json(tmp_path, capsys, literal):
    """Python's json would read ``NaN`` and ``Infinity``; the trace reader does not."""
    text = json.dumps(update("digital")).replace('"flops": 10', f'"flops": {literal}')
    lines = [json.dumps(_header()), json.dumps(_forward()), text,
             json.dumps({"type": "end", "records": 2})]
    path = write_lines(tmp_path / "t.jsonl", lines)
    refused_everywhere(tmp_path, capsys, path, "record 1 (line 3): malformed JSON",
                       f"{literal.lstrip('-')} is not valid JSON")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("w", 'got "w"'),
        ("B", 'got "B"'),
        ("", 'got ""'),
        ("W ", 'got "W "'),
        ("\uff37", 'got "\\uff37"'),  # a full-width W
        ("W\n", 'got "W\\n"'),
        (["W"], 'got ["W"]'),
        ({"W": 1}, 'got {"W": 1}'),
        (None, "got null"),
        (1, "got 1"),
        (True, "got true"),
    ],
    ids=["lower", "other letter", "empty", "trailing space", "full-width", "newline", "list",
         "object", "null", "integer", "true"],
)
def test_an_array_that_is_not_w_or_a(tmp_path, capsys, value, shown):
    """``array`` is exactly "W" or "A": look-alikes, blanks, unicode and non-strings are one
    line, the value shown escaped (never a raw newline)."""
    path = trace_file(tmp_path / "t.jsonl", [update("outer", array=value)])
    refused_everywhere(tmp_path, capsys, path,
                       f"field 'array': expected one of 'W', 'A', {shown}")


def test_a_huge_array_value_is_shown_shortened(tmp_path, capsys):
    """A megabyte of "W"s is refused in one short line."""
    path = trace_file(tmp_path / "t.jsonl", [update("outer", array="W" * (1 << 20))])
    line = refused_everywhere(tmp_path, capsys, path, "field 'array': expected one of 'W', 'A'")
    assert len(line) < 400


@pytest.mark.parametrize("kind", list(UPDATE_FIELDS))
def test_a_missing_field_names_it_and_what_the_kind_needs(tmp_path, capsys, kind):
    last = list(UPDATE_FIELDS[kind])[-1]
    path = trace_file(tmp_path / "t.jsonl", [update(kind, **{last: _DROP})])
    needed = ", ".join(UPDATE_FIELDS[kind])
    refused_everywhere(tmp_path, capsys, path, f"field '{last}': missing (an update {kind} "
                       f"record needs sample, phase, layer, kind, {needed})")


@pytest.mark.parametrize("kind", list(UPDATE_FIELDS))
def test_an_extra_field_is_named(tmp_path, capsys, kind):
    path = trace_file(tmp_path / "t.jsonl", [update(kind, gizmo=1)])
    refused_everywhere(tmp_path, capsys, path, f"field 'gizmo': unexpected in an update {kind} "
                       "record")


@pytest.mark.parametrize("kind", list(UPDATE_FIELDS))
def test_an_update_record_on_a_relu_layer(tmp_path, capsys, kind):
    """Every update kind needs a matrix layer."""
    header = _header()
    header["network"]["layers"].append({"name": "relu1", "kind": "relu", "inputs": ["fc1"],
                                        "in_shape": [COLS], "out_shape": [COLS]})
    relu = {"type": "op", "sample": 0, "phase": "forward", "layer": "relu1", "kind": "relu",
            "elements": COLS}
    lines = [json.dumps(header), json.dumps(_forward()), json.dumps(relu),
             json.dumps(update(kind, layer="relu1")), json.dumps({"type": "end", "records": 3})]
    path = write_lines(tmp_path / "t.jsonl", lines)
    refused_everywhere(tmp_path, capsys, path, f"record 2 (line 4): field 'layer': an update "
                       f"{kind} record needs a conv, dense or routed layer; 'relu1' is relu")


@pytest.mark.parametrize("field", ["rows", "cols"])
def test_an_outer_product_of_another_shape(tmp_path, capsys, field):
    path = trace_file(tmp_path / "t.jsonl", [update("outer", **{field: 5})])
    refused_everywhere(tmp_path, capsys, path, f"field '{field}': expected ")


# -- 2. versions 1 and 2 ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["digital", "transfer"])
def test_a_version_2_header_with_version_3_kinds(tmp_path, capsys, kind):
    """``digital`` and ``transfer`` are version-3 kinds: the message says so."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind)], version=2)
    refused_everywhere(tmp_path, capsys, path, f"record 1 (line 3): field 'kind': update "
                       f"'{kind}' records need trace version 3, this header says 2")


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("kind", ["outer", "write"])
def test_a_version_1_or_2_header_with_version_3_shapes(tmp_path, capsys, version, kind):
    """An old header with the new ``outer`` (bit_length, pulses, array) or ``write`` (rounds):
    one line naming record 1 and a new field as unexpected."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind)], version=version)
    line = refused_everywhere(tmp_path, capsys, path, "record 1 (line 3): field '",
                              f"unexpected in an update {kind} record")
    new = set(UPDATE_FIELDS[kind]) - set(V2_FIELDS[kind])
    assert any(f"field '{name}'" in line for name in new), line


@pytest.mark.parametrize("kind", ["outer", "write"])
def test_a_version_3_header_with_version_2_shapes(tmp_path, capsys, kind):
    """The new fields are required in version 3: the first missing one is named."""
    path = trace_file(tmp_path / "t.jsonl", [update(kind, fields=V2_FIELDS[kind])])
    first = next(name for name in UPDATE_FIELDS[kind] if name not in V2_FIELDS[kind])
    refused_everywhere(tmp_path, capsys, path, f"field '{first}': missing")


@pytest.mark.parametrize("version", [True, 3.0, "3", 0, -3, 6, 2**70])
def test_a_header_version_that_is_not_1_to_5(tmp_path, capsys, version):
    lines = [json.dumps({**_header(), "version": version}), json.dumps(_forward()),
             json.dumps({"type": "end", "records": 1})]
    path = write_lines(tmp_path / "t.jsonl", lines)
    refused_everywhere(tmp_path, capsys, path, "header (line 1): field 'version': ")


@pytest.mark.parametrize("version", [1, 2])
def test_old_update_shapes_read_and_run(tmp_path, capsys, version):
    """Version-1 and -2 ``outer`` and ``write`` records still read and run: an old outer
    product as one slot on W with no pulse count, an old write one round per cell, timed
    cell by cell (2 cells of the training config: 3 pulses x 10 + 3 verify reads x 10 cycles,
    plus one slot of 10 cycles, both polarities, for the outer product)."""
    records = [update(kind, fields=V2_FIELDS[kind]) for kind in ("outer", "write")]
    path = trace_file(tmp_path / "t.jsonl", records, version=version)
    assert validate_trace(path).records == 3
    report = api.run(TRAINING, path)
    stats = report["statistics"]
    assert stats["time_tile"]["by_phase"]["update"] == 1 * 10 * 2 + 3 * 10 + 3 * 10
    assert stats["pulses_w"]["by_phase"].get("update", 0) == 0
    assert stats["write_pulses"]["by_phase"]["update"] == 3


# -- 3. absurd sizes ------------------------------------------------------------------------


def test_absurd_update_records_run_in_closed_form(tmp_path, capsys):
    """Each count at its 2^40 maximum: an outer product of 2^40 trains of 2^40 slots (2^80
    slots, about 7.7e9 years at 100 MHz), 2^40 write rounds, 2^40 FLOPs and bits. No record
    is simulated slot by slot: the run takes well under a few seconds and its times are exact
    integers (no float overflow or rounding).
    On the training config: a slot is 10 cycles, both polarities; a write round two 10-cycle
    pulse slots (SET, then RESET) and a 10-cycle verify read; the digital unit 0.25 FLOP per
    cycle, a whole unit per layer, memory 32 bits per cycle."""
    n = MAX_COUNT
    path = trace_file(tmp_path / "huge.jsonl", [
        update("digital", flops=n, bits=n),
        update("outer", vectors=n, bit_length=n, pulses=n, array="A"),
        update("write", cells=n, pulses=n, verify_reads=n, rounds=n),
    ])
    start = time.perf_counter()
    report = api.run(TRAINING, path)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"took {elapsed:.1f} s"
    stats = report["statistics"]
    assert stats["time_digital"]["by_phase"]["update"] == n * 4 + n // 32
    assert stats["time_tile"]["by_phase"]["update"] == n * n * 10 * 2 + n * 30
    assert stats["pulses_a"]["by_phase"]["update"] == n
    assert stats["flops"]["by_phase"]["update"] == n
    # and on the command line: one report, no error
    out = runs(tmp_path, capsys, path)
    assert "training (per training sample" in out


def test_an_absurd_transfer_runs_quickly(tmp_path):
    """2^40 row reads of 2^40-bit inputs, each written with 2^40 slots."""
    n = MAX_COUNT
    path = trace_file(tmp_path / "huge.jsonl", [
        update("transfer", reads=n, input_bits=n, bit_length=n, pulses=n),
    ])
    start = time.perf_counter()
    report = api.run(TRAINING, path, overrides=["controller.enabled=true"])
    assert time.perf_counter() - start < 10
    assert report["statistics"]["row_reads"]["by_phase"]["update"] == n
    assert report["statistics"]["time_tile"]["by_phase"]["update"] >= n * n * 20


def test_the_slowest_digital_unit_on_a_long_trace(tmp_path):
    """``training.digital.flops_per_cycle=1e-6`` (its minimum) on 2,000 samples of updates:
    the run takes as long as with the default rate (the digital time is a closed form, no
    event per FLOP), and the time is exact: ceil(flops x 9 / (1e-6 x 1)) + ceil(bits / 32)
    per record, 1e-6 taken as the float it is."""
    samples, flops, bits = 2_000, 10**6, 10**6
    header = {key: value for key, value in _header(samples=samples).items()
              if key not in ("format", "version")}
    path = tmp_path / "long.jsonl"
    with TraceWriter(path, header, version=3) as writer:
        for sample in range(samples):
            forward = {k: v for k, v in _forward(sample).items() if k != "type"}
            writer.write(forward)
            for kind, fields in (("digital", {"flops": flops, "bits": bits}),
                                 ("outer", UPDATE_FIELDS["outer"]),
                                 ("write", UPDATE_FIELDS["write"])):
                writer.write({"sample": sample, "phase": "update", "layer": "fc1",
                              "kind": kind, **fields})
    times = {}
    for rate in ("0.25", "1e-6"):
        start = time.perf_counter()
        report = api.run(TRAINING, path, overrides=[f"training.digital.flops_per_cycle={rate}"])
        times[rate] = time.perf_counter() - start
        per_record = math.ceil(Fraction(flops) / Fraction(float(rate))) + -(-bits // 32)
        assert report["statistics"]["time_digital"]["by_phase"]["update"] == samples * per_record
    assert times["1e-6"] < 3 * times["0.25"] + 1, times


# -- 4. records no hardware could produce ------------------------------------------------------


def test_an_outer_product_with_more_pulses_than_its_trains_can_make(tmp_path, capsys):
    """One train of one slot on a 4x2 layer steps at most 8 devices; 1,000 pulses are
    impossible and refused."""
    path = trace_file(tmp_path / "t.jsonl", [update("outer", vectors=1, bit_length=1,
                                                    pulses=1000)])
    refused_everywhere(tmp_path, capsys, path, "field 'pulses'")


def test_a_transfer_that_writes_nothing_but_pulses(tmp_path, capsys):
    """README: ``bit_length`` 0 means nothing is written into W; 1,000 pulses on W are then
    impossible and refused."""
    path = trace_file(tmp_path / "t.jsonl", [update("transfer", bit_length=0, pulses=1000)])
    refused_everywhere(tmp_path, capsys, path, "field 'pulses'")


@pytest.mark.parametrize(("pulses", "rounds"), [(1, 1000), (1000, 0)])
def test_a_write_with_rounds_its_pulses_cannot_have(tmp_path, capsys, pulses, rounds):
    """A round is one trial of a row's slowest cell, and every trial is a pulse: rounds <=
    pulses, and pulses > 0 needs a round: 1,000 rounds of a single pulse, and 1,000 pulses
    in 0 rounds, are refused."""
    path = trace_file(tmp_path / "t.jsonl", [update("write", cells=1, pulses=pulses,
                                                    verify_reads=pulses, rounds=rounds)])
    refused_everywhere(tmp_path, capsys, path, "field 'rounds'")


# -- 5. the training: and device: config sections -------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.pulse.slot_cycles=0", "training.pulse.slot_cycles: must be 1..1048576, got 0"),
        ("training.pulse.slot_cycles=-5", "training.pulse.slot_cycles: must be 1..1048576"),
        ("training.pulse.slot_cycles=1.5", "training.pulse.slot_cycles: expected an integer"),
        ("training.pulse.slot_cycles=10ns", ("training.pulse.slot_cycles: expected an integer, "
         "got '10ns'")),
        ("training.pulse.slot_cycles=.nan", "training.pulse.slot_cycles: expected an integer"),
        ("training.pulse.slot_cycles=99999999999", "training.pulse.slot_cycles: must be "),
        ("training.pulse.polarities=both", ("training.pulse.polarities: expected one of "
         "'together', 'sequential', got 'both'")),
        ("training.pulse.polarities=Sequential", "training.pulse.polarities: expected one of"),
        ("training.pulse.polarities=true", "training.pulse.polarities: expected one of"),
        ("training.pulse.energy.pulse=36", ("training.pulse.energy.pulse: expected a quantity "
         "in J")),
        ("training.pulse.energy.pulse=36pF", "(unknown unit 'pF')"),
        ("training.pulse.energy.pulse=36pW", ("training.pulse.energy.pulse: expected a quantity "
         "in J")),
        ("training.pulse.energy.pulse=-1pJ", "training.pulse.energy.pulse: must be 0 J..1 J"),
        ("training.pulse.energy.pulse=2J", ("training.pulse.energy.pulse: must be 0 J..1 J, "
         "got 2 J")),
        ("training.pulse.energy.pulse=.nan", "training.pulse.energy.pulse: expected a quantity"),
        ("training.pulse.energy.pulse=nanpJ", "training.pulse.energy.pulse: expected a quantity"),
        ("training.pulse.energy.pulse=infJ", "training.pulse.energy.pulse: expected a quantity"),
        ("training.pulse.energy.row_drive=null", "training.pulse.energy.row_drive: "),
        ("training.pulse.energy.gizmo=1pJ", ("training.pulse.energy.gizmo: unknown field; "
         "expected one of col_drive, pulse, row_drive")),
        ("training.pulse.gizmo=1", "training.pulse.gizmo: unknown field"),
        ("training.gizmo=1", ("training.gizmo: unknown field; expected one of digital, "
         "endurance_cycles, pulse, write_verify")),
        ("training.digital.flops_per_cycle=0", ("training.digital.flops_per_cycle: must be "
         "1e-06..")),
        ("training.digital.flops_per_cycle=1e-7", "training.digital.flops_per_cycle: must be"),
        ("training.digital.flops_per_cycle=-1", "training.digital.flops_per_cycle: must be"),
        ("training.digital.flops_per_cycle=1e13", "training.digital.flops_per_cycle: must be"),
        ("training.digital.flops_per_cycle=.inf", ("training.digital.flops_per_cycle: expected "
         "a finite number, got inf")),
        ("training.digital.flops_per_cycle=.nan", ("training.digital.flops_per_cycle: expected "
         "a finite number, got nan")),
        ("training.digital.flops_per_cycle=true", ("training.digital.flops_per_cycle: expected "
         "a number, got true")),
        ("training.digital.flops_per_cycle=100MHz", ("training.digital.flops_per_cycle: "
         "expected a number")),
        ("training.digital.arrays_per_unit=0", ("training.digital.arrays_per_unit: must be "
         "1..1048576, got 0")),
        ("training.digital.arrays_per_unit=2.5", ("training.digital.arrays_per_unit: expected "
         "an integer")),
        ("training.digital.memory_bits_per_cycle=-1", ("training.digital.memory_bits_per_cycle: "
         "must be 0..1099511627776, got -1")),
        ("training.digital.memory_bits_per_cycle=2e12", ("training.digital.memory_bits_per_cycle:"
         " must be 0..1099511627776")),
        ("training.digital.energy={flop: 1pJ}", ("training.digital.energy.bit: required field "
         "is missing")),
        ("training.write_verify.parallel=column", ("training.write_verify.parallel: expected "
         "one of 'row', 'cell', got 'column'")),
        ("training.write_verify.verify_cycles=0", ("training.write_verify.verify_cycles: must be "
         "1..1048576, got 0")),
        ("training.write_verify.pulse_cycles=10ns", ("training.write_verify.pulse_cycles: "
         "expected an integer")),
        ("training.endurance_cycles=0", "training.endurance_cycles: must be 1.0..1e+18, got 0.0"),
        ("training.endurance_cycles=1e19", "training.endurance_cycles: must be 1.0..1e+18"),
        ("training.endurance_cycles=.nan", "training.endurance_cycles: expected a finite number"),
        ("training.endurance_cycles=1e6cycles", "training.endurance_cycles: expected a number"),
        ("training={}", "training.pulse: required field is missing"),
        ("training=5", "training: expected a mapping, got 5"),
        ("training=[1]", "training: expected a mapping"),
        ("training.pulse=null", "training.pulse: expected a mapping, got null"),
    ],
)
def test_a_bad_training_field_is_one_line_naming_its_path(tmp_path, capsys, override, message):
    """``validate`` and ``run`` (with a valid training trace) refuse the override alike."""
    args = ["--set", override]
    line = fails_cleanly(capsys, ["validate", str(TRAINING), *args], within_s=WITHIN_S)
    assert line.startswith(f"archsim: error: {TRAINING}: training"), line
    assert message in line, line
    trace = trace_file(tmp_path / "t.jsonl", [update(kind) for kind in UPDATE_FIELDS])
    out = tmp_path / "report"
    run_line, _ = refused(capsys, ["run", str(TRAINING), str(trace), "--out", str(out), *args],
                          out)
    assert run_line == line


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("device.g_max=1uS", "device.g_max: must be above device.g_min (4e-06 S), got 1e-06 S"),
        ("device.g_max=4uS", "device.g_max: must be above device.g_min"),
        ("device.g_min=40uS", "device.g_max: must be above device.g_min"),
        ("device.g_min=-1uS", "device.g_min: must be 0 S..1 S"),
        ("device.g_max=2S", "device.g_max: must be 0 S..1 S, got 2 S"),
        ("device.g_max=40", "device.g_max: expected a quantity in S such as '4uS', got 40"),
        ("device.g_max=40uA", ("device.g_max: expected a quantity in S such as '4uS', got '40uA' "
         "(a quantity in A)")),
        ("device.g_max=.nan", "device.g_max: expected a quantity in S"),
        ("device.program_noise=1.5", "device.program_noise: must be 0.0..1.0, got 1.5"),
        ("device.program_noise=-0.1", "device.program_noise: must be 0.0..1.0"),
        ("device.read_noise=.nan", "device.read_noise: expected a finite number, got nan"),
        ("device.read_noise=5%", "device.read_noise: expected a number"),
        ("device.max_trials=0", "device.max_trials: must be 1..1024, got 0"),
        ("device.max_trials=2000", "device.max_trials: must be 1..1024, got 2000"),
        ("device.max_trials=2.5", "device.max_trials: expected an integer, got 2.5"),
        ("device.tolerance_levels=0", "device.tolerance_levels: must be 0.001..1000000.0"),
        ("device.soft_bounds.dw_min=0", "device.soft_bounds.dw_min: must be 1e-06..1.0, got 0.0"),
        ("device.soft_bounds={}", "device.soft_bounds.dw_min: required field is missing"),
        ("device.soft_bounds={dw_min: 0.01}", ("device.soft_bounds.sigma_bound: required field "
         "is missing")),
        ("device.gizmo=1", ("device.gizmo: unknown field; expected one of g_max, g_min, "
         "max_trials, program_noise, read_noise, soft_bounds, tolerance_levels")),
        ("device={}", "device.g_min: required field is missing"),
        ("device=on", "device: expected a mapping"),
    ],
)
def test_a_bad_device_field_is_one_line_naming_its_path(capsys, override, message):
    line = fails_cleanly(capsys, ["validate", str(WU), "--set", override], within_s=WITHIN_S)
    assert line.startswith(f"archsim: error: {WU}: device"), line
    assert message in line, line


@pytest.fixture
def no_training(monkeypatch):
    """Make any training (software SGD of ``accuracy``, analog training of ``trace export``)
    fail the test if it is ever reached."""
    def trained(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("reached training before refusing the input")

    monkeypatch.setattr(train_module, "train_sgd", trained)
    monkeypatch.setattr(export_module, "train_analog", trained)
    monkeypatch.setattr(export_module, "train_sgd", trained)


def test_g_max_below_g_min_is_refused_by_run_and_accuracy(tmp_path, capsys, no_training):
    """The same relation through every command that loads the config, before any work."""
    override = ["--set", "device.g_max=1uS"]
    expected = (f"archsim: error: {WU}: device.g_max: must be above device.g_min (4e-06 S), "
                "got 1e-06 S")
    trace = trace_file(tmp_path / "t.jsonl", [])
    out = tmp_path / "report"
    for args in (["run", str(WU), str(trace), "--out", str(out), *override],
                 ["accuracy", str(WU), "mlp", *override]):
        line, elapsed = refused(capsys, args, out)
        assert line == expected and elapsed < WITHIN_S


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  write_verify: null\n", "training.write_verify: expected a mapping, got null"),
        ("  gizmo: 1\n", "training.gizmo: unknown field"),
        ("  endurance_cycles: 1e6 cycles\n", "training.endurance_cycles: expected a number"),
    ],
)
def test_a_training_section_in_a_file(tmp_path, capsys, text, message):
    """Errors of a training section given in a file (inheriting from the training config)
    name the file given, and the path."""
    path = tmp_path / "bad.yaml"
    path.write_text(f"version: 1\nbase: {TRAINING}\nname: bad\ntraining:\n{text}")
    line = fails_cleanly(capsys, ["validate", str(path)], within_s=WITHIN_S)
    assert line.startswith(f"archsim: error: {path}"), line
    assert message in line, line


def test_a_training_section_that_is_removed_makes_update_records_unrunnable(tmp_path, capsys):
    """``--set training=null`` is a valid inference config: a trace with update records is then
    refused at its first update record, naming what is lacking."""
    trace = trace_file(tmp_path / "t.jsonl", [update("digital")])
    out = tmp_path / "report"
    line, _ = refused(capsys, ["run", str(TRAINING), str(trace), "--set", "training=null",
                               "--out", str(out)], out)
    assert "record 1: no handler for update 'digital' records (layer 'fc1')" in line
    assert "the config has no training section" in line


# -- 6. archsim accuracy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gizmo"], "model: 'gizmo' cannot be trained offline; expected 'mlp' or 'lenet-wu'"),
        (["MLP"], "model: 'MLP' cannot be trained offline"),
        (["resnet18"], "model: 'resnet18' cannot be trained offline"),
        ([""], "model: '' cannot be trained offline"),
        (["mlp\n"], "model: 'mlp\\n' cannot be trained offline"),
        (["mlp", "--weight-bits", "0"], "argument --weight-bits: expected an integer >= 1, got 0"),
        (["mlp", "--weight-bits", "1"], "weight_bits: must be an integer 2..16, got 1"),
        (["mlp", "--weight-bits", "100"], "weight_bits: must be an integer 2..16, got 100"),
        (["mlp", "--weight-bits", "8.5"], "argument --weight-bits: expected an integer >= 0"),
        (["mlp", "--act-bits", "0"], "argument --act-bits: expected an integer >= 1, got 0"),
        (["mlp", "--act-bits", "17"], "act_bits: must be an integer 1..16, got 17"),
        (["mlp", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (["mlp", "--epochs", "1001"], "epochs: must be an integer 1..1000, got 1001"),
        (["mlp", "--epochs", "99999999999999999999"], "epochs: must be an integer 1..1000"),
        (["mlp", "--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
        (["mlp", "--seed", "nan"], "argument --seed: expected an integer >= 0, got 'nan'"),
        (["mlp", "--adc-range", "auto"], "argument --adc-range: invalid choice: 'auto'"),
        (["mlp", "--set", "device.program_noise=2"], "device.program_noise: must be 0.0..1.0"),
        (["mlp", "--set", "device=null"], ("device: missing; accuracy needs the cells' "
         "conductance range and noise")),
    ],
)
def test_accuracy_refuses_bad_arguments_before_training(capsys, no_training, args, message):
    line, elapsed = refused(capsys, ["accuracy", str(WU), *args])
    assert message in line, line
    assert elapsed < WITHIN_S


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (RASCH, "device: missing; accuracy needs the cells' conductance range and noise"),
        (TWO_GROUPS, ("tile_groups: accuracy models one tile design; this config's groups "
         "differ")),
    ],
    ids=["no device section", "two tile designs"],
)
def test_accuracy_refuses_a_config_it_cannot_model(capsys, no_training, config, message):
    line = fails_cleanly(capsys, ["accuracy", str(config), "mlp", "--epochs", "1"],
                         within_s=WITHIN_S)
    assert line.startswith(f"archsim: error: {config}: {message}"), line


def test_accuracy_on_a_crossbar_too_narrow_for_a_weight_names_the_config_field(
    capsys, no_training
):
    """A differential weight needs 2 physical columns; a 64x1 crossbar has 1: like ``archsim
    run``, ``archsim accuracy`` names the config file and ``tile.crossbar.cols``."""
    line = fails_cleanly(capsys, ["accuracy", str(WU), "mlp", "--set", "tile.crossbar.cols=1",
                                  "--set", "tile.adc.columns_per_adc=1"], within_s=WITHIN_S)
    assert line.startswith(f"archsim: error: {WU}: ") and "tile.crossbar.cols" in line, line


# -- 7. archsim trace export --train --algorithm ----------------------------------------------


def _export(out: Path, *args: str) -> list[str]:
    return ["trace", "export", "mlp", "--out", str(out), *args]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "--algorithm", "gizmo"], ("algorithm: expected one of agad, c-ttv2, mp, "
         "naive, sgd, ttv2, got 'gizmo'")),
        (["--train", "--algorithm", "SGD"], "algorithm: expected one of"),
        (["--train", "--algorithm", ""], "algorithm: expected one of"),
        (["--train", "--algorithm", "sgd\nttv2"], "got 'sgd\\nttv2'"),
        (["--algorithm", "sgd"], "--algorithm: trains on analog arrays; give --train too"),
        (["--train", "--algorithm", "sgd", "--lr", "-1"], ("lr: must be a number in (0, 1000], "
         "got -1.0")),
        (["--train", "--algorithm", "sgd", "--lr", "0"], "lr: must be a number in (0, 1000]"),
        (["--train", "--algorithm", "sgd", "--lr", "nan"], ("lr: must be a number in (0, 1000], "
         "got nan")),
        (["--train", "--algorithm", "sgd", "--lr", "inf"], ("lr: must be a number in (0, 1000], "
         "got inf")),
        (["--train", "--algorithm", "sgd", "--lr=-inf"], "lr: must be a number in (0, 1000]"),
        (["--train", "--algorithm", "sgd", "--lr", "abc"], ("argument --lr: invalid float value: "
         "'abc'")),
        (["--train", "--algorithm", "sgd", "--epochs", "1001"], ("epochs: must be an integer "
         "1..1000, got 1001")),
        (["--train", "--algorithm", "sgd", "--epochs", "0"], ("argument --epochs: expected an "
         "integer >= 1, got 0")),
        (["--train", "--algorithm", "sgd", "--samples", "5"], ("--samples: a training trace "
         "holds every training sample")),
        (["--train", "--algorithm", "sgd", "--seed", "-1"], ("argument --seed: expected an "
         "integer >= 0")),
        (["--train", "--algorithm", "ttv2", "--config", str(WU)], (f"{WU}: device.soft_bounds: "
         "missing; ttv2 pulses soft-bounds devices")),
        (["--train", "--algorithm", "mp", "--config", str(RASCH)], (f"{RASCH}: device: missing; "
         "training needs the cells to train on")),
        (["--train", "--algorithm", "sgd", "--config", "/nonexistent/c.yaml"],
         "/nonexistent/c.yaml: cannot read config"),
        (["--lr", "0.1"], "--lr: only with --train --algorithm ALGO"),
        (["--train", "--lr", "0.1"], "--lr: only with --train --algorithm ALGO"),
        (["--config", str(WU)], "--config: only with --train --algorithm ALGO"),
        (["--json"], "--json: only with --train --algorithm ALGO"),
    ],
)
def test_training_export_refuses_bad_arguments_before_training(
    tmp_path, capsys, no_training, args, message
):
    out = tmp_path / "t.jsonl"
    line, elapsed = refused(capsys, _export(out, *args), out)
    assert message in line, line
    assert elapsed < WITHIN_S
    assert list(tmp_path.iterdir()) == []


def test_training_export_to_a_directory_or_plots_to_a_file(tmp_path, capsys, no_training):
    """``--out`` an existing directory, ``--plots`` an existing file: refused up front."""
    line, _ = refused(capsys, _export(tmp_path, "--train", "--algorithm", "sgd"))
    assert f"'{tmp_path}' is a directory" in line
    blocker = tmp_path / "file.png"
    blocker.write_text("")
    out = tmp_path / "t.jsonl"
    line, _ = refused(capsys, _export(out, "--train", "--algorithm", "sgd", "--plots",
                                      str(blocker)), out)
    assert line == f"archsim: error: --plots: '{blocker}' exists and is not a directory"


def test_plots_under_a_file_are_refused_before_training(tmp_path, capsys, no_training):
    """``--plots FILE/sub`` cannot be created; the check (``exists and is not a directory``)
    misses it, training runs, the trace is written and only then the first plot fails:
    ``archsim: error: cannot write the plot FILE/sub/accuracy: Not a directory``, with exit
    status 2 but the trace left behind."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = tmp_path / "t.jsonl"
    line, _ = refused(capsys, _export(out, "--train", "--algorithm", "mp", "--epochs", "1",
                                      "--plots", str(blocker / "sub")), out)
    assert "--plots" in line


def _archsim(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m archsim ARGS`` in the repository, as a user runs it (stderr as it is,
    warnings included)."""
    return subprocess.run([sys.executable, "-m", "archsim", *args], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_finite_but_huge_learning_rate_with_sgd(tmp_path):
    """A learning rate that would overflow the pulse count (k = lr max|x| max|d| / delta) is
    refused before training, by the bound on --lr."""
    out = tmp_path / "t.jsonl"
    done = _archsim(*_export(out, "--train", "--algorithm", "sgd", "--epochs", "1",
                             "--lr", "1e308"))
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 2 and done.stdout == "" and not out.exists()
    assert done.stderr.startswith("archsim: error: ") and len(done.stderr.splitlines()) == 1


def test_a_finite_but_huge_learning_rate_with_mixed_precision(tmp_path):
    """A learning rate that would overflow the mixed-precision accumulator (``chi -= lr x.T @
    d``) is refused before training: no warning, no trace."""
    out = tmp_path / "t.jsonl"
    done = _archsim(*_export(out, "--train", "--algorithm", "mp", "--epochs", "1",
                             "--lr", "1e308"))
    assert "Warning" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 2 and not out.exists()
