"""The run report: JSON/CSV tables and the console summary (stage: report).

:func:`build_report` turns a :class:`~archsim.sim.SimResult` and its
:class:`~archsim.energy.EnergyResult` into a plain, JSON-ready dict whose schema is documented in
the README ("Report schema"). Serialisation is deterministic (sorted keys, fixed float formatting), so the
same inputs give a byte-identical file. :func:`write_report` writes ``report.json`` and
``report.csv`` atomically: either both files appear complete, or neither changes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.config.schema import HardwareConfig
from archsim.energy.accounting import EnergyResult
from archsim.errors import ArchsimError
from archsim.files import write_atomically
from archsim.sim.engine import SimResult
from archsim.units import format_quantity

REPORT_SCHEMA_VERSION = 1


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def config_digest(config: HardwareConfig) -> str:
    """SHA-256 of a resolved config (after ``base:`` and ``--set``): identifies the hardware a
    report describes, whichever files it was assembled from."""
    return hashlib.sha256(repr(config).encode("utf-8")).hexdigest()


def build_report(
    result: SimResult,
    energy: EnergyResult,
    *,
    config: HardwareConfig | None = None,
    config_file: str | os.PathLike[str] | None = None,
    trace_file: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The report of one run as a JSON-ready dict (see the README's "Report schema").

    Per-inference figures divide the run's totals by the number of samples. Latency is the mean
    per-sample latency in layer-sequential mode and the latency through an empty pipeline (the
    first sample's) in pipelined mode; throughput is the steady-state rate (``1 / interval``).
    """
    clock = result.clock_hz
    samples = max(1, result.samples)
    seconds = result.total_cycles / clock
    interval_s = result.interval_cycles / clock
    timed = [c for c in result.components if c.timed]
    cycles = result.total_cycles or 1
    utilization = {c.kind: c.busy_cycles / (max(1, c.instances_used) * cycles) for c in timed}
    utilization_chip = {c.kind: c.busy_cycles / (c.instances * cycles) for c in timed}
    latency = result.latency
    if result.mode == "pipelined":
        latency_s = result.first_latency_cycles / clock
    else:
        latency_s = latency.mean / clock
    digital = next(c for c in result.components if c.kind == "digital")
    inputs: dict[str, Any] = {"overrides": list(overrides)}
    if config_file is not None:
        inputs["config"] = Path(config_file).name
    if config is not None:
        inputs["config_sha256"] = config_digest(config)
    if trace_file is not None:
        inputs["trace"] = Path(trace_file).name
        inputs["trace_sha256"] = file_digest(trace_file)
    return {
        "schema": "archsim-report",
        "schema_version": REPORT_SCHEMA_VERSION,
        "archsim_version": __version__,
        "inputs": inputs,
        "config_name": result.config_name,
        "model": result.model,
        "seed": result.seed,
        "mode": result.mode,
        "samples": result.samples,
        "clock_hz": clock,
        "per_inference": {
            "latency_s": latency_s,
            "throughput_per_s": (1.0 / interval_s) if interval_s > 0 else 0.0,
            "interval_s": interval_s,
            "energy_j": energy.total_j / samples,
            "energy_breakdown_j": {k: v / samples for k, v in energy.by_component_j.items()},
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
        },
        "totals": {
            "time_s": seconds,
            "cycles": result.total_cycles,
            "energy_j": energy.total_j,
            "tile_ops": result.tile_ops,
            "vmm_steps": result.vmm_steps,
            "macs": result.macs,
            "vectors": result.vectors,
            "actions": {k: v for c in result.components for k, v in c.actions.items()},
            "energy_by_action_j": dict(energy.by_action_j),
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
        "mapping": {
            "crossbars": result.crossbars,
            "crossbars_available": result.crossbars_available,
            "tiles": result.tiles,
            "tiles_used": result.tiles_used,
            "layers": [
                {
                    "name": layer.name,
                    "rows": layer.rows,
                    "cols": layer.cols,
                    "crossbars": layer.crossbars,
                    "copies": layer.copies,
                    "copies_per_array": layer.copies_per_array,
                    "row_splits": layer.row_splits,
                    "col_splits": layer.col_splits,
                    "active_s": layer.active_cycles / clock,
                }
                for layer in result.layers
            ],
        },
        "tiles": {"array_busy_s": [busy / clock for busy in result.tile_busy_cycles]},
    }


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
    return {
        "topology": noc.topology,
        "flow_control": noc.flow_control,
        "routers": noc.routers,
        "placement": noc.placement,
        "tile_nodes": list(noc.nodes),
        "packet_data_bits": noc.packet_data_bits,
        "packets_per_inference": noc.packets / samples,
        "flits_per_inference": noc.flits / samples,
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


def to_json(report: Mapping[str, Any]) -> str:
    """Deterministic JSON text of a report."""
    return json.dumps(report, sort_keys=True, indent=2, allow_nan=False) + "\n"


def flatten(report: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, value)`` rows of a report, lists indexed ``name[i]``, keys sorted."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(report):
        value = report[key]
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, path + "."))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for i, item in enumerate(value):
                rows.extend(flatten(item, f"{path}[{i}]."))
        elif isinstance(value, list):
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
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, allow_nan=False)
    return str(value)


def to_csv(report: Mapping[str, Any]) -> str:
    """The report as two-column CSV (``key,value``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "value"])
    for key, value in flatten(report):
        writer.writerow([key, csv_cell(value)])
    return out.getvalue()


def write_report(report: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.csv`` into ``out_dir`` atomically; return their paths.

    Raises :class:`ArchsimError` naming the directory when it cannot be created or written.
    """
    out = Path(out_dir)
    targets = (out / "report.json", out / "report.csv")
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically({targets[0]: to_json(report), targets[1]: to_csv(report)})
    except OSError as error:
        raise ArchsimError(f"cannot write the report to {out}: {error.strerror or error}") from None
    return targets


def summary(report: Mapping[str, Any]) -> str:
    """A readable multi-line summary of a report for the console."""
    per = report["per_inference"]
    counters = per["counters"]
    lines = [
        f"archsim {report['archsim_version']}: {report['model']} on {report['config_name']} "
        f"({report['mode']}, {report['samples']} samples, seed {report['seed']})",
        f"  latency      {format_quantity(per['latency_s'], 's')} per inference",
        f"  throughput   {per['throughput_per_s']:.6g} inferences/s "
        f"(interval {format_quantity(per['interval_s'], 's')})",
        f"  energy       {format_quantity(per['energy_j'], 'J')} per inference",
        f"  crossbars    {counters['crossbars']} "
        f"(of {report['mapping']['crossbars_available']} on the chip)",
        f"  vmm steps    {counters['vmm_steps']:.6g} per inference",
        f"  tile ops     {counters['tile_ops']:.6g} per inference",
        f"  MACs         {counters['macs']:.6g} per inference",
        "  energy breakdown per inference:",
    ]
    total = per["energy_j"] or 1.0
    for kind, joules in sorted(per["energy_breakdown_j"].items(), key=lambda kv: -kv[1]):
        lines.append(f"    {kind:<11}{format_quantity(joules, 'J'):>12}  {100 * joules / total:5.1f} %")
    lines.append("  utilization (of the hardware in use; of the whole chip):")
    for kind, fraction in per["utilization"].items():
        whole = per["utilization_chip"][kind]
        lines.append(f"    {kind:<11}{100 * fraction:6.1f} %  {100 * whole:6.1f} %")
    breakdown = report["latency_breakdown_s"]
    lines.append(
        "  latency by cause (mean per sample): "
        + ", ".join(f"{key} {format_quantity(value, 's')}" for key, value in breakdown.items())
    )
    ctrl = report["controller"]
    instructions = sum(ctrl["instructions_per_inference"].values())
    if ctrl["enabled"]:
        lines.append(
            f"  controller   {ctrl['cores_used']} {ctrl['scope']} core(s), {instructions:.6g} "
            f"instructions per inference, {format_quantity(ctrl['busy_s'], 's')} busy, "
            f"{format_quantity(ctrl['stall_s'], 's')} stalled"
        )
    else:
        lines.append(
            f"  controller excluded by the config (controller.enabled: false): "
            f"{instructions:.6g} instructions per inference counted, not timed or charged"
        )
    noc = report["noc"]
    if noc is not None:
        lines.append(
            f"  noc          {noc['topology']}, {noc['packets_per_inference']:.6g} packets per "
            f"inference, header overhead {noc['header_overhead']:.4f}, packet latency mean "
            f"{format_quantity(noc['packet_latency_s']['mean'], 's')}, link utilisation max "
            f"{noc['link_utilization']['max']:.3f}"
        )
    digital = report["digital"]
    if not digital["enabled"]:
        lines.append(
            f"  digital work excluded by the config (digital.enabled: false): "
            f"{digital['elements']} elements counted, not timed or charged"
        )
    else:
        lines.append(
            f"  digital work: {format_quantity(digital['busy_s'], 's')} busy, "
            f"{format_quantity(digital['energy_j'], 'J')} in total"
        )
    return "\n".join(lines)
