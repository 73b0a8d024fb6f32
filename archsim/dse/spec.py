"""Sweep specifications: a YAML file -> frozen dataclasses -> design points (stage: dse).

A sweep spec (format documented in ``hw_configs/sweeps/README.md``) names a base hardware config,
one or more traces and seeds, the axes to vary and the report metrics to collect::

    version: 1
    name: lenet_adc_xbar
    config: ../wu2023_64x64.yaml
    traces: [../../traces/lenet-wu_trained_16.jsonl.gz]
    axes:
      - {path: tile.adc.bits, values: [4, 6, 8]}
      - zip:
          - {path: tile.crossbar.rows, values: [64, 128]}
          - {path: tile.crossbar.cols, values: [64, 128]}
    metrics: [per_inference.latency_s, per_inference.energy_j]

:func:`load_spec` reads it as strictly as a hardware config (the same YAML loader: no duplicate
keys, aliases or YAML 1.1 surprises; unknown keys are errors) and checks everything that can be
checked without simulating: every axis path names a field of the config schema, every value has
the field's type, unit and range, the base config (with ``set``) loads, the traces exist. Each
problem is one :class:`~archsim.errors.ConfigError` naming the spec file and the field path,
``"sweep.yaml: axes[1].values[2]: must be 1..16, got 0"``.

The design points are the Cartesian product of the axes, for every trace and seed, in spec order
(:meth:`SweepSpec.points`). A zipped axis moves several paths together; a random axis draws its
samples once, at load, from a seeded :func:`numpy.random.default_rng`, so the same file always
gives the same points.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import json
import math
import os
import re
import stat
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

from archsim.config import FILE_SECTIONS, hardware_from_data, load_part
from archsim.config.loader import (
    MAX_CONFIG_BYTES,
    NotRegularFileError,
    apply_overrides,
    apply_settings,
    build,
    describe_key,
    load_with_bases,
    load_yaml,
    open_regular,
    parse_config_path,
)
from archsim.config.loader import describe_value as _got
from archsim.config.schema import HardwareConfig
from archsim.errors import ArchsimError, ConfigError
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.report.report import config_digest, file_digest
from archsim.workload.trace import read_header

__all__ = [
    "SPEC_VERSION",
    "Axis",
    "Point",
    "Setting",
    "SweepSpec",
    "TraceInput",
    "load_spec",
    "yaml_flow",
]

#: The spec format version this module reads.
SPEC_VERSION = 1

#: Most levels one axis may have (a typo such as ``step: 1`` over a large range stops here).
MAX_LEVELS = 1_000_000

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_NONE = type(None)

Distribution = Literal["choice", "integers", "uniform", "log_uniform"]
_DISTRIBUTIONS: tuple[Distribution, ...] = ("choice", "integers", "uniform", "log_uniform")


# --------------------------------------------------------------------------------------------
# The spec as frozen dataclasses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One config field's value at a design point.

    Attributes:
        path: the config path, as written in the spec (``tile.adc.bits``, ``mapping.copies.conv1``).
        value: the value as written in the spec (or drawn), plain YAML data; what the point's
            ``--set`` override applies (``"200MHz"``).
        resolved: the value as the loaded config holds it, JSON-ready: quantities in SI units
            (``200000000.0``), tuples as lists, mappings as dicts. The results column.
    """

    path: str
    value: Any
    resolved: Any

    @property
    def override(self) -> str:
        """The ``--set`` override text, ``"tile.adc.bits=6"``."""
        return f"{self.path}={yaml_flow(self.value)}"


@dataclass(frozen=True)
class Axis:
    """One axis of the sweep: a list of levels, each setting every path of the axis once.

    A grid axis has one path; a zipped axis several, moving together; a random axis one level
    per sample. The sweep is the Cartesian product of its axes' levels.

    Attributes:
        where: the axis in the spec, for messages (``"axes[1]"``).
        kind: ``"grid"``, ``"zip"`` or ``"random"``.
        paths: the config paths the axis sets, in spec order.
        levels: per level, one :class:`Setting` per path (in ``paths`` order).
    """

    where: str
    kind: Literal["grid", "zip", "random"]
    paths: tuple[str, ...]
    levels: tuple[tuple[Setting, ...], ...]


@dataclass(frozen=True)
class TraceInput:
    """A trace the sweep runs.

    Attributes:
        name: the file as written in the spec (relative to the spec file): the ``trace`` column.
        path: the file's absolute path on this machine.
        sha256: SHA-256 of the file's bytes (part of every cache key).
    """

    name: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Point:
    """One design point: a trace, a seed and one level of every axis.

    Attributes:
        index: position in spec order, from 0 (the ``point`` column).
        trace: the trace it runs.
        seed: the simulation seed.
        settings: the swept values, axis by axis, in spec order.
    """

    index: int
    trace: TraceInput
    seed: int
    settings: tuple[Setting, ...]

    @property
    def overrides(self) -> tuple[str, ...]:
        """The point's own ``--set`` overrides (the spec's ``set`` comes before them)."""
        return tuple(setting.override for setting in self.settings)


@dataclass(frozen=True)
class SweepSpec:
    """A loaded, checked sweep specification (see the module docstring and the format README).

    Attributes:
        source: the spec file, as given (prefixes error messages).
        sha256: SHA-256 of the spec file's bytes.
        name: the sweep's name.
        description: free text.
        config: the base hardware config as written in the spec (relative to the spec file).
        config_path: its absolute path.
        overrides: the spec's ``set``: overrides applied to every point before its own.
        traces: the traces, in spec order.
        seeds: the simulation seeds, in spec order.
        axes: the axes, in spec order.
        metrics: the report keys to collect, in column order (``*`` matches any run of
            characters); empty: every key of the report.
        pareto: report keys whose Pareto front (all minimised) marks the ``pareto`` column;
            empty: no such column.
        config_data: the base config as read from ``config_path`` and its ``base:`` chain
            (:func:`~archsim.config.loader.load_with_bases`), which every point's settings
            are applied to; read once, when the spec is loaded, and read-only by convention.
        digest: SHA-256 of the resolved spec: everything its results tables depend on (the
            name, the base config with ``set`` as loaded, the traces' digests, the seeds, the
            axes' paths and resolved values, the metrics and the Pareto keys), not the file's
            path or layout. Two specs with the same digest give the same tables.
    """

    source: str
    sha256: str
    name: str
    description: str
    config: str
    config_path: str
    overrides: tuple[str, ...]
    traces: tuple[TraceInput, ...]
    seeds: tuple[int, ...]
    axes: tuple[Axis, ...]
    metrics: tuple[str, ...]
    pareto: tuple[str, ...]
    config_data: Any = dataclasses.field(repr=False, compare=False)
    digest: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every swept config path, axis by axis: the results' parameter columns."""
        return tuple(path for axis in self.axes for path in axis.paths)

    @property
    def size(self) -> int:
        """The number of design points: traces x seeds x the levels of every axis."""
        return len(self.traces) * len(self.seeds) * math.prod(len(a.levels) for a in self.axes)

    def points(self) -> Iterator[Point]:
        """The design points in spec order: trace (outermost), seed, then the axes in order,
        the last axis varying fastest (as nested loops)."""
        index = itertools.count()
        levels = [axis.levels for axis in self.axes]
        for trace in self.traces:
            for seed in self.seeds:
                for combination in itertools.product(*levels):
                    settings = tuple(s for level in combination for s in level)
                    yield Point(next(index), trace, seed, settings)


# --------------------------------------------------------------------------------------------
# Helpers: messages and YAML text
# --------------------------------------------------------------------------------------------


def _join(where: str, key: str) -> str:
    key = describe_key(key)
    return f"{where}.{key}" if where else key


def yaml_flow(value: Any) -> str:
    """``value`` (plain YAML data) as YAML flow text that the strict loader reads back equal.

    Unlike JSON, integer mapping keys stay integers (``{4: 0.79pJ}``, for ``dict[int, X]``
    fields). Strings are double-quoted with YAML escapes, floats use their shortest round-tripping
    form.

    Raises:
        ValueError: a non-finite float, or a value that is not plain YAML data.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)  # "1e-05" and "1e+16" are YAML 1.2 core floats too
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_flow(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{yaml_flow(k)}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"not plain YAML data: {type(value).__name__}")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else escaped (``\\u``
    below U+10000, ``\\U`` above, which YAML reads as one character, unlike JSON's surrogate
    pairs)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _check_keys(
    data: object, where: str, required: Sequence[str], optional: Sequence[str]
) -> Mapping[str, Any]:
    """``data`` as a mapping with only the given keys and every required one."""
    if not isinstance(data, Mapping):
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}expected a mapping, got {_got(data)}")
    allowed = (*required, *optional)
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: keys must be strings, got {_got(key)}")
        if key not in allowed:
            raise ConfigError(
                f"{_join(where, key)}: unknown field; expected one of {', '.join(sorted(allowed))}"
            )
    for key in required:
        if key not in data:
            raise ConfigError(f"{_join(where, key)}: required field is missing")
    return data


def _list(data: object, where: str, *, empty: bool = False) -> list[Any]:
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list, got {_got(data)}")
    if not data and not empty:
        raise ConfigError(f"{where}: expected at least one entry, got an empty list")
    return data


def _string(data: object, where: str) -> str:
    # Printable: file names and paths from here appear in messages and results columns.
    if not isinstance(data, str) or not data.strip() or not data.isprintable():
        raise ConfigError(
            f"{where}: expected a non-empty string of printable characters, got {_got(data)}"
        )
    return data


def _integer(data: object, where: str, lo: int | None = None) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise ConfigError(f"{where}: expected an integer, got {_got(data)}")
    if lo is not None and data < lo:
        raise ConfigError(f"{where}: must be >= {lo}, got {data}")
    return data


def _finite_data(value: object, where: str) -> None:
    """Reject non-finite floats anywhere in ``value`` (no config field accepts them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _finite_data(item, f"{where}[{i}]")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _finite_data(item, _join(where, str(key)))


# --------------------------------------------------------------------------------------------
# Config paths against the schema
# --------------------------------------------------------------------------------------------


def _without_none(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(tp) if arg is not _NONE]
        if len(args) == 1:
            return args[0]
    return tp


def _describe_type(tp: Any) -> str:
    tp = _without_none(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "a section"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    if origin is Literal:
        return "a choice"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        tp, "a value"
    )


@dataclass(frozen=True)
class _Field:
    """What a config path ends in: the value's annotation and the schema field's metadata."""

    annotation: Any
    metadata: Mapping[str, Any]

    @property
    def unit(self) -> str | None:
        unit = self.metadata.get("unit")
        return unit if isinstance(unit, str) else None


def _config_field(text: str, where: str) -> _Field:
    """Resolve a dotted config path (``tile.adc.bits``, ``noc.dims[0]``, ``mapping.copies.conv1``)
    against :class:`~archsim.config.schema.HardwareConfig`; raise ConfigError naming ``where``."""
    steps = parse_config_path(text)
    if steps is None:
        raise ConfigError(
            f"{where}: expected a config path such as tile.adc.bits or noc.dims[0], "
            f"got {_got(text)}"
        )
    tp: Any = HardwareConfig
    metadata: Mapping[str, Any] = {}
    shown = ""
    for step in steps:
        tp = _without_none(tp)
        origin = typing.get_origin(tp)
        if isinstance(step, str):
            if isinstance(tp, type) and dataclasses.is_dataclass(tp):
                fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
                if step not in fields:
                    raise ConfigError(
                        f"{where}: {_join(shown, step)}: unknown config field; "
                        f"expected one of {', '.join(sorted(fields))}"
                    )
                tp = typing.get_type_hints(tp)[step]
                metadata = fields[step].metadata
            elif origin in (dict, Mapping):
                key_type, tp = typing.get_args(tp)
                if key_type is int and not step.isdigit():
                    raise ConfigError(f"{where}: {shown}: keys are integers, got {step!r}")
            else:
                raise ConfigError(
                    f"{where}: {shown} is {_describe_type(tp)}, not a section: "
                    f"nothing below it to set ({text})"
                )
            shown = _join(shown, step)
        else:
            args = typing.get_args(tp)
            if origin is not tuple:
                raise ConfigError(f"{where}: {shown} is {_describe_type(tp)}, not a list ({text})")
            if len(args) == 2 and args[1] is Ellipsis:
                tp = args[0]
            elif step < len(args):
                tp = args[step]
            else:
                raise ConfigError(f"{where}: {shown} has {len(args)} entries, got index {step}")
            shown = f"{shown}[{step}]"
    return _Field(tp, metadata)


def _checker(field: _Field) -> type:
    """A one-field dataclass whose ``value`` has the config field's type and metadata, so that
    the config loader's own :func:`~archsim.config.loader.build` checks a swept value."""
    return dataclasses.make_dataclass(
        "value", [("value", field.annotation, dataclasses.field(metadata=dict(field.metadata)))]
    )


def _json_ready(value: Any) -> Any:
    """A loaded config value as JSON-ready data (tuples -> lists, mappings -> dicts, enums ->
    their values)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _json_ready(value.value)
    return value


class _PathChecker:
    """Checks values for config paths; built once per spec (no state beyond its own cache)."""

    def __init__(self, folder: str = "") -> None:
        self._classes: dict[str, tuple[_Field, type]] = {}
        self._folder = folder  # the base config's folder: part files are relative to it

    def field(self, path: str, where: str) -> _Field:
        return self._get(path, where)[0]

    def _get(self, path: str, where: str) -> tuple[_Field, type]:
        if path not in self._classes:
            field = _config_field(path, where)
            self._classes[path] = (field, _checker(field))
        return self._classes[path]

    def setting(self, path: str, value: Any, where: str, path_where: str) -> Setting:
        """The :class:`Setting` of ``value`` at ``path``; ConfigError naming ``where``."""
        _finite_data(value, where)
        _, cls = self._get(path, path_where)
        try:
            data = value
            if isinstance(value, str) and tuple(path.split(".")) in FILE_SECTIONS:
                # A part file's path: its contents are what the config gets.
                data = load_part(path, value, self._folder)
            checked = build(cls, {"value": data})
        except ConfigError as error:
            message = str(error)
            # build() names the field "value": put the spec's path in its place.
            raise ConfigError(
                where + message[len("value") :]
                if message.startswith("value")
                else f"{where}: {message}"
            ) from None
        return Setting(path, value, _json_ready(checked.value))


# --------------------------------------------------------------------------------------------
# Axes
# --------------------------------------------------------------------------------------------


def _grid_values(data: Mapping[str, Any], where: str) -> list[Any]:
    """The ``values`` list, or the integers of ``range: {start, stop, step}`` (stop inclusive)."""
    if ("values" in data) == ("range" in data):
        raise ConfigError(f"{where}: give exactly one of values or range")
    if "values" in data:
        return _list(data["values"], f"{where}.values")
    rng = _check_keys(data["range"], f"{where}.range", ("start", "stop"), ("step",))
    start = _integer(rng["start"], f"{where}.range.start")
    stop = _integer(rng["stop"], f"{where}.range.stop")
    step = _integer(rng.get("step", 1), f"{where}.range.step", lo=1)
    if stop < start:
        raise ConfigError(f"{where}.range.stop: must be >= start ({start}), got {stop}")
    count = (stop - start) // step + 1
    if count > MAX_LEVELS:
        raise ConfigError(f"{where}.range: {count} values; at most {MAX_LEVELS} per axis")
    return list(range(start, stop + 1, step))


def _path_values(
    data: object, where: str, checker: _PathChecker
) -> tuple[str, tuple[Setting, ...]]:
    """A ``{path, values | range}`` entry: its path and one setting per value."""
    entry = _check_keys(data, where, ("path",), ("values", "range"))
    path = _string(entry["path"], f"{where}.path")
    checker.field(path, f"{where}.path")
    values = _grid_values(entry, where)
    key = f"{where}.values" if "values" in entry else f"{where}.range"
    settings = tuple(
        checker.setting(path, value, f"{key}[{i}]", f"{where}.path")
        for i, value in enumerate(values)
    )
    return path, settings


def _grid_axis(data: Mapping[str, Any], where: str, checker: _PathChecker) -> Axis:
    path, settings = _path_values(data, where, checker)
    return Axis(where, "grid", (path,), tuple((s,) for s in settings))


def _zip_axis(data: Mapping[str, Any], where: str, checker: _PathChecker) -> Axis:
    _check_keys(data, where, ("zip",), ())
    entries = _list(data["zip"], f"{where}.zip")
    paths: list[str] = []
    columns: list[tuple[Setting, ...]] = []
    for i, entry in enumerate(entries):
        entry_where = f"{where}.zip[{i}]"
        path, settings = _path_values(entry, entry_where, checker)
        if columns and len(settings) != len(columns[0]):
            values = "values" if isinstance(entry, Mapping) and "values" in entry else "range"
            raise ConfigError(
                f"{entry_where}.{values}: expected {len(columns[0])} values, as many as "
                f"{where}.zip[0], got {len(settings)}"
            )
        paths.append(path)
        columns.append(settings)
    return Axis(where, "zip", tuple(paths), tuple(zip(*columns)))


@dataclass(frozen=True)
class _Draw:
    """One parameter of a random axis: how its values are drawn."""

    path: str
    distribution: Distribution
    args: tuple[Any, ...]  # the choices, or (low, high): SI floats for quantities
    unit: str | None
    where: str


def _random_param(data: object, where: str, checker: _PathChecker) -> _Draw:
    entry = _check_keys(data, where, ("path",), _DISTRIBUTIONS)
    path = _string(entry["path"], f"{where}.path")
    field = checker.field(path, f"{where}.path")
    given = [name for name in _DISTRIBUTIONS if name in entry]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(_DISTRIBUTIONS)}")
    (kind,) = given
    key = f"{where}.{kind}"
    args = _list(entry[kind], key)
    if kind == "choice":
        for i, value in enumerate(args):
            checker.setting(path, value, f"{key}[{i}]", f"{where}.path")
        return _Draw(path, kind, tuple(args), None, where)
    if len(args) != 2:
        raise ConfigError(f"{key}: expected [low, high], got a list of {len(args)}")
    annotation = _without_none(field.annotation)
    unit = field.unit
    if kind == "integers":
        if annotation not in (int, float) or unit is not None:
            raise ConfigError(
                f"{key}: {path} is {_describe_type(annotation)}"
                f"{' with a unit' if unit else ''}; integers draws plain integers"
            )
        low, high = (_integer(v, f"{key}[{i}]") for i, v in enumerate(args))
    else:
        if annotation is not float:
            raise ConfigError(
                f"{key}: {path} is {_describe_type(annotation)}; {kind} draws real numbers "
                "(use integers or choice)"
            )
    # The bounds are checked as values of the field (type, unit, range): every draw between
    # them is then valid too. Quantities come back in SI units.
    checked = [checker.setting(path, v, f"{key}[{i}]", f"{where}.path") for i, v in enumerate(args)]
    if kind != "integers":
        low, high = (float(s.resolved) for s in checked)
    if not low < high:
        raise ConfigError(f"{key}: expected low < high, got {args[0]!r} and {args[1]!r}")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{key}: log_uniform needs low > 0, got {args[0]!r}")
    return _Draw(path, kind, (low, high), unit, where)


def _draw(draw: _Draw, u: float) -> Any:
    """The value of ``draw`` at the uniform variate ``u`` in [0, 1), as YAML data."""
    if draw.distribution == "choice":
        return draw.args[min(int(u * len(draw.args)), len(draw.args) - 1)]
    low, high = draw.args
    if draw.distribution == "integers":
        return low + min(int(u * (high - low + 1)), high - low)
    if draw.distribution == "uniform":
        value = low + (high - low) * u
    else:
        value = math.exp(math.log(low) + (math.log(high) - math.log(low)) * u)
    value = min(max(value, low), high)  # rounding must not leave the checked range
    return f"{value!r}{draw.unit}" if draw.unit else value


def _random_axis(data: Mapping[str, Any], where: str, checker: _PathChecker) -> Axis:
    _check_keys(data, where, ("random",), ())
    spec = _check_keys(data["random"], f"{where}.random", ("samples", "seed", "params"), ())
    samples = _integer(spec["samples"], f"{where}.random.samples", lo=1)
    if samples > MAX_LEVELS:
        raise ConfigError(f"{where}.random.samples: at most {MAX_LEVELS}, got {samples}")
    seed = _integer(spec["seed"], f"{where}.random.seed", lo=0)
    entries = _list(spec["params"], f"{where}.random.params")
    draws = [
        _random_param(entry, f"{where}.random.params[{i}]", checker)
        for i, entry in enumerate(entries)
    ]
    _unique([d.path for d in draws], [f"{d.where}.path" for d in draws])
    # Only Generator.random() is used (53 random bits per double, the bit generator's stable
    # stream); the mapping to each distribution is ours, so the points do not depend on how a
    # NumPy version implements integers() or choice().
    rng = np.random.default_rng(seed)
    levels = []
    for sample in range(samples):
        level = []
        for draw in draws:
            value = _draw(draw, float(rng.random()))
            level.append(
                checker.setting(
                    draw.path, value, f"{draw.where} (sample {sample})", f"{draw.where}.path"
                )
            )
        levels.append(tuple(level))
    return Axis(where, "random", tuple(d.path for d in draws), tuple(levels))


def _axis(data: object, where: str, checker: _PathChecker) -> Axis:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {_got(data)}")
    if "zip" in data:
        return _zip_axis(data, where, checker)
    if "random" in data:
        return _random_axis(data, where, checker)
    if "path" in data:
        return _grid_axis(data, where, checker)
    raise ConfigError(
        f"{where}: expected a grid axis {{path, values}}, a zip axis {{zip: [...]}} or a random "
        f"axis {{random: {{samples, seed, params}}}}, "
        f"got keys {', '.join(map(str, data)) or 'none'}"
    )


def _unique(items: Sequence[Any], wheres: Sequence[str]) -> None:
    seen: dict[Any, str] = {}
    for item, where in zip(items, wheres):
        if item in seen:
            raise ConfigError(f"{where}: {item!r} is already given at {seen[item]}")
        seen[item] = where


# --------------------------------------------------------------------------------------------
# The top level
# --------------------------------------------------------------------------------------------

_REQUIRED = ("version", "name", "config", "traces")
_OPTIONAL = ("description", "set", "seeds", "axes", "metrics", "pareto")


def _metric(data: object, where: str, *, pattern: bool) -> str:
    text = _string(data, where)
    if any(c.isspace() for c in text):
        raise ConfigError(f"{where}: a report key has no spaces, got {_got(text)}")
    if not pattern and "*" in text:
        raise ConfigError(f"{where}: expected a report key without '*', got {_got(text)}")
    return text


def _relative(base: Path, name: str) -> str:
    return os.path.normpath(name if os.path.isabs(name) else base / name)


def _count(entry: object) -> int:
    """The levels a ``{path, values | range}`` entry asks for, counted without building them;
    1 for anything malformed (the full check reports it)."""
    if not isinstance(entry, Mapping):
        return 1
    values = entry.get("values")
    if isinstance(values, list):
        return max(len(values), 1)
    rng = entry.get("range")
    if not isinstance(rng, Mapping):
        return 1
    start, stop, step = rng.get("start"), rng.get("stop"), rng.get("step", 1)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, stop, step)):
        return 1
    return (stop - start) // step + 1 if step >= 1 and stop >= start else 1


def _axis_levels(data: object) -> int:
    """The levels an axis asks for, counted without building or checking them."""
    if not isinstance(data, Mapping):
        return 1
    if "zip" in data:
        entries = data["zip"]
        return _count(entries[0]) if isinstance(entries, list) and entries else 1
    if "random" in data:
        random = data["random"]
        samples = random.get("samples") if isinstance(random, Mapping) else None
        valid = isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1
        return samples if valid else 1
    return _count(data)


def _point_count(top: Mapping[str, Any]) -> int:
    """The design points the spec asks for: traces x seeds x the levels of every axis,
    counted from the lengths alone (nothing is built, checked or drawn)."""
    traces, seeds, axes = top["traces"], top.get("seeds", [0]), top.get("axes", [])
    count = len(traces) if isinstance(traces, list) and traces else 1
    count *= len(seeds) if isinstance(seeds, list) and seeds else 1
    for axis in axes if isinstance(axes, list) else ():
        count *= _axis_levels(axis)
    return count


def _digest(
    name: str,
    config: HardwareConfig,
    overrides: Sequence[str],
    traces: Sequence[TraceInput],
    seeds: Sequence[int],
    axes: Sequence[Axis],
    metrics: Sequence[str],
    pareto: Sequence[str],
) -> str:
    """:attr:`SweepSpec.digest`: SHA-256 of the spec's content as it resolves."""
    content = {
        "name": name,
        "config_sha256": config_digest(config),
        "set": list(overrides),
        "traces": [[t.name, t.sha256] for t in traces],
        "seeds": list(seeds),
        "axes": [
            [a.kind, list(a.paths), [[s.resolved for s in level] for level in a.levels]]
            for a in axes
        ],
        "metrics": list(metrics),
        "pareto": list(pareto),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _spec(data: object, source: str, limits: Limits = DEFAULT_LIMITS) -> SweepSpec:
    top = _check_keys(data, "", _REQUIRED, _OPTIONAL)
    if top["version"] != SPEC_VERSION or isinstance(top["version"], bool):
        raise ConfigError(f"version: expected {SPEC_VERSION}, got {_got(top['version'])}")
    # Before anything is built: 10^12 points would take hours to materialise, let alone run.
    limits.check("sweep_points", _point_count(top), f"{source}: the sweep")
    name = _string(top["name"], "name")
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"name: expected letters, digits, '_', '.' or '-', got {name!r}")
    description = top.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description: expected a string, got {_got(description)}")
    here = Path(os.path.realpath(source)).parent

    config = _string(top["config"], "config")
    config_path = _relative(here, config)
    try:
        config_data = load_with_bases(config_path, HardwareConfig)
        hardware_from_data(config_data, (), config_path)
    except ArchsimError as error:
        raise ConfigError(f"config: {error}") from None
    overrides = tuple(
        _string(item, f"set[{i}]")
        for i, item in enumerate(_list(top.get("set", []), "set", empty=True))
    )
    try:
        base_config = hardware_from_data(config_data, overrides, config_path)
    except ArchsimError as error:
        where = _first_bad_override(config_data, overrides, config_path)
        raise ConfigError(f"{where}: {error}") from None

    traces = []
    for i, item in enumerate(_list(top["traces"], "traces")):
        trace = _string(item, f"traces[{i}]")
        path = _relative(here, trace)
        try:
            # A FIFO would block the digest's open() for good: refuse all but regular files.
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise NotRegularFileError(0, "not a regular file", path)
            digest = file_digest(path)
        except OSError as error:
            raise ConfigError(
                f"traces[{i}]: {trace}: cannot read: {error.strerror or error}"
            ) from None
        try:  # a file that is not a trace at all fails here, not at every point
            read_header(path)
        except ArchsimError as error:
            raise ConfigError(f"traces[{i}]: {str(error).replace(path, trace)}") from None
        traces.append(TraceInput(trace, path, digest))
    _unique([t.name for t in traces], [f"traces[{i}]" for i in range(len(traces))])

    seeds_data = _list(top.get("seeds", [0]), "seeds")
    seeds = tuple(_integer(s, f"seeds[{i}]", lo=0) for i, s in enumerate(seeds_data))
    _unique(seeds, [f"seeds[{i}]" for i in range(len(seeds))])

    checker = _PathChecker(os.path.dirname(config_path))
    axes = tuple(
        _axis(item, f"axes[{i}]", checker)
        for i, item in enumerate(_list(top.get("axes", []), "axes", empty=True))
    )
    owners = [(path, axis.where) for axis in axes for path in axis.paths]
    _unique([p for p, _ in owners], [f"{w} ({p})" for p, w in owners])
    # A path that cannot be set at all in this config (an index into a list it does not have,
    # such as noc.dims[0] without a noc:) is the spec's error, not one row error per point:
    # the first point's settings are applied in order, as the point applies them.
    data = apply_overrides(config_data, overrides)
    for axis in axes:
        try:
            data = apply_settings(data, ((s.path, s.value) for s in axis.levels[0]))
        except ConfigError as error:
            raise ConfigError(f"{axis.where}: {config}: {error}") from None

    metrics = tuple(
        _metric(item, f"metrics[{i}]", pattern=True)
        for i, item in enumerate(_list(top.get("metrics", []), "metrics", empty=True))
    )
    _unique(metrics, [f"metrics[{i}]" for i in range(len(metrics))])
    reserved = {"point", "trace", "seed", "status", "error", "pareto", *(p for p, _ in owners)}
    for i, metric in enumerate(metrics):
        if metric in reserved:
            raise ConfigError(f"metrics[{i}]: '{describe_key(metric)}' is already a column of every row")
    pareto = tuple(
        _metric(item, f"pareto[{i}]", pattern=False)
        for i, item in enumerate(_list(top.get("pareto", []), "pareto", empty=True))
    )
    _unique(pareto, [f"pareto[{i}]" for i in range(len(pareto))])

    try:
        with open_regular(source) as handle:  # load_yaml read it; it may have changed since
            sha256 = hashlib.sha256(handle.read(MAX_CONFIG_BYTES + 1)).hexdigest()
    except OSError as error:
        raise ConfigError(f"cannot read the spec again: {error.strerror or error}") from None
    return SweepSpec(
        source=source,
        sha256=sha256,
        name=name,
        description=description,
        config=config,
        config_path=config_path,
        overrides=overrides,
        traces=tuple(traces),
        seeds=seeds,
        axes=axes,
        metrics=metrics,
        pareto=pareto,
        config_data=config_data,
        digest=_digest(name, base_config, overrides, traces, seeds, axes, metrics, pareto),
    )


def _first_bad_override(data: Any, overrides: Sequence[str], source: str) -> str:
    """``set[i]`` for the first of ``overrides`` that the config refuses on its own, or
    ``set`` when only their combination fails."""
    for i, override in enumerate(overrides):
        try:
            hardware_from_data(data, [override], source)
        except ArchsimError:
            return f"set[{i}]"
    return "set"


def load_spec(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> SweepSpec:
    """Read and check a sweep spec file (format: ``hw_configs/sweeps/README.md``).

    Paths in the spec (``config``, ``traces``) are relative to the spec file's directory. The
    number of design points is counted from the lengths of the traces, seeds and axes before
    any point or axis level is built, and checked against ``limits.sweep_points``.

    Raises:
        ConfigError: one message naming the spec file and the first bad field's path, e.g.
            ``"sweep.yaml: axes[1].values[0]: must be 1..16, got 0"``, or ``"sweep.yaml:
            axes[0].path: tile.adc.bitz: unknown config field; expected one of ..."``.
        LimitError: the spec has more design points than ``limits.sweep_points``.
    """
    source = os.fspath(path)
    data = load_yaml(source)  # "file:line: problem" for YAML errors
    try:
        return _spec(data, source, limits)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
