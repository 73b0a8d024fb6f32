"""A crossbar group: the arrays that compute one input vector together (stage: hw).

A layer copy split over several crossbars (row and column blocks), or several copies packed
into one array, form a group: every step activates all of its crossbars in lockstep on one input
vector per copy. The group runs as a SimPy process serving VMM jobs from its port, a FIFO queue.
A job is ``steps`` operations of ``op_cycles`` cycles; before each, the group holds the
controller for its issue cycles (when there are any), then spends one timeout on the operation.
The job's ``done`` event fires when its last step ends. Work sent by different requesters to the
same group queues rather than overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import simpy

from archsim.hw.controller import Controller
from archsim.mapping.placement import PlacedGroup


@dataclass(frozen=True)
class VmmJob:
    """``steps`` VMM steps of ``op_cycles`` cycles each; ``done`` fires after the last one."""

    steps: int
    op_cycles: int
    done: simpy.Event


class CrossbarGroup:
    """A placed crossbar group running as a SimPy process with a job port."""

    def __init__(
        self, env: simpy.Environment, placed: PlacedGroup, controller: Controller
    ) -> None:
        self.env = env
        self.placed = placed
        self.controller = controller
        self.port: simpy.Store = simpy.Store(env)
        env.process(self._serve())

    def submit(self, steps: int, op_cycles: int) -> simpy.Event:
        """Queue a job on the port; return the event that fires when it is done."""
        done = self.env.event()
        self.port.put(VmmJob(steps, op_cycles, done))
        return done

    def _serve(self) -> Generator[simpy.Event, object, None]:
        env, timeout, controller = self.env, self.env.timeout, self.controller
        while True:
            job: VmmJob = yield self.port.get()  # type: ignore[assignment]
            if controller.issue_cycles:
                for _ in range(job.steps):
                    yield timeout(controller.reserve(int(env.now)) + job.op_cycles)
            else:
                for _ in range(job.steps):
                    yield timeout(job.op_cycles)
            job.done.succeed()
