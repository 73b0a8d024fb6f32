"""Tests of archsim.config.loader: strict YAML loading, overrides and dataclass building.

The schema below is a small stand-in for the real one; it exercises every supported annotation.
"""

from __future__ import annotations

import copy
import enum
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Literal, Optional

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from archsim.config.loader import (
    apply_overrides,
    apply_settings,
    build,
    load_config,
    load_with_bases,
    load_yaml,
    number,
    option,
    parse_yaml_value,
    quantity,
)
from archsim.errors import ConfigError


class Policy(enum.Enum):
    ROUND_ROBIN = "round-robin"
    GREEDY = "greedy"


@dataclass(frozen=True)
class Adc:
    bits: int = number(min=1, max=16, doc="resolution")
    latency: float = quantity("s", default="1ns", min=0, doc="one conversion")
    kind: Literal["sar", "flash"] = option(default="sar", doc="architecture")
    energy: Optional[float] = quantity("J", default=None, min="0J")


@dataclass(frozen=True)
class Tile:
    adc: Adc
    rows: int = number(default=128, min=1)
    cols: int = number(default=128, max=1024)
    gain: float = number(default=1.0, min=0.0, max=2.0)
    enabled: bool = True
    label: str = "tile"
    levels: tuple[int, ...] = number(default=(), min=0)
    pair: tuple[int, str] = (1, "a")
    copies: dict[str, int] = option(default=MappingProxyType({}), doc="per layer")
    spare: Adc | None = None
    read_energies: tuple[float, ...] = quantity("J", default=())

    def __post_init__(self) -> None:
        if self.cols < self.rows // 64:
            raise ConfigError(f"cols: must be >= rows / 64 ({self.rows // 64}), got {self.cols}")


@dataclass(frozen=True)
class Chip:
    version: Literal[1]
    tiles: tuple[Tile, ...]
    clock: float = quantity("Hz", min="1MHz", max="10GHz")
    memory: float = quantity("B", default="64KiB")
    policy: Policy = Policy.GREEDY
    name: str = "chip"


BASE: dict[str, Any] = {
    "version": 1,
    "clock": "100MHz",
    "tiles": [
        {"adc": {"bits": 8}},
        {
            "adc": {"bits": 4, "latency": "2 ns", "kind": "flash", "energy": "1.5pJ"},
            "rows": 256,
            "cols": 64,
            "gain": 1,
            "enabled": False,
            "label": "second",
            "levels": [1, 2, 3],
            "pair": [7, "b"],
            "copies": {"conv1": 8},
            "spare": {"bits": 2},
            "read_energies": ["1pJ", 0, "2 fJ"],
        },
    ],
    "policy": "round-robin",
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """A deep copy of BASE with the value at ``path`` (``"tiles[1].adc.bits"``) replaced."""
    data = copy.deepcopy(BASE)
    steps: list[Any] = [
        int(step[1:-1]) if step.startswith("[") else step
        for step in re.findall(r"[^.\[\]]+|\[\d+\]", path)
    ]
    node: Any = data
    for step in steps[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    node[steps[-1]] = value
    return data


def test_build_converts_every_type() -> None:
    chip = build(Chip, copy.deepcopy(BASE))
    first, second = chip.tiles
    assert chip.version == 1
    assert chip.clock == 100e6
    assert chip.memory == 65536.0
    assert chip.policy is Policy.ROUND_ROBIN
    assert first == Tile(adc=Adc(bits=8))
    assert first.adc.latency == 1e-9 and first.adc.energy is None
    assert isinstance(first.copies, MappingProxyType) and dict(first.copies) == {}
    assert second.adc == Adc(bits=4, latency=2e-9, kind="flash", energy=1.5e-12)
    assert second.gain == 1.0 and isinstance(second.gain, float)
    assert second.enabled is False
    assert second.levels == (1, 2, 3)
    assert second.pair == (7, "b")
    assert isinstance(second.copies, MappingProxyType) and dict(second.copies) == {"conv1": 8}
    assert second.spare == Adc(bits=2)
    assert second.read_energies == (1e-12, 0.0, 2e-15)


def test_built_objects_are_immutable() -> None:
    chip = build(Chip, copy.deepcopy(BASE))
    with pytest.raises(AttributeError):
        chip.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        chip.tiles[1].copies["conv1"] = 1  # type: ignore[index]


def test_integral_float_is_an_int() -> None:
    chip = build(Chip, _with("tiles[0].adc.bits", 8.0))
    assert chip.tiles[0].adc.bits == 8 and type(chip.tiles[0].adc.bits) is int


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # ranges
        ("tiles[0].adc.bits", 0, "tiles[0].adc.bits: must be 1..16, got 0"),
        ("tiles[0].adc.bits", 17, "tiles[0].adc.bits: must be 1..16, got 17"),
        ("tiles[1].rows", 0, "tiles[1].rows: must be >= 1, got 0"),
        ("tiles[1].cols", 2048, "tiles[1].cols: must be <= 1024, got 2048"),
        ("tiles[1].gain", 2.5, "tiles[1].gain: must be 0.0..2.0, got 2.5"),
        ("tiles[1].levels", [1, -1], "tiles[1].levels[1]: must be >= 0, got -1"),
        ("clock", "10kHz", "clock: must be 1 MHz..10 GHz, got 10 kHz"),
        ("tiles[0].adc.latency", "-1ns", "tiles[0].adc.latency: must be >= 0 s, got -1 ns"),
        # types
        ("tiles[0].adc.bits", True, "tiles[0].adc.bits: expected an integer, got true"),
        ("tiles[0].adc.bits", 8.5, "tiles[0].adc.bits: expected an integer, got 8.5"),
        ("tiles[0].adc.bits", "8", "tiles[0].adc.bits: expected an integer, got '8'"),
        ("tiles[1].gain", True, "tiles[1].gain: expected a number, got true"),
        ("tiles[1].gain", "1.0", "tiles[1].gain: expected a number, got '1.0'"),
        ("tiles[1].gain", float("inf"), "tiles[1].gain: expected a finite number, got inf"),
        ("tiles[1].enabled", 1, "tiles[1].enabled: expected true or false, got 1"),
        ("tiles[1].enabled", "yes", "tiles[1].enabled: expected true or false, got 'yes'"),
        ("tiles[1].label", 5, "tiles[1].label: expected a string, got 5"),
        ("tiles[1].adc.kind", "pipelined",
         "tiles[1].adc.kind: expected one of 'sar', 'flash', got 'pipelined'"),
        ("version", 2, "version: expected one of 1, got 2"),
        ("version", True, "version: expected one of 1, got true"),
        ("policy", "random", "policy: expected one of 'round-robin', 'greedy', got 'random'"),
        ("tiles[1].levels", "1,2", "tiles[1].levels: expected a list, got '1,2'"),
        ("tiles[1].levels", {"a": 1}, "tiles[1].levels: expected a list, got mapping"),
        ("tiles[1].pair", [1, "a", 2], "tiles[1].pair: expected a list of 2 items, got 3"),
        ("tiles[1].pair", ["a", "b"], "tiles[1].pair[0]: expected an integer, got 'a'"),
        ("tiles[1].copies", [1], "tiles[1].copies: expected a mapping, got list"),
        ("tiles[1].copies", {"conv1": "x"}, "tiles[1].copies.conv1: expected an integer, got 'x'"),
        ("tiles[1].copies", {1: 2}, "tiles[1].copies: keys must be strings, got 1"),
        ("tiles[1].spare", [], "tiles[1].spare: expected a mapping, got list"),
        ("tiles[1].spare", {"bitz": 2},
         "tiles[1].spare.bitz: unknown field; expected one of bits, energy, kind, latency"),
        # quantities
        ("clock", 100, "clock: expected a quantity in Hz such as '100MHz', got 100"),
        ("clock", "10ns",
         "clock: expected a quantity in Hz such as '100MHz', got '10ns' (a quantity in s)"),
        ("tiles[1].read_energies", ["1pJ", "1pW"],
         "tiles[1].read_energies[1]: expected a quantity in J such as '1.67pJ', "
         "got '1pW' (a quantity in W)"),
        ("tiles[1].adc.energy", "-1pJ", "tiles[1].adc.energy: must be >= 0 J, got -1 pJ"),
        # nulls
        ("tiles[0].adc.bits", None, "tiles[0].adc.bits: expected an integer, got null"),
        ("tiles[0].adc.kind", None, "tiles[0].adc.kind: expected one of 'sar', 'flash', got null"),
        ("tiles[0].adc", None, "tiles[0].adc: expected a mapping, got null"),
        ("tiles", None, "tiles: expected a list, got null"),
        ("clock", None, "clock: expected a quantity in Hz such as '100MHz', got null"),
        # structure
        ("tiles[0]", [], "tiles[0]: expected a mapping, got list"),
        ("tiles[0].adc.bitz", 8,
         "tiles[0].adc.bitz: unknown field; expected one of bits, energy, kind, latency"),
        ("colour", "red",
         "colour: unknown field; expected one of clock, memory, name, policy, tiles, version"),
        ("tiles[0].adc", {}, "tiles[0].adc.bits: required field is missing"),
        ("tiles[0]", {"rows": 3}, "tiles[0].adc: required field is missing"),
        # __post_init__ cross-field check, prefixed with the object's path
        ("tiles[1].cols", 1, "tiles[1].cols: must be >= rows / 64 (4), got 1"),
    ],
)
def test_build_errors(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(Chip, _with(path, value))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping, got list"),
        (None, "expected a mapping, got null"),
        ("chip", "expected a mapping, got 'chip'"),
        ({"tiles": []}, "version: required field is missing"),
        ({1: 2}, "keys must be strings, got 1"),
    ],
)
def test_build_errors_at_the_top_level(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(Chip, data)
    assert str(info.value) == message


def test_build_with_a_path_prefix() -> None:
    with pytest.raises(ConfigError, match=r"^hw\.adc\.bits: must be 1\.\.16, got 0$"):
        build(Adc, {"bits": 0}, path="hw.adc")


def test_build_rejects_schema_bugs_as_type_errors() -> None:
    @dataclass(frozen=True)
    class Bad:
        values: list[int]

    with pytest.raises(TypeError, match="unsupported annotation"):
        build(Bad, {"values": [1]})
    with pytest.raises(TypeError):
        build(dict, {})  # type: ignore[type-var]


def test_field_helpers_reject_mutable_defaults_and_bad_units() -> None:
    with pytest.raises(TypeError, match="mutable default"):
        number(default=[1])
    with pytest.raises(ValueError, match="unknown unit"):
        quantity("sec")
    with pytest.raises(ValueError, match="expected a quantity in s"):
        quantity("s", default="1pJ")


def test_field_metadata_is_recorded() -> None:
    from dataclasses import fields

    meta = {field.name: field.metadata for field in fields(Adc)}
    assert (meta["bits"]["min"], meta["bits"]["max"]) == (1, 16)
    assert meta["bits"]["doc"] == "resolution"
    assert meta["latency"]["unit"] == "s" and meta["latency"]["min"] == 0.0
    assert meta["kind"]["doc"] == "architecture"
    assert meta["energy"]["min"] == 0.0


_YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 20)
    | st.floats(allow_nan=True)
    | st.text(max_size=6)
    | st.sampled_from(["8", "10ns", "1pJ", "sar", "round-robin", "100MHz"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(["version", "tiles", "adc", "bits", "clock", "rows", "copies", "pair", "x"])
        | st.integers(0, 2),
        children,
        max_size=4,
    ),
    max_leaves=12,
)


@given(data=_YAML_VALUES)
def test_build_only_ever_raises_config_error(data: Any) -> None:
    try:
        build(Chip, data)
    except ConfigError as error:
        assert "Traceback" not in str(error)


@given(data=st.dictionaries(st.sampled_from(["bits", "latency", "kind", "energy"]), _YAML_VALUES))
def test_build_adc_only_ever_raises_config_error(data: Any) -> None:
    try:
        adc = build(Adc, data)
    except ConfigError:
        return
    assert 1 <= adc.bits <= 16


@given(bits=st.integers(-100, 100))
def test_range_check_matches_bounds(bits: int) -> None:
    if 1 <= bits <= 16:
        assert build(Adc, {"bits": bits}).bits == bits
    else:
        with pytest.raises(ConfigError, match=f"^bits: must be 1..16, got {bits}$"):
            build(Adc, {"bits": bits})


# --------------------------------------------------------------------------------------------
# YAML loading
# --------------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", ":4: duplicate key 'c'"),
        ("a: &x 1\nb: *x\n", ":1: YAML aliases are not allowed (found anchor &x)"),
        ("a: 1\nb: *x\n", ":2: YAML aliases are not allowed (found alias *x)"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", ":1: YAML aliases are not allowed"),
        ("a: 1\n b: 2\n", ":2: mapping values are not allowed here"),
        ("a: [1, 2\n", ":2: expected ',' or ']'"),
        ("a:\n\tb: 1\n", ":2: found character '\\t' that cannot start any token"),
        ("a: 1\n---\nb: 2\n",
         ":2: expected a single document in the stream, but found another document"),
        ("a: !!python/object:os.system x\n", ":1: could not determine a constructor"),
        ("a: \x00\n", ": unacceptable character #x0000"),
    ],
)
def test_load_yaml_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_load_yaml_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read config: No such file"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_yaml(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="latin1.yaml: not UTF-8 text"):
        load_yaml(bad)


def test_load_yaml_uses_core_schema_scalars(tmp_path: Path) -> None:
    text = (
        "a: yes\nb: 017\nc: 1e-3\nd: 0x10\ne: ~\nf: 1:30\ng: 2024-01-01\nh: .inf\n"
        "i: True\nj: -5\nk: +3.5\nl: ''\nm:\nn: off\no: 0o17\np: null\nq: 10ns\n"
    )
    data = load_yaml(_write(tmp_path, text))
    assert data == {
        "a": "yes", "b": 17, "c": 0.001, "d": 16, "e": None, "f": "1:30", "g": "2024-01-01",
        "h": float("inf"), "i": True, "j": -5, "k": 3.5, "l": "", "m": None, "n": "off",
        "o": 15, "p": None, "q": "10ns",
    }


def test_strict_loader_leaves_pyyaml_untouched(tmp_path: Path) -> None:
    before = copy.copy(yaml.SafeLoader.yaml_implicit_resolvers)
    constructors = dict(yaml.SafeLoader.yaml_constructors)
    load_yaml(_write(tmp_path, "a: yes\n"))
    assert yaml.safe_load("a: yes\nb: 1\nb: 2\n") == {"a": True, "b": 2}
    assert yaml.SafeLoader.yaml_implicit_resolvers == before
    assert yaml.SafeLoader.yaml_constructors == constructors


def test_parse_yaml_value() -> None:
    assert parse_yaml_value("{conv1: 8}") == {"conv1": 8}
    assert parse_yaml_value("[1, 2]") == [1, 2]
    with pytest.raises(ConfigError, match=r"^--set x=\[: "):
        parse_yaml_value("[", "--set x=[")


# --------------------------------------------------------------------------------------------
# Overrides and load_config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("tiles[0].adc.bits=6", lambda d: d["tiles"][0]["adc"]["bits"] == 6),
        ("tiles[1].enabled=true", lambda d: d["tiles"][1]["enabled"] is True),
        ("clock=250MHz", lambda d: d["clock"] == "250MHz"),
        (
            "tiles[1].copies={conv1: 8, fc1: 2}",
            lambda d: d["tiles"][1]["copies"] == {"conv1": 8, "fc1": 2},
        ),
        ("tiles[1].levels=[1, 2]", lambda d: d["tiles"][1]["levels"] == [1, 2]),
        ("tiles[0].spare.bits=3", lambda d: d["tiles"][0]["spare"] == {"bits": 3}),
        ("name = big", lambda d: d["name"] == "big"),
        ("tiles[0].label=a=b", lambda d: d["tiles"][0]["label"] == "a=b"),
        ("tiles[1].spare=", lambda d: d["tiles"][1]["spare"] is None),
    ],
)
def test_apply_overrides(override: str, check: Callable[[dict[str, Any]], bool]) -> None:
    original = copy.deepcopy(BASE)
    result = apply_overrides(BASE, [override])
    assert check(result)
    assert BASE == original  # the input is not modified


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["clock.hz=3"], "--set clock.hz=3: 'clock' is not a mapping"),
        (["tiles.bits=3"], "--set tiles.bits=3: 'tiles' is not a mapping"),
        (["tiles[0].adc[1]=3"], "--set tiles[0].adc[1]=3: 'tiles[0].adc' is not a list"),
        (["extra[0]=3"], "--set extra[0]=3: 'extra' is not in the config, so it has no [0]"),
        (["tiles[5].rows=3"],
         "--set tiles[5].rows=3: 'tiles' has 2 entries; index 5 is out of range"),
        (["tiles"], "--set tiles: expected path=value"),
        (["=3"], "--set =3: expected path=value"),
        (["a..b=3"], "--set a..b=3: expected path=value"),
        (["a.b[x]=3"], "--set a.b[x]=3: expected path=value"),
        (["clock=[1,"], "--set clock=[1,: "),
        (["clock=&a 1"], "--set clock=&a 1: YAML aliases are not allowed"),
    ],
)
def test_apply_overrides_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(BASE, overrides)
    assert str(info.value).startswith(message)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["clock", "name", "tiles[0].adc.bits", "tiles[1].spare", "tiles[0].spare.bits",
                 "tiles[1].copies", "new.section.value"]
            ),
            st.one_of(st.integers(-5, 5), st.text(alphabet="abz", max_size=3), st.none(),
                      st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3))),
        ),
        max_size=4,
    )
)
def test_apply_settings_is_apply_overrides_without_the_text(settings) -> None:
    """Setting parsed values gives what the same ``--set`` texts give, leaves the input as it
    was and shares with it every subtree no setting goes through."""
    original = copy.deepcopy(BASE)
    texts = [f"{path}={yaml.safe_dump(value, default_flow_style=True).strip()}"
             .removesuffix("...").strip() for path, value in settings]
    result = apply_settings(BASE, settings)
    assert result == apply_overrides(BASE, texts)
    assert BASE == original
    touched = {path.split(".")[0].split("[")[0] for path, _ in settings}
    for key in BASE:
        if key not in touched:
            assert result[key] is BASE[key]


def test_apply_settings_errors() -> None:
    with pytest.raises(ConfigError, match=r"^clock\.hz: 'clock' is not a mapping"):
        apply_settings(BASE, [("clock.hz", 3)])
    with pytest.raises(ConfigError, match=r"not a config path"):
        apply_settings(BASE, [("a..b", 3)])


def test_apply_overrides_to_an_empty_file() -> None:
    assert apply_overrides(None, ["a.b=1"]) == {"a": {"b": 1}}
    with pytest.raises(TypeError):
        apply_overrides({}, "a=1")


CONFIG_TEXT = """\
version: 1
clock: 100MHz  # Wu et al. 2020, table II
tiles:
  - adc: {bits: 8}
  - adc:
      bits: 4
      latency: 2 ns
    copies: {conv1: 8}
"""


def test_load_config(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG_TEXT)
    chip = load_config(Chip, path)
    assert chip.clock == 100e6 and chip.tiles[1].adc.latency == 2e-9
    chip = load_config(Chip, path, ["tiles[1].adc.bits=6", "tiles[0].copies={fc: 1}"])
    assert chip.tiles[1].adc.bits == 6 and dict(chip.tiles[0].copies) == {"fc": 1}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (CONFIG_TEXT, ["tiles[0].adc.bits=0"], "{file}: tiles[0].adc.bits: must be 1..16, got 0"),
        (CONFIG_TEXT, ["tiles[1].adc.colour=1"], "{file}: tiles[1].adc.colour: unknown field;"),
        (CONFIG_TEXT.replace("100MHz", "100"), [], "{file}: clock: expected a quantity in Hz"),
        (CONFIG_TEXT + "clock: 1GHz\n", [], "{file}:9: duplicate key 'clock'"),
        ("", [], "{file}: expected a mapping, got null"),
        ("- 1\n", [], "{file}: expected a mapping, got list"),
        (CONFIG_TEXT, ["version.x=1"], "--set version.x=1: 'version' is not a mapping"),
    ],
)
def test_load_config_errors(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Chip, path, overrides)
    assert str(info.value).startswith(message.format(file=path))


# --------------------------------------------------------------------------------------------
# Inheritance: base:
# --------------------------------------------------------------------------------------------


def test_base_merge_semantics(tmp_path: Path) -> None:
    _write(tmp_path, (
        "version: 1\n"
        "clock: 100MHz\n"
        "name: parent\n"
        "tiles: [{adc: {bits: 8}}]\n"
        "extra: {a: {x: 1, y: 2}, b: [1, 2], c: 3, d: {k: 1}}\n"
    ), "parent.yaml")
    child = _write(tmp_path, (
        "base: parent.yaml\n"
        "name: child\n"
        "extra:\n"
        "  a: {y: 20, z: 30}\n"  # mappings merge key by key, recursively
        "  b: [3]\n"             # a list replaces the base's list whole
        "  c: null\n"            # null replaces too (it does not delete the key)
        "  d: 4\n"               # a scalar replaces a mapping
        "  e: {new: 1}\n"        # new keys are added
    ), "child.yaml")
    assert load_with_bases(child) == {
        "version": 1,
        "clock": "100MHz",
        "name": "child",
        "tiles": [{"adc": {"bits": 8}}],
        "extra": {"a": {"x": 1, "y": 20, "z": 30}, "b": [3], "c": None, "d": 4, "e": {"new": 1}},
    }
    # A mapping in the child replaces a base value that is not a mapping.
    child.write_text("base: parent.yaml\nclock: {hz: 1}\n", encoding="utf-8")
    assert load_with_bases(child)["clock"] == {"hz": 1}
    # A list of mappings is replaced, not merged element by element.
    _write(tmp_path, CONFIG_TEXT, "chip.yaml")
    child.write_text("base: chip.yaml\ntiles: [{adc: {bits: 4}}]\n", encoding="utf-8")
    assert load_config(Chip, child).tiles == (Tile(adc=Adc(bits=4)),)


def test_file_without_base_reads_as_load_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG_TEXT)
    assert load_with_bases(path) == load_yaml(path)
    assert load_with_bases(_write(tmp_path, "", "empty.yaml")) is None


def test_chain_of_two_bases_with_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "lib" / "deep").mkdir(parents=True)
    _write(tmp_path / "lib" / "deep", CONFIG_TEXT, "root.yaml")
    _write(tmp_path / "lib", (
        "base: deep/root.yaml\n"  # relative to lib/, the directory of the file naming it
        "name: middle\n"
        "memory: 1KiB\n"
        "clock: 200MHz\n"
    ), "middle.yaml")
    child = _write(tmp_path, "base: lib/middle.yaml\nclock: 300MHz\n", "child.yaml")
    chip = load_config(Chip, child)
    assert (chip.name, chip.memory, chip.clock) == ("middle", 1024.0, 300e6)
    assert chip.tiles[1].adc.latency == 2e-9  # from the root
    assert "base" not in load_with_bases(child)


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        ({"a.yaml": "base: a.yaml\n"}, "a.yaml -> a.yaml"),
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, "a.yaml -> b.yaml -> a.yaml"),
        (
            {"a.yaml": "base: b.yaml\n", "b.yaml": "base: c.yaml\n", "c.yaml": "base: ./b.yaml\n"},
            "a.yaml -> b.yaml -> c.yaml -> b.yaml",
        ),
    ],
)
def test_base_cycle_is_an_error_naming_the_files(
    tmp_path: Path, files: dict[str, str], cycle: str
) -> None:
    for name, text in files.items():
        _write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load_config(Chip, tmp_path / "a.yaml")
    expected = " -> ".join(str(tmp_path / name) for name in cycle.split(" -> "))
    assert str(info.value) == f"{tmp_path / 'a.yaml'}: base: the bases form a cycle: {expected}"


def test_missing_base_names_the_child_and_the_field(tmp_path: Path) -> None:
    child = _write(tmp_path, "base: nope.yaml\nname: x\n", "child.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(Chip, child)
    assert str(info.value) == (
        f"{child}: base: {tmp_path / 'nope.yaml'}: cannot read config: No such file or directory"
    )
    # Deeper in a chain, the file whose base is missing is named.
    _write(tmp_path, "base: nope.yaml\n", "middle.yaml")
    top = _write(tmp_path, "base: middle.yaml\n", "top.yaml")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'middle.yaml'}: base: ")):
        load_config(Chip, top)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: 3\n", "base: expected the file name of another config, got 3"),
        ("base: [a.yaml]\n", "base: expected the file name of another config, got list"),
        ("base:\n", "base: expected the file name of another config, got null"),
        ("base: ''\n", "base: expected the file name of another config, got ''"),
        ("base: list.yaml\n", "base: {dir}/list.yaml: expected a mapping, got list"),
        ("base: empty.yaml\n", "base: {dir}/empty.yaml: expected a mapping, got null"),
        ("base: bad.yaml\n", "base: {dir}/bad.yaml:2: duplicate key 'a'"),
    ],
)
def test_bad_base_errors(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, "- 1\n", "list.yaml")
    _write(tmp_path, "", "empty.yaml")
    _write(tmp_path, "a: 1\na: 2\n", "bad.yaml")
    child = _write(tmp_path, text, "child.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(Chip, child)
    assert str(info.value) == f"{child}: {message.format(dir=tmp_path)}"


def test_overrides_apply_after_the_merge(tmp_path: Path) -> None:
    _write(tmp_path, CONFIG_TEXT, "parent.yaml")
    child = _write(tmp_path, "base: parent.yaml\nclock: 200MHz\n", "child.yaml")
    chip = load_config(Chip, child, ["clock=300MHz", "tiles[1].adc.bits=6", "name=over"])
    assert (chip.clock, chip.tiles[1].adc.bits, chip.name) == (300e6, 6, "over")
    assert chip.tiles[1].adc.latency == 2e-9  # the rest of the inherited tile is kept
    # An override cannot re-point the base: after the merge, "base" is just an unknown field.
    with pytest.raises(ConfigError, match=r": base: unknown field"):
        load_config(Chip, child, ["base=other.yaml"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: parent.yaml\ncolour: red\n", "colour: unknown field"),  # a typo in the child
        ("base: parent.yaml\ntiles: []\nclock: 1Hz\n", "clock: must be 1 MHz..10 GHz"),
        ("base: bad_parent.yaml\n", "tiles[0].adc.bits: must be 1..16, got 0"),  # inherited
    ],
)
def test_errors_in_merged_data_name_the_file_given(tmp_path: Path, text: str,
                                                   message: str) -> None:
    _write(tmp_path, CONFIG_TEXT, "parent.yaml")
    _write(tmp_path, CONFIG_TEXT.replace("bits: 8", "bits: 0"), "bad_parent.yaml")
    child = _write(tmp_path, text, "child.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(Chip, child)
    assert str(info.value).startswith(f"{child}: {message}")


def test_base_merge_replaces_user_keyed_mappings_whole(tmp_path):
    """With the schema, a child's mapping.copies replaces the base's (as --set would); only
    sections merge key by key."""
    from archsim.config import load_hardware

    repo_configs = Path(__file__).resolve().parents[1] / "hw_configs"
    base = tmp_path / "base.yaml"
    base.write_text(
        (repo_configs / "wu2023_64x64.yaml").read_text().replace("copies: {}", "copies: {conv1: 8}")
    )
    child = tmp_path / "child.yaml"
    child.write_text("version: 1\nbase: base.yaml\nname: child\nmapping:\n  copies: {}\n")
    config = load_hardware(child)
    assert dict(config.mapping.copies) == {}
    assert config.mapping.pack_copies is True  # the section itself still merges
    assert config.chip.clock_hz == 100e6


def test_an_optional_section_merges_over_its_base_and_null_removes_it(tmp_path):
    """A child's noc: changes only the keys it names of its base's NoC; noc: null drops it."""
    from archsim.config import load_hardware

    base = Path(__file__).resolve().parents[1] / "hw_configs" / "wu2023_64x64_noc.yaml"
    child = tmp_path / "child.yaml"
    child.write_text(f"version: 1\nbase: {base}\nname: child\nnoc:\n  dims: [4, 4]\n")
    config = load_hardware(child)
    assert config.noc.dims == (4, 4) and config.noc.topology == "mesh"
    assert config.noc.router_cycles == 2  # inherited
    child.write_text(f"version: 1\nbase: {base}\nname: child\nnoc: null\n")
    assert load_hardware(child).noc is None
