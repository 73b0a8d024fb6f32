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
