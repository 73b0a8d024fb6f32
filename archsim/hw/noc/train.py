"""The NoC's fast model: a flow's packets move as trains (stage: hw; ``noc.model: train``).

The packet model (:class:`~archsim.hw.noc.network.Network`) spends a few SimPy events per
packet and hop. Activations, though, travel in *flows*: the packets one tile sends another for
one layer and sample, back to back along one route. :class:`TrainNetwork` moves a flow as
*trains* of consecutive packets (at most ``noc.train_packets`` each) and spends no event on
the packets: a train's cycles are computed when it enters the network.

**Packet by packet, without events** (:func:`schedule`). A train's packets take the
resources of their route in the packet model's order and by its rules (the module docstring of
:mod:`~archsim.hw.noc.network`): the source's injection port and input buffer, then per link
the next input buffer's credits (with the bubble on rings and tori), the link and, under
wormhole on rings and tori, the link's wires shared by its two virtual channels, then the
destination's ejection port. Each packet takes a resource at the later of its arrival and the
cycle the packets before it left enough room, and gives it back by the packet model's release
rule (wormhole's staged releases included). The network remembers, per port and link, the
cycle it is free again and, per buffer, the credits still to come back, so the next train on
any of them starts from where the last one left it. Two shortcuts give the same cycles: once
the state a packet leaves is the one the packet before left, moved by as many cycles as their
deliveries, the packets after repeat it and are skipped in one step; and the schedules of
alike trains (same shape, same path state relative to their entry) are remembered while most
trains find theirs.

**What is exact.** The packets of one flow, however it is cut into trains, get the packet
model's cycles exactly when no other flow shares their resources: a flow alone, and so any
packet at zero load, on every topology, under both flow controls. (One exception: where the
smaller last packet of a flow could overtake the packet before it, through a buffer with room
for both while the one ahead waits for credits, it is kept in order.)

**What is approximate.** Trains take resources in the order they enter the network, each
train's packets as a block: a train cannot use a link in the gaps of an earlier train's packets nor
before an earlier train that reaches it later, where the packet model would interleave
packets by arrival. The link carries the same flits; the later train starts later. Cutting
flows into shorter trains interleaves them more finely, at more cost. The README's "Which NoC
model" gives the measured error; ``scripts/bench_scale.py`` measures it.

Single packets (:meth:`Network.send`, synthetic traffic) still run on the packet model in a
train network, but trains and packets do not see each other: a network carries one or the
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from archsim.config.schema import NocConfig
from archsim.hw.noc.network import CreditPool, Network
from archsim.hw.noc.packet import PacketFormat
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology
from archsim.stats import FORWARD

__all__ = ["Route", "TrainDelivery", "TrainNetwork", "schedule"]


@dataclass(frozen=True)
class Route:
    """What :func:`schedule` needs of a route, in the packet model's terms.

    Attributes:
        depths: per link, the credits of the input buffer it feeds.
        bubbles: per link, whether entering it needs room for the largest packet besides
            (bubble flow control on rings and tori).
        wires: per link, whether its virtual channel shares the link's wires with another
            (wormhole's dateline on rings and tori): a packet takes them for its flits.
        local: the source router's input buffer depth.
        router_cycles, link_cycles: the pipeline and link delays.
        wormhole: the flow control is wormhole (else virtual cut-through).
        largest: the largest packet of the network, in flits (the bubble).
    """

    depths: tuple[int, ...]
    bubbles: tuple[bool, ...]
    wires: tuple[bool, ...]
    local: int
    router_cycles: int
    link_cycles: int
    wormhole: bool
    largest: int


class Credits:
    """A buffer's credits as seen by trains: its depth and the ``(cycle, slots)`` returns
    still to come from the packets already in it."""

    __slots__ = ("capacity", "returns")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.returns: list[tuple[int, int]] = []

    def take(self, cycle: int, need: int) -> int:
        """The first cycle at or after ``cycle`` with ``need`` credits free; the returns due by
        then are dropped (later packets come no earlier)."""
        returns = self.returns
        if not returns:
            return cycle
        if len(returns) == 1:  # the common case: one packet ahead
            back, slots = returns[0]
            if back <= cycle:
                self.returns = []
                return cycle
            if self.capacity - slots >= need:
                return cycle
            self.returns = []
            return back
        room = self.capacity
        for back, slots in returns:
            if back > cycle:
                room -= slots
        if room < need:
            for back, slots in sorted(r for r in returns if r[0] > cycle):
                room += slots
                cycle = back
                if room >= need:
                    break
        if returns[0][0] <= cycle:
            self.returns = [r for r in returns if r[0] > cycle]
        return cycle


def schedule(
    route: Route, flits: Sequence[int], created: Sequence[int], free: list[int],
    buffers: Sequence[Credits],
) -> list[int]:
    """Deliver packets of ``flits`` flits created at cycles ``created`` (non-decreasing) along
    ``route`` by the packet model's rules (module docstring); return their delivery cycles.

    ``free`` holds, per stage, the cycle its port or link is free (0: the injection port,
    1..H: the links, H + 1: the ejection port), then the cycle the shared wires of each link
    that has them are free, in route order; ``buffers`` the source buffer then each link's
    input buffer. Both are updated to the state the packets leave behind. Mirrors
    :meth:`Network._transfer` resource by resource and :meth:`Network._stage`'s releases.
    """
    hops = len(route.depths)
    router, link = route.router_cycles, route.link_cycles
    wormhole, largest, bubbles = route.wormhole, route.largest, route.bubbles
    local = buffers[0]
    # After taking link s, the head crosses it and the next router's pipeline (not the
    # destination's).
    delays = (0, *(link + router for _ in range(hops - 1)), link)
    # Where in `free` each link's shared wires are (0: it has none).
    wired = [0] * (hops + 1)
    at = hops + 2
    for stage, shared in enumerate(route.wires, 1):
        if shared:
            wired[stage], at = at, at + 1
    delivered: list[int] = []
    count = len(flits)
    index = 0
    # The state the packet before left: its delivery, the ports' and links' free cycles and
    # the buffers' returns to come.
    previous: tuple | None = None
    while index < count:
        size = flits[index]
        cycle = created[index]
        if free[0] > cycle:
            cycle = free[0]
        held_slots = min(size, local.capacity) if wormhole else size
        if local.returns:
            cycle = local.take(cycle, held_slots)
        taken = cycle  # the cycle the packet entered the network
        # Releases as the packet model stages them: [cycle, credits from that stage to the
        # head, the stage, the buffer left behind, its slots].
        pending: list[list] = []
        held = local
        if held_slots >= size:
            free[0] = cycle + size
        else:
            pending.append([cycle + size, held_slots, 0, None, 0])
        if hops:
            cycle += router
        for stage in range(1, hops + 1):
            buffer = buffers[stage]
            slots = min(size, buffer.capacity) if wormhole else size
            if buffer.returns:
                cycle = buffer.take(cycle, slots + largest if bubbles[stage - 1] else slots)
            if free[stage] > cycle:
                cycle = free[stage]
            wires = wired[stage]
            if wires:
                # The wires are the packet's for its flits, however long it holds the link.
                if free[wires] > cycle:
                    cycle = free[wires]
                free[wires] = cycle + size
            end = cycle + size
            if slots >= size and not pending:
                free[stage] = end
                held.returns.append((end, held_slots))
            else:
                for entry in pending:
                    tail = end - entry[1]
                    if tail > entry[0]:
                        entry[0] = tail
                    entry[1] += slots
                pending.append([end, slots, stage, held, held_slots])
                while pending and pending[0][1] >= size:
                    _release(pending.pop(0), free)
            held, held_slots = buffer, slots
            cycle += delays[stage]
        if free[hops + 1] > cycle:
            cycle = free[hops + 1]
        end = cycle + size
        for entry in pending:
            if end - entry[1] > entry[0]:
                entry[0] = end - entry[1]
            _release(entry, free)
        free[hops + 1] = end
        held.returns.append((end, held_slots))
        delivered.append(end)
        index += 1
        # Steady state: when the state this packet leaves is the one the packet before left,
        # moved by `step`, the packets after repeat this one `step` apart for as long as they
        # are as large and are created in step (or, the network not waiting for them, early
        # enough). Skip them in one move.
        if index < count and (
            index <= 2 or end - delivered[-2] == delivered[-2] - delivered[-3]
        ):
            if previous is not None and _moved_by(previous, end, free, buffers):
                step = end - delivered[-2]
                run = _steady_run(flits, created, index, size, step, taken)
                if run:
                    moved = step * run
                    delivered.extend(range(end + step, end + moved + 1, step))
                    for stage in range(len(free)):
                        free[stage] += moved
                    for pool in buffers:
                        pool.returns = [(back + moved, slots) for back, slots in pool.returns]
                    index += run
                    previous = None
                    continue
            previous = (end, tuple(free), [tuple(pool.returns) for pool in buffers])
        else:
            previous = None
    return delivered


def _moved_by(
    previous: tuple, end: int, free: list[int], buffers: Sequence[Credits]
) -> bool:
    """Whether the state now (the last delivery at ``end``, ``free`` and the buffers'
    returns) is ``previous`` moved by as many cycles as the deliveries moved: then it decides
    the packets after as the state before decided the last one."""
    before, free_before, returns_before = previous
    step = end - before
    if any(now - then != step for now, then in zip(free, free_before)):
        return False
    for pool, then in zip(buffers, returns_before):
        now = pool.returns
        if len(now) != len(then) or any(
            back - old != step or slots != old_slots
            for (back, slots), (old, old_slots) in zip(now, then)
        ):
            return False
    return True


def _steady_run(
    flits: Sequence[int], created: Sequence[int], index: int, size: int, step: int,
    taken: int,
) -> int:
    """How many packets from ``index`` on repeat the last one ``step`` cycles apart: as large
    as it, and created exactly ``step`` after the one before (the last packet then entered as
    the one before it did), or no later than they would enter (the last packet waited for the
    network, not for its creation)."""
    last = index - 1
    waited = created[last] < taken
    run = 0
    count = len(flits)
    while index + run < count and flits[index + run] == size:
        j = index + run
        if created[j] - created[j - 1] == step:
            pass
        elif not (waited and created[j] <= taken + (j - last) * step):
            break
        run += 1
    return run


def _release(entry: list, free: list[int]) -> None:
    """One staged release of :func:`schedule`: the stage's port or link is free, and the
    buffer left behind gets its slots back, at ``entry[0]``."""
    cycle, _, stage, buffer, slots = entry
    free[stage] = cycle
    if buffer is not None:
        buffer.returns.append((cycle, slots))


@dataclass(frozen=True)
class TrainDelivery:
    """A train's packets: endpoints, sizes in flits, hops, creation and delivery cycles."""

    src: int
    dst: int
    flits: tuple[int, ...]
    hops: int
    created: tuple[int, ...]
    delivered: tuple[int, ...]


class TrainNetwork(Network):
    """A :class:`Network` that carries flows as trains (module docstring): :meth:`send_train`.
    Counters, statistics and energy are the packet model's, per packet."""

    def __init__(
        self,
        env: simpy.Environment,
        config: NocConfig,
        topology: Topology,
        routing: Routing,
        packet_format: PacketFormat,
        *,
        max_flits: int | None = None,
    ) -> None:
        #: flits the trains carried per (src, dst), added to ``link_flits`` when it is read
        #: (set first: the network's constructor sets ``link_flits``)
        self._carried: dict[tuple[int, int], int] = {}
        super().__init__(env, config, topology, routing, packet_format, max_flits=max_flits)
        #: per port or link, the cycle it is free of the trains sent so far
        self._horizons: dict[CreditPool, int] = {}
        #: per buffer, the credits still to come back from the trains sent so far
        self._credits: dict[CreditPool, Credits] = {}
        #: per (src, dst): the route, its ports and links, its buffers, its link ids
        self._paths: dict[tuple[int, int], tuple] = {}
        #: train schedules by key, relative to the entry cycle (:meth:`_remembered`), while
        #: the memo pays: its lookups and hits so far
        self._schedules: dict[tuple, tuple] = {}
        self._memo = True
        self._lookups = self._hits = self._kept = 0
        #: one object per distinct route shape
        self._routes: dict[Route, Route] = {}
        #: packet sizes (flits) already checked against the buffers
        self._fits: set[int] = set()

    @property  # type: ignore[override]
    def link_flits(self) -> np.ndarray:
        """Flits each link carried, by link id (trains' flits included)."""
        carried = self._carried
        if carried:
            for (src, dst), total in carried.items():
                self._link_flits[self._path(src, dst)[3]] += total
            carried.clear()
        return self._link_flits

    @link_flits.setter
    def link_flits(self, value: np.ndarray) -> None:
        self._link_flits = value

    def entry_free(self, src: int) -> int:
        """The cycle the injection port of router ``src`` is free of the trains sent so far."""
        return self._horizons.get(self._inject[src], 0)

    def _path(
        self, src: int, dst: int
    ) -> tuple[Route, tuple[CreditPool, ...], tuple[Credits, ...], np.ndarray]:
        """The route from ``src`` to ``dst``, the ports and links its trains hold (injection,
        links, ejection), the buffers they enter (source, then per link) and the link ids."""
        path = self._paths.get((src, dst))
        if path is None:
            plan = self._plan(src, dst)
            # The ports and links, then the shared wires of the links that have them.
            ports = (
                self._inject[src], *(hop[2] for hop in plan), self._eject[dst],
                *(hop[4] for hop in plan if hop[4] is not None),
            )
            buffers = []
            for pool in (self._local[src], *(hop[1] for hop in plan)):
                held = self._credits.get(pool)
                if held is None:
                    held = self._credits[pool] = Credits(pool.capacity)
                buffers.append(held)
            links = np.array([hop[0] for hop in plan], dtype=np.int64)
            # Alike routes share one object, and so their trains' schedules (by its id).
            route = self.route(src, dst)
            route = self._routes.setdefault(route, route)
            path = self._paths[src, dst] = (route, ports, tuple(buffers), links)
        return path

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` as :func:`schedule` needs it."""
        plan = self._plan(src, dst)
        return Route(
            depths=tuple(hop[1].capacity for hop in plan),
            bubbles=tuple(hop[3] for hop in plan),
            wires=tuple(hop[4] is not None for hop in plan),
            local=self.config.buffer_flits,
            router_cycles=self.config.router_cycles,
            link_cycles=self.config.link_cycles,
            wormhole=self._wormhole,
            largest=self.max_flits if self.max_flits is not None else 0,
        )

    def _remembered(
        self, route: Route, flits: tuple[int, ...], created: Sequence[int], origin: int,
        state: list[int], ports: tuple[CreditPool, ...], buffers: tuple[Credits, ...],
    ) -> list[int]:
        """:func:`schedule` through the memo: a train's cycles depend only on its shape and
        on the state of its path relative to the cycle ``origin`` it can first enter (a
        packet created earlier, a port free earlier or credits back earlier count as at that
        cycle), and the trains of one transfer repeat a few such keys. Where they do not (a
        busy network: under half of some :data:`_TRIAL` trains in a row found their key), the
        memo stops and trains are scheduled directly, with the same cycles."""
        key = (
            id(route), flits[0], len(flits), flits[-1], _relative(created, origin),
            tuple(f - origin if f > origin else 0 for f in state),
            tuple(
                tuple((back - origin, slots) for back, slots in pool.returns if back > origin)
                for pool in buffers
            ),
        )
        self._lookups += 1
        known = self._schedules.get(key)
        if known is None:
            free = list(key[5])
            copies = [Credits(pool.capacity) for pool in buffers]
            for copy, returns in zip(copies, key[6]):
                copy.returns = list(returns)
            relative = schedule(
                route, flits, [c - origin if c > origin else 0 for c in created], free, copies
            )
            known = (relative, tuple(free), tuple(tuple(copy.returns) for copy in copies))
            # Bounded by the packets kept (keys and schedules grow with them).
            self._kept += len(flits)
            if self._kept > _KEPT:
                self._schedules.clear()
                self._kept = len(flits)
            self._schedules[key] = known
        else:
            self._hits += 1
        if self._lookups == _TRIAL:
            if 2 * self._hits < _TRIAL:
                self._memo = False
                self._schedules.clear()
            self._lookups = self._hits = 0
        relative, after, returns_after = known
        horizons = self._horizons
        for port, cycle in zip(ports, after):
            horizons[port] = origin + cycle
        for pool, returns in zip(buffers, returns_after):
            pool.returns = [(origin + back, slots) for back, slots in returns]
        return [origin + cycle for cycle in relative]

    def send_train(
        self, src: int, dst: int, packets: int, packet_bits: int, last_bits: int,
        created: Sequence[int], phase: str = FORWARD,
    ) -> TrainDelivery:
        """Deliver ``packets`` packets from router ``src`` to router ``dst`` as one train,
        after every train sent before it: all of ``packet_bits`` payload bits but the last,
        of ``last_bits``, created at the cycles ``created`` (non-decreasing). Call it when the
        train enters the network: its first packet exists and the trains before it have left
        the source's injection port (:meth:`entry_free`). Counts the packets as delivered and
        returns their cycles; the caller waits for the last delivery. Raises as
        :meth:`Network.send` for a packet that cannot be sent, ``ValueError`` without one
        creation cycle per packet."""
        if packets < 1 or len(created) != packets:
            raise ValueError(f"a train needs >= 1 packets and a creation cycle each, got "
                             f"{packets} and {len(created)}")
        full = self.format.flits(packet_bits)
        last = full if last_bits == packet_bits else self.format.flits(last_bits)
        if full not in self._fits or last not in self._fits:
            self.check_fits(max(full, last))
            self._fits.update((full, last))
        flits = (full,) * (packets - 1) + (last,)
        route, ports, buffers, links = self._path(src, dst)
        horizons = self._horizons
        state = [horizons.get(port, 0) for port in ports]
        origin = created[0] if created[0] > state[0] else state[0]
        if self._memo:
            delivered = self._remembered(route, flits, created, origin, state, ports, buffers)
        else:
            # Credits back by the time the train enters are dropped, as the memo's key drops
            # them, so that both ways give the same cycles.
            for pool in buffers:
                returns = pool.returns
                if returns and min(returns)[0] <= origin:
                    pool.returns = [r for r in returns if r[0] > origin]
            delivered = schedule(route, flits, created, state, buffers)
            for port, cycle in zip(ports, state):
                horizons[port] = cycle
        hops = len(links)
        total = full * (packets - 1) + last
        carried = self._carried
        carried[src, dst] = carried.get((src, dst), 0) + total
        self.count("router", total * (hops + 1), phase)
        self.count("link_bit", total * self.config.link_width_bits * hops, phase)
        self.packets_injected += packets
        self.flits_injected += total
        self.packets_delivered += packets
        self.flits_delivered += total
        totals = self._delivered.get(phase)
        if totals is None:
            totals = self._delivered[phase] = [0, 0, 0]
        totals[0] += packets
        totals[1] += total
        totals[2] += packet_bits * (packets - 1) + last_bits
        self.latency.observe_each(
            [done - made for made, done in zip(created, delivered)], phase
        )
        return TrainDelivery(src, dst, flits, hops, tuple(created), tuple(delivered))


def _relative(created: Sequence[int], origin: int) -> tuple:
    """The creation cycles as they matter to a train entering at ``origin``: after it, and
    relative to it (a ``range``, the interface's usual case, in closed form)."""
    if isinstance(created, range) and created.step > 0:
        start, step = created.start, created.step
        count = len(created)
        waiting = 0 if start > origin else min(count, (origin - start) // step + 1)
        after = start + waiting * step - origin if waiting < count else 0
        return ("range", waiting, after, step, count)
    return tuple(c - origin if c > origin else 0 for c in created)


#: Packets of the train schedules :meth:`TrainNetwork._remembered` keeps before it starts
#: again (about 100 MiB at most).
_KEPT = 1 << 20

#: The memo stops after this many trains in a row of which under half found their schedule
#: in it.
_TRIAL = 4096
