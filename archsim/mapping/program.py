"""The controller's instruction stream, generated from the mapped network (stage: mapping).

For one sample, each layer runs this program on the core of every tile it uses (one core for
the whole chip with ``controller.scope: chip``; instruction classes in
:mod:`archsim.hw.controller`)::

    recv     n          ; matrix layers: the input packets addressed to this tile
    loop     S          ; counted loop over this group's S vector steps
      load   r x c      ;   input slices: r row blocks x c copies packed in the group
      mvm    1          ;   trigger the group's crossbars
      store  k x c      ;   outputs: k column blocks x c copies
    send     m          ; packets of this tile's outputs to the next matrix layer's tiles
    barrier  1          ; end of the layer on this core

    valu     ceil(e / lanes)   ; digital layers: e elements of this tile's share

``S`` follows the record (vectors dealt round-robin over the copies); the loop instruction
retires once per iteration on each core, counted on the core's first group of the layer.
:class:`Program` holds the per-step mixes the chip times and :meth:`Program.listing` prints the
stream for one sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from archsim.mapping.placement import NetworkMapping
from archsim.mapping.traffic import IO, Flow, Traffic

if TYPE_CHECKING:
    from archsim.workload.trace import NetworkSpec

__all__ = ["GroupStep", "Program", "Transfer", "build_program", "for_vectors", "packets_of"]

#: Layer kinds that only reshape data: no instructions.
_MOVES_ONLY = frozenset({"flatten"})


@dataclass(frozen=True)
class GroupStep:
    """The instructions of one loop iteration of crossbar group ``group`` (holding ``copies``
    copies of the layer) on ``tile``'s core.

    ``load`` and ``mvm`` issue before the arrays start; ``store`` and ``loop`` retire while
    they compute (see :meth:`archsim.hw.controller.Controller.step`).
    """

    group: int
    tile: int
    copies: int
    load: int
    mvm: int
    store: int
    loop: int


@dataclass(frozen=True)
class Transfer:
    """The packets of one flow: ``packets`` packets, all of ``packet_bits`` payload bits but the
    last, which carries ``last_bits``."""

    flow: Flow
    packets: int
    packet_bits: int
    last_bits: int


def packets_of(flow: Flow, packet_bits: int, bits: int | None = None) -> Transfer:
    """Cut ``flow`` (or ``bits`` of it, default all) into packets of at most ``packet_bits``
    payload bits (the flow's own packet size, when it has one)."""
    size = flow.packet_bits or packet_bits
    bits = flow.bits if bits is None else bits
    count = -(-bits // size)
    return Transfer(flow, count, size, bits - (count - 1) * size)


def for_vectors(transfer: Transfer, vectors: int, per_sample: int) -> Transfer:
    """``transfer`` (one sample's flow of ``per_sample`` input vectors) for a record of
    ``vectors`` input vectors: the flow's bits scaled by ``vectors / per_sample``, rounded up
    (a sequence of tokens through a dense layer, a batch of samples in one record)."""
    if vectors == per_sample:
        return transfer
    bits = -(-transfer.flow.bits * vectors // per_sample)
    return packets_of(transfer.flow, transfer.packet_bits, bits)


@dataclass(frozen=True)
class Program:
    """The instruction stream of a mapped network (one sample), as the chip executes it.

    Attributes:
        steps: per matrix layer, one :class:`GroupStep` per crossbar group, in group order.
        transfers: per edge ``(input layer, matrix layer)``, the packets of each flow.
        shares: per layer, ``((tile, fraction), ...)`` of its work (see
            :class:`~archsim.mapping.traffic.Traffic`).
        vectors: per matrix layer, input vectors per sample (for the listing).
        elements: per layer, elements of digital work per sample (for the listing).
        lanes: vector-ALU lanes (elements per ``valu`` instruction).
        packet_bits: payload bits of a full activation packet (0 without a NoC).
    """

    steps: Mapping[str, tuple[GroupStep, ...]]
    transfers: Mapping[tuple[str, str], tuple[Transfer, ...]]
    shares: Mapping[str, tuple[tuple[int, float], ...]]
    vectors: Mapping[str, int]
    elements: Mapping[str, int]
    lanes: int
    packet_bits: int

    def listing(
        self,
        network: NetworkSpec,
        core_of: Mapping[int, int],
        records: Mapping[str, int] | None = None,
    ) -> str:
        """The stream for one sample as assembly-like text, per layer and core.

        ``core_of`` maps a tile to the core that runs its instructions; ``records`` gives,
        per layer, the vectors (matrix layers) or elements (digital layers) of one sample's
        trace record, where they differ from the network's shapes.
        """
        counts = dict(self.vectors) | dict(self.elements) | dict(records or {})
        lines: list[str] = []
        for layer in network.layers:
            lines.append(f"; layer {layer.name} ({layer.kind})")
            per_core: dict[int, list[str]] = {}
            if layer.is_matrix:
                for (source, target), transfers in self.transfers.items():
                    if target != layer.name:
                        continue
                    for t in transfers:
                        origin = "the I/O port" if t.flow.src == IO else f"tile {t.flow.src}"
                        if t.flow.src != IO:  # the host sends the network input, no core
                            per_core.setdefault(core_of[t.flow.src], []).append(
                                f"  send    {t.packets:<8}; {t.flow.bits} bits of {source} "
                                f"to tile {t.flow.dst}"
                            )
                        per_core.setdefault(core_of[t.flow.dst], []).append(
                            f"  recv    {t.packets:<8}; {t.flow.bits} bits of {source} from {origin}"
                        )
                copies = sum(step.copies for step in self.steps[layer.name])
                steps = -(-counts[layer.name] // copies)
                for step in self.steps[layer.name]:
                    body = per_core.setdefault(core_of[step.tile], [])
                    body.append(f"  loop    {steps:<8}; group {step.group} on tile {step.tile}")
                    body.append(f"    load  {step.load}")
                    body.append(f"    mvm   {step.mvm}")
                    body.append(f"    store {step.store}")
                for core in dict.fromkeys(core_of[step.tile] for step in self.steps[layer.name]):
                    per_core[core].append("  barrier 1")
            elif layer.kind not in _MOVES_ONLY:
                elements = counts.get(layer.name, 0)
                for tile, part in self.shares[layer.name]:
                    count = math.ceil(round(elements * part) / self.lanes)
                    if count:
                        per_core.setdefault(core_of[tile], []).append(
                            f"  valu    {count:<8}; {layer.kind} on tile {tile}"
                        )
            for core in sorted(per_core):
                lines.append(f"core {core}:")
                lines.extend(per_core[core])
        return "\n".join(lines) + "\n"


def _group_step(mapping: NetworkMapping, layer: str, index: int, lead: bool) -> GroupStep:
    placed = mapping.layers[layer].groups[index]
    layout = mapping.layers[layer].part_layout(placed)
    packed = len(placed.copies)
    tile = mapping.crossbar_tile[placed.crossbars[0]]
    row_blocks = layout.row_splits if packed == 1 else 1
    col_blocks = layout.col_splits if packed == 1 else 1
    return GroupStep(index, tile, packed, row_blocks * packed, 1, col_blocks * packed, int(lead))


def build_program(
    network: NetworkSpec,
    mapping: NetworkMapping,
    traffic: Traffic,
    *,
    packet_bits: int | None,
    lanes: int,
    core_of: Mapping[int, int],
) -> Program:
    """Generate the instruction stream of ``network`` on ``mapping`` (module docstring).

    ``packet_bits`` is the payload of a full activation packet (None: the chip has no NoC, its
    tiles share one buffer and nothing is sent), ``lanes`` the vector ALU's
    width, ``core_of`` the core of each tile (the loop instruction is counted once per core).
    """
    steps: dict[str, tuple[GroupStep, ...]] = {}
    vectors: dict[str, int] = {}
    elements: dict[str, int] = {}
    for layer in network.layers:
        # As the trace counts digital work: per input element, but per output for additions.
        shape = layer.out_shape if layer.kind == "add" else layer.in_shape
        elements[layer.name] = math.prod(shape)
        if not layer.is_matrix:
            continue
        seen: set[int] = set()
        built = []
        for index, placed in enumerate(mapping.layers[layer.name].groups):
            core = core_of[mapping.crossbar_tile[placed.crossbars[0]]]
            built.append(_group_step(mapping, layer.name, index, core not in seen))
            seen.add(core)
        steps[layer.name] = tuple(built)
        vectors[layer.name] = layer.vectors_per_sample
    transfers = {
        edge: tuple(packets_of(flow, packet_bits) for flow in flows)
        for edge, flows in traffic.flows.items()
        if packet_bits is not None
    }
    return Program(
        MappingProxyType(steps),
        MappingProxyType(transfers),
        traffic.shares,
        MappingProxyType(vectors),
        MappingProxyType(elements),
        lanes,
        packet_bits or 0,
    )
