"""Components driven alone: assertions on their (cycle, event) logs."""

from __future__ import annotations

import simpy

from archsim.config.schema import ControllerConfig, ControllerEnergy, DigitalConfig, DigitalCycles, DigitalEnergy
from archsim.hw.controller import Controller
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DigitalUnit
from archsim.mapping.placement import PlacedGroup

GROUP = PlacedGroup(crossbars=(0,), layouts=(), copies=(0,))


def controller(env: simpy.Environment, issue: int) -> Controller:
    return Controller(ControllerConfig(issue_cycles=issue, energy=ControllerEnergy(issue=0.0)))


def log_done(env: simpy.Environment, log: list, name: str, event: simpy.Event):
    yield event
    log.append((env.now, name))


def test_jobs_on_one_group_queue_in_order():
    """Two jobs sent at cycle 0 to one group: 3 x 72 then 2 x 72 cycles, back to back."""
    env = simpy.Environment()
    group = CrossbarGroup(env, GROUP, controller(env, 0))
    log: list = []
    env.process(log_done(env, log, "a", group.submit(3, 72)))
    env.process(log_done(env, log, "b", group.submit(2, 72)))
    env.run()
    assert log == [(216, "a"), (360, "b")]


def test_groups_in_parallel_share_the_controller():
    """Two groups of 2 steps, issue 10 + operation 30 cycles each step. The single controller
    serialises the issues: group a issues at 0, b at 10; a's second issue at 40, b's at 50."""
    env = simpy.Environment()
    ctrl = controller(env, 10)
    a, b = CrossbarGroup(env, GROUP, ctrl), CrossbarGroup(env, GROUP, ctrl)
    log: list = []
    env.process(log_done(env, log, "a", a.submit(2, 30)))
    env.process(log_done(env, log, "b", b.submit(2, 30)))
    env.run()
    assert log == [(80, "a"), (90, "b")]


def digital(env: simpy.Environment, enabled: bool) -> DigitalUnit:
    config = DigitalConfig(
        enabled=enabled,
        lanes=4,
        cycles=DigitalCycles(relu=1, maxpool=2, avgpool=2, add=1),
        energy=DigitalEnergy(relu=0.0, maxpool=0.0, avgpool=0.0, add=0.0),
    )
    return DigitalUnit(env, config)


def test_digital_unit_serialises_requests_and_counts_elements():
    """relu on 10 elements over 4 lanes = 3 cycles; maxpool on 8 = 4 cycles, after the relu."""
    env = simpy.Environment()
    unit = digital(env, enabled=True)
    log: list = []

    def op(kind: str, elements: int):
        yield from unit.execute(kind, elements)
        log.append((env.now, kind))

    env.process(op("relu", 10))
    env.process(op("maxpool", 8))
    env.run()
    assert log == [(3, "relu"), (7, "maxpool")]
    assert unit.counts == {"relu": 10, "maxpool": 8, "avgpool": 0, "add": 0}
    assert unit.busy_cycles == 7


def test_disabled_digital_unit_takes_no_time_and_charges_nothing():
    env = simpy.Environment()
    unit = digital(env, enabled=False)
    env.process(unit.execute("relu", 100))
    env.run()
    assert env.now == 0
    assert sum(unit.counts.values()) == 0
    assert unit.busy_cycles == 0
