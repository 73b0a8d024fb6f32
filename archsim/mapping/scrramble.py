"""ScRRAMBLe cores onto crossbars, connections onto NoC packets (stage: mapping).

A ScRRAMBLe network (:mod:`archsim.workload.scrramble`) maps one to one onto the chip:

* **Cores -> crossbars.** Each core's ``C x C`` weight matrix fills one crossbar of ``C`` rows
  (:func:`~archsim.mapping.crossbar.layer_geometry` with the config's cells; a core that needs
  more than one array is refused). Core ``i`` (layers in order, cores in order) sits on tile
  ``i``, router ``i`` of the NoC: one core per tile, whatever ``chip.crossbars_per_tile``.
* **Signed weights, ``offset`` scheme.** A signed weight is one positive conductance
  ``G = a (W + b)`` (published.md section 6). Per crossbar, ``a`` and ``b`` map the core's
  weight range ``[W_min, W_max]`` linearly onto the conductance range ``[g_min, g_max]``
  (default 4-40 uS, the range of Wu et al. 2023, published.md section 1: the config states no
  conductance range). The column currents give ``x . G = a (x . W) + a b sum(x)``; a core's
  inputs are balanced (``sum(x) = 0``, every block enters once with +1 and once with -1), so
  ``(x . G) / a = x . W``. :func:`check_offset` verifies this on a network's real core inputs.
* **Connections -> packets.** Every connection is one packet from the router of its source
  (the core that produced the block, or the I/O router ``input_node`` for the network input)
  to the router of its core. The payload is the block, ``D = s x act_bits`` bits; the header
  is the destination router, ``ceil(log2(nodes))`` bits, plus the block's index among the
  destination core's connections, ``ceil(log2(chunks x density))`` bits (ScRRAMBLe's
  ``A ~ log2(#chunks x density)``; :func:`archsim.hw.noc.packet.scrramble_address_bits`, which
  the hardware stage applies to :attr:`ScrrambleMapping.chunks` and ``density``). All packets
  share one format (the NoC has one), so ``chunks`` is the largest source space of any layer
  and the header overhead of every packet is ``A / (A + D)``.
* **Crossbar inputs.** A slot holds the signed sum of up to ``u`` blocks of unsigned
  ``act_bits``-bit activations, so the crossbar sees signed inputs of
  ``act_bits + ceil(log2(u)) + 1`` bits (magnitude, growth, sign), applied in
  ``ceil(input_bits / dac.bits)`` slices (archsim's choice; the paper's cores take the
  balanced signed inputs directly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.config.schema import HardwareConfig
from archsim.errors import ArchsimError, MappingError
from archsim.mapping.crossbar import CrossbarLayout, LayerGeometry, layer_geometry, layout_layer
from archsim.workload.activity import MAX_ACT_BITS
from archsim.workload.scrramble import Connection, ScrrambleNetwork

G_MIN_S = 4e-6
"""Default lowest programmed conductance, in siemens (Wu et al. 2023: 4-40 uS; published.md s1)."""

G_MAX_S = 40e-6
"""Default highest programmed conductance, in siemens (Wu et al. 2023; published.md s1)."""


@dataclass(frozen=True)
class OffsetEncoding:
    """One crossbar's signed-weight encoding ``G = a (W + b)``.

    Attributes:
        a: conductance per unit of weight, in siemens.
        b: offset added to every weight, in weight units (so that ``W + b > 0``).
        g_min_s: conductance of the crossbar's smallest weight, in siemens.
        g_max_s: conductance of its largest weight, in siemens.
    """

    a: float
    b: float
    g_min_s: float
    g_max_s: float

    def conductances(self, weights: np.ndarray, levels: int | None = None) -> np.ndarray:
        """Conductances (siemens, float64) storing ``weights``, clipped to ``[g_min, g_max]``.

        With ``levels``, each conductance is rounded to the nearest of ``levels`` evenly spaced
        values from ``g_min`` to ``g_max`` (a cell of ``log2(levels)`` bits).
        """
        g = self.a * (np.asarray(weights, dtype=np.float64) + self.b)
        g = np.clip(g, self.g_min_s, self.g_max_s)
        if levels is not None:
            if levels < 2:
                raise MappingError(f"levels: a cell needs >= 2 conductance levels, got {levels}")
            step = (self.g_max_s - self.g_min_s) / (levels - 1)
            g = self.g_min_s + np.rint((g - self.g_min_s) / step) * step
        return g

    def decode(self, conductances: np.ndarray) -> np.ndarray:
        """The signed weights that ``conductances`` stand for: ``G / a - b``."""
        return np.asarray(conductances, dtype=np.float64) / self.a - self.b

    def readout(self, x: np.ndarray, conductances: np.ndarray) -> np.ndarray:
        """What the crossbar's columns give for inputs ``x``, scaled back: ``(x . G) / a``.

        ``x`` is ``(..., rows)``; the result is ``x . W + b sum(x)``, i.e. ``x . W`` exactly
        when ``sum(x) = 0``.
        """
        return (np.asarray(x, dtype=np.float64) @ conductances) / self.a


def offset_encoding(
    weights: np.ndarray, *, g_min_s: float = G_MIN_S, g_max_s: float = G_MAX_S
) -> OffsetEncoding:
    """The ``a`` and ``b`` that map ``weights``' range linearly onto ``[g_min_s, g_max_s]``.

    ``a = (g_max - g_min) / (W_max - W_min)`` and ``b = g_min / a - W_min``, so ``W_min``
    becomes ``g_min`` and ``W_max`` becomes ``g_max`` (a constant matrix uses ``a = g_max -
    g_min`` per unit weight).
    """
    if not 0.0 < g_min_s < g_max_s:
        raise MappingError(
            f"conductance range: need 0 < g_min < g_max, got {g_min_s} S .. {g_max_s} S"
        )
    w = np.asarray(weights, dtype=np.float64)
    w_min, w_max = float(w.min()), float(w.max())
    span = w_max - w_min if w_max > w_min else 1.0
    a = (g_max_s - g_min_s) / span
    return OffsetEncoding(a=a, b=g_min_s / a - w_min, g_min_s=g_min_s, g_max_s=g_max_s)


@dataclass(frozen=True)
class OffsetCheck:
    """How closely the offset-encoded crossbars reproduce the signed products.

    Over every core of every layer and every sample: ``max_error`` is the largest
    ``|(x . G) / a - x . W|``, ``max_output`` the largest ``|x . W|`` (the scale to judge the
    error by), ``max_input_sum`` the largest ``|sum(x)|`` of a core input and ``max_offset``
    the largest ``|b sum(x)|`` (the term balancing removes). ``W`` is the quantised weight
    ``G / a - b`` when the check rounds conductances to levels.
    """

    max_error: float
    max_output: float
    max_input_sum: float
    max_offset: float
    cores: int
    samples: int

    @property
    def relative_error(self) -> float:
        """``max_error / max_output`` (0 when every output is 0)."""
        return self.max_error / self.max_output if self.max_output else 0.0


def check_offset(
    network: ScrrambleNetwork,
    x: np.ndarray,
    *,
    g_min_s: float = G_MIN_S,
    g_max_s: float = G_MAX_S,
    levels: int | None = None,
) -> OffsetCheck:
    """Run every core of ``network`` on the batch ``x`` through offset-encoded crossbars.

    The core inputs are recomputed in float64 from ``x`` (so that ``sum(x)`` per core is zero
    to float64 rounding), each core's weights are encoded with :func:`offset_encoding`, and the
    crossbar readout ``(x . G) / a`` (positive conductances only) is compared with the signed
    product ``x . W``.
    """
    exact = ScrrambleNetwork(
        network.spec, network.routings, [w.astype(np.float64) for w in network.weights]
    )
    inputs, _ = exact.trace(x)
    max_error = max_output = max_sum = max_offset = 0.0
    cores = 0
    for layer, core_in in enumerate(inputs):
        for core in range(core_in.shape[1]):
            w = exact.weights[layer][core]
            enc = offset_encoding(w, g_min_s=g_min_s, g_max_s=g_max_s)
            g = enc.conductances(w, levels)
            signed = core_in[:, core] @ enc.decode(g)
            got = enc.readout(core_in[:, core], g)
            sums = np.abs(core_in[:, core].sum(axis=1))
            max_error = max(max_error, float(np.abs(got - signed).max()))
            max_output = max(max_output, float(np.abs(signed).max()))
            max_sum = max(max_sum, float(sums.max()))
            max_offset = max(max_offset, float(abs(enc.b) * sums.max()))
            cores += 1
    return OffsetCheck(max_error, max_output, max_sum, max_offset, cores, len(x))


@dataclass(frozen=True)
class CorePlacement:
    """Where one core lives: its layer and index there, its crossbar, tile and NoC router."""

    layer: int
    core: int
    crossbar: int
    tile: int
    node: int


@dataclass(frozen=True)
class PacketRoute:
    """The packet that carries one connection's block, per sample.

    ``source_core`` is the global index of the producing core (-1: the network input, sent
    from the I/O router); ``dest_core`` that of the receiving core. Sizes in bits.
    """

    connection: Connection
    source_core: int
    dest_core: int
    src_node: int
    dst_node: int
    data_bits: int


@dataclass(frozen=True)
class ScrrambleMapping:
    """A ScRRAMBLe network placed on a chip with a NoC.

    Attributes:
        cores: one placement per core, global index order (layer by layer).
        layer_offsets: global index of each layer's first core.
        geometry: the arithmetic of one core's crossbar layout.
        layout: the crossbar layout every core uses (``C`` rows, ``C`` columns x slices).
        packets: one route per connection, in :attr:`ScrrambleNetwork.connections` order.
        chunks: the largest source space (blocks) of any layer, which the chunk index names.
        density: the fraction of a layer's source blocks each core connects to.
        data_bits: ``D``, payload bits per packet (``s x act_bits``).
        act_bits: bits per routed activation.
        weight_bits: bits per stored weight (one cell per weight with ``offset``).
        input_bits: bits of a crossbar input element (see the module docstring).
        input_node: router the network input is injected from.
        nodes: routers on the NoC.
    """

    cores: tuple[CorePlacement, ...]
    layer_offsets: tuple[int, ...]
    geometry: LayerGeometry
    layout: CrossbarLayout
    packets: tuple[PacketRoute, ...]
    chunks: int
    density: float
    data_bits: int
    act_bits: int
    weight_bits: int
    input_bits: int
    input_node: int
    nodes: int

    def core_index(self, layer: int, core: int) -> int:
        """Global index of core ``core`` of layer ``layer``."""
        return self.layer_offsets[layer] + core


def _input_bits(network: ScrrambleNetwork, act_bits: int) -> int:
    """Signed crossbar input bits: magnitude of a sum of up to ``u`` blocks, plus a sign."""
    uses = max(
        int(np.abs(routing.signs).sum(axis=0).max()) for routing in network.routings
    )
    return act_bits + max(0, (uses - 1).bit_length()) + 1


def map_scrramble(
    network: ScrrambleNetwork,
    config: HardwareConfig,
    *,
    nodes: int,
    act_bits: int = 8,
    weight_bits: int | None = None,
    input_node: int = 0,
) -> ScrrambleMapping:
    """Place ``network`` on the chip of ``config`` (rules: module docstring).

    Args:
        network: the ScRRAMBLe network.
        config: hardware with a ``noc`` section and ``signed_weights: offset`` crossbars.
        nodes: routers of the config's NoC (the hardware stage builds the topology).
        act_bits: bits per routed activation, 1..16.
        weight_bits: bits per weight; default ``tile.crossbar.cell_bits`` (one cell each).
        input_node: NoC router the network input enters from.

    Raises:
        ArchsimError: no ``noc`` section, or ``act_bits`` / ``input_node`` out of range.
        MappingError: a core does not fit one crossbar, the crossbars are not ``offset``, or
            the network has more cores than the NoC has routers or the chip has tiles.
    """
    if config.noc is None:
        raise ArchsimError(
            "noc: a ScRRAMBLe run routes every connection over the network-on-chip; "
            f"config '{config.name}' has no noc section"
        )
    if not 1 <= act_bits <= MAX_ACT_BITS:
        raise ArchsimError(f"act_bits: must be 1..{MAX_ACT_BITS}, got {act_bits}")
    spec = network.spec
    xbar = config.tile.crossbar
    if xbar.signed_weights != "offset":
        raise MappingError(
            "tile.crossbar.signed_weights: ScRRAMBLe stores each signed weight as one positive "
            f"conductance G = a (W + b); expected offset, got {xbar.signed_weights}"
        )
    bits = xbar.cell_bits if weight_bits is None else weight_bits
    if bits < 1:
        raise MappingError(f"weight_bits: must be >= 1, got {bits}")
    if xbar.rows < spec.core_inputs:
        raise MappingError(
            f"tile.crossbar.rows: a core of {spec.core_inputs} inputs needs that many rows, "
            f"got {xbar.rows}"
        )
    geometry = layer_geometry(
        "core", spec.core_inputs, spec.core_inputs,
        array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=bits,
        cell_bits=xbar.cell_bits, signed_weights=xbar.signed_weights,
    )
    if geometry.col_splits != 1:
        raise MappingError(
            f"tile.crossbar.cols: a core of {spec.core_inputs} outputs x "
            f"{geometry.physical_cols_per_output} cells per weight needs "
            f"{spec.core_inputs * geometry.physical_cols_per_output} columns, got {xbar.cols}"
        )
    (layout,) = layout_layer(geometry).groups[0]
    total = spec.total_cores
    if total > nodes:
        raise MappingError(
            f"noc: the network has {total} cores, one per router, but the NoC has {nodes} "
            "routers; enlarge noc.dims or use fewer cores"
        )
    if total > config.chip.tiles:
        raise MappingError(
            f"chip.tiles: the network has {total} cores, one per tile, but the chip has "
            f"{config.chip.tiles} tiles"
        )
    if not 0 <= input_node < nodes:
        raise ArchsimError(f"input_node: must be a router 0..{nodes - 1}, got {input_node}")
    per_tile = config.chip.crossbars_per_tile
    offsets = tuple(int(v) for v in np.cumsum((0,) + spec.cores[:-1]))
    # One core per tile and router, in order: core i uses the first crossbar of tile i.
    cores = tuple(
        CorePlacement(layer, core, (offsets[layer] + core) * per_tile, offsets[layer] + core,
                      offsets[layer] + core)
        for layer, count in enumerate(spec.cores)
        for core in range(count)
    )
    chunks = max(spec.sources(layer) for layer in range(len(spec.cores)))
    data_bits = spec.slot_size * act_bits
    packets = []
    for conn in network.connections:
        dest = offsets[conn.layer] + conn.core
        if conn.layer == 0:
            source, src_node = -1, input_node
        else:
            source = offsets[conn.layer - 1] + conn.source // spec.slots
            src_node = cores[source].node
        packets.append(
            PacketRoute(conn, source, dest, src_node, cores[dest].node, data_bits)
        )
    return ScrrambleMapping(
        cores=cores,
        layer_offsets=offsets,
        geometry=geometry,
        layout=layout,
        packets=tuple(packets),
        chunks=chunks,
        density=spec.density,
        data_bits=data_bits,
        act_bits=act_bits,
        weight_bits=bits,
        input_bits=_input_bits(network, act_bits),
        input_node=input_node,
        nodes=nodes,
    )
