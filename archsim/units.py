"""Physical quantities with units (used by the config stage).

Every physical value in a YAML config carries its unit (``"10ns"``, ``"1.67pJ"``, ``"100MHz"``,
``"64KiB"``). :func:`parse_quantity` converts such a scalar to a plain SI ``float`` once, at load
time; after that, code carries the unit in the name (``latency_s``, ``energy_j``, ``freq_hz``).
:func:`format_quantity` goes the other way for reports.

Supported units (the ``unit`` argument): ``s`` seconds, ``Hz`` hertz, ``J`` joules, ``W`` watts,
``V`` volts, ``A`` amperes, ``S`` siemens, ``Ohm`` ohms, ``m`` metres, ``B`` bytes, ``bit`` bits.
SI prefixes f p n u/µ m k M G T apply to all but ``B``/``bit``, which take the decimal prefixes
k M G (powers of 1000) and the binary prefixes Ki Mi Gi (powers of 1024); a byte quantity may be
given in bits and vice versa (``"64KiB"`` is 524288 bit). ``"b"`` means bit and ``"B"`` byte.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Final

from archsim.errors import ConfigError

__all__ = ["MAX_QUANTITY_CHARS", "UNITS", "parse_quantity", "format_quantity"]

#: Longest quantity text :func:`parse_quantity` reads, characters ("1.67pJ" has 6; the
#: longest round-tripping float with a unit, about 30).
MAX_QUANTITY_CHARS: Final = 100

#: Units accepted by :func:`parse_quantity` and :func:`format_quantity`.
UNITS: Final = ("s", "Hz", "J", "W", "V", "A", "S", "Ohm", "m", "B", "bit")

# The example printed in error messages, one per unit.
_EXAMPLES: Final = {
    "s": "10ns",
    "Hz": "100MHz",
    "J": "1.67pJ",
    "W": "2mW",
    "V": "0.1V",
    "A": "10uA",
    "S": "4uS",
    "Ohm": "6kOhm",
    "m": "45nm",
    "B": "64KiB",
    "bit": "32kb",
}

# Prefix -> power of ten (exact decimal scaling, so "40.4fJ" is the float nearest 40.4e-15).
_SI_PREFIXES: Final = {
    "f": -15,
    "p": -12,
    "n": -9,
    "u": -6,
    "\u00b5": -6,  # MICRO SIGN
    "\u03bc": -6,  # GREEK SMALL LETTER MU
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
}
_STORAGE_PREFIXES: Final = {
    "": 1,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
}

# Written symbol -> unit. Ohm also accepts "ohm" and the signs.
_SYMBOLS: Final = {
    "s": "s",
    "Hz": "Hz",
    "J": "J",
    "W": "W",
    "V": "V",
    "A": "A",
    "S": "S",
    "Ohm": "Ohm",
    "ohm": "Ohm",
    "\u03a9": "Ohm",  # GREEK CAPITAL LETTER OMEGA
    "\u2126": "Ohm",  # OHM SIGN
    "m": "m",
    "B": "B",
    "b": "bit",
    "bit": "bit",
}
# Longest symbol first, so that "bit" is not read as prefix "bi" + "t".
_SYMBOLS_BY_LENGTH: Final = tuple(sorted(_SYMBOLS, key=len, reverse=True))

_QUANTITY_RE: Final = re.compile(
    r"\s*(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>\S*)\s*"
)

# Engineering prefixes used for output as (power of ten, prefix), smallest first.
_FORMAT_PREFIXES: Final = (
    (-15, "f"),
    (-12, "p"),
    (-9, "n"),
    (-6, "\u00b5"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
)
_FORMAT_STORAGE_PREFIXES: Final = ((0, ""), (3, "k"), (6, "M"), (9, "G"))
_FORMAT_BINARY_PREFIXES: Final = ((1024**3, "Gi"), (1024**2, "Mi"), (1024, "Ki"))


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")


def _split_unit(text: str) -> tuple[str, str] | None:
    """Split a written unit such as ``"kOhm"`` or ``"KiB"`` into (unit, prefix).

    Returns None if the text is not a known unit with a prefix valid for it.
    """
    for symbol in _SYMBOLS_BY_LENGTH:
        if not text.endswith(symbol):
            continue
        prefix = text[: len(text) - len(symbol)]
        unit = _SYMBOLS[symbol]
        if prefix in (_STORAGE_PREFIXES if unit in ("B", "bit") else _SI_PREFIXES):
            return unit, prefix
    return None


def _to_float(number: Decimal, given_unit: str, prefix: str, unit: str) -> float:
    """Scale ``number`` written in ``prefix + given_unit`` to ``unit``, rounding once at the end."""
    if given_unit in ("B", "bit"):
        number *= _STORAGE_PREFIXES[prefix]
        if given_unit == "B" and unit == "bit":
            number *= 8
        elif given_unit == "bit" and unit == "B":
            number /= 8
        return float(number)
    return float(number.scaleb(_SI_PREFIXES[prefix]))


def _bad(path: str, unit: str, got: str) -> ConfigError:
    example = _EXAMPLES[unit]
    return ConfigError(f"{path}: expected a quantity in {unit} such as {example!r}, got {got}")


def parse_quantity(value: object, unit: str, path: str) -> float:
    """Convert a YAML scalar with a unit to a float in SI units (bytes for ``B``, bits for ``bit``).

    Args:
        value: the scalar from YAML, e.g. ``"10ns"``, ``"10 ns"``, ``"64KiB"``, or exactly ``0``.
        unit: the expected unit, one of :data:`UNITS`.
        path: the config path of the value, used in error messages (``"tile.adc.latency"``).

    Returns:
        The value in seconds, hertz, joules, watts, volts, amperes, siemens, ohms or metres; in
        bytes for unit ``B`` and bits for unit ``bit``. Negative values are returned as given.

    Raises:
        ConfigError: the value is a bare number other than 0, is not a quantity, has another unit
            (``"10ns"`` where joules are expected) or is not finite.
        ValueError: ``unit`` is not a supported unit (a programming error).
    """
    _check_unit(unit)
    if isinstance(value, bool):
        raise _bad(path, unit, repr(value).lower())
    if isinstance(value, (int, float)):
        if value == 0:
            return 0.0
        if isinstance(value, int) and value.bit_length() > 128:  # not worth printing
            digits = math.floor(math.log10(abs(value))) + 1
            raise _bad(path, unit, f"an integer of {digits:,} digits")
        raise _bad(path, unit, repr(value))
    if not isinstance(value, str):
        raise _bad(path, unit, "null" if value is None else f"a {type(value).__name__}")
    if len(value) > MAX_QUANTITY_CHARS:
        # Also keeps the regular expression's backtracking bounded (it is quadratic in the
        # length of a long run of digits that does not match).
        raise _bad(path, unit, f"a string of {len(value):,} characters")
    match = _QUANTITY_RE.fullmatch(value)
    if match is None:
        raise _bad(path, unit, repr(value))
    written = match["unit"]
    if not written:
        if float(match["number"]) == 0:
            return 0.0
        raise _bad(path, unit, repr(value))
    split = _split_unit(written)
    if split is None:
        hint = ""
        if written in ("KB", "Kb"):
            hint = f"; use 'k{written[1]}' (1000) or 'Ki{written[1]}' (1024)"
        raise _bad(path, unit, f"{value!r} (unknown unit {written!r}{hint})")
    given_unit, prefix = split
    if given_unit != unit and {given_unit, unit} != {"B", "bit"}:
        raise _bad(path, unit, f"{value!r} (a quantity in {given_unit})")
    try:
        result = _to_float(Decimal(match["number"]), given_unit, prefix, unit)
    except ArithmeticError:  # decimal overflow of an absurd exponent
        result = math.inf
    if not math.isfinite(result):
        raise ConfigError(f"{path}: quantity {value!r} is out of range")
    return result


def _round(value: Decimal, digits: int) -> Decimal:
    """``value`` rounded to ``digits`` significant digits (half to even), trailing zeros dropped."""
    return Context(prec=digits, rounding=ROUND_HALF_EVEN).plus(value).normalize()


def _decimal_text(value: Decimal) -> str:
    """Plain notation for ordinary magnitudes, exponent notation for absurd ones."""
    if value == 0:
        return "0"
    return format(value, "f") if -6 <= value.adjusted() < 21 else format(value, "e")


def format_quantity(value_si: float, unit: str, digits: int = 4) -> str:
    """Format an SI value for humans with an engineering prefix: ``"720 ns"``, ``"2.66 nJ"``.

    Args:
        value_si: the value in SI units (bytes for ``B``, bits for ``bit``).
        unit: one of :data:`UNITS`.
        digits: significant digits printed (at least 1); trailing zeros are dropped.

    Byte and bit counts that are exact multiples of 1024 use binary prefixes (``"64 KiB"``),
    others decimal ones (``"32 kb"``). Bits are written ``b``, micro ``µ``. The result parses
    back with :func:`parse_quantity` to the value rounded to ``digits`` significant digits
    (exactly, for ``digits`` >= 17).
    """
    _check_unit(unit)
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    value = float(value_si)
    symbol = "b" if unit == "bit" else unit
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {symbol}"
    # The shortest decimal that round-trips, scaled exactly by powers of ten.
    exact = Decimal(repr(value))
    if unit in ("B", "bit") and value.is_integer():
        for factor, prefix in _FORMAT_BINARY_PREFIXES:
            if abs(value) >= factor and value % factor == 0:
                return f"{_decimal_text(_round(exact / factor, digits))} {prefix}{symbol}"
    table = _FORMAT_STORAGE_PREFIXES if unit in ("B", "bit") else _FORMAT_PREFIXES
    index = 0
    for position, (exponent, _) in enumerate(table):
        if abs(value) >= 10.0**exponent:
            index = position
    exponent, prefix = table[index]
    mantissa = _round(exact.scaleb(-exponent), digits)
    if abs(mantissa) >= 1000 and index + 1 < len(table):  # 999.96 ns -> 1 µs
        exponent, prefix = table[index + 1]
        mantissa = _round(exact.scaleb(-exponent), digits)
    return f"{_decimal_text(mantissa)} {prefix}{symbol}"
