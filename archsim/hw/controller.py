"""The controller: issues VMM steps to crossbar groups (stage: hw).

In this model the controller costs ``issue_cycles`` per VMM step, serialised with the step,
and counts one ``issue`` action per step and group. Action: ``issue``.
"""

from __future__ import annotations

from archsim.config.schema import ControllerConfig
from archsim.hw.component import Component


class Controller(Component):
    """The chip controller."""

    ACTIONS = ("issue",)
    KIND = "controller"

    def __init__(self, config: ControllerConfig) -> None:
        super().__init__(1)
        self.issue_cycles = config.issue_cycles
