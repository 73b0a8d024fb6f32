"""The tiles' network interfaces: activations cut into packets and sent over the NoC (stage: hw).

A :class:`NetworkInterface` moves one sample's flows (:class:`~archsim.mapping.program.Transfer`)
between tiles. For each packet the source tile's controller core executes a ``send``
instruction, then hands the packet to the NoC (:meth:`~archsim.hw.noc.network.Network.send`);
the packets of a flow leave back to back, paced by the source router's injection port and the
buffer credits, not by the previous packet's delivery. When a packet's tail has been ejected,
the destination tile's core executes a ``recv`` instruction. A transfer is done when every
packet has been delivered and received. Flows of one transfer run in parallel.

The interface counts the packets it sent with their header and payload bits, and tallies each
packet's latency (creation to the tail's ejection, cycles) with an exact histogram for
percentiles whose memory does not grow with the run. With a timeline recorder each packet is
reported as a span, creation to the tail's ejection (:mod:`archsim.hw.trace_hooks`).
"""

from __future__ import annotations

import collections
from typing import Generator

import simpy

from archsim.hw.controller import Controller, Core
from archsim.hw.noc.network import Delivery, Network
from archsim.hw.trace_hooks import TimelineHooks
from archsim.mapping.program import Transfer
from archsim.stats import Counter, Tally

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
        timeline: TimelineHooks | None = None,
    ) -> None:
        self.env = env
        self.timeline = timeline
        self.network = network
        self.nodes = nodes
        self.controller = controller
        self.packets = Counter("packets", "packets", "activation packets sent")
        self.header_bits = Counter("header_bits", "bits", "header bits of those packets")
        self.data_bits = Counter("data_bits", "bits", "payload bits of those packets")
        self.latency = Tally("packet_latency", "cycles", "creation to the tail's ejection")
        #: packets by latency in cycles (latencies are integers and few distinct)
        self.histogram: collections.Counter[int] = collections.Counter()

    def transfer(self, transfers: tuple[Transfer, ...]) -> simpy.Process | None:
        """Start sending ``transfers``; the process ends when every packet has been received.
        None when there is nothing to send."""
        if not transfers:
            return None
        return self.env.process(self._transfer(transfers))

    def _transfer(self, transfers: tuple[Transfer, ...]) -> Process:
        env, controller = self.env, self.controller
        received = [int(env.now)]  # when the last recv instruction retires
        cores: list[Core] = []
        for t in transfers:
            for core in (controller.core_of(t.flow.src), controller.core_of(t.flow.dst)):
                if core not in cores:
                    cores.append(core)
        begin = int(env.now)
        for core in cores:
            core.begin(begin)
        flows = [env.process(self._flow(t, received)) for t in transfers]
        yield flows[0] if len(flows) == 1 else env.all_of(flows)
        now = int(env.now)
        if received[0] > now:
            yield env.timeout(received[0] - now)
        for core in cores:
            core.end(int(env.now))

    def _flow(self, t: Transfer, received: list[int]) -> Process:
        env, controller, network = self.env, self.controller, self.network
        src, dst = controller.core_of(t.flow.src), controller.core_of(t.flow.dst)
        send, recv = controller.cost({"send": 1}), controller.cost({"recv": 1})
        header = network.format.header_bits
        origin, target = self.nodes[t.flow.src], self.nodes[t.flow.dst]
        timeline = self.timeline

        def arrived(event: simpy.Event) -> None:
            delivery: Delivery = event.value  # type: ignore[assignment]
            self.latency.observe(delivery.latency)
            self.histogram[delivery.latency] += 1
            if timeline is not None:
                timeline.packet(
                    t.flow.src, t.flow.dst, delivery.created, delivery.delivered,
                    delivery.flits, delivery.hops,
                )
            controller.tally("recv", 1)
            end = controller.reserve(dst, int(env.now), recv, "recv")
            if end > received[0]:
                received[0] = end

        packets = []
        for k in range(t.packets):
            bits = t.packet_bits if k < t.packets - 1 else t.last_bits
            controller.tally("send", 1)
            now = int(env.now)
            ready = controller.reserve(src, now, send, "send")
            if ready > now:
                yield env.timeout(ready - now)
            self.packets.add(1)
            self.header_bits.add(header)
            self.data_bits.add(bits)
            packet = network.send(origin, target, bits)
            packet.callbacks.append(arrived)
            packets.append(packet)
        yield packets[0] if len(packets) == 1 else env.all_of(packets)
