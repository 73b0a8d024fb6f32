"""Simulation stage: schedules that run work on a system the hardware stage built.

* :func:`simulate` replays a trace, layer-sequential or pipelined (:mod:`.engine`);
* :func:`drive_traffic` drives a config's NoC with synthetic traffic (:mod:`.traffic`);
* :mod:`.handlers` maps each (phase, kind) of trace record to the handler that executes it,
  and holds the forward handlers; :mod:`.training` the backward and update handlers;
  :mod:`.attention` the dynamic products and special functions of a transformer;
  :mod:`.fabric` the block-sparse records on the fabric; :mod:`.registry` joins them in
  :func:`default_handlers`;
* :mod:`.result` is the one result type of every schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archsim.sim.engine import program_listing, simulate
from archsim.sim.handlers import Handler, Handlers
from archsim.sim.registry import default_handlers
from archsim.sim.result import (
    ControllerResult,
    GroupResult,
    LayerResult,
    NocResult,
    SimResult,
    TrafficResult,
)

if TYPE_CHECKING:
    from archsim.sim.traffic import drive_traffic

__all__ = [
    "ControllerResult",
    "GroupResult",
    "Handler",
    "Handlers",
    "LayerResult",
    "NocResult",
    "SimResult",
    "TrafficResult",
    "default_handlers",
    "drive_traffic",
    "program_listing",
    "simulate",
]


def __getattr__(name: str) -> Any:
    """:func:`drive_traffic`, imported on first use: only ``archsim noc`` drives synthetic
    traffic, and a run's start-up time need not pay for it."""
    if name == "drive_traffic":
        from archsim.sim.traffic import drive_traffic

        return drive_traffic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
