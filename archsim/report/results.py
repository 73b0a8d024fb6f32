"""Reading what the plots draw: sweep results, run reports and timelines (stage: report).

A design-space sweep writes one row per design point, as ``results.csv`` or ``results.jsonl``:

* the swept config paths as columns (``tile.adc.columns_per_adc``), with the value of the point;
* the run report's metrics flattened to dotted keys as :func:`archsim.report.report.flatten`
  writes them (``per_inference.latency_s``, ``per_inference.energy_breakdown_j.adc``);
* the bookkeeping columns :data:`META_COLUMNS`: ``point`` (the design point's id), ``trace``,
  ``seed``, ``status`` (:data:`STATUS_OK` or ``"error"``) and ``error`` (the message of a
  failed point);
* optionally :data:`PARETO_COLUMN`, true for the points on the latency-energy front.

:func:`read_results` reads either file (or a directory holding one, or a single run's
``report.json`` as a one-row table) into a :class:`ResultsTable`; extra columns are kept, and a
row may lack columns other rows have. The names above are module constants, so a change in what
the sweep writes is a change here only.

:func:`noc_link_loads` turns a run report's ``noc`` section (or an ``archsim noc`` report) into
router coordinates, directed links and per-link utilization, rebuilding the coordinates with
:func:`archsim.hw.noc.topology.build_topology`. :func:`chrome_trace_tracks` turns a Chrome
Trace Event file into per-track spans for :func:`archsim.report.plots.gantt`, and
:func:`trace_coverage` says what an archsim timeline leaves out of its run (cap, window).

Every error caused by a file or a column name the user gave is an :class:`ArchsimError` whose
message names the file or column and what the file does hold.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import itertools
import json
import logging
import math
import os
import reprlib
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from archsim.config.loader import build, open_regular
from archsim.config.schema import HardwareConfig, NocConfig
from archsim.errors import ArchsimError, ConfigError
from archsim.hw.noc.topology import TOPOLOGIES, Topology, build_topology
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.report.report import flatten
from archsim.units import UNITS, parse_quantity

__all__ = [
    "MAX_NESTING",
    "MAX_RESULTS_BYTES",
    "META_COLUMNS",
    "PARETO_COLUMN",
    "REPORT_FILE",
    "RESULTS_FILES",
    "STATUS_OK",
    "LinkLoads",
    "ResultsTable",
    "Span",
    "chrome_trace_tracks",
    "config_unit",
    "in_folder",
    "is_config_path",
    "noc_link_loads",
    "read_json",
    "read_results",
    "trace_coverage",
]

log = logging.getLogger(__name__)

#: Bookkeeping columns of a sweep's results, in the order they are listed in messages.
META_COLUMNS = ("point", "trace", "seed", "status", "error")
#: The ``status`` of a design point that ran.
STATUS_OK = "ok"
#: Optional boolean column marking the points on the latency-energy Pareto front.
PARETO_COLUMN = "pareto"
#: What :func:`read_results` looks for in a directory, in this order.
RESULTS_FILES = ("results.jsonl", "results.csv")
#: The report an ``archsim run --out DIR`` writes, read as one design point.
REPORT_FILE = "report.json"

#: One bar of a timeline: (start, duration, label), times in s.
Span = tuple[float, float, str]

#: How many names an error message lists before it abbreviates.
_LISTED = 8

#: Largest file :func:`read_results` and :func:`read_json` read, bytes (a sweep of a million
#: points with a hundred metrics is about 1 GiB of CSV). Checked before reading; no more than
#: this + 1 is ever read, also from a file that grows meanwhile.
MAX_RESULTS_BYTES = 1 << 30

#: Deepest nesting of arrays and objects in a JSON document or row read here (a report nests
#: about 5 levels; reports are flattened recursively).
MAX_NESTING = 64


# --------------------------------------------------------------------------------------------
# Config paths: which columns are swept parameters, and their units
# --------------------------------------------------------------------------------------------


def _config_field(path: str) -> dataclasses.Field[Any] | None:
    """The schema field a dotted config path ends in (None: not a config path).

    Indexes (``noc.dims[0]``) are ignored; a path that runs on past a mapping-valued field
    (``mapping.copies.conv1``) ends in that field. A mapping is keyed, never indexed, so an
    index on one (the report's ``mapping.layers[0]``, a list) is not a config path.
    """
    cls: type = HardwareConfig
    written = path.split(".")
    parts = [part.split("[", 1)[0] for part in written]
    for position, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        hint = _without_none(typing.get_type_hints(cls)[part])
        last = position == len(parts) - 1
        if not dataclasses.is_dataclass(hint):
            if _is_mapping(hint) and "[" in written[position]:
                return None
            return fields[part] if last or _is_mapping(hint) else None
        if last:
            return fields[part]
        cls = hint
    return None


def _without_none(hint: Any) -> Any:
    """``X`` for ``X | None``; any other hint unchanged."""
    if typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType):
        args = [t for t in typing.get_args(hint) if t is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _is_mapping(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, Mapping)


def is_config_path(column: str) -> bool:
    """Whether ``column`` names a field of the hardware config (a swept parameter)."""
    return _config_field(column) is not None


def config_unit(column: str) -> str | None:
    """The SI unit the config schema declares for ``column`` (``noc.energy.router`` -> ``"J"``);
    None for a plain number or a path that is not in the config."""
    field = _config_field(column)
    return None if field is None else field.metadata.get("unit")


# --------------------------------------------------------------------------------------------
# The results table
# --------------------------------------------------------------------------------------------


def _suggest(name: str, columns: Sequence[str]) -> str:
    """``"; did you mean a, b?"`` for the columns closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, columns, n=4, cutoff=0.6)
    under = [c for c in columns if c.startswith(name + ".")]
    picks = list(dict.fromkeys(under[:_LISTED] + close))
    return f"; did you mean {', '.join(_text(p) for p in picks)}?" if picks else ""


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(_text(name) for name in names[:_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _LISTED else "")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 80


def _brief(value: object) -> str:
    """``repr(value)``, shortened: for values from a file in messages."""
    text = _SHORT.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: object) -> str:
    """A name or value from a file for messages: a printable string as it is, anything else
    as a shortened repr (a column name may hold a line break, a link list be huge; a message
    is one short line)."""
    text = value if isinstance(value, str) and value.isprintable() else _SHORT.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class ResultsTable:
    """The rows of a sweep's results (or of one run), one per design point.

    Attributes:
        source: the file the rows came from, named in error messages.
        columns: every column of any row, in first-appearance order.
        rows: one read-only mapping per design point, column -> value (int, float, bool, str
            or None); a row lacks the columns it had no value for.
    """

    source: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The swept parameters: the columns that are config paths and whose value is not the
        same in every row, in column order. (Config paths alone would also catch report keys
        that repeat a config field, such as ``noc.topology``.)"""
        return self.varying(c for c in self.columns if c not in META_COLUMNS and is_config_path(c))

    def _describe(self) -> str:
        """What the table holds, for error messages."""
        params = self.parameters
        return (
            f"{self.source} has {len(self.columns)} columns"
            + (f", parameters {_listed(list(params))}" if params else ", no swept parameters")
        )

    def require(self, name: str) -> None:
        """Raise :class:`ArchsimError` naming ``name`` and what exists unless it is a column."""
        if name not in self.columns:
            raise ArchsimError(
                f"{self.source}: no column '{_text(name)}'{_suggest(name, self.columns)} "
                f"({self._describe()})"
            )

    def values(self, name: str) -> tuple[Any, ...]:
        """The raw values of column ``name``, one per row (None where a row lacks it)."""
        self.require(name)
        return tuple(row.get(name) for row in self.rows)

    def numeric(self, name: str) -> np.ndarray:
        """Column ``name`` as floats in SI units.

        Quantity strings (``"10ns"``) are converted with the unit the config schema declares
        for the column, or else the one unit all of them parse in. Raises
        :class:`ArchsimError` naming the column and the first row that is not a number.
        """
        raw = self.values(name)
        out = np.empty(len(raw))
        strings = [v for v in raw if isinstance(v, str)]
        unit = _common_unit(name, strings) if strings else None
        for i, value in enumerate(raw):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                try:
                    out[i] = float(value)
                except OverflowError:  # an integer beyond 1e308
                    raise ArchsimError(
                        f"{self.source}: column '{_text(name)}': {self.row_name(i)} has an integer "
                        "too large for a plot"
                    ) from None
                continue
            if isinstance(value, str) and unit is not None:
                out[i] = parse_quantity(value, unit, name)
                continue
            got = "no value" if value is None else _brief(value)
            raise ArchsimError(
                f"{self.source}: column '{_text(name)}' is not numeric: {self.row_name(i)} has {got}"
                f" (distinct values: {_listed([repr(v) for v in dict.fromkeys(raw)])})"
            )
        return out

    def under(self, prefix: str) -> tuple[str, ...]:
        """The parts after ``prefix.`` of the scalar columns below ``prefix`` (indexed list
        entries excluded): ``under("per_inference.energy_breakdown_j")`` -> ``("adc", ...)``.

        Raises :class:`ArchsimError` naming the prefix when no column lies below it.
        """
        head = prefix + "."
        names = tuple(c[len(head):] for c in self.columns if c.startswith(head) and "[" not in c)
        if not names:
            raise ArchsimError(
                f"{self.source}: no columns below '{_text(prefix)}'{_suggest(prefix, self.columns)} "
                f"({self._describe()})"
            )
        return names

    def row_name(self, index: int) -> str:
        """``"row 3 (point 7)"``: how messages name a row (1-based, as in the file)."""
        point = self.rows[index].get("point")
        return f"row {index + 1}" + ("" if point is None else f" (point {_text(point)})")

    def select(self, keep: Sequence[bool]) -> ResultsTable:
        """The rows where ``keep`` is true (same columns)."""
        rows = tuple(row for row, kept in zip(self.rows, keep) if kept)
        return ResultsTable(self.source, self.columns, rows)

    def succeeded(self) -> ResultsTable:
        """The rows whose ``status`` is :data:`STATUS_OK` (all rows if there is no status).

        Failed points are logged; raises :class:`ArchsimError` when no point succeeded.
        """
        if "status" not in self.columns:
            return self
        keep = [row.get("status") == STATUS_OK for row in self.rows]
        failed = [i for i, k in enumerate(keep) if not k]
        if failed:
            log.info("%s: %d of %d design points failed; plotting the others",
                     self.source, len(failed), len(self.rows))
        if len(failed) == len(self.rows):
            first = self.rows[failed[0]] if failed else {}
            reason = f"; {self.row_name(failed[0])}: {_text(first.get('error'))}" if failed else ""
            raise ArchsimError(
                f"{self.source}: no design point succeeded ({len(failed)} with status other "
                f"than {STATUS_OK!r}{reason})"
            )
        return self.select(keep)

    def sorted_by(self, name: str) -> ResultsTable:
        """The rows in ascending order of column ``name`` when all its values are numbers
        (ties keep their order); unchanged otherwise."""
        values = self.values(name)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return self
        order = sorted(range(len(values)), key=lambda i: values[i])
        return ResultsTable(self.source, self.columns, tuple(self.rows[i] for i in order))

    def groups(self, name: str) -> dict[Any, ResultsTable]:
        """The rows split by the value of column ``name``: value -> rows, values in ascending
        order when they are all numbers, else in order of first appearance."""
        values = self.values(name)
        order = list(dict.fromkeys(values))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in order):
            order.sort()
        return {value: self.select([v == value for v in values]) for value in order}

    def varying(self, candidates: Iterable[str]) -> tuple[str, ...]:
        """The columns among ``candidates`` with more than one value over the rows that have
        one (a failed point's missing metrics do not count)."""
        return tuple(
            c for c in candidates
            if c in self.columns
            and len({repr(r[c]) for r in self.rows if r.get(c) is not None}) > 1
        )


def _common_unit(name: str, strings: Sequence[str]) -> str | None:
    """The unit every string in ``strings`` parses in: the schema's for ``name``, else the
    first of :data:`archsim.units.UNITS` that fits them all; None if none does."""
    declared = config_unit(name)
    for unit in (declared,) if declared else UNITS:
        try:
            for text in strings:
                parse_quantity(text, unit, name)
        except ConfigError:
            continue
        return unit
    return None


def _cell(text: str) -> Any:
    """A CSV cell as int, float or str; the empty cell as None."""
    if text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def _flat_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON row with nested sections flattened to dotted keys as :func:`flatten` writes
    them; flat keys keep their order. A config field's list or mapping value (a swept
    ``mapping.copies``) stays one cell, as JSON text, as the CSV file has it; a report's
    sections that share a config section's name (``noc``, ``controller``) are flattened."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, (Mapping, list)) and "." in key and is_config_path(key):
            row[key] = json.dumps(value, sort_keys=True)
        elif isinstance(value, (Mapping, list)):
            row.update(flatten({key: value}))
        else:
            row[key] = value
    return row


def _missing(path: Path, wanted: str) -> ArchsimError:
    """An error naming a file that is not there and the likely candidates beside it (in it,
    for a directory)."""
    return ArchsimError(f"{path}: no such {wanted} ({_holds(path)})")


def _holds(path: Path) -> str:
    """``"runs/x holds a.csv, b.json"``: the result-like files in ``path`` (a directory) or
    beside it, for messages."""
    folder = path if path.is_dir() else path.parent
    try:
        near = sorted(
            p.name for p in folder.iterdir()
            if p.suffix in (".csv", ".jsonl", ".json", ".gz") and not p.name.startswith(".")
        )
    except OSError:
        return f"and no directory {folder}"
    return f"{folder} holds {_listed(near)}" if near else f"{folder} holds no .csv/.jsonl/.json"


def in_folder(path: str | os.PathLike[str], names: Sequence[str]) -> Path:
    """``path`` itself, or for a directory the first of ``names`` it holds (unchanged if it
    holds none: reading it then names what the directory does hold)."""
    path = Path(path)
    if path.is_dir():
        for name in names:
            if (path / name).is_file():
                return path / name
    return path


def _resolve(path: Path) -> Path:
    path = in_folder(path, (*RESULTS_FILES, REPORT_FILE))
    if path.is_dir():
        raise _missing(path, f"results ({', '.join((*RESULTS_FILES, REPORT_FILE))})")
    if not path.exists():
        raise _missing(path, "results file")
    return path  # a FIFO or device is refused when opened, with "not a regular file"


def _open(path: Path) -> BinaryIO:
    """``path`` opened for binary reading: a regular file (a FIFO would hang the plot, a device
    never end) of at most :data:`MAX_RESULTS_BYTES`.

    Raises:
        ArchsimError: naming the file.
    """
    try:
        handle = open_regular(path)
    except OSError as error:
        raise ArchsimError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        handle.close()
        raise ArchsimError(f"{path}: cannot read: {error.strerror or error}") from None
    if size > MAX_RESULTS_BYTES:
        handle.close()
        raise _too_large(path, size)
    return handle


def _too_large(path: Path, size: int | None = None) -> ArchsimError:
    """The error for a file over :data:`MAX_RESULTS_BYTES` (``size`` None: it grew)."""
    what = f"{size:,} bytes" if size is not None else "more bytes than that"
    return ArchsimError(
        f"{path}: {what}; the limit of a file to plot is {MAX_RESULTS_BYTES:,} bytes "
        f"({MAX_RESULTS_BYTES / 2**30:g} GiB)"
    )


def _lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines as text, line ends kept, stopping with an error past
    :data:`MAX_RESULTS_BYTES` in all.

    Raises:
        ArchsimError: the file holds more than the limit, or is not UTF-8.
    """
    left = MAX_RESULTS_BYTES + 1
    for number in itertools.count(1):
        raw = handle.readline(left)
        if not raw:
            return
        left -= len(raw)
        if left <= 0:
            raise _too_large(path)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchsimError(f"{path}: line {number}: not UTF-8 text") from None


def _nesting(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (without recursion)."""
    depth = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return depth


def _loads(text: str, where: str, *, lines: bool = True) -> Any:
    """Decoded JSON; :class:`ArchsimError` naming ``where`` (and with ``lines`` the line of a
    syntax error) if it is not JSON or is nested deeper than :data:`MAX_NESTING` levels (the
    readers and plots walk it recursively)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        at = f" at line {error.lineno}" if lines else ""
        raise ArchsimError(f"{where}: not JSON: {error.msg}{at}") from None
    except RecursionError:
        raise ArchsimError(f"{where}: not JSON this reader accepts: nested too deeply") from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise ArchsimError(f"{where}: not JSON this reader accepts: {error}") from None
    if _nesting(value) > MAX_NESTING:
        raise ArchsimError(f"{where}: nested deeper than {MAX_NESTING} levels")
    return value


def read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file's content; :class:`ArchsimError` naming the file if it is missing, not a
    regular file, larger than :data:`MAX_RESULTS_BYTES`, not UTF-8, not JSON or nested deeper
    than :data:`MAX_NESTING` levels."""
    path = Path(path)
    if path.is_dir():
        raise ArchsimError(f"{path}: a directory, expected a JSON file ({_holds(path)})")
    if not path.exists():
        raise _missing(path, "file")
    with _open(path) as handle:
        try:
            data = handle.read(MAX_RESULTS_BYTES + 1)
        except OSError as error:
            raise ArchsimError(f"{path}: cannot read: {error}") from None
    if len(data) > MAX_RESULTS_BYTES:
        raise _too_large(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchsimError(f"{path}: not JSON: not UTF-8 text") from None
    return _loads(text, str(path))


def read_results(path: str | os.PathLike[str]) -> ResultsTable:
    """Read a sweep's results into a :class:`ResultsTable`.

    ``path`` is ``results.jsonl`` (one JSON object per line, flat or nested), ``results.csv``
    (a header row, then one row per point; numbers are parsed, empty cells are missing), a
    directory holding one of them (the JSON Lines file preferred: it keeps types), or one run's
    ``report.json``, read as a single design point with ``point`` 0 and ``status`` ok.

    Raises :class:`ArchsimError` naming the file when it is missing, not a regular file, larger
    than :data:`MAX_RESULTS_BYTES`, unreadable or malformed.
    """
    file = _resolve(Path(path))
    source = str(file)
    try:
        if file.suffix == ".csv":
            rows = _read_csv(file)
        elif file.suffix == ".jsonl":
            rows = _read_jsonl(file)
        elif file.suffix == ".json":
            rows = [_report_row(read_json(file), source)]
        else:
            raise ArchsimError(
                f"{file}: expected results.csv, results.jsonl or a report.json, got a "
                f"{file.suffix or 'suffix-less'} file"
            )
    except (OSError, UnicodeDecodeError) as error:
        raise ArchsimError(f"{file}: cannot read: {error}") from None
    if not rows:
        raise ArchsimError(f"{file}: no design points (the file has no rows)")
    columns = tuple(dict.fromkeys(key for row in rows for key in row))
    return ResultsTable(source, columns, tuple(types.MappingProxyType(r) for r in rows))


def _read_csv(file: Path) -> list[dict[str, Any]]:
    with _open(file) as handle:
        reader = csv.reader(_lines(handle, file))
        try:
            header = next(reader, None)
            if header is None:
                raise ArchsimError(f"{file}: empty file (expected a header row of column names)")
            rows = []
            for cells in reader:
                if not cells:
                    continue
                if len(cells) != len(header):
                    raise ArchsimError(
                        f"{file}: line {reader.line_num} has {len(cells)} cells, the header "
                        f"{len(header)}"
                    )
                rows.append({k: v for k, v in zip(header, map(_cell, cells)) if v is not None})
        except csv.Error as error:  # a cell longer than csv.field_size_limit(), a bad quote
            raise ArchsimError(f"{file}: line {reader.line_num}: not CSV: {error}") from None
    return rows


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    rows = []
    with _open(file) as handle:
        for line, text in enumerate(_lines(handle, file), start=1):
            if not text.strip():
                continue
            record = _loads(text, f"{file}: line {line}", lines=False)
            if not isinstance(record, dict):
                raise ArchsimError(
                    f"{file}: line {line}: expected an object (one design point), "
                    f"got a {type(record).__name__}"
                )
            rows.append({k: v for k, v in _flat_row(record).items() if v is not None})
    return rows


def _report_row(report: Any, source: str) -> dict[str, Any]:
    if not isinstance(report, dict) or report.get("schema") != "archsim-report":
        raise ArchsimError(
            f"{source}: expected an archsim run report (schema 'archsim-report') or "
            f"results.csv/results.jsonl, got {_document_kind(report)}"
        )
    return {"point": 0, "status": STATUS_OK, **_flat_row(report)}


# --------------------------------------------------------------------------------------------
# NoC link loads from a report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkLoads:
    """A NoC's routers, directed links and per-link utilization, ready for the heat map.

    Attributes:
        topology: one of :data:`archsim.hw.noc.topology.TOPOLOGIES`.
        dims: the shape (``(x, y)``, ``(n,)``, ``(arity, depth)``; ``()`` for an edge list).
        coords: per router, its coordinates as :func:`build_topology` numbers them.
        links: the directed links ``(u, v)``, in the order of ``utilization``.
        utilization: per link, the fraction of the run's cycles it was busy.
        tile_nodes: the routers with a tile in use (empty when not known).
    """

    topology: str
    dims: tuple[int, ...]
    coords: tuple[tuple[int, ...], ...]
    links: tuple[tuple[int, int], ...]
    utilization: tuple[float, ...]
    tile_nodes: tuple[int, ...] = ()


def _noc_config(
    kind: str, dims: Sequence[int] = (), edges: Sequence[Sequence[int]] = ()
) -> NocConfig:
    """A NoC config of this shape; the timing and energy fields are irrelevant here."""
    return build(NocConfig, {
        "topology": kind, "dims": list(dims), "edges": [list(e) for e in edges],
        "router_cycles": 1, "buffer_flits": 1, "link_width_bits": 1, "link_cycles": 1,
        "link_length_m": 0, "flow_control": "virtual_cut_through",
        "energy": {"router": 0, "link_bit_mm": 0},
    })


def _shapes(kind: str, routers: int, links: Sequence[tuple[int, int]]) -> Iterable[tuple[int, ...]]:
    """The dims of a ``kind`` with ``routers`` routers that could have these links."""
    if kind in ("mesh", "torus"):
        yield from ((x, routers // x) for x in range(1, routers + 1) if routers % x == 0)
    elif kind == "ring":
        yield (routers,)
    elif kind == "tree":
        arity = sum(1 for u, _ in links if u == 0)
        nodes, level, depth = 1, 1, 0
        while arity >= 2 and nodes < routers:
            level *= arity
            nodes += level
            depth += 1
        if nodes == routers and depth >= 1:
            yield (arity, depth)


def _rebuild(
    kind: str | None, routers: int, links: tuple[tuple[int, int], ...], source: str
) -> Topology:
    """The topology (``kind`` given, or the first of mesh, ring, torus, tree that fits, else an
    edge list) whose directed links are exactly ``links``."""
    wanted = tuple(sorted(links))
    kinds = (kind,) if kind is not None else ("mesh", "ring", "torus", "tree", "edges")
    for candidate in kinds:
        if candidate == "edges":
            pairs = sorted({(min(u, v), max(u, v)) for u, v in links})
            try:
                topo = build_topology(_noc_config("edges", edges=pairs))
            except ConfigError as error:
                raise ArchsimError(
                    f"{source}: the NoC links are not a valid network: {error}"
                ) from None
            if topo.links == wanted and topo.nodes == routers:
                return topo
            continue
        for dims in _shapes(candidate, routers, links):
            try:
                topo = build_topology(_noc_config(candidate, dims))
            except ConfigError:
                continue
            if topo.links == wanted:
                return topo
    raise ArchsimError(
        f"{source}: the report's {len(links)} directed links over {routers} routers do not form "
        f"a {kind or 'known topology'} (expected one of {', '.join(TOPOLOGIES)})"
    )


def _parse_link(link: Any, where: str) -> tuple[int, int]:
    if isinstance(link, str) and link.count("-") == 1:
        u, v = link.split("-")
        # ASCII digits only ("²".isdigit() is true), and few enough to be a router id.
        if all(n.isascii() and n.isdigit() and len(n) <= 18 for n in (u, v)):
            return int(u), int(v)
    if isinstance(link, (list, tuple)) and len(link) == 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in link
    ):
        return int(link[0]), int(link[1])
    raise ArchsimError(
        f"{where}: expected a link 'u-v' or [u, v] of router ids, got {_text(link)}"
    )


def noc_link_loads(
    report: Any, source: str = "report", *, limits: Limits = DEFAULT_LIMITS
) -> LinkLoads:
    """The NoC of a run report (``report["noc"]``) or of an ``archsim noc`` report, as
    :class:`LinkLoads`.

    A run report names its topology; an ``archsim noc`` report does not, so its shape is
    inferred from the links (the first of mesh, ring, torus and tree whose links they are
    exactly, else an edge list). Raises :class:`ArchsimError` naming ``source`` when the
    document is not such a report, the report has no NoC, or its links and utilization are
    malformed or disagree; :class:`~archsim.limits.LimitError` when it has more routers than
    ``limits.routers`` (rebuilding its shape tries every factorisation of that count).
    """
    schema = report.get("schema") if isinstance(report, Mapping) else None
    routers: Any = None
    if schema == "archsim-report":
        noc = report.get("noc")
        if noc is None:
            raise ArchsimError(f"{source}: the run had no network-on-chip (noc is null)")
        if not isinstance(noc, Mapping):
            raise ArchsimError(f"{source}: noc: expected an object, got {_kind_of(noc)}")
        per_link = noc.get("link_utilization")
        kind, raw_links, routers = noc.get("topology"), noc.get("links"), noc.get("routers")
        utilization = per_link.get("per_link") if isinstance(per_link, Mapping) else None
        raw_tiles, where = noc.get("tile_nodes") or [], f"{source}: noc"
    elif schema == "archsim-noc-report":
        kind, raw_links = None, report.get("links")
        utilization, raw_tiles, where = report.get("link_utilization"), [], source
    else:
        raise ArchsimError(
            f"{source}: expected an archsim run report or an archsim noc report, got "
            f"{_document_kind(report)}"
        )
    if not isinstance(raw_links, (list, tuple)) or not isinstance(utilization, (list, tuple)):
        raise ArchsimError(f"{where}: expected the lists links and link utilization per link")
    if len(raw_links) != len(utilization):
        raise ArchsimError(
            f"{where}: {len(raw_links)} links but {len(utilization)} utilization values"
        )
    links = tuple(_parse_link(link, f"{where}.links[{i}]") for i, link in enumerate(raw_links))
    if not links:
        raise ArchsimError(f"{where}: the network has no links")
    for i, value in enumerate(utilization):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0.0 <= value <= 1.0
        ):
            raise ArchsimError(
                f"{where}: link utilization [{i}]: expected a fraction in [0, 1], "
                f"got {_brief(value)}"
            )
    if not isinstance(raw_tiles, (list, tuple)) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in raw_tiles
    ):
        raise ArchsimError(
            f"{where}.tile_nodes: expected a list of router ids, got {_brief(raw_tiles)}"
        )
    if not (isinstance(routers, int) and not isinstance(routers, bool)):
        routers = 1 + max(max(link) for link in links)
    # Rebuilding tries every shape of that many routers: a forged count would take forever.
    limits.check("routers", max(routers, 1 + max(max(link) for link in links)),
                 f"{source}: the report's network")
    topo = _rebuild(kind, routers, links, source)
    return LinkLoads(
        topology=topo.kind,
        dims=topo.dims,
        coords=topo.coords,
        links=links,
        utilization=tuple(float(u) for u in utilization),
        tile_nodes=tuple(raw_tiles),
    )


def _kind_of(value: Any) -> str:
    """``"a list"``, ``"a number"``: what a JSON value is, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _document_kind(doc: Any) -> str:
    """What a loaded JSON document is, for messages that name what was expected instead."""
    if isinstance(doc, Mapping) and "traceEvents" in doc or (
        isinstance(doc, list) and doc and all(isinstance(e, Mapping) and "ph" in e for e in doc)
    ):
        return "a Chrome trace (plot it with --kind timeline)"
    if isinstance(doc, Mapping):
        return f"schema {_brief(doc.get('schema'))}"
    return _kind_of(doc)


# --------------------------------------------------------------------------------------------
# Chrome Trace Event files
# --------------------------------------------------------------------------------------------


def _order_key(value: Any) -> tuple[int, Any]:
    """Sort ids that may be ints or strings without comparing the two."""
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def chrome_trace_tracks(
    trace: Mapping[str, Any] | Sequence[Any], source: str = "trace", label: str = "name"
) -> dict[str, list[Span]]:
    """Per-track spans from a loaded Chrome Trace Event document.

    ``trace`` is the JSON Object Format (``{"traceEvents": [...]}``) or the JSON Array Format
    (the list of events). Complete events (``ph`` ``"X"``) and matched begin/end pairs
    (``"B"``/``"E"``) become spans; their ``ts`` and ``dur`` are microseconds and are returned
    in seconds. A track is a ``(pid, tid)`` thread, named by its ``thread_name`` metadata event
    (``ph`` ``"M"``; ``tid`` when unnamed), prefixed with the process name (``process_name``
    metadata, else ``pid``) when the trace has several processes; threads whose names are
    the same (the lanes of an archsim NoC flow) make one track. Tracks follow
    ``process_sort_index``/``thread_sort_index`` metadata, then pid and tid; spans within a
    track are sorted by start. Other phases (instants, counters, flows) are ignored. A span's
    label is the event's ``label`` field: its ``name``, or e.g. ``cat`` to colour by category.

    Raises :class:`ArchsimError` naming ``source`` and the event for a malformed document.
    """
    events = trace.get("traceEvents") if isinstance(trace, Mapping) else trace
    if not isinstance(events, list):
        got = "an object without it" if isinstance(trace, Mapping) else type(trace).__name__
        raise ArchsimError(
            f"{source}: expected a Chrome trace (an object with a traceEvents list, or a list "
            f"of events), got {got}"
        )
    thread_names: dict[tuple[Any, Any], str] = {}
    process_names: dict[Any, str] = {}
    thread_sort: dict[tuple[Any, Any], float] = {}
    process_sort: dict[Any, float] = {}
    spans: dict[tuple[Any, Any], list[Span]] = {}
    open_begins: dict[tuple[Any, Any], list[tuple[float, str]]] = {}
    for i, event in enumerate(events):
        where = f"{source}: traceEvents[{i}]"
        if not isinstance(event, Mapping):
            raise ArchsimError(f"{where}: expected an event object, got {_kind_of(event)}")
        phase = event.get("ph")
        if phase not in ("M", "X", "B", "E"):
            continue
        key = (_thread_id(event, "pid", where), _thread_id(event, "tid", where))
        if phase == "M":
            args = event.get("args") or {}
            if not isinstance(args, Mapping):
                raise ArchsimError(f"{where}: args: expected an object, got {_kind_of(args)}")
            if event.get("name") == "thread_name":
                thread_names[key] = str(args.get("name", key[1]))
            elif event.get("name") == "process_name":
                process_names[key[0]] = str(args.get("name", key[0]))
            elif event.get("name") == "thread_sort_index":
                thread_sort[key] = _sort_index(args, where)
            elif event.get("name") == "process_sort_index":
                process_sort[key[0]] = _sort_index(args, where)
            continue
        ts = _microseconds(event, "ts", where)
        if phase == "X":
            dur = _microseconds(event, "dur", where)
            spans.setdefault(key, []).append((ts * 1e-6, dur * 1e-6, str(event.get(label, ""))))
        elif phase == "B":
            open_begins.setdefault(key, []).append((ts, str(event.get(label, ""))))
        elif open_begins.get(key):
            start, name = open_begins[key].pop()
            if ts < start:
                raise ArchsimError(
                    f"{where}: an 'E' event at ts {_brief(ts)} before its 'B' event at "
                    f"{_brief(start)}"
                )
            spans.setdefault(key, []).append((start * 1e-6, (ts - start) * 1e-6, name))
        else:
            raise ArchsimError(f"{where}: an 'E' event with no open 'B' event on its thread")
    unclosed = sum(len(stack) for stack in open_begins.values())
    if unclosed:
        log.warning("%s: %d 'B' events never ended; left out", source, unclosed)
    keys = list(dict.fromkeys([*thread_names, *spans]))
    keys.sort(key=lambda k: (process_sort.get(k[0], 0.0), _order_key(k[0]),
                             thread_sort.get(k, 0.0), _order_key(k[1])))
    several = len({k[0] for k in keys}) > 1
    tracks: dict[str, list[Span]] = {}
    for key in keys:
        name = thread_names.get(key, str(key[1]))
        if several:
            name = f"{process_names.get(key[0], key[0])} / {name}"
        tracks.setdefault(name, []).extend(spans.get(key, []))
    return {name: sorted(track) for name, track in tracks.items()}


def _thread_id(event: Mapping[str, Any], key: str, where: str) -> int | str:
    """An event's ``pid`` or ``tid`` (0 when absent): a number or a string."""
    value = event.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ArchsimError(f"{where}: {key}: expected an integer or a string, got {_brief(value)}")
    return value


def _sort_index(args: Mapping[str, Any], where: str) -> float:
    value = args.get("sort_index", 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchsimError(f"{where}: args.sort_index: expected a number, got {_brief(value)}")
    return float(value)


def trace_coverage(trace: Any) -> str | None:
    """What an archsim timeline leaves out of its run, from its ``otherData`` (see
    :mod:`archsim.report.timeline`), for a figure's title: ``"samples 1 to 4 of the run;
    1234 spans dropped by the cap of 1000"``. None when the file holds the whole run or does
    not say (a trace from another tool)."""
    other = trace.get("otherData") if isinstance(trace, Mapping) else None
    if not isinstance(other, Mapping) or other.get("complete") is not False:
        return None
    parts = []
    first, samples = other.get("window_first_sample"), other.get("window_samples")
    if isinstance(first, int) and samples == 1:
        parts.append(f"sample {first} of the run")
    elif isinstance(first, int) and isinstance(samples, int):
        parts.append(f"samples {first} to {first + samples - 1} of the run")
    elif isinstance(first, int) and first > 0:
        parts.append(f"from sample {first} on")
    dropped, cap = other.get("spans_dropped"), other.get("max_events")
    if isinstance(dropped, int) and dropped > 0:
        parts.append(f"{dropped} spans dropped by the cap of {cap}")
    return "; ".join(parts) or "not the whole run"


def _microseconds(event: Mapping[str, Any], key: str, where: str) -> float:
    value = event.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArchsimError(
            f"{where}: a {event.get('ph')!r} event needs a finite number {key} (microseconds), "
            f"got {_brief(value)}"
        )
    if key == "dur" and value < 0:
        raise ArchsimError(f"{where}: negative dur {_brief(value)}")
    return float(value)
