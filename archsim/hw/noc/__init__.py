"""The packet-switched network-on-chip (stage: hw).

One router per node, one endpoint (tile) per router, built from a
:class:`~archsim.config.schema.NocConfig`:

* :mod:`~archsim.hw.noc.topology` — :func:`build_topology`: mesh, torus, ring, tree or an explicit
  edge list as a NetworkX graph with numbered routers and links, its diameter and bisection;
* :mod:`~archsim.hw.noc.routing` — :class:`Routing`: one deterministic, minimal route per pair
  (dimension order on meshes and tori, breadth-first shortest paths otherwise), cached;
* :mod:`~archsim.hw.noc.packet` — :class:`PacketFormat`: header (address) bits, flits and
  overhead of a packet; the zero-load latency closed form; ScRRAMBLe's address bits;
* :mod:`~archsim.hw.noc.network` — :class:`Network`: routers and links as SimPy resources that
  packets contend for, with credit back-pressure; virtual cut-through or wormhole flow control,
  packets of mixed sizes.
"""

from archsim.hw.noc.network import Delivery, Network
from archsim.hw.noc.packet import PacketFormat, scrramble_address_bits, zero_load_latency
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology, build_topology

__all__ = [
    "Delivery",
    "Network",
    "PacketFormat",
    "Routing",
    "Topology",
    "build_topology",
    "scrramble_address_bits",
    "zero_load_latency",
]
