"""The whole chip, built from a config: tile groups, controller, vector units, NoC (stage: hw).

:func:`build_system` is the one place where hardware is assembled, for every kind of run:

* the **tile groups** (one :class:`~archsim.hw.tile.TileKind` per group, with its component
  banks) and one :class:`~archsim.hw.tile.Tile` per tile, numbered across groups in
  declaration order; for a mapped workload, each layer's **crossbar groups**
  (:class:`~archsim.hw.crossbar_group.CrossbarGroup`: the arrays that step together, each a
  SimPy process with a job port), which every handler working on that layer shares;
* the **controller** cores and the **vector units** (one per core);
* the **digital PIM modules** and **special-function units** of each tile group (a
  processing unit) when the config has ``digital_pim`` / ``sfu`` sections
  (:mod:`.digital_pim`, :mod:`.sfu`), and which unit runs each layer
  (:func:`archsim.mapping.placement.processing_units`);
* the **training units** when the config has a ``training`` section (:mod:`.training`: pulse
  drivers, the update's digital units, the write-and-verify engine);
* the **sparse training fabric** when the config has a ``fabric`` section (:mod:`.fabric`:
  DRAM, index-aware memory controller, sparse compute units, the dynamic interconnect's
  controller, on the NoC when there is one);
* the **network-on-chip** when the config has one: the topology (:mod:`.noc.topology`) with its
  router coordinates, the routing, the hop counts between routers (on demand), the tiles
  placed on routers (:func:`archsim.mapping.traffic.place_tiles`, on those hop counts), the
  packet format and payload, and the SimPy network; and the tiles' network interfaces;
* for a mapped workload, its **activation traffic** and the controller's **instruction stream**
  (:mod:`archsim.mapping.traffic`, :mod:`archsim.mapping.program`), which need the NoC's packet
  size.

It checks the size budgets (:class:`~archsim.limits.Limits`: routers, crossbars, hop table)
before building anything large. The schedules of :mod:`archsim.sim` run records on the
:class:`System` it returns and never build hardware themselves; a system built without a
workload (``mapping=None``) serves synthetic NoC traffic and ``archsim validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig, NocConfig, TileGroup
from archsim.errors import ArchsimError, ConfigError
from archsim.hw.component import Component
from archsim.hw.controller import Controller, RecordedController
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DigitalUnit
from archsim.hw.tile import TILE_KINDS, Tile, TileKind
from archsim.hw.training import TrainingUnits
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.mapping.placement import NetworkMapping, processing_units
from archsim.mapping.program import Program, Transfer, build_program, for_vectors
from archsim.mapping.traffic import (
    MAX_PLACEMENT_ROUTERS,
    Traffic,
    network_traffic,
    place_tiles,
)
from archsim.stats.timeline import TimelineHooks
from archsim.workload.trace import NetworkSpec

if TYPE_CHECKING:
    from archsim.hw.digital_pim import DigitalPim
    from archsim.hw.fabric import Fabric
    from archsim.hw.network_interface import NetworkInterface
    from archsim.hw.noc.network import Network
    from archsim.hw.noc.topology import HopCounts, Topology
    from archsim.hw.sfu import Sfu

__all__ = ["GroupHardware", "System", "build_system", "default_payload_bits"]


@dataclass(frozen=True)
class GroupHardware:
    """A tile group as built: the config's group (``spec``), its tiles ``[first_tile,
    first_tile + tiles)`` and crossbars ``[first_crossbar, first_crossbar + crossbars)``, and
    the :class:`~archsim.hw.tile.TileKind` holding its component banks."""

    spec: TileGroup
    first_tile: int
    first_crossbar: int
    kind: TileKind

    @property
    def name(self) -> str:
        """The group's name."""
        return self.spec.name

    @property
    def tiles(self) -> int:
        """Tiles in the group."""
        return self.spec.tiles


class System:
    """The simulated chip: every hardware unit, wired, for one run (see the module docstring).

    Attributes:
        env: the SimPy environment the units run in.
        config: the hardware config.
        groups: the tile groups, in declaration order.
        tiles: every tile instance of the chip.
        controller, digital: the controller cores and their vector units.
        training: the units of backward and update work (None: the config has no
            ``training`` section).
        fabric: the block-sparse training fabric (None: the config has no ``fabric``
            section).
        digital_pim, sfu: the digital PIM modules and the special-function unit of each tile
            group (a processing unit), in group order (empty: the config has no
            ``digital_pim`` / ``sfu`` section).
        processing_unit_of: per layer of the workload, the index of the tile group whose
            digital PIM modules and special-function unit run it (empty without those).
        noc: the network-on-chip (None: the tiles share one buffer, nothing travels).
        topology: the NoC's routers and links (None without a NoC).
        interface: the tiles' network interfaces (None without a NoC).
        nodes: the router of each tile in use (empty without a NoC or a workload).
        hops: the NoC's hop counts between routers, computed on demand (None likewise).
        mapping, traffic, program: the workload's placement, activation traffic and
            instruction stream (None without a workload).
        act_bits: bits per activation of the workload (0 without one).
        crossbar_busy: busy cycles per crossbar in use (int64).
        timeline: where the units report their spans (None: nothing is recorded).
        crossbar_groups: per mapped layer, its crossbar groups in the order of
            ``mapping.layers[layer].groups`` (empty without a workload).
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: HardwareConfig,
        groups: tuple[GroupHardware, ...],
        controller: Controller,
        digital: DigitalUnit,
        *,
        noc: Network | None,
        topology: Topology | None,
        interface: NetworkInterface | None,
        nodes: tuple[int, ...],
        hops: HopCounts | None,
        mapping: NetworkMapping | None,
        traffic: Traffic | None,
        program: Program | None,
        act_bits: int,
        timeline: TimelineHooks | None,
        fabric: Fabric | None = None,
        limits: Limits = DEFAULT_LIMITS,
        digital_pim: tuple[DigitalPim, ...] = (),
        sfu: tuple[Sfu, ...] = (),
        processing_unit_of: Mapping[str, int] | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.groups = groups
        self.tiles: tuple[Tile, ...] = tuple(t for group in groups for t in group.kind.tiles)
        self.controller = controller
        self.digital = digital
        used = mapping.crossbars if mapping is not None else 0
        self.training = (
            TrainingUnits(config.training, config.crossbars, used) if config.training else None
        )
        self.fabric = fabric
        self.digital_pim = digital_pim
        self.sfu = sfu
        self.processing_unit_of: Mapping[str, int] = MappingProxyType(
            dict(processing_unit_of or {})
        )
        self.limits = limits
        self.noc = noc
        self.topology = topology
        self.interface = interface
        self.nodes = nodes
        self.hops = hops
        self.mapping = mapping
        self.traffic = traffic
        self.program = program
        #: transfers by (edge, vectors: None for a sample's), with what they cost the budget
        self._scaled: dict[tuple[tuple[str, str], int | None], tuple[tuple[Transfer, ...], int]]
        self._scaled = {}
        #: what the run's transfers so far cost the NoC's budget (packets or trains)
        self._sent = 0
        self.act_bits = act_bits
        self.timeline = timeline
        self.crossbar_busy = np.zeros(mapping.crossbars if mapping else 0, dtype=np.int64)
        self._group_of = {group.name: group for group in groups}
        # Built last, in layer order: their SimPy processes start after every other unit's.
        self.crossbar_groups: Mapping[str, tuple[CrossbarGroup, ...]] = MappingProxyType({
            name: tuple(
                CrossbarGroup(env, placed, controller, timeline) for placed in layer.groups
            )
            for name, layer in (mapping.layers.items() if mapping is not None else ())
        })

    def tile_of(self, crossbar: int) -> Tile:
        """The tile holding ``crossbar`` (an index among the crossbars in use)."""
        assert self.mapping is not None
        return self.tiles[self.mapping.crossbar_tile[crossbar]]

    def group(self, name: str) -> GroupHardware:
        """The tile group called ``name``."""
        return self._group_of[name]

    def components(self) -> tuple[Component, ...]:
        """Every component bank: the controller, each group's banks, the vector units, the
        training units, the fabric's units, the NoC."""
        banks: list[Component] = [self.controller]
        for group in self.groups:
            banks.extend(group.kind.components())
        banks.append(self.digital)
        banks.extend(self.digital_pim)
        banks.extend(self.sfu)
        if self.training is not None:
            banks.extend(self.training.components())
        if self.fabric is not None:
            banks.extend(self.fabric.components())
        if self.noc is not None:
            banks.append(self.noc)
        return tuple(banks)

    def transfer(
        self, edge: tuple[str, str], phase: str, vectors: int | None = None
    ) -> simpy.Process | None:
        """Start moving the activations along ``edge`` (input layer, matrix layer) that a
        record of the matrix layer with ``vectors`` input vectors reads (default: one
        sample's), for work of ``phase``: a record of more vectors than a sample has (a
        sequence of tokens, a batch) moves proportionally more. The process ends when every
        packet has been received; None if nothing travels."""
        if self.interface is None or self.program is None:
            return None
        interface = self.interface
        transfers: tuple[Transfer, ...] = self.program.transfers.get(edge, ())
        per_sample = self.program.vectors.get(edge[1])
        if vectors is None or per_sample is None or vectors == per_sample:
            key = edge, None
        else:
            key = edge, vectors
        known = self._scaled.get(key)
        if known is None:
            if key[1] is not None:
                transfers = tuple(for_vectors(t, key[1], per_sample) for t in transfers)
            known = transfers, interface.units(transfers)
            if key[1] is not None:
                self.limits.check(
                    interface.BUDGET, known[1],
                    f"a record of {key[1]:,} vectors on layer '{edge[1]}' (its inputs over "
                    "the NoC)",
                )
            if len(self._scaled) >= 1024:
                self._scaled.clear()
            self._scaled[key] = known
        transfers, units = known
        # The run's transfers so far, against the same budget (records of many vectors
        # move more than the samples' transfers checked before the run).
        self._sent += units
        if self._sent > getattr(self.limits, interface.BUDGET):
            self.limits.check(
                interface.BUDGET, self._sent, "the trace's transfers over the NoC so far"
            )
        return interface.transfer(transfers, phase)


def _groups(config: HardwareConfig, mapping: NetworkMapping | None) -> tuple[GroupHardware, ...]:
    """The tile groups of ``config`` with their kinds, and how many of each group's crossbars
    ``mapping`` uses."""
    used: dict[str, int] = {}
    modes_used: dict[str, dict[str, int]] = {}
    if mapping is not None:
        for layer in mapping.layers.values():
            used[layer.group] = used.get(layer.group, 0) + layer.crossbars
            modes = modes_used.setdefault(layer.group, {})
            for placed in layer.groups:
                for array in placed.layouts:
                    if array.mode is not None:
                        modes[array.mode] = modes.get(array.mode, 0) + 1
    groups = []
    first_tile = first_crossbar = 0
    for spec in config.groups:
        tiles = tuple(Tile(first_tile + t, spec.name) for t in range(spec.tiles))
        kind = TILE_KINDS[spec.tile.kind](
            spec.tile, tiles=tiles, crossbars=spec.crossbars, used=used.get(spec.name, 0),
            group=spec.name, modes_used=modes_used.get(spec.name),
        )
        groups.append(GroupHardware(spec, first_tile, first_crossbar, kind))
        first_tile += spec.tiles
        first_crossbar += spec.crossbars
    return tuple(groups)


def default_payload_bits(noc: NocConfig, topology: Topology, header_bits: int) -> int:
    """The default payload of an activation packet: one buffer's worth less the header, the
    largest packet virtual cut-through admits (half a buffer on rings and tori, whose bubble
    needs room for a second packet). Wormhole takes longer packets; a buffer-sized one is
    spread over several routers only on rings and tori, whose virtual channels hold half."""
    flits = noc.buffer_flits
    bubble = topology.kind in ("ring", "torus") and noc.flow_control == "virtual_cut_through"
    if bubble:
        flits //= 2
    payload = flits * noc.link_width_bits - header_bits
    if payload < 1:
        room = (
            f"half of {noc.buffer_flits} flits (bubble flow control on a ring or torus needs "
            "room for two packets)" if bubble else f"{noc.buffer_flits} flits"
        )
        raise ConfigError(
            f"noc.buffer_flits: {room} of {noc.link_width_bits} bits leave no room for data "
            f"after the {header_bits}-bit header; enlarge the buffers or the "
            "links, or set mapping.packet_data_bits"
        )
    return payload


def _topology(config: HardwareConfig, limits: Limits) -> Topology:
    """The NoC's topology, with one router for every tile of the chip."""
    from archsim.hw.noc.topology import build_topology

    assert config.noc is not None
    topology = build_topology(config.noc, limits)
    if topology.nodes < config.tiles:
        field = "tile_groups" if config.tile_groups else "chip.tiles"
        raise ConfigError(
            f"{field}: the NoC ({config.noc.topology} {list(config.noc.dims) or 'edges'}) "
            f"has {topology.nodes} routers, one per tile; got {config.tiles} tiles"
        )
    input_node = config.mapping.input_node
    if input_node is not None and input_node >= topology.nodes:
        raise ConfigError(
            f"mapping.input_node: expected a router 0..{topology.nodes - 1} of the NoC, got "
            f"{input_node}"
        )
    return topology


def _place(policy: str, traffic: Traffic, hops: HopCounts, limits: Limits) -> tuple[int, ...]:
    """The router of each tile in use (:func:`place_tiles`). Only the traffic-aware search of
    a NoC of up to ``MAX_PLACEMENT_ROUTERS`` routers needs a dense table of every router pair,
    checked against ``limits.hop_table_bytes`` first; in-order placement needs no hop counts,
    and a larger mesh, torus, ring or tree is placed along its space-filling curve with hop
    counts on demand."""
    routers = hops.nodes
    if policy == "traffic_aware" and routers <= MAX_PLACEMENT_ROUTERS:
        limits.check(
            "hop_table_bytes", 8 * routers * routers,
            f"a hop table between {routers:,} routers (mapping.placement)",
        )
        return place_tiles(traffic.matrix, hops.table(routers), policy)
    from archsim.hw.noc.topology import space_filling_order

    curve = space_filling_order(hops.topology) if policy == "traffic_aware" else None
    return place_tiles(traffic.matrix, hops, policy, curve)


def build_system(
    env: simpy.Environment,
    config: HardwareConfig,
    network: NetworkSpec | None = None,
    mapping: NetworkMapping | None = None,
    *,
    timeline: TimelineHooks | None = None,
    limits: Limits = DEFAULT_LIMITS,
    packet_bits: int | None = None,
) -> System:
    """Build the chip of ``config`` for ``network`` as ``mapping`` places it (both None: no
    workload, for synthetic traffic or a check of the config).

    ``packet_bits`` is the payload of the largest packet the caller will send (synthetic
    traffic; it sizes the bubble of rings and tori), default the activation payload. Units
    report their spans to ``timeline`` when one is given.

    Raises:
        ConfigError: the NoC's shape or buffers do not suit the chip (naming the field).
        LimitError: a size budget is exceeded (routers, crossbars, hop table).
        MappingError: the tiles in use do not fit the NoC's routers.
    """
    limits.check("crossbars", config.crossbars, "the chip's crossbars (all tile groups)")
    if config.mapping.input_node is not None and config.noc is None:
        raise ConfigError(
            "mapping.input_node: the network input arrives over the NoC, but the config has "
            "no noc section"
        )
    groups = _groups(config, mapping)
    input_node = config.mapping.input_node
    traffic = (
        network_traffic(network, mapping, input_node) if network and mapping else None
    )
    noc = topology = interface = None
    nodes: tuple[int, ...] = ()
    hops = None
    payload: int | None = None
    tiles_used = mapping.tiles_used if mapping is not None else 0
    controller = (
        Controller(config.controller, config.tiles, tiles_used) if timeline is None
        else RecordedController(config.controller, config.tiles, tiles_used, timeline)
    )
    if config.noc is not None:
        # Imported here: a chip without a NoC need not load the NoC's modules (nor one
        # without a fabric the fabric's, below).
        from archsim.hw.network_interface import NOC_MODELS
        from archsim.hw.noc.packet import PacketFormat
        from archsim.hw.noc.routing import Routing
        from archsim.hw.noc.topology import HopCounts

        topology = _topology(config, limits)
        routing = Routing(topology)
        packet_format = PacketFormat(
            topology.nodes, config.noc.link_width_bits,
            chunk_index_bits=traffic.chunk_index_bits if traffic is not None else 0,
        )
        if traffic is not None:
            hops = HopCounts(topology)
            nodes = _place(config.mapping.placement, traffic, hops, limits)
        if packet_bits is None:
            payload = config.mapping.packet_data_bits or default_payload_bits(
                config.noc, topology, packet_format.header_bits
            )
        largest = payload if packet_bits is None else packet_bits
        if traffic is not None:  # routed blocks travel in packets of their own size
            largest = max([largest, *(
                flow.packet_bits for flows in traffic.flows.values() for flow in flows
                if flow.packet_bits
            )])
        flits = packet_format.flits(largest)
        model = NOC_MODELS[config.noc.model]
        try:
            # The largest packet sizes the bubble on rings and tori.
            noc = model.network(
                env, config.noc, topology, routing, packet_format, max_flits=flits
            )
        except ArchsimError as error:
            if not config.mapping.packet_data_bits or payload is None:
                raise
            raise ConfigError(
                f"mapping.packet_data_bits: {largest}-bit payloads make {flits}-flit "
                f"packets, which this NoC cannot carry ({error})"
            ) from None
        interface = model.interface(
            env, noc, nodes, controller, input_node=input_node, timeline=timeline
        )
    program = None
    if network is not None and mapping is not None and traffic is not None:
        program = build_program(
            network, mapping, traffic, packet_bits=payload, lanes=config.digital.lanes,
            core_of={t: controller.core_of(t).index for t in range(config.tiles)},
        )
    digital = DigitalUnit(
        env, config.digital, len(controller.cores), controller.instances_used, timeline=timeline
    )
    digital_pim: tuple[DigitalPim, ...] = ()
    sfu: tuple[Sfu, ...] = ()
    unit_of: dict[str, int] = {}
    if (config.digital_pim is not None or config.sfu is not None) and config.groups:
        # One processing unit per tile group; a layer's runs where its block's arrays are.
        index = {group.name: i for i, group in enumerate(config.groups)}
        if network is not None and mapping is not None:
            unit_of = {
                layer: index[group] for layer, group in
                processing_units(network, mapping, config.groups[0].name).items()
            }
        busy = set(unit_of.values())
        if config.digital_pim is not None:
            from archsim.hw.digital_pim import DigitalPim

            digital_pim = tuple(
                DigitalPim(
                    env, config.digital_pim, used=i in busy, group=group.name, unit=i,
                    timeline=timeline,
                )
                for i, group in enumerate(config.groups)
            )
        if config.sfu is not None:
            from archsim.hw.sfu import Sfu

            sfu = tuple(
                Sfu(env, config.sfu, used=i in busy, group=group.name, unit=i, timeline=timeline)
                for i, group in enumerate(config.groups)
            )
    fabric: Fabric | None = None
    if config.fabric is not None:
        from archsim.hw.fabric import Fabric

        fabric = Fabric(env, config.fabric, config.chip.clock_hz, noc=noc, limits=limits)
    return System(
        env, config, groups, controller, digital,
        noc=noc, topology=topology, interface=interface, nodes=nodes, hops=hops,
        mapping=mapping, traffic=traffic, program=program,
        act_bits=network.act_bits if network is not None else 0, timeline=timeline,
        fabric=fabric, limits=limits, digital_pim=digital_pim, sfu=sfu,
        processing_unit_of=unit_of,
    )
