"""Sweep specs: strict loading, one error naming the field path, points in spec order."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_fixtures import WU, write_spec

from archsim.config import load_hardware
from archsim.config.loader import load_with_bases, parse_yaml_value
from archsim.config.schema import HardwareConfig
from archsim.dse.spec import load_spec, yaml_flow
from archsim.dse.sweep import resolve_config
from archsim.errors import ArchsimError, ConfigError


def test_a_grid_a_zip_and_a_random_axis_expand_in_spec_order(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            seeds=[0, 3],
            axes=[
                {"path": "tile.adc.bits", "values": [4, 8]},
                {
                    "zip": [
                        {
                            "path": "tile.crossbar.rows",
                            "range": {"start": 64, "stop": 128, "step": 64},
                        },
                        {"path": "tile.crossbar.cols", "values": [64, 128]},
                    ]
                },
                {
                    "random": {
                        "samples": 3,
                        "seed": 1,
                        "params": [
                            {"path": "chip.clock_hz", "log_uniform": ["50MHz", "400MHz"]},
                            {"path": "tile.adc.columns_per_adc", "choice": [4, 8]},
                        ],
                    }
                },
            ],
        )
    )
    assert spec.size == 1 * 2 * 2 * 2 * 3
    assert spec.parameters == (
        "tile.adc.bits",
        "tile.crossbar.rows",
        "tile.crossbar.cols",
        "chip.clock_hz",
        "tile.adc.columns_per_adc",
    )
    points = list(spec.points())
    assert [p.index for p in points] == list(range(24))
    # Seeds outside the axes; the last axis fastest.
    assert [p.seed for p in points] == [0] * 12 + [3] * 12
    first = {s.path: s.resolved for s in points[0].settings}
    assert first["tile.adc.bits"] == 4 and first["tile.crossbar.rows"] == 64
    assert [
        dict((s.path, s.resolved) for s in p.settings)["tile.adc.bits"] for p in points[:12]
    ] == [4] * 6 + [8] * 6
    clocks = [dict((s.path, s.resolved) for s in p.settings)["chip.clock_hz"] for p in points[:3]]
    assert all(50e6 <= c <= 400e6 for c in clocks) and len(set(clocks)) == 3
    # Quantities are SI floats in the column and a quantity string in the override.
    override = next(s for s in points[0].settings if s.path == "chip.clock_hz").override
    assert override.startswith("chip.clock_hz=") and override.endswith('Hz"')
    # The same file gives the same draws.
    again = list(load_spec(tmp_path / "sweep.yaml").points())
    assert again == points


def test_resolved_configs_equal_load_hardware(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            set=["mapping.pipeline=true"],
            axes=[
                {"path": "mapping.copies", "values": [{"fc1": 2}, {}]},
                {"path": "chip.clock_hz", "values": ["50MHz", "0.2GHz"]},
                {"path": "tile.adc.bits", "values": [5]},
            ],
        )
    )
    assert spec.config_data == load_with_bases(spec.config_path, HardwareConfig)
    for point in spec.points():
        expected = load_hardware(WU, [*spec.overrides, *point.overrides])
        assert resolve_config(spec, point) == expected
    assert [s.resolved for s in next(spec.points()).settings] == [{"fc1": 2}, 50e6, 5]


def test_a_whole_section_then_an_index_into_it_is_a_valid_axis(tmp_path):
    """The first point's settings are checked in order, as a point applies them: a zip axis
    may give the whole noc section and then one of its list's entries."""
    noc = load_with_bases(WU.parent / "wu2023_64x64_noc.yaml", HardwareConfig)["noc"]
    spec = load_spec(
        write_spec(
            tmp_path,
            axes=[{"zip": [
                {"path": "noc", "values": [noc]},
                {"path": "noc.dims[0]", "values": [3]},
            ]}],
        )
    )
    assert spec.size == 1


def test_paths_are_relative_to_the_spec_file(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    write_spec(folder)
    monkeypatch.chdir(tmp_path)
    spec = load_spec("specs/sweep.yaml")
    assert spec.traces[0].name == "chain.jsonl"
    assert spec.traces[0].path == str(folder / "chain.jsonl")


BAD = [
    ({"version": 2}, "version: expected 1, got 2"),
    ({"name": "a b"}, "name: expected letters, digits"),
    ({"colour": 1}, "colour: unknown field; expected one of axes, config"),
    ({"traces": []}, "traces: expected at least one entry"),
    ({"traces": ["missing.jsonl"]}, "traces[0]: missing.jsonl: cannot read"),
    ({"config": "nowhere.yaml"}, "config: "),
    ({"set": ["chip.tiles=9", "tile.adc.bits=0"]}, "set[1]: "),
    ({"seeds": [0, 0]}, "seeds[1]: 0 is already given at seeds[0]"),
    (
        {"traces": ["not_a_trace.jsonl"]},
        "traces[0]: not_a_trace.jsonl: header (line 1): not an archsim trace",
    ),
    (
        {"axes": [{"path": "noc.dims[0]", "values": [2, 3]}]},
        "'noc.dims' is not in the config, so it has no [0]",
    ),
    ({"seeds": [-1]}, "seeds[0]: must be >= 0, got -1"),
    (
        {
            "axes": [
                {"path": "tile.adc.bits", "values": [4]},
                {"path": "tile.adc.columns_per_adc", "values": 5},
            ]
        },
        "axes[1].values: expected a list, got 5",
    ),
    (
        {
            "axes": [
                {"path": "tile.adc.bits", "values": [4]},
                {"path": "tile.adc.columns_per_adc", "values": []},
            ]
        },
        "axes[1].values: expected at least one entry",
    ),
    (
        {"axes": [{"path": "tile.adc.bits", "values": [4, 0]}]},
        "axes[0].values[1]: must be 1..16, got 0",
    ),
    (
        {"axes": [{"path": "tile.adc.bits", "values": [4.5]}]},
        "axes[0].values[0]: expected an integer, got 4.5",
    ),
    (
        {"axes": [{"path": "chip.clock_hz", "values": [100]}]},
        "axes[0].values[0]: expected a quantity in Hz",
    ),
    (
        {"axes": [{"path": "tile.adc.bitz", "values": [4]}]},
        "axes[0].path: tile.adc.bitz: unknown config field; expected one of accumulate, bits",
    ),
    (
        {"axes": [{"path": "tile.adc.bits.x", "values": [4]}]},
        "axes[0].path: tile.adc.bits is an integer, not a section",
    ),
    (
        {"axes": [{"path": "tile.adc.bits", "values": [4], "range": {"start": 1, "stop": 2}}]},
        "axes[0]: give exactly one of values or range",
    ),
    (
        {"axes": [{"path": "tile.adc.bits", "range": {"start": 4, "stop": 2}}]},
        "axes[0].range.stop: must be >= start (4), got 2",
    ),
    (
        {
            "axes": [
                {"path": "tile.adc.bits", "values": [4]},
                {"path": "tile.adc.bits", "values": [5]},
            ]
        },
        "axes[1] (tile.adc.bits): 'tile.adc.bits' is already given at axes[0] (tile.adc.bits)",
    ),
    (
        {
            "axes": [
                {
                    "zip": [
                        {"path": "tile.crossbar.rows", "values": [64, 128]},
                        {"path": "tile.crossbar.cols", "values": [64]},
                    ]
                }
            ]
        },
        "axes[0].zip[1].values: expected 2 values, as many as axes[0].zip[0], got 1",
    ),
    (
        {
            "axes": [
                {
                    "random": {
                        "samples": 2,
                        "seed": 0,
                        "params": [{"path": "tile.adc.bits", "uniform": [4, 8]}],
                    }
                }
            ]
        },
        "axes[0].random.params[0].uniform: tile.adc.bits is an integer; uniform draws real numbers",
    ),
    (
        {
            "axes": [
                {
                    "random": {
                        "samples": 2,
                        "seed": 0,
                        "params": [{"path": "chip.clock_hz", "uniform": ["200MHz", "100MHz"]}],
                    }
                }
            ]
        },
        "axes[0].random.params[0].uniform: expected low < high",
    ),
    (
        {
            "axes": [
                {
                    "random": {
                        "samples": 2,
                        "seed": 0,
                        "params": [{"path": "tile.adc.bits", "integers": [0, 8]}],
                    }
                }
            ]
        },
        "axes[0].random.params[0].integers[0]: must be 1..16, got 0",
    ),
    (
        {"axes": [{"random": {"samples": 0, "seed": 0, "params": []}}]},
        "axes[0].random.samples: must be >= 1, got 0",
    ),
    ({"axes": [{"paths": "x"}]}, "axes[0]: expected a grid axis"),
    (
        {"metrics": ["per_inference.latency_s", "per_inference.latency_s"]},
        "metrics[1]: 'per_inference.latency_s' is already given at metrics[0]",
    ),
    ({"metrics": ["seed"]}, "metrics[0]: 'seed' is already a column of every row"),
    ({"pareto": ["per_inference.*"]}, "pareto[0]: expected a report key without '*'"),
]


@pytest.mark.parametrize(("fields", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_field_is_one_error_naming_its_path(tmp_path, fields, message):
    (tmp_path / "not_a_trace.jsonl").write_text("garbage\n")
    path = write_spec(tmp_path, **fields)
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text
    assert isinstance(caught.value, ArchsimError)


def test_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nname: t\nname: u\n")
    with pytest.raises(ConfigError, match=r"s.yaml:3: duplicate key 'name'"):
        load_spec(path)


yaml_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(min_size=1, max_size=6) | st.integers(0, 99), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(yaml_data)
def test_override_values_read_back_equal(value):
    parsed = parse_yaml_value(yaml_flow(value))
    assert parsed == value or (isinstance(value, float) and math.isclose(parsed, value))
    assert type(parsed) is type(value)
