"""The NoC packet format and closed forms for packet sizes and latency (stage: hw).

A packet is a header of ``A`` address bits followed by ``D`` data bits. The header holds the
destination router, the index of the block (chunk) the data belongs to, and the index metadata of
the sparse format the data is stored in. A link carries ``link_width_bits`` bits per cycle, one
flit, so a packet is ``ceil((A + D) / link_width_bits)`` flits and its header overhead is
``A / (A + D)`` (ScRRAMBLe's O(A, D); archsim/REFERENCES.md [ScRRAMBLe]).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

__all__ = ["PacketFormat", "scrramble_address_bits", "zero_load_latency"]


def _check_int(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")


@dataclass(frozen=True)
class PacketFormat:
    """How many bits and flits a packet of a given payload takes on a NoC.

    Attributes:
        nodes: routers in the network; the destination field addresses them.
        link_width_bits: bits a link carries per cycle (the flit size).
        chunk_index_bits: bits naming the block (chunk) the payload belongs to (default 0).
        metadata_bits: bits of sparse-format index metadata in the header (default 0).
        destination_bits: ``ceil(log2(nodes))``, at least 1 (derived).
        header_bits: ``A = destination_bits + chunk_index_bits + metadata_bits`` (derived).

    Raises:
        ValueError: a field is not an integer in range (``nodes``, ``link_width_bits`` >= 1; the
            optional fields >= 0).
    """

    nodes: int
    link_width_bits: int
    chunk_index_bits: int = 0
    metadata_bits: int = 0
    destination_bits: int = field(init=False)
    header_bits: int = field(init=False)

    def __post_init__(self) -> None:
        _check_int("nodes", self.nodes, 1)
        _check_int("link_width_bits", self.link_width_bits, 1)
        _check_int("chunk_index_bits", self.chunk_index_bits, 0)
        _check_int("metadata_bits", self.metadata_bits, 0)
        destination = max(1, (int(self.nodes) - 1).bit_length())  # ceil(log2(nodes)), exactly
        object.__setattr__(self, "destination_bits", destination)
        object.__setattr__(
            self, "header_bits", destination + self.chunk_index_bits + self.metadata_bits
        )

    def bits(self, data_bits: int) -> int:
        """Header plus payload: ``A + data_bits``."""
        return self.header_bits + data_bits

    def flits(self, data_bits: int) -> int:
        """Flits of a packet carrying ``data_bits`` payload bits: ``ceil((A + D) / width)``.

        Always at least 1 (the header alone is one flit or more). ``data_bits`` must be >= 0.
        """
        if data_bits < 0:
            raise ValueError(f"data_bits: must be >= 0, got {data_bits}")
        return -(-(self.header_bits + data_bits) // self.link_width_bits)

    def overhead(self, data_bits: int) -> float:
        """Header overhead ``A / (A + D)`` of a packet with ``data_bits`` payload bits (0..1]."""
        if data_bits < 0:
            raise ValueError(f"data_bits: must be >= 0, got {data_bits}")
        return self.header_bits / (self.header_bits + data_bits)


def scrramble_address_bits(chunks: int, density: float) -> int:
    """Address bits of a ScRRAMBLe packet: ``ceil(log2(chunks x density))``, at least 1.

    ScRRAMBLe (archsim/REFERENCES.md [ScRRAMBLe]) gives the address bits of a packet
    as ``A ~ log2(#chunks x density)``: a core is connected to ``chunks x density`` of the
    ``chunks`` blocks of its input space, and the header names one of them. The count is rounded
    up to a whole number of blocks (after snapping floating-point noise such as
    ``100 x 0.07 = 7.000000000000001`` to the nearest integer), and at least 1 bit is kept so a
    packet always names its block. Pass the result as ``PacketFormat(chunk_index_bits=...)``.

    Args:
        chunks: blocks ("slots") a core's inputs are divided into, >= 1.
        density: fraction of those blocks a core connects to, in (0, 1].
    """
    _check_int("chunks", chunks, 1)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density: must be in (0, 1], got {density!r}")
    count = chunks * density
    nearest = round(count)
    if math.isclose(count, nearest, rel_tol=1e-9):
        count = nearest
    return max(1, (math.ceil(count) - 1).bit_length())  # ceil(log2(n)), exactly, for integer n


def zero_load_latency(hops: int, flits: int, router_cycles: int, link_cycles: int) -> int:
    """Cycles a packet alone in the network takes from creation to its tail's ejection.

    ``latency = hops x (router_cycles + link_cycles) + flits``, the closed form of a
    virtual-cut-through or wormhole network without contention, where ``hops`` is the number of
    links on the route. The head passes ``hops`` router pipelines (the source router's and
    those of the ``hops - 1`` routers between; the destination router only ejects) and ``hops``
    links; the tail follows the head by ``flits`` cycles, one flit per cycle, so the packet
    is delivered ``flits`` cycles after its head reaches the destination. A packet to its own
    router (``hops`` = 0) takes ``flits`` cycles: ejection only.
    """
    _check_int("hops", hops, 0)
    _check_int("flits", flits, 1)
    _check_int("router_cycles", router_cycles, 0)
    _check_int("link_cycles", link_cycles, 0)
    return hops * (router_cycles + link_cycles) + flits
