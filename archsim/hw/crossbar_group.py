"""A crossbar group: the arrays that compute one input vector together (stage: hw).

A layer copy split over several crossbars (row and column blocks), or several copies packed
into one array, form a group: every step activates all of its crossbars in lockstep on one input
vector per copy. The group runs as a SimPy process serving VMM jobs from its port, a FIFO queue:
a job is ``steps`` operations of ``step_cycles`` cycles each, one SimPy timeout per step; the
job's ``done`` event fires when its last step ends. Work sent by different requesters to the same
group therefore queues rather than overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import simpy

from archsim.mapping.placement import PlacedGroup


@dataclass(frozen=True)
class VmmJob:
    """``steps`` VMM steps of ``step_cycles`` cycles; ``done`` fires after the last one."""

    steps: int
    step_cycles: int
    done: simpy.Event


class CrossbarGroup:
    """A placed crossbar group running as a SimPy process with a job port."""

    def __init__(self, env: simpy.Environment, placed: PlacedGroup) -> None:
        self.env = env
        self.placed = placed
        self.port: simpy.Store = simpy.Store(env)
        env.process(self._serve())

    def submit(self, steps: int, step_cycles: int) -> simpy.Event:
        """Queue a job on the port; return the event that fires when it is done."""
        done = self.env.event()
        self.port.put(VmmJob(steps, step_cycles, done))
        return done

    def _serve(self) -> Generator[simpy.Event, VmmJob, None]:
        timeout = self.env.timeout
        while True:
            job = yield self.port.get()
            for _ in range(job.steps):
                yield timeout(job.step_cycles)
            job.done.succeed()
