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

from typing import Generator

import simpy

from archsim.hw.controller import Controller, Core
from archsim.hw.noc.network import Delivery, Network
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

    def _transfer(self, transfers: tuple[Transfer, ...], phase: str) -> Process:
        env, controller = self.env, self.controller
        received = [int(env.now)]  # when the last recv instruction retires
        cores: list[Core] = []
        for t in transfers:
            ends = (t.flow.dst,) if t.flow.src == IO else (t.flow.src, t.flow.dst)
            for core in (controller.core_of(tile) for tile in ends):
                if core not in cores:
                    cores.append(core)
        begin = int(env.now)
        for core in cores:
            core.begin(begin)
        flows = [env.process(self._flow(t, received, phase)) for t in transfers]
        yield flows[0] if len(flows) == 1 else env.all_of(flows)
        now = int(env.now)
        if received[0] > now:
            yield env.timeout(received[0] - now)
        for core in cores:
            core.end(int(env.now))

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
