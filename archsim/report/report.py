"""The run report: an immutable, JSON-ready record of one run (stage: report).

:func:`build_report` turns a :class:`~archsim.sim.result.SimResult` and its
:class:`~archsim.energy.EnergyResult` into a :class:`Report`, whose schema is documented in the
README ("Report schema"). A report is read-only (nested mappings are read-only views, lists are
tuples) and serialises deterministically (sorted keys, fixed float formatting), so the same
inputs give a byte-identical file. :meth:`Report.write` writes ``report.json``, ``report.csv``
(one ``key,value`` row per field) and ``summary.csv`` (one typed row of every scalar field, for
pandas and spreadsheets) atomically: either all appear complete, or none changes. Every number
in a report is finite: an energy or a time that overflows is refused with the config fields
that make it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archsim import __version__
from archsim.config.schema import HardwareConfig
from archsim.energy.accounting import EnergyResult
from archsim.errors import ArchsimError
from archsim.files import write_atomically
from archsim.sim.result import SimResult
from archsim.stats import CounterSummary, LevelSummary, TallySummary

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "Report",
    "build_report",
    "config_digest",
    "csv_cell",
    "file_digest",
    "flatten",
    "to_csv",
    "to_json",
    "write_report",
]

#: Version of the report schema; 2 added phases, tile groups, statistics, traffic runs.
REPORT_SCHEMA_VERSION = 2

REPORT_FILES = ("report.json", "report.csv", "summary.csv")


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 64 KiB chunks into one buffer (the memory a run
    needs stays flat with the trace's size)."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def config_digest(config: HardwareConfig) -> str:
    """SHA-256 of a resolved config (after ``base:`` and ``--set``): identifies the hardware a
    report describes, whichever files it was assembled from."""
    return hashlib.sha256(repr(config).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# The Report value
# --------------------------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(item) for item in value]
    return value


class Report(Mapping[str, Any]):
    """One run's report: a read-only mapping of its sections (schema: README).

    Index it like a dict (``report["per_inference"]["latency_s"]``); :meth:`to_dict` gives a
    plain, mutable copy; :meth:`to_json`, :meth:`to_csv` and :meth:`summary_csv` its files,
    :meth:`write` all three.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        _check_finite(data, "")
        self._data = _freeze(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Report({self.get('model')!r} on {self.get('config_name')!r}, {self.get('mode')})"

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable deep copy (dicts and lists)."""
        return _thaw(self._data)

    def with_section(self, name: str, section: Mapping[str, Any]) -> Report:
        """A copy of the report with section ``name`` added (or replaced)."""
        data = dict(self._data)
        data[name] = section
        return Report(data)

    def to_json(self) -> str:
        """Deterministic JSON text."""
        return to_json(self)

    def to_csv(self) -> str:
        """Two-column CSV, one ``key,value`` row per field."""
        return to_csv(self)

    def summary_csv(self) -> str:
        """One header row and one row of every scalar field, numbers as numbers."""
        rows = [(key, value) for key, value in flatten(self) if "[" not in key]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([key for key, _ in rows])
        writer.writerow([_typed_cell(value) for _, value in rows])
        return out.getvalue()

    def write(self, out_dir: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Write ``report.json``, ``report.csv`` and ``summary.csv`` into ``out_dir``
        atomically; return their paths."""
        return write_report(self, out_dir)


def _check_finite(value: Any, path: str) -> None:
    """Refuse a report holding a NaN or an infinity (JSON has neither)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArchsimError(
                f"report field {path}: {value} is out of range: an energy or time overflowed; "
                "check the config's per-action energies and cycle counts"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]")


def _typed_cell(value: Any) -> str:
    """A ``summary.csv`` cell: numbers as written by repr, booleans as true/false, None empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_cell(value)


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def build_report(
    result: SimResult,
    energy: EnergyResult,
    *,
    config: HardwareConfig | None = None,
    config_file: str | os.PathLike[str] | None = None,
    trace_file: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
) -> Report:
    """The report of one run (see the README's "Report schema").

    Per-inference figures divide the run's totals by the number of samples. Latency is the mean
    per-sample latency in layer-sequential mode and the latency through an empty pipeline (the
    first sample's) in pipelined mode; throughput is the steady-state rate (``1 / interval``).
    A synthetic-traffic run (``mode`` ``traffic``) has no per-inference sections; its load and
    throughput are in ``traffic``.
    """
    inputs: dict[str, Any] = {"overrides": list(overrides)}
    if config_file is not None:
        inputs["config"] = Path(config_file).name
    if config is not None:
        inputs["config_sha256"] = config_digest(config)
    if trace_file is not None:
        inputs["trace"] = Path(trace_file).name
        inputs["trace_sha256"] = file_digest(trace_file)
    head: dict[str, Any] = {
        "schema": "archsim-report",
        "schema_version": REPORT_SCHEMA_VERSION,
        "archsim_version": __version__,
        "inputs": inputs,
        "config_name": result.config_name,
        "model": result.model,
        "seed": result.seed,
        "mode": result.mode,
        "phases": list(result.phases),
        "clock_hz": result.clock_hz,
    }
    if result.mode == "traffic":
        return Report({**head, **_traffic_sections(result, energy)})
    sections = _inference_sections(result, energy)
    # Imported on first use: a run without training units or a fabric need not load them.
    if result.training is not None:
        from archsim.report.training import training_section

        sections["training"] = training_section(result, energy)
    if result.fabric is not None:
        from archsim.report.fabric import fabric_section

        sections["fabric"] = fabric_section(result, energy)
    return Report({**head, **sections})


def _utilization(result: SimResult) -> tuple[dict[str, float], dict[str, float]]:
    """Busy fraction of each timed component kind, over the instances in use and over the
    chip (instances and busy cycles summed over tile groups)."""
    cycles = result.total_cycles or 1
    busy: dict[str, int] = {}
    used: dict[str, int] = {}
    total: dict[str, int] = {}
    for c in result.components:
        if not c.timed:
            continue
        busy[c.kind] = busy.get(c.kind, 0) + c.busy_cycles
        used[c.kind] = used.get(c.kind, 0) + c.instances_used
        total[c.kind] = total.get(c.kind, 0) + c.instances
    in_use = {k: busy[k] / (max(1, used[k]) * cycles) for k in busy}
    chip = {k: busy[k] / (max(1, total[k]) * cycles) for k in busy}
    return in_use, chip


def _inference_sections(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    clock = result.clock_hz
    samples = max(1, result.samples)
    interval_s = result.interval_cycles / clock
    utilization, utilization_chip = _utilization(result)
    latency = result.latency
    if result.mode == "pipelined":
        latency_s = result.first_latency_cycles / clock
    else:
        latency_s = latency.mean / clock
    digital = next(c for c in result.components if c.kind == "digital")
    return {
        "samples": result.samples,
        "per_inference": {
            "latency_s": latency_s,
            "throughput_per_s": (1.0 / interval_s) if interval_s > 0 else 0.0,
            "interval_s": interval_s,
            "energy_j": energy.total_j / samples,
            "energy_breakdown_j": {k: v / samples for k, v in energy.by_component_j.items()},
            "energy_by_group_j": {
                group or "chip": sum(kinds.values()) / samples
                for group, kinds in energy.by_group_j.items()
            },
            "energy_by_phase_j": {k: v / samples for k, v in energy.by_phase_j.items()},
            "utilization": utilization,
            "utilization_chip": utilization_chip,
            "counters": {
                "crossbars": result.crossbars,
                "vmm_steps": result.vmm_steps / samples,
                "tile_ops": result.tile_ops / samples,
                "macs": result.macs / samples,
            },
        },
        "latency_s": {
            "first": result.first_latency_cycles / clock,
            "mean": latency.mean / clock,
            "min": None if latency.min is None else latency.min / clock,
            "max": None if latency.max is None else latency.max / clock,
            "std": latency.std / clock,
            "p50": None if latency.p50 is None else latency.p50 / clock,
            "p99": None if latency.p99 is None else latency.p99 / clock,
        },
        "totals": _totals(result, energy) | {
            "tile_ops": result.tile_ops,
            "vmm_steps": result.vmm_steps,
            "macs": result.macs,
            "vectors": result.vectors,
        },
        "latency_breakdown_s": _latency_breakdown(result),
        "controller": _controller(result, energy),
        "noc": _noc(result, energy),
        "digital": {
            "enabled": result.digital_enabled,
            "elements": result.digital_elements,
            "busy_s": digital.busy_cycles / clock,
            "energy_j": energy.by_component_j.get("digital", 0.0),
        },
        "groups": _groups(result, energy),
        "mapping": {
            "crossbars": result.crossbars,
            "crossbars_available": result.crossbars_available,
            "tiles": result.tiles,
            "tiles_used": result.tiles_used,
            "layers": [
                {
                    "name": layer.name,
                    "group": layer.group,
                    "rows": layer.rows,
                    "cols": layer.cols,
                    "crossbars": layer.crossbars,
                    "copies": layer.copies,
                    "copies_per_array": layer.copies_per_array,
                    "row_splits": layer.row_splits,
                    "col_splits": layer.col_splits,
                    "active_s": layer.active_cycles / clock,
                    **({"parts": [
                        {
                            "name": part.name, "mode": part.mode, "pass": part.stage,
                            "rows": part.rows, "cols": part.cols,
                            "crossbars": part.crossbars,
                            "copies_per_array": part.copies_per_array,
                            "row_splits": part.row_splits, "col_splits": part.col_splits,
                        }
                        for part in layer.parts
                    ]} if layer.parts else {}),
                }
                for layer in result.layers
            ],
        },
        "tiles": {"array_busy_s": [busy / clock for busy in result.tile_busy_cycles]},
        "statistics": _statistics(result),
    }


def _traffic_sections(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    traffic = result.traffic
    assert traffic is not None
    return {
        "traffic": {
            "pattern": traffic.pattern,
            "rate": traffic.rate,
            "nodes": traffic.nodes,
            "packets": traffic.packets,
            "flits_per_packet": traffic.flits_per_packet,
            "header_bits": traffic.header_bits,
            "data_bits": (
                list(traffic.data_bits) if isinstance(traffic.data_bits, tuple)
                else traffic.data_bits
            ),
            "header_overhead": traffic.header_overhead,
            "window_cycles": traffic.window_cycles,
            "long_window": traffic.long_window,
            "steady": traffic.steady,
            "saturated": traffic.saturated,
            "offered_flits": traffic.offered_flits,
            "accepted_flits": traffic.accepted_flits,
            "bisection_bound": traffic.bisection_bound,
            "zero_load_latency_mean_cycles": traffic.zero_load_mean,
        },
        "totals": _totals(result, energy),
        "energy_breakdown_j": dict(energy.by_component_j),
        "noc": _noc(result, energy),
        "statistics": _statistics(result),
    }


def _totals(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    return {
        "time_s": result.total_cycles / result.clock_hz,
        "cycles": result.total_cycles,
        "energy_j": energy.total_j,
        "actions": _sum_by_key(c.actions for c in result.components),
        "energy_by_action_j": dict(energy.by_action_j),
        "energy_per_action_j": dict(energy.per_action_j),
    }


def _sum_by_key(mappings: Iterator[Mapping[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            out[key] = out.get(key, 0.0) + value
    return out


def _latency_breakdown(result: SimResult) -> dict[str, float]:
    """Mean time per sample by cause, s: the arrays, the vector units, the controller and the
    NoC, summed over the sample's records, and ``waiting``, the mean latency less those parts.

    In layer-sequential mode the records of a sample run one after another, so the parts sum to
    the latency and ``waiting`` is 0 (up to rounding). In pipelined mode ``waiting`` is the time
    a sample queued for busy stages; it is negative when parallel branches of a network (a
    residual block's two paths) run records of one sample at the same time.
    """
    clock, samples = result.clock_hz, max(1, result.samples)
    parts = {key: cycles / samples / clock for key, cycles in result.time_split.items()}
    waiting = result.latency.mean / clock - sum(parts.values())
    # Sequential runs leave no waiting: keep float noise out of the report.
    parts["waiting"] = 0.0 if abs(waiting) < 1e-15 else waiting
    return parts


def _controller(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    ctrl, clock = result.controller, result.clock_hz
    samples = max(1, result.samples)
    cycles = result.total_cycles or 1
    return {
        "enabled": ctrl.enabled,
        "scope": ctrl.scope,
        "cores": ctrl.cores,
        "cores_used": ctrl.cores_used,
        "instructions_per_inference": {k: v / samples for k, v in ctrl.instructions.items()},
        "instructions": dict(ctrl.instructions),
        "instructions_by_phase": {
            phase: dict(executed) for phase, executed in ctrl.instructions_by_phase.items()
        },
        "busy_s": ctrl.busy_cycles / clock,
        "stall_s": ctrl.stall_cycles / clock,
        "utilization": ctrl.busy_cycles / (max(1, ctrl.cores_used) * cycles),
        "energy_j": energy.by_component_j.get("controller", 0.0),
    }


def _noc(result: SimResult, energy: EnergyResult) -> dict[str, Any] | None:
    noc = result.noc
    if noc is None:
        return None
    clock = result.clock_hz
    samples = max(1, result.samples)
    total_bits = noc.header_bits + noc.data_bits
    section: dict[str, Any] = {
        "topology": noc.topology,
        "flow_control": noc.flow_control,
        "routers": noc.routers,
        "dims": list(noc.dims),
        "placement": noc.placement,
        "tile_nodes": list(noc.nodes),
        "packet_data_bits": noc.packet_data_bits,
        "header_bits_per_packet": noc.header_bits_per_packet,
        "chunk_index_bits": noc.chunk_index_bits,
        "packets_injected": noc.packets_injected,
        "packets_delivered": noc.packets_delivered,
        "flits_injected": noc.flits_injected,
        "flits_delivered": noc.flits_delivered,
        "header_overhead": noc.header_bits / total_bits if total_bits else 0.0,
        "packet_latency_s": {
            "mean": noc.latency.mean / clock,
            "p50": noc.latency_p50 / clock,
            "p99": noc.latency_p99 / clock,
            "max": None if noc.latency.max is None else noc.latency.max / clock,
        },
        "link_utilization": {
            "mean": noc.link_utilization_mean,
            "max": noc.link_utilization_max,
            "per_link": list(noc.link_utilization),
        },
        "links": [f"{u}-{v}" for u, v in noc.links],
        "bit_hops_per_inference": noc.bit_hops,
        "bit_hops_in_order": noc.bit_hops_in_order,
        "energy_j": energy.by_component_j.get("noc", 0.0),
    }
    if result.mode != "traffic":
        section["packets_per_inference"] = noc.packets / samples
        section["flits_per_inference"] = noc.flits / samples
    return section


def _groups(result: SimResult, energy: EnergyResult) -> dict[str, Any]:
    """Per tile group: its tiles and arrays, its energy per inference by component kind, the
    energy per action its components declared, and its counters per inference."""
    samples = max(1, result.samples)
    stats = {s.name: s for s in result.statistics if isinstance(s, CounterSummary)}
    out: dict[str, Any] = {}
    for group in result.groups:
        kinds = energy.by_group_j.get(group.name, {})
        # A group's parts (a hybrid group's SLC and MLC arrays) are also reported apart.
        parts = energy.by_part_j.get(group.name, {})
        counters = {
            name: stats[name].by_group.get(group.name, 0) / samples
            for name in ("tile_ops", "vmm_steps", "macs", "vectors")
            if name in stats
        }
        out[group.name] = {
            "kind": group.kind,
            "first_tile": group.first_tile,
            "tiles": group.tiles,
            "tiles_used": group.tiles_used,
            "crossbars": group.crossbars,
            "crossbars_used": group.crossbars_used,
            "energy_j": sum(kinds.values()) / samples,
            "energy_breakdown_j": {k: v / samples for k, v in kinds.items()},
            "energy_per_action_j": {
                key: joules
                for c in result.components if c.group == group.name and not c.part
                for key, joules in c.energy_per_action_j.items()
            },
            "counters": counters,
        }
        if parts:
            out[group.name]["energy_by_part_j"] = {
                part: sum(by_kind.values()) / samples for part, by_kind in sorted(parts.items())
            }
            out[group.name]["energy_breakdown_by_part_j"] = {
                part: {kind: joules / samples for kind, joules in by_kind.items()}
                for part, by_kind in sorted(parts.items())
            }
            out[group.name]["energy_per_action_by_part_j"] = {
                part: {
                    key: joules
                    for c in result.components if c.group == group.name and c.part == part
                    for key, joules in c.energy_per_action_j.items()
                }
                for part in sorted(parts)
            }
    return out


def _statistics(result: SimResult) -> dict[str, Any]:
    """Every declared statistic with its unit and description, whole-run values, by phase and
    (counters) by tile group (``chip`` for chip-level units)."""
    out: dict[str, Any] = {}
    for stat in result.statistics:
        declared = {"unit": stat.unit, "description": stat.description}
        if isinstance(stat, CounterSummary):
            out[stat.name] = {
                "kind": "counter", **declared, "total": stat.total,
                "by_phase": dict(stat.by_phase),
                "by_group": {group or "chip": v for group, v in stat.by_group.items()},
            }
        elif isinstance(stat, TallySummary):
            out[stat.name] = {
                "kind": "tally", **declared, **_tally(stat),
                "by_phase": {phase: _tally(s) for phase, s in stat.by_phase.items()},
            }
        elif isinstance(stat, LevelSummary):
            out[stat.name] = {"kind": "level", **declared, "mean": stat.mean, "max": stat.max}
    return out


def _tally(stat: TallySummary) -> dict[str, Any]:
    return {
        "count": stat.count, "mean": stat.mean, "min": stat.min, "max": stat.max,
        "std": stat.std, "p50": stat.p50, "p99": stat.p99,
    }


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def to_json(report: Mapping[str, Any]) -> str:
    """Deterministic JSON text of a report."""
    return json.dumps(report, sort_keys=True, indent=2, allow_nan=False, default=_plain) + "\n"


def flatten(report: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, value)`` rows of a report, lists indexed ``name[i]``, keys sorted."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(report):
        value = report[key]
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, path + "."))
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
            for i, item in enumerate(value):
                rows.extend(flatten(item, f"{path}[{i}]."))
        elif isinstance(value, (list, tuple)):
            rows.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        else:
            rows.append((path, value))
    return rows


def csv_cell(value: Any) -> str:
    """One CSV cell: empty for None, ``repr`` for floats (they round-trip exactly), JSON for a
    list or mapping (a swept ``mapping.copies`` in a sweep's table), ``str`` otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, sort_keys=True, allow_nan=False, default=_plain)
    return str(value)


def to_csv(report: Mapping[str, Any]) -> str:
    """The report as two-column CSV (``key,value``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "value"])
    for key, value in flatten(report):
        writer.writerow([key, csv_cell(value)])
    return out.getvalue()


def write_report(report: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Write ``report.json``, ``report.csv`` and ``summary.csv`` into ``out_dir`` atomically;
    return their paths.

    Raises :class:`ArchsimError` naming the directory when it cannot be created or written.
    """
    if not isinstance(report, Report):
        report = Report(report)
    out = Path(out_dir)
    targets = tuple(out / name for name in REPORT_FILES)
    contents = (report.to_json(), report.to_csv(), report.summary_csv())
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(dict(zip(targets, contents)))
    except OSError as error:
        raise ArchsimError(f"cannot write the report to {out}: {error.strerror or error}") from None
    return targets
