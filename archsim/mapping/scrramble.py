"""ScRRAMBLe cores onto crossbars: the mapping strategy and the offset encoding (stage: mapping).

A ScRRAMBLe network (:mod:`archsim.workload.scrramble`) reaches the simulator as a trace with
one ``routed`` layer per core (:func:`archsim.workload.scrramble.export_scrramble_trace`), which
the generic mapping places (:mod:`archsim.mapping.placement`, strategy ``routed``) and whose
connections become packets (:mod:`archsim.mapping.traffic`). This module holds what is
particular to ScRRAMBLe:

* **One core per crossbar, tile and router.** Each core's ``C x C`` weight matrix fills one
  crossbar of ``C`` rows; core ``i`` (layers in order, cores in order) sits on tile ``i`` and
  router ``i`` when the config has one crossbar per tile (``scrramble_256.yaml``).
  :func:`check_scrramble` refuses, before anything is exported, a network that does not map
  so: no NoC, a core that needs more than one array, more cores than routers or tiles.
* **Signed weights, ``offset`` scheme.** A signed weight is one positive conductance
  ``G = a (W + b)`` (archsim/REFERENCES.md [ScRRAMBLe]). Per crossbar, ``a`` and ``b`` map the
  core's weight range ``[W_min, W_max]`` linearly onto the conductance range
  ``[g_min, g_max]`` (default 4-40 uS, the range of Wu et al. 2023, Sec. 2.7, REFERENCES.md
  [Wu2023]: the config states no conductance range). The column currents give
  ``x . G = a (x . W) + a b sum(x)``; a core's inputs are balanced (``sum(x) = 0``, every block
  enters once with +1 and once with -1), so ``(x . G) / a = x . W``. :func:`check_offset`
  verifies this on a network's real core inputs.
* **Connections -> packets.** Every connection is one packet from the router of its source
  (the core that produced the block, or the I/O router ``mapping.input_node`` for the network
  input) to the router of its core. The payload is the block, ``D = s x act_bits`` bits; the
  header is the destination router, ``ceil(log2(nodes))`` bits, plus the block's index among
  the destination core's connections, ``ceil(log2(routes))`` bits, which is ScRRAMBLe's
  ``A ~ log2(#chunks x density)`` (:func:`archsim.hw.noc.packet.scrramble_address_bits`). All
  packets share one format, so the header overhead of every packet is ``A / (A + D)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.config.schema import HardwareConfig
from archsim.errors import ArchsimError, MappingError
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.mapping.crossbar import layer_geometry
from archsim.workload.activity import MAX_ACT_BITS
from archsim.workload.scrramble import ScrrambleNetwork

G_MIN_S = 4e-6
"""Default lowest programmed conductance, S (Wu et al. 2023, Sec. 2.7: 4-40 uS; REFERENCES.md)."""

G_MAX_S = 40e-6
"""Default highest programmed conductance, S (Wu et al. 2023, Sec. 2.7; REFERENCES.md)."""


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


def check_scrramble(
    network: ScrrambleNetwork,
    config: HardwareConfig,
    *,
    act_bits: int = 8,
    weight_bits: int | None = None,
    input_node: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> int:
    """Check that ``network`` maps one core per crossbar, tile and router on ``config`` (the
    ScRRAMBLe strategy; module docstring), before anything is exported or simulated. Returns
    the weight bits the trace states (``weight_bits``, default one cell of the config's).

    Raises:
        ArchsimError: no ``noc`` section, ``act_bits`` or ``input_node`` out of range.
        MappingError: the crossbars are not ``offset``, a core does not fit one crossbar, or
            the network has more cores than the NoC has routers or the chip has tiles.
        LimitError: more cores than ``limits.cores``.
    """
    spec = network.spec
    limits.check("cores", spec.total_cores, f"a ScRRAMBLe network of cores {list(spec.cores)}")
    if config.noc is None:
        raise ArchsimError(
            "noc: a ScRRAMBLe run routes every connection over the network-on-chip; "
            f"config '{config.name}' has no noc section"
        )
    if not 1 <= act_bits <= MAX_ACT_BITS:
        raise ArchsimError(f"act_bits: must be 1..{MAX_ACT_BITS}, got {act_bits}")
    group = config.groups[0]
    xbar = group.tile.crossbar
    field = "tile" if not config.tile_groups else f"tile_groups.{group.name}.tile"
    if xbar.signed_weights != "offset":
        raise MappingError(
            f"{field}.crossbar.signed_weights: ScRRAMBLe stores each signed weight as one "
            f"positive conductance G = a (W + b); expected offset, got {xbar.signed_weights}"
        )
    bits = xbar.cell_bits if weight_bits is None else weight_bits
    if bits < 1:
        raise MappingError(f"weight_bits: must be >= 1, got {bits}")
    if xbar.rows < spec.core_inputs:
        raise MappingError(
            f"{field}.crossbar.rows: a core of {spec.core_inputs} inputs needs that many rows, "
            f"got {xbar.rows}"
        )
    geometry = layer_geometry(
        "core", spec.core_inputs, spec.core_inputs,
        array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=bits,
        cell_bits=xbar.cell_bits, signed_weights=xbar.signed_weights,
    )
    if geometry.col_splits != 1:
        raise MappingError(
            f"{field}.crossbar.cols: a core of {spec.core_inputs} outputs x "
            f"{geometry.physical_cols_per_output} cells per weight needs "
            f"{spec.core_inputs * geometry.physical_cols_per_output} columns, got {xbar.cols}"
        )
    nodes = _routers(config)
    total = spec.total_cores
    if total > nodes:
        raise MappingError(
            f"noc: the network has {total} cores, one per router, but the NoC has {nodes} "
            "routers; enlarge noc.dims or use fewer cores"
        )
    if total > group.tiles:
        raise MappingError(
            f"{'chip.tiles' if not config.tile_groups else f'tile_groups.{group.name}.tiles'}: "
            f"the network has {total} cores, one per tile, but "
            + (f"the chip has {group.tiles} tiles" if not config.tile_groups else
               f"tile group '{group.name}' (the first, which ScRRAMBLe's cores use) has "
               f"{group.tiles} tiles")
        )
    if not 0 <= input_node < nodes:
        raise ArchsimError(f"input_node: must be a router 0..{nodes - 1}, got {input_node}")
    return bits


def _routers(config: HardwareConfig) -> int:
    """Routers of the config's NoC, from its shape (no topology is built)."""
    noc = config.noc
    assert noc is not None
    if noc.topology == "edges":
        return 1 + max((max(edge) for edge in noc.edges), default=0)
    if noc.topology == "tree":
        arity, depth = noc.dims
        return sum(arity**level for level in range(depth + 1))
    return math.prod(noc.dims)
