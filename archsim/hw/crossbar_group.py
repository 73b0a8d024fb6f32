"""A crossbar group: the arrays that compute one input vector together (stage: hw).

A layer copy split over several crossbars (row and column blocks), or several copies packed
into one array, form a group: every step activates all of its crossbars in lockstep on one input
vector per copy. The group runs as a SimPy process serving VMM jobs from its port, a FIFO queue,
so work sent by different requesters to the same group queues rather than overlaps.

A job is ``steps`` operations of ``op_cycles`` cycles, one iteration each of the layer's counted
loop on the group's controller core (:meth:`archsim.hw.controller.Controller.step`): the core
issues ``issue`` cycles of loads and the trigger, the arrays compute, and the core retires the
previous step's stores plus the loop instruction (``retire`` cycles) meanwhile; after the last
step the core stores its outputs (``store`` cycles). When the core costs nothing (an untimed
controller) the job is one timeout of ``steps x op_cycles``, the same times in one event. The
job's ``done`` event fires when its last step has been retired. A job of a later pass of a
layer mapped in passes first waits its ``delay``.

With a timeline recorder (:class:`archsim.stats.timeline.TimelineHooks`) the group reports its jobs as array
spans: one per job from its start when the core costs nothing, one per step from the cycle the
core triggered it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import simpy

from archsim.hw.controller import Controller, Core
from archsim.mapping.placement import PlacedGroup
from archsim.stats.timeline import ArrayWork, TimelineHooks


@dataclass(frozen=True)
class VmmJob:
    """``steps`` VMM steps of ``op_cycles`` cycles each, with their core costs in cycles:
    ``issue`` before each step, ``retire`` (loop) during each and ``store`` for each step's
    outputs. ``done`` fires after the last step's outputs are stored. ``work`` describes the
    job for a timeline (None when the run records none)."""

    steps: int
    op_cycles: int
    done: simpy.Event
    core: Core | None = None
    issue: int = 0
    retire: int = 0
    store: int = 0
    work: ArrayWork | None = None
    delay: int = 0


class CrossbarGroup:
    """A placed crossbar group running as a SimPy process with a job port; ``timeline``
    receives its array spans (None: nothing is recorded)."""

    def __init__(
        self,
        env: simpy.Environment,
        placed: PlacedGroup,
        controller: Controller,
        timeline: TimelineHooks | None = None,
    ) -> None:
        self.env = env
        self.placed = placed
        self.controller = controller
        self.timeline = timeline
        self.port: simpy.Store = simpy.Store(env)
        env.process(self._serve())

    def submit(
        self,
        steps: int,
        op_cycles: int,
        core: Core | None = None,
        *,
        issue: int = 0,
        retire: int = 0,
        store: int = 0,
        work: ArrayWork | None = None,
        delay: int = 0,
    ) -> simpy.Event:
        """Queue a job on the port; return the event that fires when it is done. ``work``
        labels the job's spans when the group records a timeline; the job waits ``delay``
        cycles before its first step (its inputs come from an earlier pass of the layer)."""
        done = self.env.event()
        self.port.put(VmmJob(steps, op_cycles, done, core, issue, retire, store, work, delay))
        return done

    def _serve(self) -> Generator[simpy.Event, object, None]:
        env, timeout, controller = self.env, self.env.timeout, self.controller
        while True:
            job: VmmJob = yield self.port.get()  # type: ignore[assignment]
            if job.delay:
                yield timeout(job.delay)
            core = job.core
            if core is None or not (job.issue or job.retire or job.store):
                if self.timeline is not None and job.work is not None:
                    self.timeline.arrays(
                        self.placed.crossbars, int(env.now), job.steps, job.op_cycles, job.work
                    )
                yield timeout(job.steps * job.op_cycles)
                job.done.succeed()
                continue
            issue, op, retire, store = job.issue, job.op_cycles, job.retire, job.store
            if self.timeline is not None and job.work is not None:
                # A loop of its own, so that the unrecorded loop below tests nothing per step.
                yield from self._recorded_steps(job, core, self.timeline, job.work)
            else:
                step = controller.step
                for k in range(job.steps):
                    now = int(env.now)
                    yield timeout(step(core, now, issue, op, retire + (store if k else 0)) - now)
            now = int(env.now)
            end = controller.reserve(core, now, store, "store")
            if end > now:
                yield timeout(end - now)
            job.done.succeed()

    def _recorded_steps(
        self, job: VmmJob, core: Core, timeline: TimelineHooks, work: ArrayWork
    ) -> Generator[simpy.Event, object, None]:
        """The steps of ``job`` on ``core``, each reported as an array span from the cycle the
        core triggered it (the same times as the unrecorded loop of :meth:`_serve`)."""
        env, controller, crossbars = self.env, self.controller, self.placed.crossbars
        issue, op, store = job.issue, job.op_cycles, job.store
        for k in range(job.steps):
            now = int(env.now)
            retire = job.retire + (store if k else 0)
            end = controller.step(core, now, issue, op, retire)
            triggered = controller.trigger_cycle(now, issue, op, retire, end)
            timeline.arrays(crossbars, triggered, 1, op, work)
            yield env.timeout(end - now)
