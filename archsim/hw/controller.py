"""The controller: issues every VMM step to its crossbar group (stage: hw).

The controller is one shared SimPy resource. Before each VMM step a crossbar group holds it for
``issue_cycles`` (decoding, address generation, triggering the tile), so groups working in
parallel and concurrent pipeline stages queue for it. With ``issue_cycles: 0`` issue is taken as
overlapped with the previous step and costs no time. Action: ``issue`` (one step issued).
"""

from __future__ import annotations

import simpy

from archsim.config.schema import ControllerConfig
from archsim.hw.component import Component


class Controller(Component):
    """The chip controller, a SimPy resource of capacity 1."""

    ACTIONS = ("issue",)
    KIND = "controller"

    def __init__(self, env: simpy.Environment, config: ControllerConfig) -> None:
        super().__init__(1)
        self.issue_cycles = config.issue_cycles
        self.resource = simpy.Resource(env, capacity=1)
