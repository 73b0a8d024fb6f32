"""The tiles' network interfaces: activations cut into packets and sent over the NoC (stage: hw).

A :class:`NetworkInterface` moves one sample's flows (:class:`~archsim.mapping.program.Transfer`)
between tiles. For each packet the source tile's controller core executes a ``send``
instruction, then hands the packet to the NoC (:meth:`~archsim.hw.noc.network.Network.send`);
the packets of a flow leave back to back, paced by the source router's injection port and the
buffer credits, not by the previous packet's delivery. When a packet's tail has been ejected,
the destination tile's core executes a ``recv`` instruction. A transfer is done when every
packet has been delivered and received. Flows of one transfer run in parallel.

The network counts the packets and their latency (:class:`~archsim.hw.noc.network.Network`);
with a timeline recorder each packet is reported as a span, creation to the tail's ejection
(:class:`archsim.stats.timeline.TimelineHooks`).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generator

import simpy

from archsim.hw.controller import Controller, Core
from archsim.hw.noc.network import Delivery, Network
from archsim.hw.noc.train import TrainNetwork
from archsim.mapping.program import Transfer
from archsim.mapping.traffic import IO
from archsim.stats import FORWARD
from archsim.stats.timeline import TimelineHooks

Process = Generator[simpy.Event, object, None]


class NetworkInterface:
    """The network interfaces of the tiles in use; tile ``t`` sits at router ``nodes[t]``.
    ``timeline`` receives the packets' spans (None: nothing is recorded)."""

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        nodes: tuple[int, ...],
        controller: Controller,
        *,
        input_node: int | None = None,
        timeline: TimelineHooks | None = None,
    ) -> None:
        self.env = env
        self.timeline = timeline
        self.network = network
        self.nodes = nodes
        self.input_node = input_node
        self.controller = controller

    def transfer(
        self, transfers: tuple[Transfer, ...], phase: str = FORWARD
    ) -> simpy.Process | None:
        """Start sending ``transfers`` for work of ``phase``; the process ends when every packet
        has been received. None when there is nothing to send."""
        if not transfers:
            return None
        return self.env.process(self._transfer(transfers, phase))

    #: The budget (:class:`~archsim.limits.Limits`) a run's NoC work is counted against.
    BUDGET = "packets"

    def units(self, transfers: Iterable[Transfer]) -> int:
        """What ``transfers`` cost against :attr:`BUDGET`: their packets."""
        return sum(t.packets for t in transfers)

    def _cores(self, transfers: tuple[Transfer, ...]) -> list[Core]:
        """The cores that send or receive ``transfers``, in order of first use."""
        cores: list[Core] = []
        for t in transfers:
            ends = (t.flow.dst,) if t.flow.src == IO else (t.flow.src, t.flow.dst)
            for core in (self.controller.core_of(tile) for tile in ends):
                if core not in cores:
                    cores.append(core)
        return cores

    def _transfer(self, transfers: tuple[Transfer, ...], phase: str) -> Process:
        """The cores that send and receive are active from now until the last ``recv``
        retires; the packets move by :meth:`_move`."""
        env = self.env
        cores = self._cores(transfers)
        begin = int(env.now)
        for core in cores:
            core.begin(begin)
        done = yield from self._move(transfers, phase)
        now = int(env.now)
        if done > now:  # type: ignore[operator]
            yield env.timeout(done - now)  # type: ignore[operator]
        for core in cores:
            core.end(int(env.now))

    def _move(self, transfers: tuple[Transfer, ...], phase: str) -> Process:
        """Send and receive every packet (the hook a NoC model overrides); the value is the
        cycle the last ``recv`` instruction retires."""
        env = self.env
        received = [int(env.now)]  # when the last recv instruction retires
        flows = [env.process(self._flow(t, received, phase)) for t in transfers]
        yield flows[0] if len(flows) == 1 else env.all_of(flows)
        return received[0]

    def _flow(self, t: Transfer, received: list[int], phase: str) -> Process:
        env, controller, network = self.env, self.controller, self.network
        host = t.flow.src == IO  # the network input, sent by the host: no core, no send
        src = None if host else controller.core_of(t.flow.src)
        dst = controller.core_of(t.flow.dst)
        send = 0 if host else controller.cost({"send": 1})
        recv = controller.cost({"recv": 1})
        origin = self.input_node if host else self.nodes[t.flow.src]
        target = self.nodes[t.flow.dst]
        timeline = self.timeline

        def arrived(event: simpy.Event) -> None:
            delivery: Delivery = event.value  # type: ignore[assignment]
            if timeline is not None:
                timeline.packet(
                    t.flow.src, t.flow.dst, delivery.created, delivery.delivered,
                    delivery.flits, delivery.hops,
                )
            controller.tally("recv", 1, phase=phase)
            end = controller.reserve(dst, int(env.now), recv, "recv")
            if end > received[0]:
                received[0] = end

        packets = []
        for k in range(t.packets):
            bits = t.packet_bits if k < t.packets - 1 else t.last_bits
            if src is not None:
                controller.tally("send", 1, phase=phase)
                now = int(env.now)
                ready = controller.reserve(src, now, send, "send")
                if ready > now:
                    yield env.timeout(ready - now)
            packet = network.send(origin, target, bits, phase)
            packet.callbacks.append(arrived)
            packets.append(packet)
        yield packets[0] if len(packets) == 1 else env.all_of(packets)


class TrainInterface(NetworkInterface):
    """The network interfaces with flows sent as trains (``noc.model: train``,
    :class:`~archsim.hw.noc.train.TrainNetwork`).

    A flow is cut into trains of at most ``noc.train_packets`` packets, and a source tile
    sends the trains of its flows in turn (round-robin over the flows, a train each), as the
    packet model interleaves them packet by packet. A source's core issues a train's ``send``
    instructions back to back, and the next train's when they have retired (every source
    starts at once, in order of its first flow, so a core serving several sources takes them
    in turn a train at a time); a packet is created when its ``send`` retires. A train enters
    the network once its first packet exists and the source's injection port is free of the
    trains before it. The ``recv`` instructions of a train's packets are issued when its last
    packet has arrived. The network input's trains (``mapping.input_node``) are created at the
    start, without instructions.

    Against the packet model: a flow alone whose packets are received on another core than
    the one sending them gets the packet model's cycles (creation and delivery); otherwise a
    core's sends and receives interleave a train at a time, not an instruction at a time.
    """

    BUDGET = "trains"

    def units(self, transfers: Iterable[Transfer]) -> int:
        """What ``transfers`` cost against :attr:`BUDGET`: their trains."""
        size = self.network.config.train_packets
        return sum(-(-t.packets // size) for t in transfers)

    def _move(self, transfers: tuple[Transfer, ...], phase: str) -> Process:
        env, controller, network = self.env, self.controller, self.network
        begin = int(env.now)
        send = controller.cost({"send": 1})
        recv = controller.cost({"recv": 1})
        timeline = self.timeline
        queues = self._trains(transfers)
        issued = dict.fromkeys(queues, 0)  # per source, the trains whose sends are issued
        # Per source, the issued trains waiting to enter the network, with their creation
        # cycles and router.
        waiting: dict[int, deque[tuple[Transfer, int, int, Sequence[int]]]] = {
            src: deque() for src in queues
        }
        origins = {src: self.input_node if src == IO else self.nodes[src] for src in queues}
        # Actions by cycle: a source issues its next train's sends, its first waiting train
        # enters the network, or a train's packets are received. Ties go in planned order.
        actions: list[tuple[int, int, str, object]] = []
        serial = 0
        done = begin  # when the last packet is received

        def plan(when: int, kind: str, payload: object) -> None:
            nonlocal serial
            heapq.heappush(actions, (when, serial, kind, payload))
            serial += 1

        def enter_next(src: int) -> None:
            """Plan the entry of the source's first waiting train."""
            created = waiting[src][0][3]
            entry_free = network.entry_free(origins[src])  # type: ignore[attr-defined]
            plan(max(created[0], entry_free), "enter", src)

        def issue(src: int) -> None:
            """The source's next train's sends, back to back on its core from now (the
            host's packets all exist at the start); the next train's once they retire."""
            t, first, count = queues[src][issued[src]]
            issued[src] += 1
            now = int(env.now)
            created: Sequence[int]
            if src != IO:  # the host sends without instructions
                controller.tally("send", count, phase=phase)
            if src == IO or send == 0:
                created = [now] * count
            else:
                core = controller.core_of(src)
                end = controller.reserve(core, now, count * send, "send")
                created = range(end - (count - 1) * send, end + 1, send)
            waiting[src].append((t, first, count, created))
            if len(waiting[src]) == 1:
                enter_next(src)
            if issued[src] < len(queues[src]):
                plan(created[-1], "issue", src)

        for src in queues:
            issue(src)
        while actions:
            when, _, kind, payload = heapq.heappop(actions)
            now = int(env.now)
            if when > now:
                yield env.timeout(when - now)
            if kind == "issue":
                issue(payload)  # type: ignore[arg-type]
                continue
            if kind == "recv":
                t, delivery = payload  # type: ignore[misc]
                controller.tally("recv", len(delivery.delivered), phase=phase)
                end = controller.reserve_each(
                    controller.core_of(t.flow.dst), delivery.delivered, recv, "recv"
                )
                done = max(done, end, delivery.delivered[-1])
                continue
            src = payload  # type: ignore[assignment]
            t, first, count, created = waiting[src].popleft()
            last = first + count == t.packets
            delivery = network.send_train(  # type: ignore[attr-defined]
                origins[src], self.nodes[t.flow.dst], count, t.packet_bits,
                t.last_bits if last else t.packet_bits, created, phase,
            )
            if timeline is not None:
                for made, arrived, flits in zip(
                    delivery.created, delivery.delivered, delivery.flits
                ):
                    timeline.packet(t.flow.src, t.flow.dst, made, arrived, flits, delivery.hops)
            plan(delivery.delivered[-1], "recv", (t, delivery))
            if waiting[src]:
                enter_next(src)
        return done

    def _trains(
        self, transfers: tuple[Transfer, ...]
    ) -> dict[int, list[tuple[Transfer, int, int]]]:
        """Per source tile (or the network input), in order of first use, its trains as
        ``(transfer, first packet, packets)``, round-robin over its flows."""
        size = self.network.config.train_packets
        flows: dict[int, list[Transfer]] = {}
        for t in transfers:
            flows.setdefault(t.flow.src, []).append(t)
        queues: dict[int, list[tuple[Transfer, int, int]]] = {}
        for src, sent in flows.items():
            queue = queues[src] = []
            for first in range(0, max(t.packets for t in sent), size):
                for t in sent:
                    if first < t.packets:
                        queue.append((t, first, min(size, t.packets - first)))
        return queues


@dataclass(frozen=True)
class NocModel:
    """One way to simulate the NoC (``noc.model``): its network and its tiles' interfaces."""

    network: type[Network]
    interface: type[NetworkInterface]


#: The NoC models by name (``noc.model``).
NOC_MODELS: Mapping[str, NocModel] = MappingProxyType({
    "packet": NocModel(Network, NetworkInterface),
    "train": NocModel(TrainNetwork, TrainInterface),
})
