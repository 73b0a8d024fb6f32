"""Hostile input to the block-sparse training fabric: version-4 records that contradict the
mask in force or the layer's block, sparse records on a chip without a fabric, and fabric
config fields (units, IMC routers, the DRAM part, the NoC's buffers, the controller's scope,
``--timeline``) that the fabric cannot honour.

Each refusal is one line ``archsim: error: ...`` on stderr naming the record or the field,
exit status 2, nothing on stdout, no traceback and no output file (:func:`refused`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from bad_input_cli import CONFIGS, WU, refused

from archsim import api
from archsim.errors import TraceError
from archsim.sim.handlers import Handler
from archsim.sim.registry import default_handlers
from archsim.workload.trace import TraceWriter

FABRIC = CONFIGS / "sparse_fabric.yaml"

#: Seconds a refusal may take in-process: generous for a loaded 2-core machine.
WITHIN_S = 5.0

# -- traces of one dense layer fc1 (ROWS x COLS: a 2 x 1 grid of 8 x 8 blocks) -----------------

ROWS, COLS, B = 16, 8, 8


def header(rows: int = ROWS, cols: int = COLS, samples: int = 1) -> dict[str, Any]:
    layer = {"name": "fc1", "kind": "dense", "inputs": ["input"], "in_shape": [rows],
             "out_shape": [cols], "rows": rows, "cols": cols}
    return {"model": "m", "samples": samples, "seed": 0, "meta": {},
            "network": {"input_shape": [rows], "weight_bits": 32, "act_bits": 32,
                        "layers": [layer]}}


def product(kind: str = "spmm", sample: int = 0, *, blocks: int = 2, rows: int = ROWS,
            cols: int = COLS, block: int = B, **changes: Any) -> dict[str, Any]:
    """A product record of fc1 on ``blocks`` full blocks (``changes`` over its fields)."""
    phase = {"spmm": "forward", "spmm_t": "backward", "spmm_w": "update"}[kind]
    record = {"sample": sample, "phase": phase, "layer": "fc1", "kind": kind, "vectors": 4,
              "rows": rows, "cols": cols, "block": block, "blocks": blocks,
              "weights": min(blocks * block * block, rows * cols), "input_nz": 0.5}
    if kind == "spmm_w":
        record.update(grad_nz=0.5, scored=0)
    record.update(changes)
    return record


def mask(sample: int = 0, positions: Sequence[int] = (0,), **changes: Any) -> dict[str, Any]:
    """A version-4 mask record of fc1 keeping ``positions`` (``changes`` over its fields)."""
    record = {"sample": sample, "phase": "update", "layer": "fc1", "kind": "mask",
              "block_rows": B, "block_cols": B, "blocks_total": 2,
              "blocks_nonzero": len(positions), "positions": list(positions)}
    record.update(changes)
    return record


MVM = {"phase": "forward", "layer": "fc1", "kind": "mvm", "vectors": 1, "rows": ROWS,
       "cols": COLS, "input_bits": 1, "input_nz": 0.5, "bitplane_nz": [0.5],
       "bitplane_allzero": [0.0]}


def trace(path: Path, records: Sequence[dict[str, Any]], *, version: int = 4,
          **shape: Any) -> Path:
    """A trace of fc1 with ``records`` (their samples numbered as given), written by the real
    writer (every record is valid as the format goes)."""
    samples = 1 + max(r.get("sample", 0) for r in records)
    with TraceWriter(path, header(samples=samples, **shape), version=version) as writer:
        for record in records:
            writer.write({"sample": 0, **record})
    return path


def run_refused(capsys: Any, tmp_path: Path, config: Path, path: Path,
                *options: str) -> str:
    """``archsim run CONFIG TRACE --out DIR OPTIONS`` refused cleanly and fast; the line."""
    out = tmp_path / "out"
    line, elapsed = refused(capsys, ["run", str(config), str(path), "--out", str(out),
                                     *options], out)
    assert elapsed < WITHIN_S, f"refused after {elapsed:.2f} s: {line}"
    return line


# -- records that contradict the mask in force or the layer's block ----------------------------


def names_record(line: str, index: int, field: str) -> bool:
    """The line names record ``index`` and its ``field`` (whether it names the trace file too
    is test_fabric_record_errors_name_the_trace_file's business)."""
    return line.startswith("archsim: error: ") and f" record {index}: {field}: " in f" {line[16:]}"


def test_a_mask_record_before_any_product_of_its_layer(tmp_path, capsys):
    """A mask on a layer the fabric has not seen a product of (its block unknown). Through the
    command line the only way there is a forward ``mvm``, refused first as a record no fabric
    handler takes; with a registry whose forward mvm does nothing, the mask record itself is
    refused naming it and saying why."""
    path = trace(tmp_path / "t.jsonl", [MVM, mask()])
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert line.startswith(f"archsim: error: {path}: record 0: no handler for forward 'mvm'")

    class Nothing(Handler):
        def execute(self, record):
            return
            yield  # pragma: no cover

    handlers = default_handlers().register("forward", "mvm", Nothing)
    with pytest.raises(TraceError) as error:
        api.run(FABRIC, path, handlers=handlers)
    message = str(error.value)
    assert "\n" not in message
    assert "record 1: a mask record on layer 'fc1' before any of its products" in message


@pytest.mark.parametrize("kind", ["spmm", "spmm_t", "spmm_w"])
def test_blocks_other_than_the_mask_in_force(tmp_path, capsys, kind):
    """After a mask keeping one of fc1's two blocks, a product claiming both is refused naming
    the record and ``blocks`` with the mask's count."""
    records = [product("spmm"), mask()]
    if kind == "spmm":
        records.append(product("spmm", 1, blocks=2))
    else:
        records += [product("spmm", 1, blocks=1, weights=64), product(kind, 1, blocks=2)]
    path = trace(tmp_path / "t.jsonl", records)
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert names_record(line, len(records) - 1, "blocks")
    assert "has 1 blocks" in line and "got 2" in line


def test_blocks_of_a_first_product_other_than_the_whole_grid(tmp_path, capsys):
    """Before any mask every block is in force: a first product on one block is refused."""
    path = trace(tmp_path / "t.jsonl", [product(blocks=1, weights=64)])
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert names_record(line, 0, "blocks")
    assert "has 2 blocks" in line and "got 1" in line


@pytest.mark.parametrize("rows_cols", [(16, 16), (4, 4), (8, 16)])
def test_a_mask_whose_block_is_not_the_products(tmp_path, capsys, rows_cols):
    """A mask record with ``block_rows`` x ``block_cols`` other than the products' 8 x 8."""
    r, c = rows_cols
    path = trace(tmp_path / "t.jsonl",
                 [product(), mask(block_rows=r, block_cols=c, blocks_total=2)])
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert names_record(line, 1, "block_rows, block_cols")
    assert "expected 8 x 8" in line and f"got {r} x {c}" in line


def test_a_mask_whose_blocks_total_is_not_the_layers(tmp_path, capsys):
    """``blocks_total`` 3 on a layer of 2 blocks of 8 x 8."""
    path = trace(tmp_path / "t.jsonl", [product(), mask(blocks_total=3)])
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert names_record(line, 1, "blocks_total")
    assert "has 2 blocks" in line and "got 3" in line


def test_a_product_whose_block_changes(tmp_path, capsys):
    """A second product of fc1 in blocks of 16 (the layer's store is in blocks of 8)."""
    path = trace(tmp_path / "t.jsonl", [product(), product("spmm", 1, blocks=1, block=16)])
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert names_record(line, 1, "block")
    assert "in 8 x 8 blocks, not 16 x 8 in 16 x 16" in line


def test_a_mask_without_positions_needs_version_4(tmp_path):
    """A version-3 mask (no positions) on a layer the fabric holds: version 3 has no spmm, so
    only a registry whose forward mvm makes the layer's store reaches the check; the mask is
    refused naming ``positions`` and the version."""
    path = trace(tmp_path / "t.jsonl", [MVM, {k: v for k, v in mask().items()
                                             if k != "positions"}], version=3)

    class Store(Handler):
        def execute(self, record):
            self.sim.system.fabric.layer(self.layer.name, ROWS, COLS, B)
            return
            yield  # pragma: no cover

    handlers = default_handlers().register("forward", "mvm", Store)
    with pytest.raises(TraceError, match="record 1: positions: .*version 4"):
        api.run(FABRIC, path, handlers=handlers)


BAD_RECORDS = {
    "blocks": ([product(), mask(), product("spmm", 1, blocks=2)], 2),
    "block_rows, block_cols": ([product(), mask(block_rows=16, block_cols=16)], 1),
    "blocks_total": ([product(), mask(blocks_total=3)], 1),
    "block": ([product(), product("spmm", 1, blocks=1, block=16)], 1),
}


@pytest.mark.parametrize("field", sorted(BAD_RECORDS))
def test_fabric_record_errors_name_the_trace_file(tmp_path, capsys, field):
    """A record the fabric refuses is named with its trace file, like every other trace error
    (``PATH: record N ...``, as the reader's and the missing handler's): the fabric handlers'
    TraceErrors are raised while the simulation runs, outside the wrapping in
    ``archsim.sim.engine._samples`` that prefixes the file."""
    records, index = BAD_RECORDS[field]
    path = trace(tmp_path / "t.jsonl", records)
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert line.startswith(f"archsim: error: {path}: record {index}: {field}: "), line


# -- sparse records on a chip without a fabric --------------------------------------------------


@pytest.mark.parametrize("records", [
    [product()],
    [product(), mask()],
    [product(), product("spmm_w")],
], ids=["spmm", "spmm-mask", "spmm-spmm_w"])
def test_sparse_records_on_a_cim_config(tmp_path, capsys, records):
    """A version-4 sparse trace on the crossbar chip (Wu 2023, no fabric): one line naming the
    first record and the kind."""
    path = trace(tmp_path / "t.jsonl", records)
    line = run_refused(capsys, tmp_path, WU, path)
    assert line.startswith(
        f"archsim: error: {path}: record 0: no handler for forward 'spmm' records")


def test_a_version_3_mask_on_a_cim_config(tmp_path, capsys):
    """A version-3 mask record (no positions) after an mvm on the crossbar chip."""
    path = trace(tmp_path / "t.jsonl", [MVM, {k: v for k, v in mask().items()
                                             if k != "positions"}], version=3)
    line = run_refused(capsys, tmp_path, WU, path)
    assert line.startswith(f"archsim: error: {path}: record 1: no handler for update 'mask'")


# -- fabric config fields ----------------------------------------------------------------------


@pytest.fixture
def small(tmp_path) -> Path:
    return trace(tmp_path / "small.jsonl", [product()])


@pytest.mark.parametrize("setting, expected", [
    ("fabric.scu.units=17", "fabric.scu.units: the NoC has 20 routers, 4 for the IMC"),
    ("fabric.imc_routers=[0,20]", "fabric.imc_routers: expected routers 0..19"),
    ("fabric.imc_routers=[-1]", "fabric.imc_routers[0]: "),
    ("fabric.imc_routers=[0,4,0]", "fabric.imc_routers: expected distinct routers"),
    ("fabric.imc_routers=[]", "fabric.imc_routers: expected at least one router"),
    ("fabric.dram=missing.yaml", "fabric.dram: part file 'missing.yaml': "),
    ("fabric.dram=[1]", "fabric.dram: expected a mapping"),
    ("fabric.dram=7", "fabric.dram: "),
    ("controller.scope=tile", "controller.scope: a fabric without crossbar tiles"),
])
def test_fabric_config_fields(tmp_path, capsys, small, setting, expected):
    """Each bad field, refused naming the config file and the field."""
    line = run_refused(capsys, tmp_path, FABRIC, small, "--set", setting)
    assert line.startswith(f"archsim: error: {FABRIC}: {expected}"), line


def tiny_dram_config(folder: Path) -> Path:
    """The bundled fabric config with its HBM2 part cut to one row per bank (256 KiB)."""
    part = (CONFIGS / "dram" / "hbm2.yaml").read_text()
    assert "\nrows: 32768" in part
    (folder / "tiny_hbm2.yaml").write_text(part.replace("\nrows: 32768", "\nrows: 1"))
    text = FABRIC.read_text()
    assert "dram: dram/hbm2.yaml" in text
    path = folder / "fabric.yaml"
    path.write_text(text.replace("dram: dram/hbm2.yaml", "dram: tiny_hbm2.yaml"))
    return path


def test_dram_too_small_for_the_weights(tmp_path, capsys):
    """A 256 x 256 layer (256 KiB of W and as much of V) on an HBM2 of one row per bank
    (256 KiB): refused naming ``fabric.dram``, the bytes needed and the part's."""
    config = tiny_dram_config(tmp_path)
    path = trace(tmp_path / "t.jsonl", [product(rows=256, cols=256, blocks=1024)],
                 rows=256, cols=256)
    line = run_refused(capsys, tmp_path, config, path)
    assert "fabric.dram: the layers' weights and velocities need " in line
    assert "holds 262,144 B" in line


def test_dram_too_small_by_set(tmp_path, capsys):
    """The same DRAM cut by ``--set fabric.dram.rows=1`` on the bundled config: refused for
    the size, naming ``fabric.dram`` (not for the override, which is a valid one)."""
    path = trace(tmp_path / "t.jsonl", [product(rows=256, cols=256, blocks=1024)],
                 rows=256, cols=256)
    line = run_refused(capsys, tmp_path, FABRIC, path, "--set", "fabric.dram.rows=1")
    assert "fabric.dram: the layers' weights and velocities need " in line, line


def b16_trace(folder: Path) -> Path:
    return trace(folder / "b16.jsonl", [product(rows=32, cols=32, block=16, blocks=4)],
                 rows=32, cols=32)


def test_noc_buffers_too_small_for_a_block_packet(tmp_path, capsys):
    """Blocks of 16 x 16 fp32 (1 KiB: a 33-flit packet of 256-bit flits) on a NoC with
    virtual cut-through buffers of 16 flits: refused naming ``noc.buffer_flits``."""
    line = run_refused(capsys, tmp_path, FABRIC, b16_trace(tmp_path), "--set",
                       "noc.buffer_flits=16")
    assert "noc.buffer_flits: a 16 x 16 block (1024 B) travels as one 33-flit packet" in line


@pytest.mark.parametrize("case", ["buffer_flits", "dram"])
def test_config_errors_found_during_the_run_name_the_config_file(tmp_path, capsys, case):
    """The config errors a fabric finds at a layer's first product (its packet does not fit
    the NoC, its region not the DRAM) name the config file like every other config error
    (``archsim.sim.engine.naming_config`` covers building the hardware, not the layers'
    stores made during the run)."""
    if case == "buffer_flits":
        config, path = FABRIC, b16_trace(tmp_path)
        line = run_refused(capsys, tmp_path, config, path, "--set", "noc.buffer_flits=16")
        field = "noc.buffer_flits"
    else:
        config = tiny_dram_config(tmp_path)
        path = trace(tmp_path / "t.jsonl", [product(rows=256, cols=256, blocks=1024)],
                     rows=256, cols=256)
        line = run_refused(capsys, tmp_path, config, path)
        field = "fabric.dram"
    assert line.startswith(f"archsim: error: {config}: {field}: "), line


def test_timeline_on_a_fabric_config(tmp_path, capsys, small):
    """``--timeline`` records crossbar arrays, which the fabric has none of: refused naming
    the config, and neither the timeline nor the report written."""
    timeline = tmp_path / "timeline.json"
    line = run_refused(capsys, tmp_path, FABRIC, small, "--timeline", str(timeline))
    assert line.startswith(f"archsim: error: {FABRIC}: a timeline records crossbar arrays")
    assert not timeline.exists()


# -- found by review: sizes and settings refused before any work -------------------------------


def test_interconnect_noc_without_a_noc_section(tmp_path, capsys, small):
    """``fabric.interconnect: noc`` needs the config's noc section: refused, not run ideal."""
    line = run_refused(capsys, tmp_path, FABRIC, small, "--set", "noc=null")
    assert line.startswith(f"archsim: error: {FABRIC}: fabric.interconnect: 'noc'"), line


@pytest.mark.parametrize("block, field", [
    (64, "fabric.scu.input_buffer_bytes"),   # 16 KiB of block: more than 8 KiB per unit
    (256, "fabric.imc.buffer_bytes"),        # 256 KiB of block: more than the 64 KiB buffer
])
def test_a_block_larger_than_the_buffers(tmp_path, capsys, block, field):
    """A block that cannot fit a unit's or the IMC's buffer: the field, not a traceback."""
    path = trace(tmp_path / "big.jsonl", [
        product(rows=block, cols=block, block=block, blocks=1)
    ], rows=block, cols=block)
    line = run_refused(capsys, tmp_path, FABRIC, path, "--set", "fabric.interconnect=ideal")
    assert f"{field}: a {block} x {block} block" in line, line


def test_a_grid_over_the_blocks_budget(tmp_path, capsys):
    """A 65536 x 65536 layer in blocks of 1 (4.3 G blocks): refused by the ``blocks`` budget
    before any array of that size is made."""
    n = 65536
    path = trace(tmp_path / "huge.jsonl", [
        product(rows=n, cols=n, block=1, blocks=n * n, weights=n * n)
    ], rows=n, cols=n)
    line = run_refused(capsys, tmp_path, FABRIC, path)
    assert "4,294,967,296 weight blocks, over the limit of 4,000,000" in line, line
    assert "--limit blocks=" in line, line
