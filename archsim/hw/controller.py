"""The controller: issues every VMM step to its crossbar group (stage: hw).

The controller is one shared issuer. Before each VMM step a crossbar group needs it for
``issue_cycles`` (decoding, address generation, triggering the tile), so groups working in
parallel and concurrent pipeline stages queue for it, first come first served. It is modelled
as a reservation rather than a SimPy resource: a request at cycle ``t`` is issued from
``max(t, free_at)`` and moves ``free_at`` on by ``issue_cycles``. For a capacity-1 FIFO server
with a fixed service time this gives the same times as a resource, with one event per step
instead of four. With ``issue_cycles: 0`` issue overlaps the previous step and costs no time.
Action: ``issue`` (one step issued).
"""

from __future__ import annotations

from archsim.config.schema import ControllerConfig
from archsim.hw.component import Component


class Controller(Component):
    """The chip controller: a first-come-first-served issuer of VMM steps."""

    ACTIONS = ("issue",)
    KIND = "controller"

    def __init__(self, config: ControllerConfig) -> None:
        super().__init__(1)
        self.issue_cycles = config.issue_cycles
        self.free_at = 0

    def reserve(self, now: int) -> int:
        """Reserve the next issue slot for a request at cycle ``now``; return the cycles from
        ``now`` until the step has been issued (waiting plus ``issue_cycles``)."""
        start = max(now, self.free_at)
        self.free_at = start + self.issue_cycles
        return self.free_at - now
