"""The packet-switched network-on-chip as SimPy processes (stage: hw).

Each packet is one SimPy process that walks its deterministic route (:mod:`.routing`) hop by
hop; links and router input buffers are shared resources, so packets that want the same link
wait for each other. Cycle semantics, for a packet of ``F`` flits over ``H`` links with router
pipeline ``R`` and link latency ``L`` cycles:

* at its source the packet takes the injection port for ``F`` cycles and room for ``F`` flits
  in the source router's input buffer;
* at every router it spends ``R`` cycles, then reserves room for the whole packet in the next
  router's input buffer (*virtual cut-through*: the credits come back when the tail leaves that
  buffer) and takes the output link (one packet at a time); the link carries one flit per
  cycle, so it is busy for ``F`` cycles, and the head reaches the next router ``L`` cycles after
  entering;
* at the destination the packet takes the ejection port for ``F`` cycles; it is delivered when
  its tail has been ejected.

With no contention this gives ``H x (R + L) + F`` cycles, the closed form of
:func:`.packet.zero_load_latency`. Rings and tori have cyclic channel dependencies; they use
*bubble flow control*: a packet entering a ring (a new dimension, including injection) needs
room for two packets in the next buffer, keeping a free packet-sized bubble in every ring so
it can never deadlock. Meshes (dimension-order routing) and trees (up/down shortest paths) need
no bubble.

Actions counted: ``router`` (one flit through one router) and ``link_bit`` (one bit over one
link); energy is ``router`` x E_router + ``link_bit`` x length x E_bit_mm.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generator

import numpy as np
import simpy

from archsim.config.schema import NocConfig
from archsim.errors import ArchsimError
from archsim.hw.component import Component
from archsim.hw.noc.packet import PacketFormat
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology

Process = Generator[simpy.Event, object, None]


class CreditPool:
    """A counter of free slots with waiters (buffer credits, or a link's single slot).

    A request succeeds once at least ``need`` slots are free and then takes ``take`` of them.
    Waiters are served first-fit in arrival order: a waiter whose need is met goes ahead of an
    earlier one whose larger need is not (a packet continuing along a ring passes one waiting
    for a bubble to enter it, which is what keeps bubble flow control deadlock-free). Between
    requests no waiter's need is met, so a newcomer that fits takes its slots at once, costing
    no event.
    """

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.level = capacity
        self._waiters: deque[tuple[int, int, simpy.Event]] = deque()

    def try_acquire(self, take: int, need: int) -> bool:
        """Take ``take`` slots at once if ``need`` are free; else False."""
        if self.level >= need:
            self.level -= take
            return True
        return False

    def wait(self, take: int, need: int) -> simpy.Event:
        """An event that fires when ``take`` slots have been taken (after earlier waiters)."""
        event = self.env.event()
        self._waiters.append((take, need, event))
        return event

    def release(self, slots: int) -> None:
        """Return ``slots`` slots and serve, first-fit in arrival order, every waiter whose
        need is met."""
        self.level += slots
        waiters = self._waiters
        if not waiters:
            return
        kept: deque[tuple[int, int, simpy.Event]] = deque()
        while waiters:
            take, need, event = waiters.popleft()
            if self.level >= need:
                self.level -= take
                event.succeed()
            else:
                kept.append((take, need, event))
        self._waiters = kept


@dataclass(frozen=True)
class Delivery:
    """A delivered packet: its endpoints, size and times in cycles."""

    src: int
    dst: int
    flits: int
    hops: int
    created: int
    delivered: int

    @property
    def latency(self) -> int:
        """Cycles from creation (source queueing included) to the tail's ejection."""
        return self.delivered - self.created


class Network(Component):
    """The routers and links of a NoC; :meth:`send` starts a packet's process.

    Counts per link the flits it carried (``link_flits``, so link utilisation is
    ``link_flits / run cycles``) and, for the whole network, injected and delivered packets and
    flits.
    """

    ACTIONS = ("router", "link_bit")
    KIND = "noc"

    def __init__(
        self,
        env: simpy.Environment,
        config: NocConfig,
        topology: Topology,
        routing: Routing,
        packet_format: PacketFormat,
    ) -> None:
        super().__init__(len(topology.links))
        self.env = env
        self.config = config
        self.topology = topology
        self.routing = routing
        self.format = packet_format
        buffer = config.buffer_flits
        self._channels = [CreditPool(env, 1) for _ in topology.links]
        self._buffers = [CreditPool(env, buffer) for _ in topology.links]
        self._inject = [CreditPool(env, 1) for _ in range(topology.nodes)]
        self._local = [CreditPool(env, buffer) for _ in range(topology.nodes)]
        self._eject = [CreditPool(env, 1) for _ in range(topology.nodes)]
        self.link_flits = np.zeros(len(topology.links), dtype=np.int64)
        self.packets_injected = 0
        self.packets_delivered = 0
        self.flits_injected = 0
        self.flits_delivered = 0
        self._rings = topology.kind in ("ring", "torus")
        self._bubble: dict[tuple[int, int], bool] = {}

    def _needs_bubble(self, previous: int, link: int) -> bool:
        """Whether taking ``link`` after ``previous`` (-1: first hop) enters a ring."""
        if not self._rings:
            return False
        key = (previous, link)
        entering = self._bubble.get(key)
        if entering is None:
            entering = previous < 0 or self._dimension(previous) != self._dimension(link)
            self._bubble[key] = entering
        return entering

    def _dimension(self, link: int) -> int:
        u, v = self.topology.links[link]
        a, b = self.topology.coords[u], self.topology.coords[v]
        return next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)

    def check_fits(self, flits: int) -> None:
        """Raise :class:`ArchsimError` if a packet of ``flits`` cannot ever fit a buffer."""
        need = 2 * flits if self.topology.kind in ("ring", "torus") else flits
        if need > self.config.buffer_flits:
            why = (
                "bubble flow control on a ring or torus needs room for two packets"
                if need > flits
                else "virtual cut-through needs room for a whole packet"
            )
            raise ArchsimError(
                f"noc.buffer_flits: {why} ({need} flits of {flits}-flit packets), "
                f"got {self.config.buffer_flits}"
            )

    def send(self, src: int, dst: int, data_bits: int) -> simpy.Process:
        """Create a packet of ``data_bits`` payload bits now; the process returns its
        :class:`Delivery` when the tail has been ejected at ``dst``."""
        flits = self.format.flits(data_bits)
        self.check_fits(flits)
        self.packets_injected += 1
        self.flits_injected += flits
        return self.env.process(self._transfer(src, dst, flits))

    def _transfer(self, src: int, dst: int, flits: int) -> Process:
        env = self.env
        created = int(env.now)
        config = self.config
        router, link_cycles = config.router_cycles, config.link_cycles
        # Injection port, then room for the packet in the source router's input buffer.
        port = self._inject[src]
        if not port.try_acquire(1, 1):
            yield port.wait(1, 1)
        held = self._local[src]
        if not held.try_acquire(flits, flits):
            yield held.wait(flits, flits)
        self._release_later(flits, port, 1)
        links = self.routing.links(src, dst)
        last = len(links) - 1
        previous = -1
        if links:
            yield env.timeout(router)
        for position, link in enumerate(links):
            # Room downstream first, then the link: a packet waiting for a bubble must not
            # hold the link that packets already in the ring need to advance.
            buffer = self._buffers[link]
            need = 2 * flits if self._needs_bubble(previous, link) else flits
            if not buffer.try_acquire(flits, need):
                yield buffer.wait(flits, need)
            channel = self._channels[link]
            if not channel.try_acquire(1, 1):
                yield channel.wait(1, 1)
            # The link streams the packet for `flits` cycles; then its tail has left the
            # buffer it was waiting in, whose credits return, and the link is free again.
            self._release_later(flits, channel, 1, held, flits)
            self.link_flits[link] += flits
            held, previous = buffer, link
            # The head crosses the link, then the next router's pipeline (not the destination's:
            # it only ejects).
            yield env.timeout(link_cycles + (router if position < last else 0))
        # Ejection at the destination: the tail leaves `flits` cycles after the head arrived.
        port = self._eject[dst]
        if not port.try_acquire(1, 1):
            yield port.wait(1, 1)
        yield env.timeout(flits)
        port.release(1)
        held.release(flits)
        hops = len(links)
        self.count("router", flits * (hops + 1))
        self.count("link_bit", flits * config.link_width_bits * hops)
        self.packets_delivered += 1
        self.flits_delivered += flits
        return Delivery(src, dst, flits, hops, created, int(env.now))

    def _release_later(
        self, delay: int, first: CreditPool, first_slots: int,
        second: CreditPool | None = None, second_slots: int = 0,
    ) -> None:
        def release(_: simpy.Event) -> None:
            first.release(first_slots)
            if second is not None:
                second.release(second_slots)

        self.env.timeout(delay).callbacks.append(release)
