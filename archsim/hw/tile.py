"""Tile kinds: a group of tiles' component banks and what one operation costs (stage: hw).

A chip holds one or more *tile groups* (``tile_groups:`` in a config, or the single ``tile:``
section); every group is made of one *kind* of tile. A :class:`TileKind` owns the component
banks of its group and answers one question, :meth:`TileKind.op_cost`: the cycles and the action
counts of one *tile operation* (one activation of one array on one input vector, or on several
packed vectors) for a given array layout and input precision. That method is the hook a new kind
of tile overrides; :meth:`TileKind.charge` (counting an operation's actions), :class:`Charges`
(the actions of a batch of operations merged, counted once each) and the handlers that schedule
operations (:mod:`archsim.sim.handlers`) work on any :class:`OpCost`. The second
hook, :meth:`TileKind.count_vectors`, counts the data-dependent work of a record (cells
conducting, partial sums merged, buffer accesses).

:class:`CrossbarTiles` is the analog crossbar tile: array, row DACs, TIAs, ADCs, shift-and-add
and buffer. Cycle semantics of one operation with ``S`` input slices and ``G`` column groups
(``r`` = crossbar read cycles, ``c`` = ADC conversion cycles at the configured resolution,
:func:`archsim.hw.adc.conversion_cycles`):

* analog accumulation (the TIA integrates the slices, Wu et al. 2023):
  ``G x (S x r + c)`` cycles; the rows are driven again for every column group;
* digital accumulation (one conversion per slice, ISAAC): ``S x (r + G x c)`` cycles, or with
  ``overlap_with_read`` ``r + (S - 1) x max(r, G x c) + G x c`` (conversion of slice k
  overlaps the read of slice k + 1).

:class:`Tile` is one tile instance, the place for per-tile state (a mode, for kinds that have
one). A kind receives its group's tiles and :meth:`TileKind.op_cost` the tile that holds the
array; a kind whose costs follow state that changes during a run sets ``STATEFUL`` so that the
handlers ask it again for every record instead of remembering one cost per input precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import ClassVar

from archsim.config.schema import TileConfig
from archsim.errors import MappingError
from archsim.hw.adc import Adc, conversion_cycles
from archsim.hw.buffer import Buffer
from archsim.hw.component import Component
from archsim.hw.crossbar import Crossbar
from archsim.hw.dac import Dac
from archsim.hw.shift_add import ShiftAdd
from archsim.hw.tia import Tia
from archsim.mapping.crossbar import CrossbarLayout, LayerGeometry
from archsim.mapping.placement import LayerMapping
from archsim.stats import FORWARD
from archsim.stats.timeline import Phases

__all__ = [
    "TILE_KINDS", "Charges", "CrossbarTiles", "HybridTiles", "OpCost", "Tile", "TileKind",
    "TileOps",
]


@dataclass(frozen=True)
class OpCost:
    """Cycles and action counts of one operation, independent of input data.

    ``cycles`` is the operation's length in chip cycles; ``actions`` lists ``(component,
    action, count)`` per operation, ``busy`` ``(component, instance-cycles)`` per operation
    (summed over the instances of that component the operation occupies).
    """

    cycles: int
    actions: tuple[tuple[Component, str, int], ...]
    busy: tuple[tuple[Component, int], ...]

    def count(self, kind: str, action: str) -> int:
        """The operation's performances of ``action`` by components of ``kind``."""
        return sum(n for c, a, n in self.actions if c.KIND == kind and a == action)

    def busy_of(self, kind: str) -> int:
        """The operation's busy instance-cycles of components of ``kind``."""
        return sum(n for c, n in self.busy if c.KIND == kind)

    @staticmethod
    def together(costs: Iterable[OpCost]) -> OpCost:
        """The cost of several arrays operating in lockstep: the longest one's cycles, the
        actions and busy cycles of all of them added up."""
        cycles = 0
        actions: dict[tuple[Component, str], int] = {}
        busy: dict[Component, int] = {}
        for cost in costs:
            cycles = max(cycles, cost.cycles)
            for component, action, n in cost.actions:
                actions[component, action] = actions.get((component, action), 0) + n
            for component, n in cost.busy:
                busy[component] = busy.get(component, 0) + n
        return OpCost(
            cycles,
            tuple((c, a, n) for (c, a), n in actions.items()),
            tuple(busy.items()),
        )


@dataclass(frozen=True)
class Charges:
    """The action counts and busy instance-cycles of a batch of operations, merged: one entry
    per ``(component, action)`` and one per component, each summed over the batch.

    Counting a batch's charges once gives the counts that counting each operation would: an
    :class:`OpCost`'s counts are whole numbers, so their sums are exact (Python ints, and the
    components' float counts hold whole numbers below 2**53 exactly whatever the order of
    the additions). Entries that are zero are kept, so that a phase the batch worked in is
    recorded on every component it touched, as counting each operation records it.
    """

    actions: tuple[tuple[Component, str, int], ...]
    busy: tuple[tuple[Component, int], ...]

    @staticmethod
    def of(batch: Iterable[tuple[OpCost, int]]) -> Charges:
        """The charges of ``operations`` operations of each ``(cost, operations)`` of
        ``batch``."""
        actions: dict[tuple[Component, str], int] = {}
        busy: dict[Component, int] = {}
        for cost, operations in batch:
            for component, action, n in cost.actions:
                actions[component, action] = actions.get((component, action), 0) + n * operations
            for component, n in cost.busy:
                busy[component] = busy.get(component, 0) + n * operations
        return Charges(tuple((c, a, n) for (c, a), n in actions.items()), tuple(busy.items()))

    def charge(self, phase: str = FORWARD) -> None:
        """Count the batch by work of ``phase``: one count per action, one busy time per
        component."""
        for component, action, n in self.actions:
            component.count(action, n, phase)
        for component, n in self.busy:
            component.add_busy(n, phase)


class Tile:
    """One tile instance: its chip-wide ``index``, its ``group`` and its per-instance state.

    ``mode`` is the operating mode a kind of tile may switch per instance (None for kinds that
    have none, such as :class:`CrossbarTiles`).
    """

    __slots__ = ("index", "group", "mode")

    def __init__(self, index: int, group: str, mode: str | None = None) -> None:
        self.index = index
        self.group = group
        self.mode = mode

    def __repr__(self) -> str:
        return f"Tile({self.index}, {self.group!r}, mode={self.mode!r})"


class TileOps(Component):
    """Tile operations themselves: the sequencing, clocking and leakage charged per operation."""

    KIND = "tile"
    TIMED = False

    def __init__(self, energy_j: float, instances: int, used: int, *, group: str = "") -> None:
        super().__init__(instances, used, group=group)
        self.declare("op", energy_j, "one tile operation (sequencing, clocking, leakage)")


class TileKind:
    """The component banks of one tile group and the cost of one of its operations.

    A kind is built from its group's tile config with the group's tile instances (``tiles``),
    its number of arrays (``crossbars``) and how many of them the mapping uses (``used``).
    Subclasses set ``KIND`` (the name of the kind, as ``tile.kind`` gives it), build their
    banks in ``__init__`` and override :meth:`components`, :meth:`op_cost` and
    :meth:`count_vectors` (and :meth:`conversion_phases` to show converter activity on a
    timeline); everything else works on any kind. ``STATEFUL`` kinds have costs that follow
    per-tile state changed during a run (a mode): their costs are not cached.
    """

    KIND: ClassVar[str] = "tile"
    STATEFUL: ClassVar[bool] = False

    def __init__(
        self, config: TileConfig, *, tiles: tuple[Tile, ...], crossbars: int, used: int,
        group: str = "", modes_used: Mapping[str, int] | None = None,
    ) -> None:
        self.config = config
        self.group = group
        self.tiles = tiles
        self.crossbars = crossbars
        self.used = used

    def components(self) -> tuple[Component, ...]:
        """Every component bank of the group, in pipeline order."""
        raise NotImplementedError

    def op_cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """Cost of one operation of an array holding ``layout``, on ``tile``, on
        ``input_bits``-bit inputs."""
        raise NotImplementedError

    def transposed_op_cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """Cost of one transposed operation (the backward pass's ``mvm_t``: the error vector
        driven into the columns, the rows sensed) of an array holding ``layout``.

        Raises:
            MappingError: the kind cannot read its arrays transposed (the default).
        """
        raise MappingError(
            f"tile kind '{self.KIND}' (group '{self.group}') has no transposed read for "
            "backward mvm_t records"
        )

    def conversion_phases(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> Phases:
        """When the kind's converters work during one operation, for a timeline: ``(offset,
        cycles)`` phases from the operation's start (none by default)."""
        return ()

    def count_vectors(
        self, geometry: LayerGeometry, vectors: int, input_bits: int, act_bits: int,
        bitplane_nz: tuple[float, ...], input_nz: float, phase: str = FORWARD,
    ) -> None:
        """Count the data-dependent work of ``vectors`` input vectors of a layer laid out as
        ``geometry`` (whose inputs have the given bit-plane densities)."""
        raise NotImplementedError

    def count_layer(
        self, mapping: LayerMapping, vectors: int, input_bits: int, act_bits: int,
        bitplane_nz: tuple[float, ...], input_nz: float, phase: str = FORWARD,
    ) -> None:
        """Count the data-dependent work of ``vectors`` input vectors of the layer ``mapping``
        places (by default :meth:`count_vectors` on its layout; a kind that maps layers in
        parts counts each part)."""
        self.count_vectors(
            mapping.layout, vectors, input_bits, act_bits, bitplane_nz, input_nz, phase
        )

    @staticmethod
    def charge(cost: OpCost, operations: int, phase: str = FORWARD) -> None:
        """Count ``operations`` operations of ``cost`` by work of ``phase`` (a batch of
        operations of several costs: :class:`Charges`)."""
        Charges.of(((cost, operations),)).charge(phase)


class CrossbarTiles(TileKind):
    """Analog crossbar tiles: ``crossbars`` arrays (``used`` of them mapped) on ``tiles`` tiles
    of one design, with the cost model of the module docstring."""

    KIND = "crossbar"

    def __init__(
        self, config: TileConfig, *, tiles: tuple[Tile, ...], crossbars: int, used: int,
        group: str = "", modes_used: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(config, tiles=tiles, crossbars=crossbars, used=used, group=group)
        xbar = config.crossbar
        adcs_per_array = xbar.cols // config.adc.columns_per_adc
        self.crossbar = Crossbar(xbar, crossbars, used, group=group)
        self.dac = Dac(config.dac, crossbars * xbar.rows, used * xbar.rows, group=group)
        self.tia = Tia(config.tia, crossbars * adcs_per_array, used * adcs_per_array, group=group)
        self.adc = Adc(
            config.adc, xbar.cols, crossbars * adcs_per_array, used * adcs_per_array, group=group
        )
        self.shift_add = ShiftAdd(config.shift_add, len(tiles), group=group)
        self.buffer = Buffer(config.buffer, len(tiles), group=group)
        self.ops = TileOps(config.energy.op, crossbars, used, group=group)
        #: cycles of one conversion at the configured resolution
        self.conversion_cycles = conversion_cycles(config.adc)

    def components(self) -> tuple[Component, ...]:
        """Every component bank of the group, in pipeline order."""
        return (self.dac, self.crossbar, self.tia, self.adc, self.shift_add, self.buffer, self.ops)

    def op_cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """Cost of one operation of a crossbar holding ``layout`` on ``input_bits`` inputs (the
        same on every tile of the group: these tiles have no mode)."""
        cfg = self.config
        rows_driven = layout.rows_used if cfg.gate_idle_rows else cfg.crossbar.rows
        converted = self.adc.columns_converted(layout.cols_used)
        return self._read_cost(input_bits, rows_driven, layout.cols_used, converted)

    def transposed_op_cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """Cost of one transposed operation: the columns holding weights are driven (all of
        them unless ``gate_idle_rows``) and the rows are sensed by converters like the
        columns', one per ``columns_per_adc`` rows; otherwise the rules of :meth:`op_cost`."""
        cfg = self.config
        cols_driven = layout.cols_used if cfg.gate_idle_rows else cfg.crossbar.cols
        skip = cfg.adc.skip_idle_column_groups
        converted = layout.rows_used if skip else cfg.crossbar.rows
        return self._read_cost(input_bits, cols_driven, layout.rows_used, converted)

    def _read_cost(self, input_bits: int, driven: int, sensed_used: int, converted: int) -> OpCost:
        """One read of ``driven`` lines whose ``converted`` sensed lines (``sensed_used`` of
        them holding weights) go through the converters."""
        cfg = self.config
        slices = self.dac.slices(input_bits)
        groups = self.adc.column_groups(sensed_used)
        rows_driven = driven
        read = cfg.crossbar.read_cycles
        conv = self.conversion_cycles
        if cfg.adc.accumulate == "analog":
            cycles = groups * (slices * read + conv)
            reads = groups * slices
            conversions = converted
            slice_adds = 0
            # Each converted column's TIA integrates for every slice of its own group only.
            tia_busy = converted * slices * read
        else:
            convert_all = groups * conv
            if cfg.adc.overlap_with_read:
                cycles = read + (slices - 1) * max(read, convert_all) + convert_all
            else:
                cycles = slices * (read + convert_all)
            reads = slices
            conversions = converted * slices
            slice_adds = converted * (slices - 1)
            # Every TIA with a converted column senses once per read (all groups sampled).
            tia_busy = -(-converted // groups) * reads * read
        drives = rows_driven * reads
        return OpCost(
            cycles=cycles,
            actions=(
                (self.dac, "drive", drives),
                (self.crossbar, "read", reads),
                (self.crossbar, "row_read", drives),
                (self.tia, "sample", converted * slices),
                (self.adc, "convert", conversions),
                (self.shift_add, "add", slice_adds),
                (self.ops, "op", 1),
            ),
            busy=(
                (self.dac, drives * read),
                (self.crossbar, cycles),
                (self.tia, tia_busy),
                (self.adc, conversions * conv),
            ),
        )

    def conversion_phases(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> Phases:
        """When the ADCs of a crossbar holding ``layout`` convert during one operation on
        ``input_bits``-bit inputs: ``(offset, cycles)`` per phase, offsets in cycles from the
        operation's start (for a timeline; the same cycle rules as :meth:`op_cost`). Every ADC
        of the array converts the same column group at once, so a phase is the array's ADC
        bank at work:

        * analog accumulation: per column group ``g``, the slices are read and integrated,
          then converted: a phase of ``c`` at ``g x (S x r + c) + S x r``;
        * digital accumulation: per slice ``k``, the ``G`` groups are converted back to back,
          a phase of ``G x c`` at ``k x (r + G x c) + r``, or with ``overlap_with_read`` at
          ``r + k x max(r, G x c)`` (while slice ``k + 1`` is read).

        The last phase ends with the operation (``op_cost(...).cycles``).
        """
        cfg = self.config
        slices = self.dac.slices(input_bits)
        groups = self.adc.column_groups(layout.cols_used)
        read = cfg.crossbar.read_cycles
        conv = self.conversion_cycles
        if cfg.adc.accumulate == "analog":
            period = slices * read + conv
            return tuple((g * period + slices * read, conv) for g in range(groups))
        convert_all = groups * conv
        if cfg.adc.overlap_with_read:
            pitch = max(read, convert_all)
            return tuple((read + k * pitch, convert_all) for k in range(slices))
        return tuple((k * (read + convert_all) + read, convert_all) for k in range(slices))

    def count_vectors(
        self, geometry: LayerGeometry, vectors: int, input_bits: int, act_bits: int,
        bitplane_nz: tuple[float, ...], input_nz: float, phase: str = FORWARD,
    ) -> None:
        """Cells conducting (from the inputs' bit planes), partial sums merged (slices,
        polarity, row splits) and buffer accesses (inputs read, outputs written)."""
        per_output = geometry.physical_cols_per_output
        self.crossbar.conduct(
            weight_cells=geometry.rows * geometry.cols * per_output,
            vectors=vectors,
            slice_activity=self.dac.slice_activity(bitplane_nz, input_nz),
            phase=phase,
        )
        self.shift_add.merge(vectors * geometry.cols, per_output * geometry.row_splits, phase)
        self.buffer.move(vectors, geometry.rows * input_bits, geometry.cols * act_bits, phase)


class HybridTiles(TileKind):
    """Hybrid SLC/MLC tiles (HyFlexPIM; archsim/REFERENCES.md [HyFlexPIM]): crossbar tiles
    whose every array works in one of the two modes of ``tile.modes``, set by the mapping
    (:attr:`~archsim.mapping.crossbar.CrossbarLayout.mode`): SLC stores fewer bits per cell,
    so a weight takes more cells, and its columns are converted at a lower resolution; MLC
    the reverse. Each mode is a :class:`CrossbarTiles` bank set of its own, built from the
    tile's design with the mode's ``cell_bits`` and ADC ``bits`` (the conversion's energy and
    cycles follow the resolution by ``adc.energy_scaling`` and ``adc.cycles_scaling``), whose
    components are parts ``slc`` and ``mlc`` of the group (:attr:`Component.part`): the
    energy of the SLC and the MLC arrays is reported apart. The SLC banks count the arrays the
    mapping set to SLC, the MLC banks the rest (the arrays in MLC mode and the idle ones); the
    per-tile banks (shift-and-add, buffer) count the group's tiles in each mode's set. An
    operation costs what its array's mode's tiles charge (:meth:`CrossbarTiles.op_cost`).

    A layer on hybrid tiles is mapped in parts (:class:`~archsim.mapping.placement.LayerPart`,
    each in one mode); :meth:`count_layer` counts each part's data-dependent work on its mode's
    banks, and the digital addition of the last pass's partial sums (one addition per output
    for each part beyond the first) on the last part's shift-and-add unit. A part of the
    second pass reads the first pass's results, whose bit-plane densities are not in the
    trace: the layer input's are used for them.
    """

    KIND = "hybrid"

    def __init__(
        self, config: TileConfig, *, tiles: tuple[Tile, ...], crossbars: int, used: int,
        group: str = "", modes_used: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(config, tiles=tiles, crossbars=crossbars, used=used, group=group)
        assert config.modes is not None  # config.checks: a hybrid tile has its modes
        modes_used = modes_used or {}
        slc_arrays = modes_used.get("slc", 0)
        arrays = {"slc": slc_arrays, "mlc": crossbars - slc_arrays}
        self.modes: Mapping[str, CrossbarTiles] = MappingProxyType({
            name: CrossbarTiles(
                replace(
                    config, kind="crossbar", modes=None,
                    crossbar=replace(config.crossbar, cell_bits=mode.cell_bits),
                    adc=replace(config.adc, bits=mode.adc_bits),
                ),
                tiles=tiles, crossbars=arrays[name], used=modes_used.get(name, 0),
                group=group,
            )
            for name, mode in (("slc", config.modes.slc), ("mlc", config.modes.mlc))
        })
        for name, banks in self.modes.items():
            for component in banks.components():
                component.part = name

    def components(self) -> tuple[Component, ...]:
        """The SLC banks, then the MLC banks."""
        return tuple(c for tiles in self.modes.values() for c in tiles.components())

    def _tiles(self, mode: str | None) -> CrossbarTiles:
        tiles = self.modes.get(mode) if mode is not None else None
        if tiles is None:
            raise MappingError(
                f"tile group '{self.group}' (hybrid): an array was mapped without a mode "
                f"({mode!r}); expected one of {', '.join(self.modes)}"
            )
        return tiles

    def op_cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """Cost of one operation of an array holding ``layout``, in the array's mode."""
        return self._tiles(layout.mode).op_cost(layout, input_bits, tile)

    def conversion_phases(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> Phases:
        """When the array's ADC converts, in the array's mode."""
        return self._tiles(layout.mode).conversion_phases(layout, input_bits, tile)

    def count_vectors(
        self, geometry: LayerGeometry, vectors: int, input_bits: int, act_bits: int,
        bitplane_nz: tuple[float, ...], input_nz: float, phase: str = FORWARD,
    ) -> None:
        """Hybrid tiles count layers part by part (:meth:`count_layer`): a geometry alone does
        not say its mode."""
        raise MappingError(
            f"tile group '{self.group}' (hybrid): layer {geometry.layer} is counted by its "
            "parts"
        )

    def count_layer(
        self, mapping: LayerMapping, vectors: int, input_bits: int, act_bits: int,
        bitplane_nz: tuple[float, ...], input_nz: float, phase: str = FORWARD,
    ) -> None:
        """Each part's data-dependent work on its mode's banks, then the addition of the last
        pass's partial sums."""
        if not mapping.parts:
            raise MappingError(
                f"tile group '{self.group}' (hybrid): layer {mapping.name} was not mapped in "
                "parts"
            )
        for part in mapping.parts:
            self._tiles(part.mode).count_vectors(
                part.layout, vectors, input_bits, act_bits, bitplane_nz, input_nz, phase
            )
        last = mapping.parts[-1]
        merged = sum(1 for part in mapping.parts if part.stage == last.stage) - 1
        if merged:
            self._tiles(last.mode).shift_add.count(
                "add", vectors * mapping.layout.cols * merged, phase
            )


#: The kinds of tile by the name a config gives them (``tile.kind``); the system builds each
#: group's kind from here, so a new kind is a class and an entry, not a change of the wiring.
TILE_KINDS: Mapping[str, type[TileKind]] = MappingProxyType(
    {"crossbar": CrossbarTiles, "hybrid": HybridTiles}
)
