"""Tests of the trace format's version 4 (archsim.workload.trace): the block-sparse training
records ``spmm``, ``spmm_t``, ``spmm_w`` and the block ``positions`` of ``mask``."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archsim.errors import TraceError
from archsim.workload.trace import (
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

# fc: a dense 20 x 10 layer; with B = 4 its grid is ceil(20/4) x ceil(10/4) = 5 x 3 = 15 blocks
# (the last block column padded: 2 real columns of 4). relu1 follows it.
ROWS, COLS, BLOCK, GRID = 20, 10, 4, 15
SAMPLES = 2
SPMM_KINDS = (("forward", "spmm"), ("backward", "spmm_t"), ("update", "spmm_w"))
MISSING: Any = object()  # in an error case's change: the key is removed


def make_header(samples: int = SAMPLES) -> dict[str, Any]:
    return {
        "model": "sparse",
        "samples": samples,
        "seed": 3,
        "network": {
            "input_shape": [ROWS], "weight_bits": 8, "act_bits": 8,
            "layers": [
                {"name": "fc", "kind": "dense", "inputs": ["input"], "in_shape": [ROWS],
                 "out_shape": [COLS], "rows": ROWS, "cols": COLS},
                {"name": "relu1", "kind": "relu", "inputs": ["fc"], "in_shape": [COLS],
                 "out_shape": [COLS]},
            ],
        },
    }


def spmm(kind: str = "spmm", **change: Any) -> dict[str, Any]:
    """A valid record of one of the three block-sparse products of fc (5 blocks in force)."""
    phase = {"spmm": "forward", "spmm_t": "backward", "spmm_w": "update"}[kind]
    record = {"phase": phase, "layer": "fc", "kind": kind, "vectors": 8, "rows": ROWS,
              "cols": COLS, "block": BLOCK, "blocks": 5, "weights": 72, "input_nz": 0.5}
    if kind == "spmm_w":
        record.update(grad_nz=0.25, scored=6)
    return record | change


def mask(**change: Any) -> dict[str, Any]:
    """A valid mask record of fc: 5 of its 15 blocks kept."""
    return {"phase": "update", "layer": "fc", "kind": "mask", "block_rows": BLOCK,
            "block_cols": BLOCK, "blocks_total": GRID, "blocks_nonzero": 5,
            "positions": [0, 4, 7, 11, 14]} | change


def step(sample: int) -> list[dict[str, Any]]:
    """One training step: every version-4 kind, with prune and regrow."""
    records = [
        spmm("spmm"),
        {"phase": "forward", "layer": "relu1", "kind": "relu", "elements": 80},
        {"phase": "backward", "layer": "relu1", "kind": "relu", "elements": 80},
        spmm("spmm_t", input_nz=0.75),
        spmm("spmm_w"),
        mask(),
        {"phase": "update", "layer": "fc", "kind": "prune", "blocks": 1},
        {"phase": "update", "layer": "fc", "kind": "regrow", "blocks": 1},
    ]
    return [{"sample": sample, **record} for record in records]


def all_records(samples: int = SAMPLES) -> list[dict[str, Any]]:
    return [record for sample in range(samples) for record in step(sample)]


def write_trace(path: Path, records: list[dict[str, Any]] | None = None, *,
                version: int = 4, samples: int = SAMPLES) -> Path:
    with TraceWriter(path, make_header(samples), version=version) as writer:
        for record in all_records(samples) if records is None else records:
            writer.write(record)
    return path


def read_all(path: Path) -> list[OpRecord]:
    with TraceReader(path) as reader:
        return list(reader)


def expected(index: int, record: dict[str, Any]) -> OpRecord:
    fields = {key: tuple(value) if isinstance(value, list) else value
              for key, value in record.items()}
    return OpRecord(index=index, **fields)


def forward(sample: int = 0) -> list[dict[str, Any]]:
    """The forward records of one sample (spmm on fc, then relu1)."""
    return step(sample)[:2]


def _forward_mvm() -> list[dict[str, Any]]:
    """The forward records of sample 0 with a dense product on fc (any version)."""
    return [{"sample": 0, "phase": "forward", "layer": "fc", "kind": "mvm", "vectors": 1,
             "rows": ROWS, "cols": COLS, "input_bits": 1, "input_nz": 0.5,
             "bitplane_nz": [0.5], "bitplane_allzero": [0.0]}, forward()[1]]


# --------------------------------------------------------------------------------------------
# The table and round trips
# --------------------------------------------------------------------------------------------


def test_version_4_kinds_are_in_the_table() -> None:
    assert TRACE_VERSION >= 4
    spmm_fields = ["vectors", "rows", "cols", "block", "blocks", "weights", "input_nz"]
    for key in SPMM_KINDS:
        spec = RECORD_KINDS[key]
        extra = ["grad_nz", "scored"] if key[1] == "spmm_w" else []
        assert [f.name for f in spec.fields] == spmm_fields + extra
        assert spec.matrix_shape
        assert spec.layer_kinds == {"dense", "conv", "routed"}
    assert [f.type for f in RECORD_KINDS["update", "spmm_w"].fields] == [
        "positive", "positive", "positive", "positive", "count", "count", "fraction",
        "fraction", "count",
    ]
    mask_fields = RECORD_KINDS["update", "mask"].fields
    assert [(f.name, f.type) for f in mask_fields][-1] == ("positions", "indices")


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = write_trace(tmp_path / name)
    records = all_records()
    assert read_all(path) == [expected(i, r) for i, r in enumerate(records)]
    assert read_header(path).version == 4
    data = path.read_bytes()
    text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
    lines = [json.loads(line) for line in text.splitlines()]
    # Written in the table's field order, positions as a JSON list.
    assert list(lines[1]) == ["type", "sample", "phase", "layer", "kind", "vectors", "rows",
                              "cols", "block", "blocks", "weights", "input_nz"]
    assert list(lines[5])[-2:] == ["grad_nz", "scored"]
    assert lines[6]["positions"] == [0, 4, 7, 11, 14]


def test_record_attributes_and_macs(tmp_path: Path) -> None:
    forward_, _, _, backward, update, mask_, prune, _ = read_all(
        write_trace(tmp_path / "t.jsonl")
    )[:8]
    assert (forward_.block, forward_.blocks, forward_.weights, forward_.input_nz) == (
        4, 5, 72, 0.5
    )
    assert (update.grad_nz, update.scored) == (0.25, 6)
    assert backward.input_nz == 0.75 and backward.scored == 0 and backward.grad_nz == 0.0
    assert mask_.positions == (0, 4, 7, 11, 14) and type(mask_.positions) is tuple
    assert prune.positions == () and prune.blocks == 1
    for record in (forward_, backward, update):
        assert record.macs == 8 * ROWS * COLS  # the dense equivalent
        assert record.sparse_macs == 8 * 72  # on the real weights of the blocks in force
    assert mask_.macs == mask_.sparse_macs == 0
    assert not hasattr(forward_, "__dict__")  # slots
    with pytest.raises(AttributeError):
        forward_.weights = 3  # type: ignore[misc]


def test_summary_counts_spmm_macs(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    summary = validate_trace(path)
    for key in (*SPMM_KINDS, ("update", "mask")):
        assert summary.counts[key] == SAMPLES
    dense = SAMPLES * 8 * ROWS * COLS
    assert summary.macs_by_phase == {"forward": dense, "backward": dense, "update": dense}
    assert summary.total_macs == 3 * dense
    sparse = SAMPLES * 8 * 72
    assert summary.sparse_macs_by_phase == {
        "forward": sparse, "backward": sparse, "update": sparse
    }
    text = format_summary(summary)
    assert "archsim-trace v4" in text
    assert f"sparse    {3 * sparse:,} MACs on the blocks in force" in text
    assert re.search(r"update\s+spmm_w\s+2\n", text)


def test_summary_of_a_dense_trace_has_no_sparse_macs(tmp_path: Path) -> None:
    summary = validate_trace(write_trace(tmp_path / "t.jsonl", _forward_mvm(), samples=1))
    assert summary.total_macs == ROWS * COLS
    assert summary.sparse_macs_by_phase == {}
    assert "\nsparse " not in format_summary(summary)


def test_writer_accepts_tuples_and_numpy_positions(tmp_path: Path) -> None:
    records = all_records()
    records[5] = {**records[5], "positions": (0, 4, 7, 11, 14)}
    records[13] = {**records[13], "positions": np.array([0, 4, 7, 11, 14], dtype=np.int64),
                   "blocks_nonzero": np.int64(5)}
    records[12] = {**records[12], "blocks": np.int64(5), "weights": np.int32(72)}
    assert read_all(write_trace(tmp_path / "t.jsonl", records)) == [
        expected(i, r) for i, r in enumerate(all_records())
    ]


def test_empty_mask_and_bounds_that_are_exactly_met(tmp_path: Path) -> None:
    """The bounds are inclusive: the whole grid in force with every real weight, weights equal
    to blocks, blocks plus scored equal to the grid, no block kept."""
    records = [
        spmm("spmm", blocks=GRID, weights=ROWS * COLS),
        forward()[1],
        spmm("spmm_t", blocks=3, weights=3),
        spmm("spmm_w", blocks=5, weights=80, scored=GRID - 5),
        mask(blocks_total=0, blocks_nonzero=0, positions=[]),
        mask(blocks_nonzero=GRID, positions=list(range(GRID))),
        spmm("spmm_w", blocks=0, weights=0, scored=GRID),
        # one block covering the whole matrix: its side up to the matrix's longer side
        spmm("spmm_w", block=max(ROWS, COLS), blocks=1, weights=ROWS * COLS, scored=0),
    ]
    records = [{"sample": 0, **record} for record in records]
    read = read_all(write_trace(tmp_path / "t.jsonl", records, samples=1))
    assert read[4].positions == () and read[5].positions == tuple(range(GRID))
    assert read[7].block == max(ROWS, COLS)


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_mask_records_read_with_unknown_positions(tmp_path: Path, version: int) -> None:
    old = {key: value for key, value in mask().items() if key != "positions"}
    records = [*_forward_mvm(), {"sample": 0, **old}]
    path = write_trace(tmp_path / "old.jsonl", records, version=version, samples=1)
    assert read_header(path).version == version
    record = read_all(path)[-1]
    assert (record.kind, record.blocks_total, record.blocks_nonzero) == ("mask", GRID, 5)
    assert record.positions is None
    # a v3 mask still bounds its counts
    bad = [*_forward_mvm(), {"sample": 0, **old, "blocks_nonzero": GRID + 1}]
    with pytest.raises(TraceError, match=r"field 'blocks_nonzero': expected at most blocks_total "
                                         r"\(15\), got 16"):
        write_trace(tmp_path / "bad.jsonl", bad, version=version, samples=1)


def test_older_versions_refuse_positions_naming_the_version(tmp_path: Path) -> None:
    records = [*_forward_mvm(), {"sample": 0, **mask()}]
    with pytest.raises(TraceError) as info:
        write_trace(tmp_path / "t.jsonl", records, version=3, samples=1)
    assert str(info.value).endswith(
        "record 2: field 'positions': unexpected in an update mask record (the field came with "
        "trace version 4, this header says 3)"
    )


def test_version_4_mask_needs_positions(tmp_path: Path) -> None:
    old = {key: value for key, value in mask().items() if key != "positions"}
    with pytest.raises(TraceError, match=r"record 2: field 'positions': missing \(an update "
                                         r"mask record needs .*blocks_nonzero, positions\)"):
        write_trace(tmp_path / "t.jsonl", [*forward(), {"sample": 0, **old}], samples=1)


@pytest.mark.parametrize(("version", "kind"), [(1, "spmm"), (3, "spmm"), (3, "spmm_t"),
                                               (3, "spmm_w")])
def test_writer_of_an_older_version_refuses_spmm(tmp_path: Path, version: int,
                                                 kind: str) -> None:
    record = {"sample": 0, **spmm(kind)}
    records = [record, forward()[1]] if kind == "spmm" else [*_forward_mvm(), record]
    phase = record["phase"]
    path = tmp_path / "t.jsonl"
    with pytest.raises(TraceError) as info:
        write_trace(path, records, version=version, samples=1)
    index = 0 if kind == "spmm" else 2
    assert str(info.value) == (
        f"{path}: record {index}: field 'kind': {phase} '{kind}' records need trace version 4, "
        f"this header says {version}"
    )
    assert not path.exists()


def test_default_writer_version_is_the_headers_lowest(tmp_path: Path) -> None:
    """Record kinds do not raise the version the writer states: it must be told 4."""
    with pytest.raises(TraceError, match="'spmm' records need trace version 4, this header "
                                         "says 1"):
        with TraceWriter(tmp_path / "t.jsonl", make_header(1)) as writer:
            writer.write({"sample": 0, **spmm()})


def test_a_version_3_file_with_an_spmm_record_is_refused(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl")
    text = path.read_text(encoding="utf-8").replace('"version": 4', '"version": 3', 1)
    path.write_text(text, encoding="utf-8")
    assert read_header(path).version == 3
    with pytest.raises(TraceError) as info:
        validate_trace(path)
    assert str(info.value) == (
        f"{path}: record 0 (line 2): field 'kind': forward 'spmm' records need trace version "
        "4, this header says 3"
    )


# --------------------------------------------------------------------------------------------
# Errors: each case edits one record of a valid file, read back (and written)
# --------------------------------------------------------------------------------------------

# Record 0 is the forward spmm (line 2), 3 the spmm_t, 4 the spmm_w, 5 the mask.
SPMM_ERRORS: list[tuple[str, int, dict[str, Any], str]] = [
    # cross-field bounds, each kind
    *(
        (f"{kind} blocks above grid", record, {"blocks": GRID + 1, "weights": 200},
         "field 'blocks': expected at most ceil(rows / block) x ceil(cols / block) (15: the "
         "blocks of the layer's grid), got 16")
        for kind, record in (("spmm", 0), ("spmm_t", 3), ("spmm_w", 4))
    ),
    *(
        (f"{kind} weights below blocks", record, {"weights": 4},
         "field 'weights': expected at least blocks (5: every block in force holds a real "
         "weight), got 4")
        for kind, record in (("spmm", 0), ("spmm_t", 3), ("spmm_w", 4))
    ),
    *(
        (f"{kind} weights above blocks", record, {"weights": 81},
         "field 'weights': expected at most min(blocks x block x block, rows x cols) (80), "
         "got 81")
        for kind, record in (("spmm", 0), ("spmm_t", 3), ("spmm_w", 4))
    ),
    ("weights above the matrix", 0, {"blocks": GRID, "weights": ROWS * COLS + 1},
     "field 'weights': expected at most min(blocks x block x block, rows x cols) (200), got 201"),
    ("big block, weights above the matrix", 4,
     {"block": 20, "blocks": 1, "weights": 201, "scored": 0},
     "field 'weights': expected at most min(blocks x block x block, rows x cols) (200), got 201"),
    ("big block, two blocks", 3, {"block": 20, "blocks": 2, "weights": 2},
     "field 'blocks': expected at most ceil(rows / block) x ceil(cols / block) (1: the "
     "blocks of the layer's grid), got 2"),
    ("block larger than the matrix", 3, {"block": 2**40, "blocks": 1, "weights": 1},
     "field 'block': expected at most max(rows, cols) (20: a block larger than the matrix "
     "holds only padding), got 1099511627776"),
    ("scored above the rest of the grid", 4, {"scored": GRID - 5 + 1},
     "field 'scored': expected at most ceil(rows / block) x ceil(cols / block) - blocks (10: "
     "the grid's blocks not in force), got 11"),
    # shapes and layers
    ("spmm rows differ", 0, {"rows": 21},
     "field 'rows': expected 20 (rows of layer 'fc' in the header), got 21"),
    ("spmm_w cols differ", 4, {"cols": 9},
     "field 'cols': expected 10 (cols of layer 'fc' in the header), got 9"),
    ("spmm_t on a relu layer", 3, {"layer": "relu1"},
     "field 'layer': a backward spmm_t record needs a conv, dense or routed layer; 'relu1' "
     "is relu"),
    ("spmm_t with input_bits", 3, {"input_bits": 8},
     "field 'input_bits': unexpected in a backward spmm_t record"),
    ("spmm without weights", 0, {"weights": MISSING},
     "field 'weights': missing (a forward spmm record needs sample, phase, layer, kind, "
     "vectors, rows, cols, block, blocks, weights, input_nz)"),
    ("spmm_t with grad_nz", 3, {"grad_nz": 0.5},
     "field 'grad_nz': unexpected in a backward spmm_t record"),
    # field types and hostile values
    ("zero block", 0, {"block": 0}, "field 'block': expected an integer >= 1, got 0"),
    ("negative blocks", 0, {"blocks": -1}, "field 'blocks': expected an integer >= 0, got -1"),
    ("string weights", 3, {"weights": "72"},
     "field 'weights': expected an integer >= 0, got \"72\""),
    ("float weights", 3, {"weights": 72.0},
     "field 'weights': expected an integer >= 0, got 72.0"),
    ("bool blocks", 3, {"blocks": True}, "field 'blocks': expected an integer >= 0, got true"),
    ("huge block", 0, {"block": 2**41},
     "field 'block': expected at most 1099511627776 (2**40), got 2199023255552"),
    ("huge vectors", 4, {"vectors": 2**40 + 1},
     "field 'vectors': expected at most 1099511627776 (2**40), got 1099511627777"),
    ("huge scored", 4, {"scored": 10**30},
     "field 'scored': expected at most 1099511627776 (2**40), got 1000000000000000000000000000000"),
    ("grad_nz above 1", 4, {"grad_nz": 1.5},
     "field 'grad_nz': expected a number in [0, 1], got 1.5"),
    ("grad_nz string", 4, {"grad_nz": "0.25"},
     "field 'grad_nz': expected a number in [0, 1], got \"0.25\""),
    ("negative input_nz", 0, {"input_nz": -0.1},
     "field 'input_nz': expected a number in [0, 1], got -0.1"),
    ("scored list", 4, {"scored": [1]}, "field 'scored': expected an integer >= 0, got [1]"),
    # mask counts and positions
    ("nonzero above total", 5, {"blocks_nonzero": GRID + 1, "positions": list(range(GRID + 1))},
     "field 'blocks_nonzero': expected at most blocks_total (15), got 16"),
    ("positions too short", 5, {"positions": [0, 4, 7, 11]},
     "field 'positions': expected 5 block indices (blocks_nonzero), got 4"),
    ("positions too long", 5, {"positions": [0, 4, 7, 11, 13, 14]},
     "field 'positions': expected 5 block indices (blocks_nonzero), got 6"),
    ("positions empty", 5, {"positions": []},
     "field 'positions': expected 5 block indices (blocks_nonzero), got 0"),
    ("positions unsorted", 5, {"positions": [0, 7, 4, 11, 14]},
     "field 'positions': expected strictly increasing block indices in 0..14, got 4 after 7 at "
     "position 2"),
    ("positions duplicate", 5, {"positions": [0, 4, 4, 11, 14]},
     "field 'positions': expected strictly increasing block indices in 0..14, got 4 after 4 at "
     "position 2"),
    ("position out of range", 5, {"positions": [0, 4, 7, 11, 15]},
     "field 'positions': expected block indices in 0..14 (blocks_total 15), got 15 at "
     "position 4"),
    ("negative position", 5, {"positions": [-1, 4, 7, 11, 14]},
     "field 'positions': expected block indices in 0..14 (blocks_total 15), got -1 at "
     "position 0"),
    ("huge position", 5, {"positions": [0, 4, 7, 11, 2**41]},
     "field 'positions': expected block indices in 0..14 (blocks_total 15), got 2199023255552 "
     "at position 4"),
    ("bool position", 5, {"positions": [0, True, 7, 11, 14]},
     "field 'positions': expected an integer block index at position 1, got true"),
    ("float position", 5, {"positions": [0, 4.0, 7, 11, 14]},
     "field 'positions': expected an integer block index at position 1, got 4.0"),
    ("string position", 5, {"positions": [0, "4", 7, 11, 14]},
     "field 'positions': expected an integer block index at position 1, got \"4\""),
    ("null position", 5, {"positions": [0, 4, 7, 11, None]},
     "field 'positions': expected an integer block index at position 4, got null"),
    ("nested positions", 5, {"positions": [[0, 4, 7, 11, 14]]},
     "field 'positions': expected 5 block indices (blocks_nonzero), got 1"),
    ("nested position", 5, {"positions": [0, [4], 7, 11, 14]},
     "field 'positions': expected an integer block index at position 1, got [4]"),
    ("positions a string", 5, {"positions": "0,4,7,11,14"},
     "field 'positions': expected a list of 5 block indices (blocks_nonzero), strictly "
     "increasing in 0..14, got \"0,4,7,11,14\""),
    ("positions an object", 5, {"positions": {"0": 4}},
     "field 'positions': expected a list of 5 block indices (blocks_nonzero), strictly "
     "increasing in 0..14, got {\"0\": 4}"),
    ("positions a number", 5, {"positions": 5},
     "field 'positions': expected a list of 5 block indices (blocks_nonzero), strictly "
     "increasing in 0..14, got 5"),
    ("positions null", 5, {"positions": None},
     "field 'positions': expected a list of 5 block indices (blocks_nonzero), strictly "
     "increasing in 0..14, got null"),
]


def _changed(obj: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with ``change`` applied (MISSING values remove their key)."""
    return {key: value for key, value in (obj | change).items() if value is not MISSING}


def _edited(record: int, change: dict[str, Any]) -> list[dict[str, Any]]:
    records = all_records()
    records[record] = _changed(records[record], change)
    return records


@pytest.fixture(scope="module")
def valid_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = write_trace(tmp_path_factory.mktemp("valid") / "t.jsonl")
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("name", "record", "change", "message"), SPMM_ERRORS,
                         ids=[case[0] for case in SPMM_ERRORS])
def test_read_errors(tmp_path: Path, valid_lines: list[str], name: str, record: int,
                     change: dict[str, Any], message: str) -> None:
    lines = list(valid_lines)
    lines[record + 1] = json.dumps(_changed(json.loads(lines[record + 1]), change))
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(TraceError) as info:
        validate_trace(path)
    assert str(info.value) == f"{path}: record {record} (line {record + 2}): {message}"


@pytest.mark.parametrize(("name", "record", "change", "message"), SPMM_ERRORS,
                         ids=[case[0] for case in SPMM_ERRORS])
def test_write_errors(tmp_path: Path, name: str, record: int, change: dict[str, Any],
                      message: str) -> None:
    """The writer refuses the same record with the same message, and stays usable."""
    path = tmp_path / "t.jsonl"
    records = all_records()
    bad = _edited(record, change)[record]
    with TraceWriter(path, make_header(), version=4) as writer:
        for position, good in enumerate(records):
            if position == record:
                with pytest.raises(TraceError) as info:
                    writer.write(bad)
                assert str(info.value) == f"{path}: record {record}: {message}"
            writer.write(good)
    assert validate_trace(path).records == len(records)


def test_writer_refuses_nan_fractions(tmp_path: Path) -> None:
    for change in ({"grad_nz": float("nan")}, {"input_nz": float("inf")}):
        with pytest.raises(TraceError, match=r"record 4: field '(grad|input)_nz': expected a "
                                             r"number in \[0, 1\], got (NaN|Infinity)"):
            write_trace(tmp_path / "t.jsonl", _edited(4, change))


def test_nan_in_a_file_is_malformed_json(tmp_path: Path, valid_lines: list[str]) -> None:
    lines = list(valid_lines)
    lines[5] = lines[5].replace('"grad_nz": 0.25', '"grad_nz": NaN')
    path = tmp_path / "t.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(TraceError, match=r"record 4 \(line 6\): malformed JSON \(NaN is not"):
        validate_trace(path)


@pytest.mark.parametrize("bad", [(0, 4, 7, 11, 14), "0 4 7 11 14", {0: 1}, [True] * 5])
def test_the_positions_check_wants_a_json_list_of_ints(bad: object) -> None:
    """The check itself takes only a list of ints (the writer turns tuples and arrays into lists
    before checking, as for the bit-plane lists)."""
    from archsim.workload.trace import _block_indices, _Invalid

    assert _block_indices("positions", [0, 4, 7, 11, 14], 5, GRID) == (0, 4, 7, 11, 14)
    with pytest.raises(_Invalid) as info:
        _block_indices("positions", bad, 5, GRID)
    assert info.value.field_name == "positions"


def test_a_million_positions(tmp_path: Path) -> None:
    """A mask of a million blocks kept reads back whole; one bad index at the very end is found
    and named."""
    count = 1_000_000
    positions = list(range(1, 2 * count, 2))
    big = mask(blocks_total=2 * count, blocks_nonzero=count, positions=positions)
    path = write_trace(tmp_path / "big.jsonl", [*forward(), {"sample": 0, **big}], samples=1)
    assert read_all(path)[-1].positions == tuple(positions)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(f"{2 * count - 1}]", f"{2 * count - 3}]")
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(TraceError, match=rf"field 'positions': expected strictly increasing "
                                         rf"block indices in 0..{2 * count - 1}, got "
                                         rf"{2 * count - 3} after {2 * count - 3} at position "
                                         rf"{count - 1}$"):
        validate_trace(path)


# --------------------------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------------------------


def test_readme_documents_version_4() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.startswith(f"# archsim trace format, version {TRACE_VERSION}\n")
    section = text.split("## Version 4", 1)[1].split("\n## ", 1)[0]
    for name in ("spmm", "spmm_t", "spmm_w", "positions", "block", "blocks", "weights",
                 "input_nz", "grad_nz", "scored", "ceil(rows / B) x ceil(cols / B)"):
        assert name in section, name
