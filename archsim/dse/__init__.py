"""Design-space exploration stage: sweep specs, executors, the result store, Pareto fronts.

The last stage of the pipeline (config -> workload -> mapping -> hw -> sim -> stats -> energy ->
report -> dse). A sweep spec (YAML, ``hw_configs/sweeps/README.md``) names a base config, traces,
seeds, axes over config paths and the report metrics to collect; :func:`run_sweep` simulates
every design point (locally on a process pool, or on a Dask cluster), caches each result by its
inputs, and writes one row per point, in spec order, to ``results.csv`` and ``results.jsonl``.

Modules: :mod:`~archsim.dse.spec` (the spec and its points), :mod:`~archsim.dse.executor` (where
points run), :mod:`~archsim.dse.store` (cache and tables), :mod:`~archsim.dse.pareto` (fronts),
:mod:`~archsim.dse.progress` (the progress bar), :mod:`~archsim.dse.sweep` (:func:`run_sweep`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archsim.dse.executor import (
        DaskExecutor,
        Executor,
        ProcessExecutor,
        SerialExecutor,
        SweepError,
    )
    from archsim.dse.pareto import nondominated, pareto_front
    from archsim.dse.progress import ProgressBar
    from archsim.dse.spec import Axis, Point, Setting, SweepSpec, TraceInput, load_spec
    from archsim.dse.store import ResultCache, cache_key
    from archsim.dse.sweep import PointFailure, SweepSummary, format_summary, run_sweep

#: The module of each name this package exports. They are imported on first use: ``archsim
#: run`` draws its progress bar with :mod:`~archsim.dse.progress`, and should not pay for the
#: sweeps' executors, specs and stores at start-up.
_EXPORTS = {
    "Axis": "spec",
    "DaskExecutor": "executor",
    "Executor": "executor",
    "Point": "spec",
    "PointFailure": "sweep",
    "ProcessExecutor": "executor",
    "ProgressBar": "progress",
    "ResultCache": "store",
    "SerialExecutor": "executor",
    "Setting": "spec",
    "SweepError": "executor",
    "SweepSpec": "spec",
    "SweepSummary": "sweep",
    "TraceInput": "spec",
    "cache_key": "store",
    "format_summary": "sweep",
    "load_spec": "spec",
    "nondominated": "pareto",
    "pareto_front": "pareto",
    "run_sweep": "sweep",
}

__all__ = [
    "Axis",
    "DaskExecutor",
    "Executor",
    "Point",
    "PointFailure",
    "ProcessExecutor",
    "ProgressBar",
    "ResultCache",
    "SerialExecutor",
    "Setting",
    "SweepError",
    "SweepSpec",
    "SweepSummary",
    "TraceInput",
    "cache_key",
    "format_summary",
    "load_spec",
    "nondominated",
    "pareto_front",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    """The exported ``name``, from its module (imported now if it was not yet)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    """The package's names, the exported ones included before their first use."""
    return sorted({*globals(), *_EXPORTS})
