"""Strict YAML -> frozen-dataclass loading (config stage).

The schema (``archsim/config/schema.py``) is a tree of frozen dataclasses. This module turns YAML
into instances of them, strictly and schema-agnostically:

* :func:`load_yaml` reads a file with a safe loader that rejects duplicate keys, anchors/aliases
  and YAML 1.1 surprises (``yes``/``no``/``on`` stay strings; ``017`` is not octal; ``1e-3`` is
  a float), and reports syntax errors as ``file:line: problem``.
* :func:`load_with_bases` reads a file that may name another with a top-level ``base:`` key and
  deep-merges it over that base (recursively, for a chain of bases).
* :func:`apply_overrides` applies command-line ``--set a.b[2].c=value`` overrides, and
  :func:`apply_settings` the same with values already parsed (a sweep's axis values).
* :func:`build` converts the data into dataclasses, checking every value against the field's
  annotation and metadata; unknown keys, missing fields and out-of-range values are errors.
* :func:`config_from_data` applies overrides and builds from data already read, prefixing
  errors with the source name; :func:`load_config` reads the file first.

Schema conventions (what :func:`build` understands)::

    @dataclass(frozen=True)
    class Adc:
        bits: int = number(min=1, max=16, doc="resolution")
        latency_s: float = quantity("s", default="1ns", min=0, doc="one conversion")
        kind: Literal["sar", "flash"] = option(default="sar", doc="architecture")
        levels: tuple[int, ...] = ()
        per_layer: dict[str, int] = option(default=MappingProxyType({}))
        spare: Adc | None = None

Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]``, ``Optional[X]`` /
``X | None``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]`` or ``dict[int, X]`` (built as
a read-only :class:`types.MappingProxyType`), :class:`enum.Enum` subclasses (by value) and nested dataclasses.
Field metadata ``unit`` makes a value a quantity (see :mod:`archsim.units`), stored in SI units;
``min``/``max`` are inclusive bounds (for tuples and dicts they apply to each element). A
``__post_init__`` may raise :class:`ConfigError` for cross-field checks; its message is prefixed
with the object's path (``"cols: must be <= 256, got 512"`` raised in ``tile.xbar`` reads
``tile.xbar.cols: must be <= 256, got 512``).
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import errno
import math
import os
import re
import stat
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

import yaml

from archsim.errors import ConfigError, shown
from archsim.units import UNITS, format_quantity, parse_quantity

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NESTING",
    "MISSING",
    "NotRegularFileError",
    "quantity",
    "number",
    "option",
    "build",
    "load_yaml",
    "load_with_bases",
    "parse_yaml_value",
    "apply_overrides",
    "apply_settings",
    "config_from_data",
    "load_config",
    "open_regular",
]

T = TypeVar("T")

#: Sentinel for "no default" (the same object as :data:`dataclasses.MISSING`).
MISSING: Any = dataclasses.MISSING

_MUTABLE_DEFAULTS = (list, dict, set, bytearray)
_NONE_TYPE = type(None)


# --------------------------------------------------------------------------------------------
# Field helpers
# --------------------------------------------------------------------------------------------


def _check_default(default: object) -> None:
    if isinstance(default, _MUTABLE_DEFAULTS):
        raise TypeError(
            f"mutable default {default!r}; use a tuple, a frozen object or default_factory"
        )


def _si(value: object, unit: str, what: str) -> float | None:
    """A quantity bound or default given as ``"10ns"`` or as an SI number."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_quantity(value, unit, what)
        except ConfigError as error:  # a typo in the schema, not in user input
            raise ValueError(str(error)) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: expected a quantity string or an SI number, got {value!r}")
    return float(value)


def _metadata(unit: str | None, lo: object, hi: object, doc: str) -> dict[str, object]:
    return {"unit": unit, "min": lo, "max": hi, "doc": doc}


def quantity(
    unit: str,
    *,
    default: object = MISSING,
    min: float | str | None = None,  # noqa: A002 - reads naturally in schemas
    max: float | str | None = None,  # noqa: A002
    doc: str = "",
) -> Any:
    """Declare a physical-quantity field (a :class:`dataclasses.Field`), stored in SI units.

    Args:
        unit: one of :data:`archsim.units.UNITS`; YAML must give the value with a unit
            (``"10ns"``), or exactly 0.
        default: the default, either as a quantity string (``"10ns"``) or as an SI float (a
            tuple of them for a ``tuple[float, ...]`` field); omit it for a required field.
        min: inclusive lower bound, a quantity string or an SI float (None: unbounded).
        max: inclusive upper bound, likewise.
        doc: one-line description for generated documentation.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    lo = _si(min, unit, "min")
    hi = _si(max, unit, "max")
    if isinstance(default, tuple):  # a tuple[float, ...] field of quantities
        default = tuple(_si(item, unit, "default") for item in default)
    elif default is not MISSING and default is not None:
        default = _si(default, unit, "default")
    return dataclasses.field(default=default, metadata=_metadata(unit, lo, hi, doc))


def number(
    *,
    default: object = MISSING,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    doc: str = "",
) -> Any:
    """Declare a plain ``int`` or ``float`` field (a :class:`dataclasses.Field`) with bounds.

    Args:
        default: the default value; omit it for a required field.
        min: inclusive lower bound (None: unbounded).
        max: inclusive upper bound (None: unbounded).
        doc: one-line description, including the unit if the number is dimensionless by
            convention (``"cycles"``, ``"bits"``).
    """
    _check_default(default)
    return dataclasses.field(default=default, metadata=_metadata(None, min, max, doc))


def option(
    *,
    default: object = MISSING,
    default_factory: Callable[[], object] | Any = MISSING,
    doc: str = "",
) -> Any:
    """Declare any other field (string, choice, tuple, mapping, nested dataclass) with a doc.

    Args:
        default: an immutable default value. A mapping default (such as
            ``MappingProxyType({})``) is copied into a fresh read-only mapping per instance, since
            dataclasses refuse unhashable defaults.
        default_factory: builds the default instead.
        doc: one-line description.
    """
    if isinstance(default, Mapping):
        frozen = dict(default)
        default, default_factory = MISSING, lambda: types.MappingProxyType(dict(frozen))
    _check_default(default)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata=_metadata(None, None, None, doc)
    )


# --------------------------------------------------------------------------------------------
# build(): data -> dataclasses
# --------------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    key = _key_text(key)
    return f"{path}.{key}" if path else key


def _key_text(key: str) -> str:
    """A mapping key for messages: itself, or escaped and shortened if it holds a line break
    or other unprintable character or is long (a message is one readable line)."""
    return shown(key)


def _error(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}" if path else message)


def _got(value: object) -> str:
    """How a YAML value is shown after "got" in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return repr(value)
    return type(value).__name__


def _int_text(value: int) -> str:
    """An integer for messages: its digits, or for an absurd one how many digits it has
    (Python refuses to print integers of more than 4300 digits, and nobody reads them)."""
    if value.bit_length() <= 128:
        return str(value)
    digits = math.floor(math.log10(abs(value))) + 1
    return f"{'-' if value < 0 else ''}an integer of {digits:,} digits"



def describe_value(value: object) -> str:
    """How a YAML value is shown after "got" in error messages, for other strict readers (the
    sweep spec) to word their errors as the config loader does."""
    return _got(value)


def describe_key(key: str) -> str:
    """How a mapping key is shown in a path in error messages (escaped if it is not short and
    printable), for other strict readers to word their errors as the config loader does."""
    return _key_text(key)


def _show(value: float, unit: str | None) -> str:
    if unit is not None:
        return format_quantity(value, unit)
    return _int_text(value) if isinstance(value, int) else repr(value)


def _check_range(value: float, meta: Mapping[str, Any], path: str) -> None:
    lo, hi, unit = meta.get("min"), meta.get("max"), meta.get("unit")
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    if lo is not None and hi is not None:
        bounds = f"{_show(lo, unit)}..{_show(hi, unit)}"
    elif lo is not None:
        bounds = f">= {_show(lo, unit)}"
    else:
        bounds = f"<= {_show(hi, unit)}"
    raise _error(path, f"must be {bounds}, got {_show(value, unit)}")


def _convert(tp: Any, value: object, path: str, meta: Mapping[str, Any]) -> Any:
    """Convert one YAML value to annotation ``tp``; raise ConfigError naming ``path``."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(tp) if arg is not _NONE_TYPE]
        if len(args) != 1 or len(typing.get_args(tp)) != 2:
            raise TypeError(f"{path}: unsupported annotation {tp!r} (only Optional[X])")
        return None if value is None else _convert(args[0], value, path, meta)
    if meta.get("unit") is not None and origin not in (tuple, dict, Mapping):
        if tp is not float:
            raise TypeError(f"{path}: a quantity field must be annotated float, not {tp!r}")
        result = parse_quantity(value, meta["unit"], path)
        _check_range(result, meta, path)
        return result
    if value is None:
        raise _error(path, f"expected {_expected(tp)}, got null")
    if origin is Literal:
        for choice in typing.get_args(tp):
            if value == choice and type(value) is type(choice):
                return choice
        choices = ", ".join(repr(choice) for choice in typing.get_args(tp))
        raise _error(path, f"expected one of {choices}, got {_got(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _error(path, f"expected true or false, got {_got(value)}")
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _error(path, f"expected an integer, got {_got(value)}")
        _check_range(value, meta, path)
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _error(path, f"expected a number, got {_got(value)}")
        result = float(value)
        if result != result or result in (float("inf"), float("-inf")):
            raise _error(path, f"expected a finite number, got {_got(value)}")
        _check_range(result, meta, path)
        return result
    if tp is str:
        if isinstance(value, str):
            return value
        raise _error(path, f"expected a string, got {_got(value)}")
    if origin is tuple:
        return _convert_tuple(tp, value, path, meta)
    if origin is dict or origin is Mapping:
        key_type, value_type = typing.get_args(tp)
        if key_type not in (str, int):
            raise TypeError(f"{path}: mapping keys must be annotated str or int, not {key_type!r}")
        if not isinstance(value, Mapping):
            raise _error(path, f"expected a mapping, got {_got(value)}")
        result = {}
        for key, item in value.items():
            if key_type is str and not isinstance(key, str):
                raise _error(path, f"keys must be strings, got {_got(key)}")
            if key_type is int and (isinstance(key, bool) or not isinstance(key, int)):
                raise _error(path, f"keys must be integers, got {_got(key)}")
            result[key] = _convert(value_type, item, _join(path, str(key)), meta)
        return types.MappingProxyType(result)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if member.value == value and type(member.value) is type(value):
                return member
        choices = ", ".join(repr(member.value) for member in tp)
        raise _error(path, f"expected one of {choices}, got {_got(value)}")
    raise TypeError(f"{path}: unsupported annotation {tp!r}")


def _convert_tuple(tp: Any, value: object, path: str, meta: Mapping[str, Any]) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _error(path, f"expected a list, got {_got(value)}")
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item_types: Sequence[Any] = [args[0]] * len(value)
    elif args == ((),) or not args:
        item_types = []
    else:
        item_types = args
    if len(item_types) != len(value):
        raise _error(path, f"expected a list of {len(item_types)} items, got {len(value)}")
    return tuple(
        _convert(item_type, item, f"{path}[{index}]", meta)
        for index, (item_type, item) in enumerate(zip(item_types, value))
    )


def _expected(tp: Any) -> str:
    """A short noun phrase for annotation ``tp`` (used when YAML gives null)."""
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(tp))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin is dict or origin is Mapping or dataclasses.is_dataclass(tp):
        return "a mapping"
    return "a value"


#: Resolved annotations per dataclass; weak, so that classes made at run time (a sweep spec's
#: value checkers) are not kept alive by it.
_HINTS: weakref.WeakKeyDictionary[type, Mapping[str, Any]] = weakref.WeakKeyDictionary()


def _type_hints(cls: type) -> Mapping[str, Any]:
    """``typing.get_type_hints(cls)``, resolved once per class, read-only.

    Resolving the string annotations (``from __future__ import annotations``) is most of the
    time a build takes, and a sweep builds one config per design point. A class's annotations
    never change, so this memo holds nothing that could differ between runs.
    """
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = types.MappingProxyType(typing.get_type_hints(cls))
    return hints


def _build_dataclass(cls: type[T], data: object, path: str) -> T:
    if not isinstance(data, Mapping):
        raise _error(path, f"expected a mapping, got {_got(data)}")
    hints = _type_hints(cls)
    fields = {
        field.name: field
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.init
    }
    for key in data:
        if not isinstance(key, str):
            raise _error(path, f"keys must be strings, got {_got(key)}")
        if key not in fields:
            raise ConfigError(
                f"{_join(path, key)}: unknown field; expected one of {', '.join(sorted(fields))}"
            )
    kwargs = {}
    for name, field in fields.items():
        field_path = _join(path, name)
        if name not in data:
            if field.default is MISSING and field.default_factory is MISSING:
                raise ConfigError(f"{field_path}: required field is missing")
            continue
        kwargs[name] = _convert(hints[name], data[name], field_path, field.metadata)
    try:
        return cls(**kwargs)
    except ConfigError as error:
        message = str(error)
        head = re.match(r"[A-Za-z_]\w*", message)
        if path and head is not None and head.group() in fields:
            raise ConfigError(f"{path}.{message}") from None
        raise _error(path, message) from None


def build(cls: type[T], data: object, path: str = "") -> T:
    """Convert YAML data (nested dicts/lists/scalars) into an instance of dataclass ``cls``.

    Args:
        cls: a (frozen) dataclass following the conventions in the module docstring.
        data: the parsed YAML, normally a mapping.
        path: the config path of ``data``, prefixed to error messages (``""`` at the top).

    Raises:
        ConfigError: the first problem found, as ``"path.to.field: what is wrong"``.
        TypeError: ``cls`` is not a dataclass or uses an unsupported annotation (a schema bug).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"build() needs a dataclass type, got {cls!r}")
    return _build_dataclass(cls, data, path)


# --------------------------------------------------------------------------------------------
# YAML loading
# --------------------------------------------------------------------------------------------


def _core_schema_resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    """Implicit tags of the YAML 1.2 core schema (no yes/no booleans, octal, sexagesimal...)."""
    rules = [
        ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", "~nN"),
        ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            "-+.0123456789",
        ),
    ]
    resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in rules:
        compiled = re.compile(rf"^(?:{pattern})$")
        for char in [*first, ""] if tag.endswith("null") else first:
            resolvers.setdefault(char, []).append((tag, compiled))
    return resolvers


#: Deepest nesting of YAML collections accepted (a config is about 4 levels deep). Deeper
#: input is refused while composing, before Python's recursion limit is anywhere near.
MAX_NESTING = 64

#: Most digits of a YAML integer (Python's own default limit for decimal text): parsing a
#: longer one takes time quadratic in its length, and no config field is anywhere near it.
MAX_INT_DIGITS = 4300

#: Largest config file read, bytes (a config is a few KiB; a sweep spec with long value lists
#: a few hundred). Checked before reading, and at most this much + 1 is ever read; parsing the
#: largest takes about 3 s (PyYAML reads about 0.4 MB/s).
MAX_CONFIG_BYTES = 2**20

# Bits of the largest integer of MAX_INT_DIGITS decimal digits: the bound for 0x and 0o text.
_MAX_INT_BITS = math.floor(MAX_INT_DIGITS * math.log2(10))


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    """Core-schema integers: decimal (``017`` is 17, not octal), ``0o17`` and ``0x1f``; at most
    :data:`MAX_INT_DIGITS` decimal digits (or as large a value in octal or hex)."""
    text = loader.construct_scalar(node)
    digits = text.lstrip("+-")
    based = digits.startswith(("0o", "0x"))
    if not based and len(digits) > MAX_INT_DIGITS:
        raise ConfigError(
            f"{loader.where(node.start_mark)}: integer of {len(digits):,} digits; at most "
            f"{MAX_INT_DIGITS} are accepted"
        )
    value = int(text, 0) if based else int(text, 10)
    if value.bit_length() > _MAX_INT_BITS:
        raise ConfigError(
            f"{loader.where(node.start_mark)}: integer {text[:12]}... is larger than "
            f"{MAX_INT_DIGITS} decimal digits"
        )
    return value


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and anchors/aliases, with core-schema scalars.

    A subclass with its own resolver and constructor tables, so :class:`yaml.SafeLoader` is left
    untouched.
    """

    yaml_implicit_resolvers = _core_schema_resolvers()
    yaml_constructors = {
        **yaml.SafeLoader.yaml_constructors,
        "tag:yaml.org,2002:int": _construct_int,
    }

    def __init__(self, stream: str, source: str, lines: bool = True) -> None:
        super().__init__(stream)
        self.source = source
        self.lines = lines
        self.depth = 0  # collections open around the node being composed

    def where(self, mark: Any) -> str:
        """``"file:line"`` of a YAML mark (just the source if lines are off)."""
        return f"{self.source}:{mark.line + 1}" if self.lines and mark is not None else self.source

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            found = f"alias *{event.anchor}"
        elif getattr(event, "anchor", None) is not None:
            found = f"anchor &{event.anchor}"
        else:
            # PyYAML composes nested collections by recursion: count the depth here, so that
            # deep input is one error instead of a RecursionError (a scalar costs nothing).
            if not isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                return super().compose_node(parent, index)
            if self.depth >= MAX_NESTING:
                raise ConfigError(
                    f"{self.where(event.start_mark)}: nesting deeper than {MAX_NESTING} levels"
                )
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
        where = self.where(event.start_mark)
        raise ConfigError(f"{where}: YAML aliases are not allowed (found {found})")

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: let the base class report it
                    break
                if duplicate:
                    raise ConfigError(f"{self.where(key_node.start_mark)}: duplicate key {key!r}")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse(text: str, source: str, lines: bool = True) -> Any:
    """Parse one YAML document; errors become ConfigError("source:line: problem").

    ``lines`` False leaves the line number out (for one-line command-line values).
    """
    try:
        loader = _StrictLoader(text, source, lines)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None and lines else source
        problem = error.problem or error.context or "invalid YAML"
        if error.problem and error.context and not error.context.startswith("while"):
            problem = f"{error.context}, {error.problem}"
        raise ConfigError(f"{where}: {problem}") from None
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0] if str(error) else "invalid YAML"
        raise ConfigError(f"{source}: {first_line}") from None


class NotRegularFileError(OSError):
    """A path names something other than a regular file (a directory, a FIFO, a device)."""


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: str | os.PathLike[str]) -> typing.BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file (symlinks followed).

    The type is checked on the opened descriptor, so it cannot change between check and use,
    and the file is opened non-blocking, so a FIFO without a writer is refused at once instead
    of hanging (reading a regular file is unaffected; blocking mode is restored).

    Raises:
        NotRegularFileError: (an OSError) ``path`` is a directory, FIFO, device or socket;
            its ``strerror`` says ``"not a regular file (a FIFO)"``.
        OSError: the file cannot be opened (also for a name holding a NUL character).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except ValueError:  # a NUL character: no file can have that name
        name = os.fspath(path)
        raise OSError(errno.EINVAL, "invalid file name (a NUL character)", name) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
            raise NotRegularFileError(0, f"not a regular file ({kind})", os.fspath(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file strictly (see the module docstring) and return plain Python data.

    Only a regular file of at most :data:`MAX_CONFIG_BYTES` is read (checked before reading,
    and no more than that is read if the file grows meanwhile); collections may nest at most
    :data:`MAX_NESTING` deep and integers have at most :data:`MAX_INT_DIGITS` digits.

    Raises:
        ConfigError: the file is missing, unreadable, not a regular file, too large or not
            UTF-8; a YAML syntax error; a duplicate key; an anchor or alias; nesting too deep;
            an integer too long. Messages start with ``"file:line:"``.
    """
    source = os.fspath(path)
    limit = (
        f"the limit of a config file is {MAX_CONFIG_BYTES:,} bytes "
        f"({MAX_CONFIG_BYTES / 2**20:g} MiB)"
    )
    try:
        with open_regular(source) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{source}: {size:,} bytes; {limit}")
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{source}: cannot read config: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:  # it grew while being read
        raise ConfigError(f"{source}: more than {MAX_CONFIG_BYTES:,} bytes; {limit}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{source}: not UTF-8 text ({error.reason})") from None
    return _parse(text, source)


_BASE_KEY = "base"  # top-level key naming the file a config inherits from


def _section_type(cls: type | None, key: str) -> type | None:
    """The dataclass type of field ``key`` of ``cls`` (``None`` if it is not a section).

    An optional section (``X | None``) is a section too: a child's ``noc:`` merges over its
    base's, and ``noc: null`` removes it.
    """
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    hint = _type_hints(cls).get(key)
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:
        (hint,) = (arg for arg in args if arg is not type(None))
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _merge(
    base: Mapping[str, Any], child: Mapping[str, Any], cls: type | None = None
) -> dict[str, Any]:
    """Deep-merge ``child`` over ``base`` into a new dict; neither input is modified.

    Without a schema (``cls`` None) mappings merge key by key, recursively. With one, only
    sections (fields whose type is a dataclass) merge; every other value, including a
    user-keyed mapping such as ``mapping.copies``, replaces the base's whole, exactly as a
    ``--set`` of that field would.
    """
    result = copy.deepcopy(dict(base))
    for key, value in child.items():
        section = _section_type(cls, key)
        mergeable = cls is None or section is not None
        if mergeable and isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merge(result[key], value, section)
        else:
            result[key] = copy.deepcopy(value)
    return result


def merge_sections(base: Mapping[str, Any], child: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """``child`` deep-merged over ``base`` by the rules of ``base:`` files (:func:`_merge`),
    for schema class ``cls``: sections merge key by key, other values replace. Neither input
    is modified."""
    return _merge(base, child, cls)


def _base_of(source: str, data: Mapping[str, Any]) -> str:
    """The file named by ``data["base"]``, relative to the directory of ``source``."""
    name = data[_BASE_KEY]
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise ConfigError(
            f"{source}: {_BASE_KEY}: expected the file name of another config, got {_got(name)}"
        )
    return os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(source)), name))


def load_with_bases(path: str | os.PathLike[str], cls: type | None = None) -> Any:
    """Read a config file like :func:`load_yaml`, resolving its top-level ``base:`` key.

    ``base: other.yaml`` names a file relative to the directory of the file that names it. That
    file is read the same way (so bases may chain), then this file's data is deep-merged over it:
    sections merge key by key, recursively; any other value (scalar, list, null, and with a
    schema ``cls`` a user-keyed mapping) replaces the base's (see :func:`_merge`). The ``base``
    key is not part of the result. A file without ``base`` reads exactly as with
    :func:`load_yaml`. Relative bases are resolved from the real location of the naming file.

    Raises:
        ConfigError: as :func:`load_yaml`, for this file or a base (a base's problem is prefixed
            with ``"child.yaml: base: "``, naming the file that refers to it); ``base`` is not a
            file name; a base is not a mapping; the bases form a cycle (the message lists the
            files).
    """
    source = os.fspath(path)
    chain = [source]  # this file, its base, the base's base, ...
    layers = [load_yaml(source)]
    while isinstance(layers[-1], Mapping) and _BASE_KEY in layers[-1]:
        child = chain[-1]
        base_source = _base_of(child, layers[-1])
        if os.path.realpath(base_source) in {os.path.realpath(name) for name in chain}:
            files = " -> ".join([*chain, base_source])
            raise ConfigError(f"{source}: {_BASE_KEY}: the bases form a cycle: {files}")
        try:
            base = load_yaml(base_source)
        except ConfigError as error:
            raise ConfigError(f"{child}: {_BASE_KEY}: {error}") from None
        if not isinstance(base, Mapping):
            raise ConfigError(
                f"{child}: {_BASE_KEY}: {base_source}: expected a mapping, got {_got(base)}"
            )
        chain.append(base_source)
        layers.append(base)
    data = layers.pop()
    while layers:
        child_data = layers.pop()
        child_data = {key: value for key, value in child_data.items() if key != _BASE_KEY}
        data = _merge(data, child_data, cls)
    return data


def parse_yaml_value(text: str, source: str = "<value>") -> Any:
    """Parse a YAML scalar or flow collection (``"8"``, ``"10ns"``, ``"{a: 1}"``, ``"[1, 2]"``)
    with the same strict rules as :func:`load_yaml`; ``source`` names it in errors."""
    return _parse(text, source, lines=False)


# --------------------------------------------------------------------------------------------
# --set overrides
# --------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"([^.\[\]\s=]+)((?:\[[0-9]+\])*)")
_INDEX = re.compile(r"\[([0-9]+)\]")


def parse_config_path(text: str) -> list[str | int] | None:
    """The steps of a dotted config path (``noc.dims[0]`` -> ``["noc", "dims", 0]``); None
    if it is not one. Shared by ``--set`` and the sweep spec's axis paths."""
    steps: list[str | int] = []
    for part in text.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            return None
        steps.append(match.group(1))
        steps.extend(int(index) for index in _INDEX.findall(match.group(2)))
    return steps


def _assign(node: Any, steps: Sequence[str | int], value: Any, where: str, shown: str) -> Any:
    """A copy of ``node`` with ``value`` at ``steps``; containers along the path are copied,
    everything else is shared with ``node``."""
    step, rest = steps[0], steps[1:]
    if isinstance(step, str):
        if not isinstance(node, Mapping):
            raise ConfigError(f"{where}: {shown!r} is not a mapping")
        copied = dict(node)
        inner = _join(shown, step)
        if rest and isinstance(rest[0], int) and node.get(step) is None:
            raise ConfigError(f"{where}: {inner!r} is not in the config, so it has no [{rest[0]}]")
        copied[step] = value if not rest else _assign(node.get(step, {}), rest, value, where, inner)
        return copied
    if not isinstance(node, list):
        raise ConfigError(f"{where}: {shown!r} is not a list")
    if step >= len(node):
        raise ConfigError(f"{where}: {shown!r} has {len(node)} entries; index {step} is out of range")
    listed = list(node)
    inner = f"{shown}[{step}]"
    listed[step] = value if not rest else _assign(node[step], rest, value, where, inner)
    return listed


def _parse_override(override: str) -> tuple[list[str | int], Any, str]:
    """``"a.b[2].c=value"`` -> (path steps, parsed value, ``"--set a.b[2].c=value"``)."""
    # A long value is not echoed whole, a line break is escaped: the message stays one line.
    shown = override if override.isprintable() else repr(override)[1:-1]
    shown = shown if len(shown) <= 80 else shown[:60] + "..."
    where = f"--set {shown}"
    key_text, equals, value_text = override.partition("=")
    key_text = key_text.strip()
    steps = parse_config_path(key_text) if equals and key_text else None
    if steps is None:
        raise ConfigError(
            f"{where}: expected path=value, such as tile.adc.bits=8 or tile.adc.columns_per_adc=4"
        )
    return steps, parse_yaml_value(value_text, where), where


def _as_mapping(data: Mapping[str, Any] | None, where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: the config is a {_got(data)}, not a mapping")
    return data


def apply_settings(
    data: Mapping[str, Any] | None, settings: Iterable[tuple[str, Any]]
) -> dict[str, Any]:
    """Return ``data`` with each ``(config path, value)`` of ``settings`` set, in order.

    Values are plain YAML data, already parsed (a sweep's axis values); :func:`apply_overrides`
    is the same for ``--set`` text. ``data`` is not modified: the mappings and lists along each
    path are copied and the rest is shared with ``data``, so treat the result as read-only.
    A missing intermediate key creates a mapping; list indices must exist. ``data`` None (an
    empty file) counts as an empty mapping.

    Raises:
        ConfigError: a path that is not a config path, or that runs through a value that is
            not a mapping/list.
    """
    result: Mapping[str, Any] = _as_mapping(data, "settings")
    for path, value in settings:
        steps = parse_config_path(path)
        if steps is None:
            raise ConfigError(f"{path!r}: not a config path, such as tile.adc.bits")
        result = _assign(result, steps, value, path, "")
    return dict(result)


def apply_overrides(data: Mapping[str, Any] | None, overrides: Sequence[str]) -> dict[str, Any]:
    """Return ``data`` with each ``"a.b[2].c=value"`` override applied, in order.

    The value is parsed as a YAML scalar or flow collection (``8``, ``true``, ``10ns``,
    ``{conv1: 8}``, ``[1, 2]``). A missing intermediate key creates a mapping (an unknown name
    is then reported by :func:`build`); list indices must exist. ``data`` None (an empty file)
    counts as an empty mapping. As with :func:`apply_settings`, ``data`` is not modified and the
    result shares what the overrides do not touch with it.

    Raises:
        ConfigError: a malformed override, or a path through a value that is not a mapping/list.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of strings, not one string")
    result: Mapping[str, Any] = _as_mapping(data, "--set")
    for override in overrides:
        steps, value, where = _parse_override(override)
        result = _assign(result, steps, value, where, "")
    return dict(result)


def config_from_data(
    cls: type[T], data: Any, overrides: Sequence[str] = (), source: str = "<config>"
) -> T:
    """Build dataclass ``cls`` from config data already read (e.g. by :func:`load_with_bases`):
    :func:`apply_overrides`, then :func:`build`, with errors prefixed by ``source``.

    ``data`` is not modified, so one base read from disk can serve many design points.

    Raises:
        ConfigError: ``"<source>: path.to.field: what is wrong"``.
    """
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        return build(cls, data)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_config(
    cls: type[T], path: str | os.PathLike[str], overrides: Sequence[str] = ()
) -> T:
    """Load a YAML config file into dataclass ``cls``: :func:`load_with_bases` (the file merged
    over its ``base:`` chain), then :func:`apply_overrides`, then :func:`build`.

    Raises:
        ConfigError: one message naming the file and the path of the first bad value, e.g.
            ``"hw_configs/x.yaml: tile.adc.bits: must be 1..16, got 0"``; a value inherited from
            a base is reported under the file given here, which is the one that uses it.
    """
    return config_from_data(cls, load_with_bases(path, cls), overrides, os.fspath(path))
