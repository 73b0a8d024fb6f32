"""Hostile hardware configs and --set values: deep nesting, huge integers, files that are not
regular or are huge. Each is one error line, exit status 2, quickly."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from bad_input_cli import WU, fails_cleanly

from archsim.config.loader import (
    MAX_CONFIG_BYTES,
    MAX_INT_DIGITS,
    MAX_NESTING,
    load_yaml,
    parse_yaml_value,
)
from archsim.errors import ConfigError

DEEP = 10_000


# -- 1. deeply nested YAML --------------------------------------------------------------------


def test_a_deeply_nested_set_value_is_one_error(capsys):
    value = "[" * DEEP + "]" * DEEP
    line = fails_cleanly(capsys, ["validate", str(WU), "--set", f"mapping.copies={value}"])
    assert f"nesting deeper than {MAX_NESTING} levels" in line
    assert "--set mapping.copies=[[[" in line and len(line) < 300  # the value is shortened


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * DEEP + "]" * DEEP + "\n",
        "a: " + "{b: " * DEEP + "1" + "}" * DEEP + "\n",
        "".join(" " * i + "- \n" for i in range(200)),  # block sequences, one per line
    ],
    ids=["flow list", "flow mapping", "block lists"],
)
def test_a_deeply_nested_config_file_names_file_and_line(tmp_path, capsys, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    line = fails_cleanly(capsys, ["validate", str(path)])
    assert line.startswith(f"archsim: error: {path}:")
    assert f"nesting deeper than {MAX_NESTING} levels" in line
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: nesting deeper than 64 levels$"):
        load_yaml(path)


def test_nesting_up_to_the_limit_is_fine():
    value = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert parse_yaml_value(value) is not None
    with pytest.raises(ConfigError, match="nesting deeper"):
        parse_yaml_value("[" + value + "]")


# -- 4. huge integers -------------------------------------------------------------------------


def test_an_integer_of_thousands_of_digits_in_a_file_names_the_line(tmp_path, capsys):
    text = WU.read_text().replace("tiles: 9", "tiles: 1" + "0" * 5000, 1)
    assert text != WU.read_text()
    path = tmp_path / "big.yaml"
    path.write_text(text)
    line = fails_cleanly(capsys, ["validate", str(path)])
    number = text[: text.index("tiles: 1")].count("\n") + 1
    assert f"{path}:{number}: integer of 5,001 digits; at most {MAX_INT_DIGITS}" in line


@pytest.mark.parametrize(
    "value", ["1" * 5000, "-" + "9" * 5000, "0x" + "f" * 5000, "0o" + "7" * 6000]
)
def test_an_integer_of_thousands_of_digits_in_a_set_value(capsys, value):
    line = fails_cleanly(capsys, ["validate", str(WU), "--set", f"chip.tiles={value}"])
    assert "--set chip.tiles=" in line and ("digits" in line)
    assert len(line) < 300


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tile.adc.columns_per_adc=" + "1" * 4000,
         "tile.adc.columns_per_adc: must be 1..65536, got an integer of 4,000 digits"),
        ("tile.buffer.width_bits=" + "7" * 30, "tile.buffer.width_bits: must be 1..65536"),
        ("chip.tiles=" + "1" * 4000, "chip.tiles: must be 1..1048576, got an integer of 4,000"),
        ("tile.adc.energy.convert=1e300J", "tile.adc.energy.convert: must be 0 J..1 J"),
        ("controller.energy.loop=2J", "controller.energy.loop: must be 0 J..1 J, got 2 J"),
        ("tile.energy.op=" + "9" * 200 + "J", "tile.energy.op: expected a quantity in J"),
    ],
)
def test_a_huge_but_parseable_value_is_refused_by_its_range(capsys, override, message):
    line = fails_cleanly(capsys, ["validate", str(WU), "--set", override])
    assert message in line


def test_every_number_and_energy_field_has_an_upper_bound():
    import dataclasses
    import typing

    from archsim.config.schema import HardwareConfig

    unbounded = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            meta, hint = field.metadata, hints[field.name]
            declared = "min" in meta or "unit" in meta
            # Fields declared with number()/quantity() (not user-keyed mappings or tuples).
            plain = typing.get_origin(hint) not in (dict, tuple)
            if declared and plain and meta.get("max") is None:
                unbounded.append(prefix + field.name)
            if meta.get("unit") == "J":  # no hardware action costs a joule (energy_by_bits too)
                assert meta.get("max") == 1.0, prefix + field.name
            for arg in (hint, *typing.get_args(hint)):
                if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                    walk(arg, f"{prefix}{field.name}.")

    walk(HardwareConfig, "")
    assert unbounded == []


# -- 12. files that are not regular, or are huge ------------------------------------------------


def test_dev_zero_is_not_a_config(capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    line = fails_cleanly(capsys, ["validate", "/dev/zero"])
    assert "/dev/zero: cannot read config: not a regular file (a character device)" in line


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, capsys):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    line = fails_cleanly(capsys, ["validate", str(fifo)], within_s=2)
    assert "not a regular file (a FIFO)" in line


def test_a_directory_is_not_a_config(tmp_path, capsys):
    line = fails_cleanly(capsys, ["validate", str(tmp_path)])
    assert "not a regular file (a directory)" in line


def test_a_huge_config_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: no disk space, no time
    tracemalloc.start()
    try:
        line = fails_cleanly(capsys, ["validate", str(path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{MAX_CONFIG_BYTES + 1:,} bytes; the limit of a config file is" in line
    assert "1 MiB" in line
    assert peak < MAX_CONFIG_BYTES // 4  # refused before the file was read


def test_a_config_of_exactly_the_limit_is_read(tmp_path, monkeypatch):
    import archsim.config.loader as loader

    monkeypatch.setattr(loader, "MAX_CONFIG_BYTES", 100)  # parsing 1 MiB of YAML takes 3 s
    path = tmp_path / "padded.yaml"
    path.write_text("a: 1\n" + "#" * 94 + "\n")
    assert path.stat().st_size == 100 and load_yaml(path) == {"a": 1}
    path.write_text("a: 1\n" + "#" * 95 + "\n")
    with pytest.raises(ConfigError, match="101 bytes; the limit of a config file is 100 bytes"):
        load_yaml(path)


def test_a_sweep_spec_that_is_a_fifo_is_refused(tmp_path, capsys):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    line = fails_cleanly(capsys, ["sweep", str(fifo), "--out", str(tmp_path / "out")], within_s=2)
    assert "not a regular file (a FIFO)" in line
    assert not (tmp_path / "out").exists()


# -- found by fuzzing: messages stay one line --------------------------------------------------


@pytest.mark.parametrize("key", ['"a\\nb"', '"x\\ry"', "'" + "k" * 500 + "'"])
def test_an_unknown_key_with_a_line_break_or_of_great_length_is_one_short_line(
    tmp_path, capsys, key
):
    path = tmp_path / "c.yaml"
    path.write_text(WU.read_text() + f"{key}: 1\n")
    line = fails_cleanly(capsys, ["validate", str(path)])
    assert "unknown field" in line and len(line) < 400


def test_a_base_name_with_a_line_break_is_refused(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text('base: "wu\\n2023.yaml"\n')
    line = fails_cleanly(capsys, ["validate", str(path)])
    assert "base: expected the file name of another config" in line


def test_an_adc_energy_table_entry_beyond_a_joule_is_refused(capsys):
    # 1e308 J per conversion used to overflow the report's energy to infinity (a ValueError
    # when the report was written).
    args = ["validate", str(WU), "--set", "tile.adc.energy_scaling=table",
            "--set", "tile.adc.energy_by_bits={8: 1e308J}"]
    assert "tile.adc.energy_by_bits.8: must be 0 J..1 J" in fails_cleanly(capsys, args)
