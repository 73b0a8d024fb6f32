"""Simulation stage: replay a trace on a configured chip with SimPy."""

from archsim.sim.engine import ComponentResult, LayerResult, SimResult, simulate

__all__ = ["ComponentResult", "LayerResult", "SimResult", "simulate"]
