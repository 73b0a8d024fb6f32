"""Components driven alone: assertions on their (cycle, event) logs."""

from __future__ import annotations

import simpy

from archsim.config.schema import (
    INSTRUCTION_CLASSES,
    ControllerConfig,
    ControllerEnergy,
    DigitalConfig,
    DigitalCycles,
    DigitalEnergy,
    InstructionCycles,
)
from archsim.hw.controller import Controller
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DigitalUnit
from archsim.mapping.placement import PlacedGroup

GROUP = PlacedGroup(crossbars=(0,), layouts=(), copies=(0,))


def controller(env: simpy.Environment, issue: int, *, enabled: bool = True) -> Controller:
    """A one-core controller whose load + mvm of one step cost ``issue`` cycles."""
    cycles = dict.fromkeys(INSTRUCTION_CLASSES, 0)
    cycles["mvm"] = issue
    config = ControllerConfig(
        enabled=enabled,
        scope="chip",
        cycles=InstructionCycles(**cycles),
        energy=ControllerEnergy(**dict.fromkeys(INSTRUCTION_CLASSES, 0.0)),
    )
    return Controller(config, tiles=1, tiles_used=1)


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
    core = ctrl.core_of(0)
    a, b = CrossbarGroup(env, GROUP, ctrl), CrossbarGroup(env, GROUP, ctrl)
    log: list = []
    env.process(log_done(env, log, "a", a.submit(2, 30, core, issue=10)))
    env.process(log_done(env, log, "b", b.submit(2, 30, core, issue=10)))
    env.run()
    assert log == [(80, "a"), (90, "b")]
    assert ctrl.busy_cycles == 40


def test_stores_retire_during_the_next_step_and_the_last_after_the_loop():
    """Issue 2, operation 10, loop 3, store 4 cycles. Step 1: issue 0-2, arrays 2-12, loop
    2-5. Step 2: issue 12-14, arrays 14-24, loop + step 1's store 14-21. Step 2's store
    24-28. The core was busy 18 of the 28 cycles its program ran: 10 stall cycles."""
    env = simpy.Environment()
    ctrl = controller(env, 0)
    core = ctrl.core_of(0)
    group = CrossbarGroup(env, GROUP, ctrl)
    log: list = []
    core.begin(0)
    env.process(log_done(env, log, "a", group.submit(2, 10, core, issue=2, retire=3, store=4)))
    env.run()
    core.end(int(env.now))
    assert log == [(28, "a")]
    assert (core.busy_cycles, core.active_cycles, core.stall_cycles) == (18, 28, 10)


def test_untimed_controller_counts_instructions_but_no_actions():
    """With controller.enabled false the instruction mix costs nothing and charges nothing."""
    env = simpy.Environment()
    ctrl = controller(env, 10, enabled=False)
    assert ctrl.cost({"mvm": 5}) == 0
    ctrl.tally("mvm", 5)
    assert ctrl.instructions["mvm"] == 5
    assert sum(ctrl.counts.values()) == 0
    timed = controller(env, 10)
    timed.tally("mvm", 5)
    assert timed.counts["mvm"] == 5 and timed.cost({"mvm": 5}) == 50


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
