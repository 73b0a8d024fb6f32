"""Simulation stage: replay a trace on a configured chip with SimPy."""

from archsim.sim.engine import (
    ComponentResult,
    ControllerResult,
    LayerResult,
    NocResult,
    SimResult,
    program_listing,
    simulate,
)

__all__ = [
    "ComponentResult",
    "ControllerResult",
    "LayerResult",
    "NocResult",
    "SimResult",
    "program_listing",
    "simulate",
]
