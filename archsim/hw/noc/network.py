"""The packet-switched network-on-chip as SimPy processes (stage: hw).

Each packet is one SimPy process that walks its deterministic route (:mod:`.routing`) hop by
hop. Router input buffers (their credits) and links are shared resources, so packets that want
the same buffer or link wait for each other. A packet costs a few events per hop and never one
per cycle or per flit: every resource it takes is given back by one timeout whose delay is
computed in closed form. The two flow controls (``noc.flow_control``) differ only in how much
of the next buffer a packet takes at once.

Cycle semantics
---------------
For a packet of ``F`` flits over ``H`` links, router pipeline ``R`` and link latency ``L``
cycles:

* at the source the packet takes the injection port and room in the source router's input
  buffer, then spends ``R`` cycles in that router;
* at every hop its head takes room in the next router's input buffer, then the link (a
  *channel*: one packet at a time); the head reaches the next router ``L`` cycles later and
  spends ``R`` cycles there (not at the destination, which only ejects);
* at the destination the head takes the ejection port; the packet is delivered ``F`` cycles
  later, when its tail has been ejected.

Number the stages ``s = 0`` (injection), ``1..H`` (the links) and ``H + 1`` (ejection); let
``h_s`` be the cycle the head takes stage ``s`` and ``c_s`` the credits (slots) the packet takes
in the buffer it enters at stage ``s`` (the source router's buffer for ``s = 0``). The resource
of stage ``s`` (the injection port, or the link) and the credits of the buffer entered at stage
``s - 1`` come back when the tail has crossed stage ``s``, at cycle::

    t_s = max over k >= 0, s + k <= H + 1, c_s + ... + c_(s+k-1) < F, of
          h_(s+k) + F - (c_s + ... + c_(s+k-1))

the exact tail time of this flit-level model: flit ``i`` crosses stage ``s`` at
``max(h_s + i, cycle flit i - c_s crosses stage s + 1)``. That is, flits follow the head one per
cycle; a flit enters a buffer once the flit ``c_s`` places ahead of it has left (a credit comes
back in the cycle its flit leaves, and a packet's flits use only the slots it took); a stalled
packet resumes at one flit per cycle (no credit round trip or pipeline refill bubbles); the
router pipeline delay is the head's. The ejection port and the last buffer's credits come back
at ``h_(H+1) + F``, the delivery.

With no contention ``h_s = h_0 + R + (s - 1) x (R + L)`` for ``1 <= s <= H`` and
``h_(H+1) = h_0 + H x (R + L)``, so a packet is delivered ``H x (R + L) + F`` cycles after it was
created, whatever its length and the (admitted) buffer depth (:func:`.packet.zero_load_latency`).

Flow control
------------
* ``virtual_cut_through``: ``c_s = F``, room for the whole packet, so ``t_s = h_s + F``; a
  packet blocked at a router sits in that router's buffer and holds no link. A packet larger
  than a buffer (``noc.buffer_flits``) cannot be sent.
* ``wormhole``: ``c_s = min(F, B_s)``, ``B_s`` the buffer's depth: the head advances once the
  next buffer has room for as much of the packet as it holds, a buffer's worth for a packet
  longer than the buffer, taken at once. (Atomic buffer allocation: a following packet enters
  that buffer once this one's tail has left it, not as soon as one slot frees, as a flit-level
  router could allow.) A packet longer than the buffers spreads over up to ``ceil(F / B)``
  buffers when it stalls and holds every link from its head back to its tail, each until its
  tail has crossed it. On meshes, trees and edge lists, when every packet fits the buffers
  (``F <= B``), wormhole takes the same resources at the same cycles as virtual cut-through
  (rings and tori differ: a dateline with half-depth virtual channels against a bubble). The
  recurrence lets a flit leave a router only ``c_s`` flits behind the one ahead, so it holds
  causally only when a buffer covers the link's flight time: wormhole needs ``B_s >=
  link_cycles`` (refused otherwise).

Deadlock freedom
----------------
Meshes (dimension-order routes) and trees (up, then down) have no cycle of channel dependencies
and need nothing more. An edge list is checked: if its shortest-path routes close such a cycle,
building the network raises :class:`~archsim.errors.ArchsimError` naming ``noc.edges`` (with
every buffer on the cycle full, neither flow control could advance). Each dimension of a ring
or torus is a cycle:

* ``virtual_cut_through`` uses *bubble flow control*: a packet entering a ring (its injection,
  or its turn into a new dimension) needs room in the next buffer for itself plus the largest
  packet the network carries (``max_flits``); a packet continuing along its ring needs room for
  itself. The rule relies on this model's buffers letting any packet in them leave (no
  head-of-line blocking): with FIFO input buffers and mixed sizes it can deadlock (for one, a
  4-router ring with 5-flit buffers and 1- and 2-flit packets).
* ``wormhole`` uses a *dateline* with two virtual channels per link, each with half the input
  buffer (``buffer_flits // 2`` flits) and its own channel: a packet travels on virtual channel
  0 until it takes its ring's wrap-around link, and on channel 1 from that link to the end of the
  dimension, which breaks every cycle (Dally and Seitz). The two virtual channels of a link share
  its wires: the head takes them for ``F`` cycles, the packet's serialisation, whatever happens
  downstream, so a packet stalled on one virtual channel never blocks the other. (Packet-level
  approximation: flits that a flit-level router would send after a stall, interleaved with the
  other channel's, are charged in that one ``F``-cycle window from the head.)

Actions declared and counted: ``router`` (one flit through one router, ``noc.energy.router``)
and ``link_bit`` (one bit over one link: ``noc.energy.link_bit_mm`` x the link's length,
:func:`archsim.energy.models.link_bit_energy_j`).
"""

from __future__ import annotations

import numbers
from collections import deque
from dataclasses import dataclass
from typing import Generator

import numpy as np
import simpy

from archsim.config.schema import NocConfig
from archsim.energy.models import link_bit_energy_j
from archsim.errors import ArchsimError, ConfigError
from archsim.hw.component import Component
from archsim.hw.noc.packet import PacketFormat
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology
from archsim.stats import FORWARD, Counter, Tally

__all__ = ["FLOW_CONTROLS", "CreditPool", "Delivery", "Network"]

Process = Generator[simpy.Event, object, None]

#: The flow controls :class:`Network` implements (``noc.flow_control``).
FLOW_CONTROLS = ("virtual_cut_through", "wormhole")

#: Topologies whose dimensions are rings.
_RINGS = ("ring", "torus")


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

    @property
    def waiting(self) -> int:
        """Requests still waiting for slots."""
        return len(self._waiters)

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
        kept: list[tuple[int, int, simpy.Event]] = []
        # Every need is at least one slot, so the scan stops once none is free: the waiters
        # not reached keep their order behind the ones passed over.
        while waiters and self.level > 0:
            waiter = waiters.popleft()
            take, need, event = waiter
            if self.level >= need:
                self.level -= take
                event.succeed()
            else:
                kept.append(waiter)
        if kept:
            waiters.extendleft(reversed(kept))


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


#: One hop of a route: link id, the next input buffer, the channel, whether the bubble rule
#: applies (entering a ring under virtual cut-through), and the wires the channel shares with
#: the link's other virtual channel (None without virtual channels).
_Hop = tuple[int, CreditPool, CreditPool, bool, "CreditPool | None"]

#: A stage whose release still waits on the head: [release cycle so far, credits taken from
#: that stage to the head's, resource, its slots, buffer left behind or None, its slots].
_Pending = list


class Network(Component):
    """The routers and links of a NoC (rules: module docstring); :meth:`send` starts a packet.

    The interface other models build on:

    * ``Network(env, config, topology, routing, packet_format, *, max_flits=None)``.
      ``max_flits`` is the largest packet, in flits, the caller will send. Its default is the
      largest the flow control admits: ``buffer_flits`` under virtual cut-through,
      ``buffer_flits // 2`` under virtual cut-through on a ring or torus (the bubble needs room
      for a second packet), no limit under wormhole. On rings and tori under virtual cut-through
      it sizes the bubble, so stating a smaller real largest packet lets entering packets in
      sooner. Raises :class:`~archsim.errors.ConfigError` naming ``noc.buffer_flits`` if the buffers cannot
      carry a ``max_flits`` packet, or naming ``noc.edges`` for an edge list whose routes have
      a cyclic channel dependency (it could deadlock);
      ``ValueError`` if ``max_flits`` is not an integer >= 1.
    * :meth:`send` ``(src, dst, data_bits)`` creates a packet now and returns its
      :class:`simpy.Process`, whose value is its :class:`Delivery`. Packets of different sizes
      may be mixed freely, up to ``max_flits`` flits each; :meth:`check_fits` says beforehand
      whether a size is accepted.
    * Counters, all ints: ``packets_injected``, ``packets_delivered``, ``flits_injected``,
      ``flits_delivered``; ``link_flits``, an int64 array of the flits each link carried, by link
      id (link utilization is ``link_flits / run cycles``); actions ``router`` and ``link_bit``.
    * Statistics of the packets delivered, per phase: ``packets``, ``flits``, ``header_bits``,
      ``data_bits`` (:class:`~archsim.stats.Counter`) and ``latency`` (an exact
      :class:`~archsim.stats.Tally` of creation to the tail's ejection, cycles).

    Attributes:
        max_flits: the largest packet :meth:`send` accepts, in flits; None: no limit.
    """

    KIND = "noc"

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
        super().__init__(len(topology.links))
        self.env = env
        self.config = config
        self.declare("router", config.energy.router, "one flit through one router")
        self.declare("link_bit", link_bit_energy_j(config), "one bit over one link")
        self.topology = topology
        self.routing = routing
        self.format = packet_format
        if config.flow_control not in FLOW_CONTROLS:
            raise ConfigError(
                f"noc.flow_control: expected one of {', '.join(FLOW_CONTROLS)}, "
                f"got {config.flow_control!r}"
            )
        self._wormhole = config.flow_control == "wormhole"
        self._rings = topology.kind in _RINGS
        buffer = config.buffer_flits
        links = len(topology.links)
        self._dateline = self._wormhole and self._rings
        if self._dateline:
            if buffer < 2:
                raise ConfigError(
                    "noc.buffer_flits: wormhole on a ring or torus splits every input buffer "
                    "between two virtual channels (dateline), so it needs at least 2 flits, "
                    f"got {buffer}"
                )
            channels, depth = 2 * links, buffer // 2
            self._wires: list[CreditPool] = [CreditPool(env, 1) for _ in range(links)]
        else:
            channels, depth = links, buffer
            self._wires = []
        if self._wormhole and depth < config.link_cycles:
            # The flit-level recurrence lets a flit leave a router only once the flit `depth`
            # places ahead of it has gone; with fewer slots than the link has cycles in flight,
            # it would leave before it arrived.
            per = " per virtual channel (buffer_flits // 2 on a ring or torus)" if self._dateline else ""
            raise ConfigError(
                f"noc.buffer_flits: wormhole needs input buffers of at least noc.link_cycles "
                f"({config.link_cycles}) flits{per}, so that a packet spread over several "
                f"routers keeps the link full; got {depth}"
            )
        self._channels = [CreditPool(env, 1) for _ in range(channels)]
        self._buffers = [CreditPool(env, depth) for _ in range(channels)]
        self._inject = [CreditPool(env, 1) for _ in range(topology.nodes)]
        self._local = [CreditPool(env, buffer) for _ in range(topology.nodes)]
        self._eject = [CreditPool(env, 1) for _ in range(topology.nodes)]
        self.link_flits = np.zeros(links, dtype=np.int64)
        #: per phase, [packets, flits, payload bits] delivered (the counters' source)
        self._delivered: dict[str, list[int]] = {}
        # Exact: latencies are integer cycles with few distinct values, so the histogram behind
        # the percentiles stays small.
        self.latency = Tally(
            "packet_latency", "cycles", "a packet's creation to its tail's ejection", exact=True
        )
        self.packets_injected = 0
        self.packets_delivered = 0
        self.flits_injected = 0
        self.flits_delivered = 0
        self._plans: dict[tuple[int, int], tuple[_Hop, ...]] = {}
        if topology.kind == "edges":
            self._check_dependencies()
        self.max_flits: int | None = self._largest(max_flits)

    # ----------------------------------------------------------------------------------------
    # Packet sizes
    # ----------------------------------------------------------------------------------------

    def _largest(self, max_flits: int | None) -> int | None:
        """``max_flits`` checked against the buffers, or its default (class docstring)."""
        if max_flits is None:
            if self._wormhole:
                return None
            buffer = self.config.buffer_flits
            if self._rings and buffer < 2:
                raise ConfigError(
                    "noc.buffer_flits: bubble flow control on a ring or torus needs room for "
                    f"two packets of at least one flit, got {buffer}"
                )
            return buffer // 2 if self._rings else buffer
        if (
            isinstance(max_flits, bool)
            or not isinstance(max_flits, numbers.Integral)
            or max_flits < 1
        ):
            raise ValueError(f"max_flits: must be an integer >= 1 or None, got {max_flits!r}")
        largest = int(max_flits)
        self._check_buffers(largest, largest)
        return largest

    def _check_buffers(self, flits: int, largest: int) -> None:
        """Raise unless virtual cut-through buffers hold a ``flits`` packet (wormhole: always)."""
        if self._wormhole:
            return
        buffer = self.config.buffer_flits
        if self._rings:
            need = flits + largest
            if need > buffer:
                raise ConfigError(
                    "noc.buffer_flits: bubble flow control on a ring or torus needs room for a "
                    f"packet plus the largest packet ({flits} + {largest} = {need} flits), "
                    f"got {buffer}"
                )
        elif flits > buffer:
            raise ConfigError(
                "noc.buffer_flits: virtual cut-through needs room for a whole packet "
                f"({flits} flits), got {buffer} (noc.flow_control: wormhole has no such limit)"
            )

    def check_drained(self, what: str = "packets") -> None:
        """After a run: raise :class:`ArchsimError` if some of the ``what`` sent were never
        delivered (a deadlock), and :class:`RuntimeError` if a credit, link or port did not
        come back although every packet was delivered (a fault of this model, not of the
        input)."""
        if (self.packets_delivered, self.flits_delivered) != (
            self.packets_injected, self.flits_injected
        ):
            raise ArchsimError(
                f"deadlock: {self.packets_injected - self.packets_delivered} of "
                f"{self.packets_injected} {what} ({self.flits_injected - self.flits_delivered} "
                "flits) were never delivered"
            )
        pools = (
            self._buffers + self._channels + self._wires + self._inject + self._local
            + self._eject
        )
        leaked = sum(1 for pool in pools if pool.level != pool.capacity or pool.waiting)
        if leaked:
            raise RuntimeError(
                f"NoC model fault: {leaked} buffers, links or ports were not returned after "
                "every packet was delivered"
            )

    def check_fits(self, flits: int) -> None:
        """Raise :class:`ArchsimError` unless :meth:`send` accepts a packet of ``flits`` flits.

        Under virtual cut-through the packet must fit an input buffer, with room for the
        largest packet besides on a ring or torus (the message names ``noc.buffer_flits`` and
        the flits needed); under either flow control it may not exceed ``max_flits``.
        """
        largest = flits if self.max_flits is None else max(flits, self.max_flits)
        self._check_buffers(flits, largest)
        if self.max_flits is not None and flits > self.max_flits:
            why = " (the bubble on rings and tori is sized for it)" if self._rings else ""
            raise ArchsimError(
                f"max_flits: a {flits}-flit packet is larger than the largest packet this "
                f"network was built for, {self.max_flits} flits{why}"
            )

    # ----------------------------------------------------------------------------------------
    # Deadlock checks and routes
    # ----------------------------------------------------------------------------------------

    def _check_dependencies(self) -> None:
        """Refuse an edge list whose routes have a cyclic channel dependency: with full
        buffers along the cycle, neither flow control could ever advance."""
        import networkx as nx  # imported when a NoC is built
        topology = self.topology
        if len(topology.links) == 2 * (topology.nodes - 1):
            return  # a tree: a route never turns back, so no cycle of links can close
        index = topology.link_index
        dependencies: set[tuple[int, int]] = set()
        for dst in range(topology.nodes):
            towards = self.routing.next_hops(dst)
            for node, after in towards.items():
                if after != dst:
                    dependencies.add((index[node, after], index[after, towards[after]]))
        graph = nx.DiGraph(sorted(dependencies))
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        shown = " then ".join(
            "{}->{}".format(*topology.links[link]) for link, _ in cycle[:8]
        )
        more = ", ..." if len(cycle) > 8 else ""
        raise ArchsimError(
            f"noc.edges: {self.config.flow_control} could deadlock on this edge list: its shortest-path "
            f"routes make a cycle of {len(cycle)} channel dependencies (link {shown}{more}, "
            "and back); use an edge list without such a cycle, e.g. a tree"
        )

    def _dimension(self, link: int) -> int:
        u, v = self.topology.links[link]
        a, b = self.topology.coords[u], self.topology.coords[v]
        return next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)

    def _wraps(self, link: int) -> bool:
        """Whether ``link`` is its ring's wrap-around link (the dateline), either direction."""
        dimension = self._dimension(link)
        size = self.topology.dims[dimension]
        u, v = self.topology.links[link]
        ends = {self.topology.coords[u][dimension], self.topology.coords[v][dimension]}
        return size > 2 and ends == {0, size - 1}

    def _plan(self, src: int, dst: int) -> tuple[_Hop, ...]:
        """The hops of the route from ``src`` to ``dst`` with their resources (cached)."""
        plan = self._plans.get((src, dst))
        if plan is not None:
            return plan
        hops: list[_Hop] = []
        previous = -1
        channel = 0
        for link in self.routing.links(src, dst):
            entering = self._rings and (
                previous < 0 or self._dimension(previous) != self._dimension(link)
            )
            if self._dateline:
                if entering:
                    channel = 0
                if self._wraps(link):
                    channel = 1
                slot = 2 * link + channel
                hops.append((link, self._buffers[slot], self._channels[slot], False,
                             self._wires[link]))
            else:
                hops.append((link, self._buffers[link], self._channels[link],
                             entering and not self._wormhole, None))
            previous = link
        plan = self._plans[src, dst] = tuple(hops)
        return plan

    # ----------------------------------------------------------------------------------------
    # Packets
    # ----------------------------------------------------------------------------------------

    def send(
        self, src: int, dst: int, data_bits: int, phase: str = FORWARD
    ) -> simpy.Process:
        """Create a packet of ``data_bits`` payload bits at router ``src`` for router ``dst``
        now (cycle ``env.now``), for work of ``phase``.

        Returns the packet's process; its value is the :class:`Delivery`, available when the
        tail has been ejected at ``dst``. Raises :class:`ArchsimError` if the packet cannot be
        sent (:meth:`check_fits`), ``ValueError`` for a router id out of range or a negative
        ``data_bits``.
        """
        flits = self.format.flits(data_bits)
        self.check_fits(flits)
        plan = self._plan(src, dst)
        self.packets_injected += 1
        self.flits_injected += flits
        return self.env.process(self._transfer(src, dst, data_bits, flits, plan, phase))

    def busy_by_phase(self) -> dict[str, int]:
        """Busy link-cycles per phase: a link is busy for the cycles it carries a flit, and a
        packet's ``link_bit`` count is its flits x link width x links crossed."""
        width = self.config.link_width_bits
        return {
            phase: int(counts["link_bit"]) // width
            for phase, counts in self.counts_by_phase().items()
        }

    def _transfer(
        self, src: int, dst: int, data_bits: int, flits: int, plan: tuple[_Hop, ...], phase: str
    ) -> Process:
        env = self.env
        created = int(env.now)
        config = self.config
        router, link_cycles = config.router_cycles, config.link_cycles
        wormhole = self._wormhole
        largest = flits if self.max_flits is None else self.max_flits  # the bubble
        # Injection port, then room in the source router's input buffer.
        port = self._inject[src]
        if not port.try_acquire(1, 1):
            yield port.wait(1, 1)
        held = self._local[src]
        held_slots = min(flits, held.capacity) if wormhole else flits
        if not held.try_acquire(held_slots, held_slots):
            yield held.wait(held_slots, held_slots)
        pending: deque[_Pending] = deque()
        if held_slots >= flits:
            self._release_later(flits, port, 1)
        else:
            self._stage(pending, flits, held_slots, port, 1, None, 0)
        last = len(plan) - 1
        if plan:
            yield env.timeout(router)
        for position, (link, buffer, channel, bubble, wires) in enumerate(plan):
            # Room downstream first, then the link: a packet waiting for a bubble must not
            # hold the link that packets already in the ring need to advance.
            slots = min(flits, buffer.capacity) if wormhole else flits
            need = slots + largest if bubble else slots
            if not buffer.try_acquire(slots, need):
                yield buffer.wait(slots, need)
            if not channel.try_acquire(1, 1):
                yield channel.wait(1, 1)
            if wires is not None and not wires.try_acquire(1, 1):
                yield wires.wait(1, 1)
            # The link and the buffer the packet is leaving come back when the tail has
            # crossed the link: `flits` cycles from now if the packet fits its buffers,
            # else as the head's later progress allows (module docstring, t_s). Shared wires
            # come back after the packet's `flits` cycles of serialisation.
            if slots >= flits and not pending:
                self._release_later(flits, channel, 1, held, held_slots, wires)
            else:
                if wires is not None:
                    self._release_later(flits, wires, 1)
                self._stage(pending, flits, slots, channel, 1, held, held_slots)
            self.link_flits[link] += flits
            held, held_slots = buffer, slots
            # The head crosses the link, then the next router's pipeline (not the destination's:
            # it only ejects).
            yield env.timeout(link_cycles + (router if position < last else 0))
        # Ejection at the destination: the tail leaves `flits` cycles after the head arrived.
        port = self._eject[dst]
        if not port.try_acquire(1, 1):
            yield port.wait(1, 1)
        if pending:
            self._flush(pending, flits)
        yield env.timeout(flits)
        port.release(1)
        held.release(held_slots)
        hops = len(plan)
        self.count("router", flits * (hops + 1), phase)
        self.count("link_bit", flits * config.link_width_bits * hops, phase)
        self.packets_delivered += 1
        self.flits_delivered += flits
        delivered = int(env.now)
        totals = self._delivered.get(phase)
        if totals is None:
            totals = self._delivered[phase] = [0, 0, 0]
        totals[0] += 1
        totals[1] += flits
        totals[2] += data_bits
        self.latency.observe(delivered - created, phase)
        return Delivery(src, dst, flits, hops, created, delivered)

    def _counter(self, name: str, unit: str, description: str, column: int, scale: int = 1) -> Counter:
        counter = Counter(name, unit, description)
        for phase, totals in self._delivered.items():
            counter.add(totals[column] * scale, phase)
        return counter

    @property
    def packets(self) -> Counter:
        """Packets delivered, per phase."""
        return self._counter("packets", "packets", "packets delivered", 0)

    @property
    def flits(self) -> Counter:
        """Flits delivered, per phase."""
        return self._counter("flits", "flits", "flits delivered", 1)

    @property
    def header_bits(self) -> Counter:
        """Header bits of the packets delivered, per phase."""
        return self._counter(
            "header_bits", "bits", "header bits of the packets delivered", 0,
            self.format.header_bits,
        )

    @property
    def data_bits(self) -> Counter:
        """Payload bits of the packets delivered, per phase."""
        return self._counter("data_bits", "bits", "payload bits of the packets delivered", 2)

    def _stage(
        self, pending: deque[_Pending], flits: int, slots: int, first: CreditPool,
        first_slots: int, second: CreditPool | None, second_slots: int,
    ) -> None:
        """The head takes a stage now, with ``slots`` credits in the buffer it enters: update
        the release cycle of every pending stage by this head cycle (``t_s``, module docstring),
        add this stage, and schedule the releases no later head cycle can move."""
        now = int(self.env.now)
        end = now + flits
        for entry in pending:
            tail = end - entry[1]
            if tail > entry[0]:
                entry[0] = tail
            entry[1] += slots
        pending.append([end, slots, first, first_slots, second, second_slots])
        while pending and pending[0][1] >= flits:
            release, _, a, a_slots, b, b_slots = pending.popleft()
            self._release_later(release - now, a, a_slots, b, b_slots)

    def _flush(self, pending: deque[_Pending], flits: int) -> None:
        """The head takes the ejection port now: every pending release is final."""
        now = int(self.env.now)
        end = now + flits
        while pending:
            release, gap, a, a_slots, b, b_slots = pending.popleft()
            self._release_later(max(release, end - gap) - now, a, a_slots, b, b_slots)

    def _release_later(
        self, delay: int, first: CreditPool, first_slots: int,
        second: CreditPool | None = None, second_slots: int = 0,
        wires: CreditPool | None = None,
    ) -> None:
        """Return ``first_slots`` to ``first``, ``second_slots`` to ``second`` and one slot to
        ``wires`` in ``delay`` cycles, with one timeout."""
        def release(_: simpy.Event) -> None:
            first.release(first_slots)
            if second is not None:
                second.release(second_slots)
            if wires is not None:
                wires.release(1)

        self.env.timeout(delay).callbacks.append(release)
