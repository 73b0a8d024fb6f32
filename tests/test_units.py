"""Tests of archsim.units: parsing quantities with units and formatting them back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archsim.errors import ConfigError
from archsim.units import UNITS, format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("10ns", "s", 10e-9),
        ("10 ns", "s", 10e-9),
        ("  1.5 ms ", "s", 1.5e-3),
        ("1e-9s", "s", 1e-9),
        ("2.5E3s", "s", 2500.0),
        ("1.67pJ", "J", 1.67e-12),
        ("40.4fJ", "J", 40.4e-15),
        ("100MHz", "Hz", 100e6),
        (".5GHz", "Hz", 0.5e9),
        ("4uS", "S", 4e-6),
        ("4\u00b5S", "S", 4e-6),  # micro sign
        ("4\u03bcS", "S", 4e-6),  # Greek mu
        ("6kOhm", "Ohm", 6000.0),
        ("6 kohm", "Ohm", 6000.0),
        ("1M\u03a9", "Ohm", 1e6),
        ("0.1V", "V", 0.1),
        ("-5 mV", "V", -5e-3),
        ("10uA", "A", 10e-6),
        ("2mW", "W", 2e-3),
        ("1TW", "W", 1e12),
        ("45nm", "m", 45e-9),
        ("3m", "m", 3.0),
        ("5mm", "m", 5e-3),
        ("64KiB", "B", 65536.0),
        ("2MiB", "B", 2 * 1024**2),
        ("1GiB", "B", 1024**3),
        ("32kB", "B", 32000.0),
        ("3GB", "B", 3e9),
        ("100B", "B", 100.0),
        ("32kb", "bit", 32000.0),
        ("32 kbit", "bit", 32000.0),
        ("1Mib", "bit", 1024.0**2),
        ("64KiB", "bit", 524288.0),  # bytes given, bits wanted
        ("32kb", "B", 4000.0),  # bits given, bytes wanted
        (0, "s", 0.0),
        (0.0, "J", 0.0),
        ("0", "Hz", 0.0),
        ("0.0", "B", 0.0),
    ],
)
def test_parse_quantity(value: object, unit: str, expected: float) -> None:
    assert parse_quantity(value, unit, "x") == pytest.approx(expected, rel=1e-15)


def test_parse_is_correctly_rounded() -> None:
    # The prefix scales the decimal text exactly; "40.4fJ" is the float nearest 40.4e-15.
    assert parse_quantity("40.4fJ", "J", "x") == 40.4e-15
    assert parse_quantity("1.67pJ", "J", "x") == 1.67e-12


@pytest.mark.parametrize(
    ("value", "unit", "message"),
    [
        (1.5, "s", "tile.t: expected a quantity in s such as '10ns', got 1.5"),
        (10, "J", "tile.t: expected a quantity in J such as '1.67pJ', got 10"),
        ("1.5", "Hz", "tile.t: expected a quantity in Hz such as '100MHz', got '1.5'"),
        (True, "s", "tile.t: expected a quantity in s such as '10ns', got true"),
        (False, "s", "tile.t: expected a quantity in s such as '10ns', got false"),
        (None, "W", "tile.t: expected a quantity in W such as '2mW', got null"),
        ([1], "V", "tile.t: expected a quantity in V such as '0.1V', got a list"),
        ("fast", "s", "tile.t: expected a quantity in s such as '10ns', got 'fast'"),
        (
            "10ns",
            "J",
            "tile.t: expected a quantity in J such as '1.67pJ', got '10ns' (a quantity in s)",
        ),
        (
            "1kB",
            "s",
            "tile.t: expected a quantity in s such as '10ns', got '1kB' (a quantity in B)",
        ),
        ("5 parsecs", "m", "got '5 parsecs' (unknown unit 'parsecs')"),
        ("10KB", "B", "(unknown unit 'KB'; use 'kB' (1000) or 'KiB' (1024))"),
        ("1kiB", "B", "unknown unit 'kiB'"),
        ("5KiHz", "Hz", "unknown unit 'KiHz'"),  # binary prefixes only for bytes and bits
        ("5mB", "B", "unknown unit 'mB'"),  # no milli-bytes
        ("10 n s", "s", "got '10 n s'"),
        ("1e999999Ts", "s", "tile.t: quantity '1e999999Ts' is out of range"),
        ("1e400s", "s", "out of range"),
        (float("nan"), "s", "got nan"),
    ],
)
def test_parse_quantity_errors(value: object, unit: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_quantity(value, unit, "tile.t")
    assert message in str(info.value)


def test_parse_quantity_unknown_unit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown unit 'sec'"):
        parse_quantity("1s", "sec", "x")


@pytest.mark.parametrize(
    ("value", "unit", "digits", "text"),
    [
        (720e-9, "s", 4, "720 ns"),
        (2.66e-9, "J", 4, "2.66 nJ"),
        (100e6, "Hz", 4, "100 MHz"),
        (1.0, "s", 4, "1 s"),
        (0.0, "s", 4, "0 s"),
        (-3e-3, "W", 4, "-3 mW"),
        (4e-6, "S", 4, "4 \u00b5S"),
        (6000.0, "Ohm", 4, "6 kOhm"),
        (999.96e-9, "s", 4, "1 \u00b5s"),  # rounding carries into the next prefix
        (123456.0, "Hz", 3, "123 kHz"),
        (65536.0, "B", 4, "64 KiB"),
        (1024.0**3 * 3, "B", 4, "3 GiB"),
        (32000.0, "bit", 4, "32 kb"),
        (100.0, "B", 4, "100 B"),
        (1e15, "Hz", 4, "1000 THz"),
    ],
)
def test_format_quantity(value: float, unit: str, digits: int, text: str) -> None:
    assert format_quantity(value, unit, digits) == text


def test_format_quantity_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        format_quantity(1.0, "parsec")
    with pytest.raises(ValueError):
        format_quantity(1.0, "s", digits=0)


_VALUES = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-290, max_value=1e290),
    st.floats(min_value=-1e290, max_value=-1e-290),
)


@given(value=_VALUES, unit=st.sampled_from(UNITS), digits=st.integers(1, 17))
def test_format_then_parse_round_trips_within_printed_precision(
    value: float, unit: str, digits: int
) -> None:
    text = format_quantity(value, unit, digits)
    parsed = parse_quantity(text, unit, "x")
    # `digits` significant digits of a mantissa >= 1: relative error <= half a unit in the
    # last printed digit, plus float rounding of the parse.
    tolerance = 0.5 * 10.0 ** (1 - digits) * (1 + 1e-12) + 4e-16
    assert math.isclose(parsed, value, rel_tol=tolerance, abs_tol=0.0), (value, text, parsed)


@given(count=st.integers(0, 2**40), unit=st.sampled_from(["B", "bit"]))
def test_storage_sizes_round_trip_exactly(count: int, unit: str) -> None:
    assert parse_quantity(format_quantity(count, unit, digits=17), unit, "x") == count


@given(value=st.floats(min_value=-1e12, max_value=1e12), unit=st.sampled_from(UNITS))
def test_parse_never_raises_anything_but_config_error(value: float, unit: str) -> None:
    for text in (repr(value), f"{value}{unit}", f"{value} k{unit}", f"{value}x{unit}"):
        try:
            parse_quantity(text, unit, "x")
        except ConfigError:
            pass
