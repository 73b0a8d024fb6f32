"""Hardware configuration schema (stage: config).

A hardware config is a YAML file that :func:`archsim.config.load_hardware` turns into a tree of
frozen dataclasses. Every physical value carries a unit in YAML ("10ns", "2.66nJ", "100MHz") and
is stored here in SI units; the field names say which (``clock_hz``, ``energy_j``). Times inside a
component are integer cycles of the chip clock (``*_cycles``).

Energies are declared per *action* of a component (Accelergy's split): a component counts how
often it performed each action during a run, and :mod:`archsim.energy` multiplies the counts by
these tables afterwards. Each ``energy`` block lists every action of its component, so a config
states explicitly which actions it charges and which it leaves at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Literal

from archsim.config.loader import number, quantity
from archsim.errors import ConfigError

#: Upper bound of every per-action cycle count: far above any real design, low enough that
#: cycle arithmetic stays exact.
MAX_CYCLES = 1 << 20

# --------------------------------------------------------------------------------------------
# Crossbar tile and its peripherals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossbarEnergy:
    """Per-action energies of the resistive array itself, in joules."""

    read: float = quantity("J", min=0.0, max="1J", doc="one array read: one input slice applied to every driven row")
    cell_read: float = quantity(
        "J", min=0.0, max="1J", doc="one cell conducting during a read (its input bit is 1): V^2 G t_read"
    )
    row_read: float = quantity(
        "J",
        default=0.0,
        min=0.0,
        max="1J",
        doc="each driven row during one read, data-independent (its sensed cells at a nominal "
        "input activity): a read costs read + row_read x driven rows, so it scales with rows",
    )


@dataclass(frozen=True)
class CrossbarConfig:
    """A resistive crossbar array: ``rows`` x ``cols`` cells of ``cell_bits`` bits each."""

    rows: int = number(min=1, max=1 << 16, doc="word lines (inputs)")
    cols: int = number(min=1, max=1 << 16, doc="bit lines (physical output columns)")
    cell_bits: int = number(min=1, max=8, doc="bits stored per cell: 1 = SLC, more = MLC")
    signed_weights: Literal["differential", "offset"] = field(
        metadata={
            "doc": "differential: a positive and a negative column per weight; offset: one "
            "column storing W + b, whose offset cancels when inputs are balanced"
        }
    )
    read_cycles: int = number(min=1, max=MAX_CYCLES, doc="cycles the array is driven for one input slice")
    energy: CrossbarEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class DacEnergy:
    """Per-action energies of the row drivers, in joules."""

    drive: float = quantity("J", min=0.0, max="1J", doc="one row driven for one input slice")


@dataclass(frozen=True)
class DacConfig:
    """Row DACs: one per crossbar row; ``bits`` = 1 means bit-serial inputs."""

    bits: int = number(min=1, max=16, doc="input bits applied per slice (1 = bit-serial)")
    energy: DacEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class TiaEnergy:
    """Per-action energies of the trans-impedance amplifiers / integrators, in joules."""

    sample: float = quantity("J", min=0.0, max="1J", doc="one column current sampled for one input slice")


@dataclass(frozen=True)
class TiaConfig:
    """Column sense amplifiers: one TIA per ADC, multiplexed over the same columns."""

    energy: TiaEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class AdcEnergy:
    """Per-action energies of the column ADCs, in joules."""

    convert: float = quantity("J", min=0.0, max="1J", doc="one conversion of one column")


@dataclass(frozen=True)
class AdcConfig:
    """Column ADCs, each shared by ``columns_per_adc`` columns converted one after another.

    ``accumulate`` selects where the input slices of a bit-serial input are summed:
    ``analog`` integrates all slices on the TIA and converts each column once per operation
    (Wu et al. 2023); ``digital`` converts every slice and shifts-and-adds the results (ISAAC).

    ``energy.convert`` and ``conversion_cycles`` are quoted at ``reference_bits``; at another
    resolution ``bits`` the energy follows ``energy_scaling`` (``fixed``: unchanged; ``linear``:
    x bits / reference_bits, one SAR comparison per bit; ``walden``: x 2^(bits -
    reference_bits), a constant Walden figure of merit; ``table``: ``energy_by_bits[bits]``)
    and the cycles ``cycles_scaling`` (``fixed``, or ``linear``: ceil(cycles x bits /
    reference_bits)).
    """

    bits: int = number(min=1, max=16, doc="resolution in bits")
    reference_bits: int = number(
        min=1, max=16, doc="resolution at which energy.convert and conversion_cycles are quoted"
    )
    energy_scaling: Literal["fixed", "linear", "walden", "table"] = field(
        metadata={"doc": "how the energy per conversion follows bits (see the section)"}
    )
    cycles_scaling: Literal["fixed", "linear"] = field(
        metadata={"doc": "how the conversion cycles follow bits"}
    )
    columns_per_adc: int = number(min=1, max=1 << 16, doc="columns multiplexed onto one ADC")
    conversion_cycles: int = number(
        min=1, max=MAX_CYCLES, doc="cycles per conversion at reference_bits"
    )
    accumulate: Literal["analog", "digital"] = field(metadata={"doc": "where slices are summed"})
    skip_idle_column_groups: bool = field(
        metadata={"doc": "convert only column groups that hold mapped weights"}
    )
    overlap_with_read: bool = field(
        metadata={"doc": "digital mode: converting slice k overlaps reading slice k+1"},
    )
    energy: AdcEnergy = field(metadata={"doc": "per-action energies at reference_bits"})
    energy_by_bits: dict[int, float] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={
            "unit": "J", "min": 0.0, "max": 1.0,
            "doc": "energy_scaling: table: energy per conversion by resolution, e.g. `{4: 0.79pJ}`",
        },
    )


@dataclass(frozen=True)
class ShiftAddEnergy:
    """Per-action energies of the digital shift-and-add / partial-sum unit, in joules."""

    add: float = quantity("J", min=0.0, max="1J", doc="one partial-sum addition")


@dataclass(frozen=True)
class ShiftAddConfig:
    """Digital merging of slices, differential pairs and row-split partial sums."""

    energy: ShiftAddEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class BufferEnergy:
    """Per-action energies of the tile buffer, in joules."""

    read: float = quantity("J", min=0.0, max="1J", doc="one read access of width_bits")
    write: float = quantity("J", min=0.0, max="1J", doc="one write access of width_bits")


@dataclass(frozen=True)
class BufferConfig:
    """Tile input/output buffer. Its accesses are counted; they overlap the array operation."""

    width_bits: int = number(min=1, max=1 << 16, doc="bits per access")
    energy: BufferEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class TileEnergy:
    """Per-action energies of the tile as a whole, in joules."""

    op: float = quantity(
        "J",
        min=0.0,
        max="1J",
        doc="one tile operation: sequencing, clocking and leakage not itemised elsewhere",
    )


@dataclass(frozen=True)
class ArrayModeConfig:
    """One operating mode of a hybrid tile's arrays: the bits each cell stores (so the cells
    per weight) and the ADC resolution its columns are converted at."""

    cell_bits: int = number(min=1, max=8, doc="bits stored per cell in this mode")
    adc_bits: int = number(min=1, max=16, doc="ADC resolution in this mode, bits")
    program_noise: float | None = number(
        default=None, min=0.0, max=1.0,
        doc="accuracy: programming error of a cell in this mode, fraction of the conductance "
        "range (default: device.program_noise)",
    )


@dataclass(frozen=True)
class ArrayModesConfig:
    """The two modes of a hybrid tile's arrays, one chosen per array when a layer is mapped
    (HyFlexPIM: SLC, 1 bit per cell and a 6-bit conversion; MLC, 2 bits per cell and 7)."""

    slc: ArrayModeConfig = field(metadata={"doc": "the precise mode: fewer bits per cell"})
    mlc: ArrayModeConfig = field(metadata={"doc": "the dense mode: more bits per cell"})


@dataclass(frozen=True)
class TileConfig:
    """One crossbar tile: the array and its peripherals (all tiles of a group are alike)."""

    crossbar: CrossbarConfig
    dac: DacConfig
    tia: TiaConfig
    adc: AdcConfig
    shift_add: ShiftAddConfig
    buffer: BufferConfig
    gate_idle_rows: bool = field(
        metadata={"doc": "drive only rows that hold mapped weights (else every row, every slice)"}
    )
    energy: TileEnergy = field(metadata={"doc": "per-action energies"})
    kind: Literal["crossbar", "hybrid"] = field(
        default="crossbar",
        metadata={
            "doc": "the kind of tile: crossbar (analog arrays with DACs, TIAs and ADCs), or "
            "hybrid (the same, each array in the SLC or MLC mode of `modes`, set by the mapping)"
        },
    )
    modes: ArrayModesConfig | None = field(
        default=None,
        metadata={"doc": "hybrid tiles: the arrays' two modes (absent for crossbar tiles)"},
    )


# --------------------------------------------------------------------------------------------
# Chip-level units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitalCycles:
    """Cycles per element of each digital operation, on one lane."""

    relu: int = number(min=0, max=MAX_CYCLES)
    maxpool: int = number(min=0, max=MAX_CYCLES)
    avgpool: int = number(min=0, max=MAX_CYCLES)
    add: int = number(min=0, max=MAX_CYCLES)


@dataclass(frozen=True)
class DigitalEnergy:
    """Energy per element of each digital operation, in joules."""

    relu: float = quantity("J", min=0.0, max="1J")
    maxpool: float = quantity("J", min=0.0, max="1J")
    avgpool: float = quantity("J", min=0.0, max="1J")
    add: float = quantity("J", min=0.0, max="1J")


@dataclass(frozen=True)
class DigitalConfig:
    """The chip's vector unit for activation, pooling and residual additions.

    With ``enabled: false`` the digital work in a trace is counted but takes no time and no
    energy: the tile-only accounting of Wu et al.'s Table 2.
    """

    enabled: bool = field(metadata={"doc": "time and charge digital work"})
    lanes: int = number(min=1, max=1 << 16, doc="elements processed in parallel")
    cycles: DigitalCycles = field(metadata={"doc": "cycles per element per lane"})
    energy: DigitalEnergy = field(metadata={"doc": "energy per element"})


@dataclass(frozen=True)
class DigitalPimEnergy:
    """Per-action energies of the digital PIM modules, in joules."""

    op: float = quantity("J", min=0.0, max="1J", doc="one multiply-accumulate at operand_bits")
    write: float = quantity(
        "J", min=0.0, max="1J", doc="one bit of a dynamic operand written into the arrays"
    )


@dataclass(frozen=True)
class DigitalPimConfig:
    """The digital processing-in-memory modules of each processing unit (one per tile group):
    they run the dynamic matrix products of attention (Q K^T, softmax x V), whose operands are
    both activations, the right one written into their arrays first."""

    modules: int = number(min=1, max=1 << 16, doc="modules per processing unit (tile group)")
    ops_per_cycle: int = number(
        min=1, max=1 << 20, doc="multiply-accumulates per cycle per module at operand_bits"
    )
    operand_bits: int = number(
        min=1, max=32, doc="operand precision ops_per_cycle and energy.op are quoted at"
    )
    write_bits_per_cycle: int = number(
        min=1, max=1 << 24, doc="operand bits written into one module's arrays per cycle"
    )
    energy: DigitalPimEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class SfuFunctions:
    """A figure for each function of the special-function unit."""

    softmax: float = number(min=0.0, max=1 << 20)
    layernorm: float = number(min=0.0, max=1 << 20)
    gelu: float = number(min=0.0, max=1 << 20)


@dataclass(frozen=True)
class SfuEnergy:
    """Energy per input element of each special function, in joules."""

    softmax: float = quantity("J", min=0.0, max="1J")
    layernorm: float = quantity("J", min=0.0, max="1J")
    gelu: float = quantity("J", min=0.0, max="1J")


@dataclass(frozen=True)
class SfuConfig:
    """The special-function unit of each processing unit (one per tile group): softmax,
    LayerNorm and GELU over ``inputs_per_cycle`` elements per cycle, each function making
    ``passes`` passes over its inputs."""

    inputs_per_cycle: int = number(min=1, max=1 << 20, doc="input elements per cycle")
    passes: SfuFunctions = field(
        metadata={"doc": "passes over the inputs per function (softmax: max, sum, scale: 1-3)"}
    )
    energy: SfuEnergy = field(metadata={"doc": "energy per input element per function"})


#: The special-function unit's functions: the fields of :class:`SfuEnergy` and
#: :class:`SfuFunctions`.
SFU_FUNCTIONS = tuple(f.name for f in fields(SfuEnergy))
if SFU_FUNCTIONS != tuple(f.name for f in fields(SfuFunctions)):
    raise AssertionError("SfuFunctions and SfuEnergy must list the same functions")


@dataclass(frozen=True)
class InstructionCycles:
    """Cycles one instruction of each class occupies the in-order core (issue to retire)."""

    load: int = number(min=0, max=MAX_CYCLES, doc="buffer to a crossbar's input register, one vector")
    store: int = number(min=0, max=MAX_CYCLES, doc="a crossbar group's outputs to the buffer, one vector")
    mvm: int = number(min=0, max=MAX_CYCLES, doc="trigger one crossbar group for one step")
    valu: int = number(
        min=0, max=MAX_CYCLES,
        doc="issue one vector-ALU op on `digital.lanes` elements (the unit's own time is digital.cycles)",
    )
    send: int = number(min=0, max=MAX_CYCLES, doc="hand one packet to the network interface")
    recv: int = number(min=0, max=MAX_CYCLES, doc="take one packet from the network interface")
    barrier: int = number(min=0, max=MAX_CYCLES, doc="join the end-of-layer barrier")
    loop: int = number(min=0, max=MAX_CYCLES, doc="counter update and branch, once per iteration")


@dataclass(frozen=True)
class ControllerEnergy:
    """Energy per instruction of each class, in joules."""

    load: float = quantity("J", min=0.0, max="1J", doc="one load instruction")
    store: float = quantity("J", min=0.0, max="1J", doc="one store instruction")
    mvm: float = quantity("J", min=0.0, max="1J", doc="one mvm instruction")
    valu: float = quantity("J", min=0.0, max="1J", doc="one valu instruction")
    send: float = quantity("J", min=0.0, max="1J", doc="one send instruction")
    recv: float = quantity("J", min=0.0, max="1J", doc="one recv instruction")
    barrier: float = quantity("J", min=0.0, max="1J", doc="one barrier instruction")
    loop: float = quantity("J", min=0.0, max="1J", doc="one loop instruction")


#: The controller's instruction classes (see :mod:`archsim.hw.controller` for their semantics):
#: the fields of :class:`ControllerEnergy`, each with its cycles in :class:`InstructionCycles`
#: (checked when the module loads). A new class is a field in both.
INSTRUCTION_CLASSES = tuple(f.name for f in fields(ControllerEnergy))
#: The digital unit's operations: the fields of :class:`DigitalEnergy` and :class:`DigitalCycles`.
DIGITAL_OPERATIONS = tuple(f.name for f in fields(DigitalEnergy))
if INSTRUCTION_CLASSES != tuple(f.name for f in fields(InstructionCycles)):
    raise AssertionError("InstructionCycles and ControllerEnergy must list the same classes")
if DIGITAL_OPERATIONS != tuple(f.name for f in fields(DigitalCycles)):
    raise AssertionError("DigitalCycles and DigitalEnergy must list the same operations")


@dataclass(frozen=True)
class ControllerConfig:
    """The RISC-V-like in-order cores that run each layer's instruction stream.

    ``scope: chip`` is one core for the whole chip; ``scope: tile`` one core per tile: a
    crossbar group's loop runs on the core of its first crossbar's tile (which triggers the
    group's arrays on other tiles too), digital work on the core of each tile holding a share
    of its input, and a packet's send and receive on the cores of its two tiles. With
    ``enabled: false`` the instruction stream is still generated and counted, but takes no time
    and charges no energy (the tile-only accounting of Wu et al.'s Table 2).
    """

    enabled: bool = field(metadata={"doc": "time and charge the instruction stream"})
    scope: Literal["chip", "tile"] = field(metadata={"doc": "one core per chip, or one per tile"})
    cycles: InstructionCycles = field(metadata={"doc": "cycles per instruction, by class"})
    energy: ControllerEnergy = field(metadata={"doc": "energy per instruction, by class"})


@dataclass(frozen=True)
class NocEnergy:
    """Per-action energies of the network-on-chip, in joules."""

    router: float = quantity("J", min=0.0, max="1J", doc="one flit through one router")
    link_bit_mm: float = quantity("J", min=0.0, max="1J", doc="one bit over one millimetre of link")


@dataclass(frozen=True)
class NocConfig:
    """A packet-switched network-on-chip: one router per node, one tile per router.

    ``dims`` gives the shape of the regular topologies: ``[x, y]`` for ``mesh`` and ``torus``,
    ``[n]`` for ``ring``, ``[arity, depth]`` for ``tree``; ``edges`` lists the links of an
    ``edges`` topology as node pairs (links are bidirectional).
    """

    topology: Literal["mesh", "torus", "ring", "tree", "edges"] = field(
        metadata={"doc": "how the routers are connected"}
    )
    router_cycles: int = number(min=1, max=MAX_CYCLES, doc="router pipeline latency per hop")
    buffer_flits: int = number(min=1, max=1 << 16, doc="input buffer depth per router port")
    link_width_bits: int = number(min=1, max=1 << 16, doc="bits a link carries per cycle")
    link_cycles: int = number(min=0, max=MAX_CYCLES, doc="cycles a flit spends on a link")
    link_length_m: float = quantity("m", min=0.0, max="1m", doc="physical length of every link")
    flow_control: Literal["virtual_cut_through", "wormhole"] = field(
        metadata={
            "doc": "virtual_cut_through: a packet takes the next link once the next buffer has "
            "room for all of it; wormhole: once it has room for as much of it as a buffer "
            "holds, a longer packet then holding every link from its head back to its tail"
        }
    )
    energy: NocEnergy = field(metadata={"doc": "per-action energies"})
    model: Literal["packet", "train"] = field(
        default="packet",
        metadata={
            "doc": "packet: every packet contends hop by hop; train: a flow's packets move as "
            "trains of up to train_packets, timed packet by packet without events, exact for a "
            "flow alone, trains that meet taking a link one after the other"
        },
    )
    train_packets: int = number(
        default=32, min=1, max=512,
        doc="with model train: most packets of one flow in a train; a source sends its flows' "
        "trains in turn (fewer: closer to the packet model, slower)",
    )
    dims: tuple[int, ...] = field(default=(), metadata={"min": 1, "doc": "topology shape"})
    edges: tuple[tuple[int, int], ...] = field(
        default=(), metadata={"min": 0, "doc": "links of an edges topology, as node pairs"}
    )


@dataclass(frozen=True)
class ChipConfig:
    """The chip: a clock and, with a single ``tile:`` section, its number of alike tiles."""

    clock_hz: float = quantity("Hz", min=1.0, max=1e12, doc="system clock; every cycle count uses it")
    tiles: int | None = number(
        default=None, min=1, max=1 << 20,
        doc="number of tiles (with tile_groups: absent, each group gives its own)",
    )
    crossbars_per_tile: int | None = number(
        default=None, min=1, max=1 << 16,
        doc="crossbar arrays per tile (with tile_groups: absent, each group gives its own)",
    )


#: The name of the one tile group of a config with a single ``tile:`` section.
DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class TileGroupConfig:
    """A group of alike tiles (``tile_groups.<name>``).

    Its ``tile`` section is merged over the top-level ``tile:`` section key by key, the way a
    file is merged over its ``base:`` (a group states only what differs); without a top-level
    ``tile:`` it must be complete.
    """

    tiles: int = number(min=1, max=1 << 20, doc="tiles in the group")
    crossbars_per_tile: int = number(min=1, max=1 << 16, doc="crossbar arrays per tile")
    tile: TileConfig = field(metadata={"doc": "the group's tile design (merged over tile:)"})


@dataclass(frozen=True)
class TileGroup:
    """A tile group as the chip has it: a name, its size and its tile design, whichever way the
    config gave it (:attr:`HardwareConfig.groups`)."""

    name: str
    tiles: int
    crossbars_per_tile: int
    tile: TileConfig

    @property
    def crossbars(self) -> int:
        """Crossbar arrays in the group."""
        return self.tiles * self.crossbars_per_tile


@dataclass(frozen=True)
class LayerMappingConfig:
    """How one layer is mapped (``mapping.layers.<name>``)."""

    group: str = field(metadata={"doc": "the tile group whose arrays hold the layer's weights"})


@dataclass(frozen=True)
class HybridMappingConfig:
    """How a matrix layer is laid onto a hybrid tile group (HyFlexPIM's gradient
    redistribution): its SVD at rank k = mn / (m + n), whose U and Sigma V^T take as many cells
    as the matrix, the first ``slc_fraction`` of the k rank components on SLC arrays and the
    rest on MLC arrays; or, without ``svd``, the matrix itself in one mode."""

    svd: bool = field(
        default=True,
        metadata={"doc": "map U and Sigma V^T of the layer's SVD (two passes) rather than W"},
    )
    slc_fraction: float = number(
        default=0.05, min=0.0, max=1.0,
        doc="fraction of the rank components on SLC arrays (without svd: 0 or 1, the mode of "
        "the whole matrix)",
    )
    decompose: tuple[str, ...] = field(
        default=("*",),
        metadata={
            "doc": "with svd: the layers (name patterns, `*` any characters) mapped as their "
            "SVD; the others sit whole on SLC arrays, e.g. `[\"block*\"]`"
        },
    )


@dataclass(frozen=True)
class MappingConfig:
    """How a network is laid onto the chip and executed."""

    copies: dict[str, int] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={"min": 1, "doc": "copies of a layer, by name (default 1 each), e.g. `{conv1: 8}`"},
    )
    pack_copies: bool = field(
        default=True, metadata={"doc": "pack copies that fit block-diagonally into one array"}
    )
    pipeline: bool = field(
        default=False, metadata={"doc": "stream inputs through the layers (else one at a time)"}
    )
    pipeline_depth: int = number(
        default=1, min=1, max=1 << 10, doc="inputs buffered between two pipeline stages"
    )
    placement: Literal["in_order", "traffic_aware"] = field(
        default="in_order",
        metadata={
            "doc": "tiles onto NoC routers: in_order (tile i on router i), or traffic_aware "
            "(lower the hop-weighted activation traffic)"
        },
    )
    packet_data_bits: int | None = number(
        default=None, min=1, max=1 << 20,
        doc="payload bits per activation packet (default: an input buffer's worth less the "
        "header; half a buffer on rings and tori under virtual cut-through)",
    )
    samples_in_flight: int | None = number(
        default=None, min=1, max=1 << 20,
        doc="pipelined mode: samples admitted at once (default: as many as the stage buffers "
        "take; 1: each sample flows through the layers as its inputs are ready, the next one "
        "entering when it is done)",
    )
    input_node: int | None = number(
        default=None, min=0, max=1 << 16,
        doc="NoC router the network input arrives from (default: already in the tiles' "
        "buffers, nothing travels)",
    )
    layers: dict[str, LayerMappingConfig] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={
            "doc": "per layer, by name: `group` (default: the first tile group), e.g. "
            "`{fc1: {group: fc}}`"
        },
    )
    layer_groups: dict[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={
            "doc": "tile group by layer-name pattern (`*` any characters), the first match "
            "in order, for matrix layers `layers` does not place, e.g. `{\"block1.*\": pu1}`"
        },
    )
    fill_groups: bool = field(
        default=False,
        metadata={
            "doc": "give every matrix layer of a tile group the same number of copies, as many "
            "as the group's arrays hold (mapping.copies then must be empty)"
        },
    )
    fill_max_copies: int = number(
        default=256, min=1, max=1 << 20,
        doc="fill_groups: the most copies a layer gets (copies beyond a record's vectors idle)",
    )
    hybrid: HybridMappingConfig = field(
        default_factory=lambda: HybridMappingConfig(),
        metadata={"doc": "how layers are laid onto hybrid tiles' SLC and MLC arrays"},
    )


# --------------------------------------------------------------------------------------------
# Memory devices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftBoundsConfig:
    """The soft-bounds pulsed device of Rasch et al. 2024 (Methods), in normalised weight units
    (nominal range [-1, 1]): a pulse steps a device by ``dw_min`` at w = 0, less towards its
    bound; the spreads are standard deviations of the Gaussian draws of the Methods."""

    dw_min: float = number(min=1e-6, max=1.0, doc="step of one pulse at w = 0 (delta)")
    sigma_bound: float = number(min=0.0, max=10.0, doc="device-to-device spread of the bounds")
    sigma_d2d: float = number(min=0.0, max=10.0, doc="device-to-device spread of the step")
    sigma_pm: float = number(
        min=0.0, max=10.0, doc="device-to-device spread of the up/down asymmetry"
    )
    sigma_c2c: float = number(min=0.0, max=10.0, doc="cycle-to-cycle noise, relative to a step")
    read_noise: float = number(min=0.0, max=10.0, doc="noise of one read, normalised units")
    reference_mean: float = number(
        min=-10.0, max=10.0, doc="mean offset of the reference array from the symmetry point"
    )
    reference_std: float = number(
        min=0.0, max=10.0, doc="device-to-device spread of the reference offset (sigma_r)"
    )


@dataclass(frozen=True)
class DeviceConfig:
    """The memory cell of the arrays: its conductance range and noise, the write-and-verify
    loop that programs it, and (for pulsed training) its soft-bounds response.

    A cell has ``2**tile.crossbar.cell_bits`` levels evenly spaced from ``g_min`` to ``g_max``.
    Noises are standard deviations as fractions of ``g_max - g_min``: ``program_noise`` on the
    result of each programming pulse, ``read_noise`` on each read.
    """

    g_min: float = quantity("S", min=0.0, max="1S", doc="lowest conductance level")
    g_max: float = quantity("S", min=0.0, max="1S", doc="highest conductance level")
    program_noise: float = number(min=0.0, max=1.0, doc="programming error, fraction of range")
    read_noise: float = number(min=0.0, max=1.0, doc="read noise, fraction of range")
    max_trials: int = number(min=1, max=1 << 10, doc="pulse-and-verify trials per write")
    tolerance_levels: float = number(
        min=1e-3, max=1e6, doc="a verify read this close to its target, in levels, ends a write"
    )
    soft_bounds: SoftBoundsConfig | None = field(
        default=None, metadata={"doc": "the pulsed response (absent: no pulsed training)"}
    )


# --------------------------------------------------------------------------------------------
# On-chip training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PulseEnergy:
    """Energy of the actions of a parallel pulsed update, in joules."""

    pulse: float = quantity(
        "J", min=0.0, max="1J", doc="one device pulsed (a row pulse meeting a column pulse)"
    )
    row_drive: float = quantity("J", min=0.0, max="1J", doc="one row driver for one pulse slot")
    col_drive: float = quantity(
        "J", min=0.0, max="1J", doc="one column driver for one pulse slot"
    )


@dataclass(frozen=True)
class PulseConfig:
    """The parallel pulsed outer-product update of an array (Rasch et al. 2024, Methods).

    Every row and every column of the arrays of a layer drive one stochastic pulse train of
    ``bit_length`` slots at once; a device whose row and column pulse in the same slot is
    stepped. A train takes ``bit_length x slot_cycles`` cycles, twice that with
    ``polarities: sequential`` (positive and negative updates applied one after the other, the
    factor 2 of Rasch et al.'s Methods; ``together``, as their Table 1 counts, applies both in
    one slot).
    """

    slot_cycles: int = number(min=1, max=MAX_CYCLES, doc="cycles of one pulse slot")
    polarities: Literal["together", "sequential"] = field(
        metadata={"doc": "positive and negative pulses in one slot, or one after the other"}
    )
    energy: PulseEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class UpdateDigitalEnergy:
    """Energy of the update's digital unit, in joules."""

    flop: float = quantity("J", min=0.0, max="1J", doc="one floating-point operation")
    bit: float = quantity("J", min=0.0, max="1J", doc="one bit moved to or from its memory")


@dataclass(frozen=True)
class UpdateDigitalConfig:
    """The digital unit of the update (gradient scaling, the hidden matrix H of TTv2,
    mixed precision's accumulation): a FLOP rate shared by a number of arrays and its memory.

    ``arrays_per_unit`` arrays share one unit. With ``share: arrays`` each array gets its own
    share of the unit's rate (time-sliced, as Rasch et al.'s Table 1 divides 0.7 TFLOPS over 4
    arrays), so ``flops`` of a layer on ``a`` arrays take ``ceil(flops x arrays_per_unit /
    (flops_per_cycle x a))`` cycles; with ``share: layer`` a layer's update has a whole unit
    (the units serve one layer at a time, as one core does between layer-sequential steps):
    ``ceil(flops / flops_per_cycle)`` cycles. The memory
    traffic adds ``ceil(bits / memory_bits_per_cycle)`` cycles, or nothing when 0 (memory time
    hidden behind compute).
    """

    flops_per_cycle: float = number(
        min=1e-6, max=1e12, doc="FLOPs the unit does per cycle (below 1 for a slow core)"
    )
    arrays_per_unit: int = number(min=1, max=1 << 20, doc="arrays sharing one unit")
    share: Literal["arrays", "layer"] = field(
        metadata={"doc": "each array gets its share of a unit's rate, or a layer a whole unit"}
    )
    memory_bits_per_cycle: int = number(
        min=0, max=1 << 40, doc="memory bandwidth, bits per cycle (0: memory time hidden)"
    )
    energy: UpdateDigitalEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class WriteVerifyEnergy:
    """Energy of the write-and-verify engine, in joules."""

    pulse: float = quantity("J", min=0.0, max="1J", doc="one SET or RESET pulse on one cell")
    verify: float = quantity("J", min=0.0, max="1J", doc="one verify read of one cell")


@dataclass(frozen=True)
class WriteVerifyConfig:
    """The write-and-verify engine that programs cells to target conductances (Wu et al. 2023,
    mixed-precision training): pulse, read, compare, repeat up to the device's trial budget.

    ``parallel: row`` programs the cells of one row together: a round is one pulse slot and one
    verify read of the row, and a write takes its record's ``rounds``; ``cell`` programs one
    cell at a time, every pulse and verify read in turn.
    """

    pulse_cycles: int = number(min=1, max=MAX_CYCLES, doc="cycles of one programming pulse")
    verify_cycles: int = number(min=1, max=MAX_CYCLES, doc="cycles of one verify read")
    parallel: Literal["row", "cell"] = field(
        metadata={"doc": "cells of a row programmed together, or one at a time"}
    )
    energy: WriteVerifyEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class TrainingConfig:
    """The units that run training work (``backward`` and ``update`` records).

    The backward pass's transposed MVM (``mvm_t``) runs on the layer's arrays with the error
    driven into the columns and the rows sensed: it costs what a forward operation on the
    transposed array costs (converters like the columns' serving the rows; one read for all
    of a weight's slices, which a design with several cells per weight would have to read
    one by one). A transfer's row read of the gradient array costs one forward operation,
    with the record's input bits, of the arrays of one row block.
    """

    pulse: PulseConfig = field(metadata={"doc": "the parallel pulsed update"})
    digital: UpdateDigitalConfig = field(metadata={"doc": "the update's digital unit"})
    write_verify: WriteVerifyConfig = field(metadata={"doc": "the write-and-verify engine"})
    endurance_cycles: float | None = number(
        default=None, min=1.0, max=1e18,
        doc="programming pulses a device survives (absent: no lifetime is predicted)",
    )


@dataclass(frozen=True)
class HardwareConfig:
    """A whole hardware description (the root of a ``hw_configs/*.yaml`` file).

    The tiles are given either by ``tile:`` with ``chip.tiles`` and ``chip.crossbars_per_tile``
    (one group, named ``default``), or by ``tile_groups:`` (any number of named groups, each
    with its own size and tile design); :attr:`groups` lists them either way.
    """

    version: Literal[1] = field(metadata={"doc": "format version; must be 1"})
    name: str = field(
        metadata={"doc": "the config's name, shown in reports; letters, digits, '_', '.', '-'"}
    )
    chip: ChipConfig
    digital: DigitalConfig
    controller: ControllerConfig
    tile: TileConfig | None = field(
        default=None,
        metadata={"doc": "the tile design: of every tile, or the base of tile_groups' designs"},
    )
    tile_groups: dict[str, TileGroupConfig] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={"doc": "named groups of alike tiles, in tile order (absent: one group)"},
    )
    mapping: MappingConfig = field(default_factory=MappingConfig)
    noc: NocConfig | None = field(
        default=None, metadata={"doc": "network-on-chip; absent: no interconnect is modelled"}
    )
    training: TrainingConfig | None = field(
        default=None,
        metadata={"doc": "units for backward and update work; absent: inference only"},
    )
    device: DeviceConfig | None = field(
        default=None,
        metadata={"doc": "the memory cell (accuracy and training); absent: not modelled"},
    )
    fabric: FabricConfig | None = field(
        default=None,
        metadata={"doc": "a block-sparse training fabric (DRAM, IMC, SCUs); absent: none"},
    )
    digital_pim: DigitalPimConfig | None = field(
        default=None,
        metadata={
            "doc": "digital PIM modules per tile group for attention's dynamic products; "
            "absent: none"
        },
    )
    sfu: SfuConfig | None = field(
        default=None,
        metadata={"doc": "a special-function unit per tile group (softmax, LayerNorm, GELU)"},
    )
    description: str = field(default="", metadata={"doc": "free text"})

    @property
    def groups(self) -> tuple[TileGroup, ...]:
        """The tile groups, in tile order: the ``tile_groups`` or the one ``default`` group
        (after :func:`~archsim.config.checks.check_hardware`, every size is given); none for
        a fabric without crossbar tiles."""
        if self.tile_groups:
            return tuple(
                TileGroup(name, group.tiles, group.crossbars_per_tile, group.tile)
                for name, group in self.tile_groups.items()
            )
        if self.tile is None and self.fabric is not None:
            return ()
        assert self.tile is not None and self.chip.tiles and self.chip.crossbars_per_tile
        return (TileGroup(DEFAULT_GROUP, self.chip.tiles, self.chip.crossbars_per_tile, self.tile),)

    @property
    def tiles(self) -> int:
        """Tiles on the chip, all groups."""
        return sum(group.tiles for group in self.groups)

    @property
    def crossbars(self) -> int:
        """Crossbar arrays on the chip, all groups."""
        return sum(group.crossbars for group in self.groups)


# --------------------------------------------------------------------------------------------
# Off-chip DRAM (loaded on its own by archsim.config.load_dram; not part of HardwareConfig)
# --------------------------------------------------------------------------------------------

#: The fields of a DRAM address mapping (``DramConfig.address_mapping``): row, bank, bank
#: group, column (the burst within the row) and channel.
DRAM_ADDRESS_FIELDS = ("ro", "ba", "bg", "co", "ch")


@dataclass(frozen=True)
class DramTiming:
    """DRAM timing parameters, each an integer number of cycles of the DRAM clock ``tck_s``
    (the command clock; data moves ``transfers_per_cycle`` times per cycle), the way
    datasheets, DRAMsim3 and Ramulator 2 give them: exact integer arithmetic throughout."""

    cl: int = number(min=1, max=MAX_CYCLES, doc="CL: read command to first data beat, cycles")
    cwl: int = number(min=1, max=MAX_CYCLES, doc="CWL: write command to first data beat, cycles")
    trcd: int = number(min=1, max=MAX_CYCLES, doc="tRCD: activate to column command, cycles")
    trp: int = number(min=1, max=MAX_CYCLES, doc="tRP: precharge to activate, cycles")
    tras: int = number(min=1, max=MAX_CYCLES, doc="tRAS: activate to precharge, same bank, cycles")
    trtp: int = number(min=0, max=MAX_CYCLES, doc="tRTP: read to precharge, same bank, cycles")
    twr: int = number(
        min=0, max=MAX_CYCLES, doc="tWR: end of write data to precharge, same bank, cycles"
    )
    tccd_s: int = number(
        min=1, max=MAX_CYCLES, doc="tCCD_S: column to column command, other bank group, cycles"
    )
    tccd_l: int = number(
        min=1, max=MAX_CYCLES, doc="tCCD_L: column to column command, same bank group, cycles"
    )
    trrd_s: int = number(
        min=1, max=MAX_CYCLES, doc="tRRD_S: activate to activate, other bank group, cycles"
    )
    trrd_l: int = number(
        min=1, max=MAX_CYCLES, doc="tRRD_L: activate to activate, same bank group, cycles"
    )
    tfaw: int = number(
        min=0, max=MAX_CYCLES, doc="tFAW: window in which at most four activates issue, cycles"
    )

    def __post_init__(self) -> None:
        if self.tccd_l < self.tccd_s:
            raise ConfigError(f"tccd_l: must be >= tccd_s ({self.tccd_s}), got {self.tccd_l}")
        if self.trrd_l < self.trrd_s:
            raise ConfigError(f"trrd_l: must be >= trrd_s ({self.trrd_s}), got {self.trrd_l}")


@dataclass(frozen=True)
class DramEnergy:
    """Per-action energies of a DRAM channel, in joules."""

    activate: float = quantity(
        "J", min=0.0, max="1J", doc="one activate and its later precharge, a whole rank's row"
    )
    read_bit: float = quantity("J", min=0.0, max="1J", doc="one bit read out (array and core)")
    write_bit: float = quantity("J", min=0.0, max="1J", doc="one bit written (array and core)")


@dataclass(frozen=True)
class DramConfig:
    """An off-chip DRAM: ``channels`` independent channels, each one rank of ``bank_groups`` x
    ``banks_per_group`` banks of ``rows`` rows of ``row_bytes`` (the page, over all the rank's
    devices), behind a ``bus_bits`` data bus moving ``transfers_per_cycle`` beats per cycle of
    ``tck_s``. One access moves one burst of ``burst_length`` beats: ``burst_bytes`` bytes in
    ``burst_cycles`` cycles. Timings are in cycles of ``tck_s`` (section ``timing``).

    ``address_mapping`` orders the fields of an address from the most significant to the
    least, above the byte offset within a burst (``"ro:ba:bg:co:ch"``: row, bank, bank group,
    column, channel); each field is a digit of base its size (channels, banks per group, bank
    groups, bursts per row, rows), so sizes need not be powers of two.
    """

    version: Literal[1] = field(metadata={"doc": "format version; must be 1"})
    name: str = field(metadata={"doc": "the part's name, shown in reports"})
    tck_s: float = quantity("s", min="1ps", max="1us", doc="DRAM clock period tCK")
    transfers_per_cycle: int = number(min=1, max=16, doc="data beats per clock (2: DDR)")
    channels: int = number(min=1, max=1 << 10, doc="independent channels (own bus and banks)")
    bank_groups: int = number(min=1, max=64, doc="bank groups per channel")
    banks_per_group: int = number(min=1, max=64, doc="banks per bank group")
    rows: int = number(min=1, max=1 << 24, doc="rows per bank")
    row_bytes: float = quantity(
        "B", min="1B", max="1MiB", doc="row buffer (page) of one bank over the rank's devices"
    )
    bus_bits: int = number(min=1, max=1 << 12, doc="data bus width of one channel, bits")
    burst_length: int = number(min=1, max=64, doc="BL: data beats per access")
    address_mapping: str = field(
        metadata={"doc": "fields ro, ba, bg, co, ch from most to least significant, ':'-joined"}
    )
    timing: DramTiming = field(metadata={"doc": "timing parameters, cycles of tck_s"})
    energy: DramEnergy = field(metadata={"doc": "per-action energies"})
    description: str = field(default="", metadata={"doc": "free text"})

    def __post_init__(self) -> None:
        if self.burst_length % self.transfers_per_cycle:
            raise ConfigError(
                f"burst_length: must be a multiple of transfers_per_cycle "
                f"({self.transfers_per_cycle}), got {self.burst_length}"
            )
        if self.bus_bits * self.burst_length % 8:
            raise ConfigError(
                f"bus_bits: a burst (bus_bits x burst_length = "
                f"{self.bus_bits * self.burst_length} bits) must be whole bytes"
            )
        burst = self.bus_bits * self.burst_length // 8
        if not float(self.row_bytes).is_integer() or int(self.row_bytes) % burst:
            raise ConfigError(
                f"row_bytes: must be a multiple of one burst ({burst} B), got {self.row_bytes:g} B"
            )
        fields_given = self.address_mapping.split(":")
        if sorted(fields_given) != sorted(DRAM_ADDRESS_FIELDS):
            raise ConfigError(
                f"address_mapping: expected each of {', '.join(DRAM_ADDRESS_FIELDS)} once, "
                f"':'-joined, most significant first (such as 'ro:ba:bg:co:ch'), "
                f"got {self.address_mapping[:60]!r}"
            )

    @property
    def banks(self) -> int:
        """Banks per channel."""
        return self.bank_groups * self.banks_per_group

    @property
    def burst_bytes(self) -> int:
        """Bytes one access (one burst) moves."""
        return self.bus_bits * self.burst_length // 8

    @property
    def burst_cycles(self) -> int:
        """Cycles of ``tck_s`` one burst holds the data bus."""
        return self.burst_length // self.transfers_per_cycle

    @property
    def bursts_per_row(self) -> int:
        """Bursts (column addresses of one access) in one row."""
        return int(self.row_bytes) // self.burst_bytes

    @property
    def capacity_bytes(self) -> int:
        """Bytes addressable: channels x banks x rows x row_bytes."""
        return self.channels * self.banks * self.rows * int(self.row_bytes)

    @property
    def peak_bandwidth_bytes_per_s(self) -> float:
        """Peak data bandwidth of all channels, bytes per second:
        channels x bus_bits / 8 x transfers_per_cycle / tck_s."""
        return self.channels * self.bus_bits / 8 * self.transfers_per_cycle / self.tck_s


# --------------------------------------------------------------------------------------------
# Index-aware memory controller (IMC)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImcEnergy:
    """Per-action energies of an index-aware memory controller, in joules."""

    prefix_sum: float = quantity(
        "J", min=0.0, max="1J", doc="one row-pointer entry through the prefix-sum/diff unit"
    )
    request: float = quantity("J", min=0.0, max="1J", doc="one burst request (read or write) issued to DRAM")
    buffer_write_byte: float = quantity(
        "J", min=0.0, max="1J", doc="one byte of block data written into the prefetch buffer"
    )
    buffer_read_byte: float = quantity(
        "J", min=0.0, max="1J", doc="one byte of block data read out of the prefetch buffer"
    )


@dataclass(frozen=True)
class ImcConfig:
    """An index-aware memory controller: walks a block-CSR matrix's row pointers with a
    prefix-sum unit of ``prefix_sum_entries_per_cycle`` entries per chip cycle, then reads only
    the stored blocks from DRAM, ``request_bytes`` at a time, into a prefetch buffer of
    ``buffer_bytes``. Row pointers and column indices are ``index_bits`` wide, weights
    ``value_bits``."""

    buffer_bytes: float = quantity("B", min="1B", max="1GiB", doc="on-chip prefetch buffer")
    request_bytes: float = quantity(
        "B", min="1B", max="1GiB",
        doc="data requested from DRAM (and reserved in the buffer) at once, at least one block",
    )
    prefix_sum_entries_per_cycle: int = number(
        min=1, max=1 << 12, doc="row-pointer entries the prefix-sum/diff unit takes per cycle"
    )
    index_bits: int = number(min=1, max=64, doc="bits of one row pointer or column index")
    value_bits: int = number(min=1, max=64, doc="bits of one stored weight")
    energy: ImcEnergy = field(metadata={"doc": "per-action energies"})

    def __post_init__(self) -> None:
        for name in ("buffer_bytes", "request_bytes"):
            value = getattr(self, name)
            if not float(value).is_integer():
                raise ConfigError(f"{name}: must be whole bytes, got {value:g} B")
        if self.request_bytes > self.buffer_bytes:
            raise ConfigError(
                f"request_bytes: must be <= buffer_bytes ({self.buffer_bytes:g} B), "
                f"got {self.request_bytes:g} B"
            )


# --------------------------------------------------------------------------------------------
# Sparse compute units (SCUs)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScuEnergy:
    """Per-action energies of a sparse compute unit, in joules."""

    mac: float = quantity("J", min=0.0, max="1J", doc="one multiply-accumulate performed")
    skipped_slot: float = quantity(
        "J", min=0.0, max="1J",
        doc="zero_handling: skip: one MAC slot with a zero operand detected and skipped",
    )
    gated_slot: float = quantity(
        "J", min=0.0, max="1J",
        doc="zero_handling: gate: one MAC slot with a zero operand issued with the multiplier "
        "clock-gated",
    )
    buffer_read_byte: float = quantity(
        "J", min=0.0, max="1J", doc="one byte read out of the input or the output buffer"
    )
    buffer_write_byte: float = quantity(
        "J", min=0.0, max="1J", doc="one byte written into the input or the output buffer"
    )


@dataclass(frozen=True)
class ScuConfig:
    """A bank of ``units`` sparse compute units, each a MAC pipeline ``mac_width`` MACs wide
    and ``pipeline_depth`` cycles deep at the chip clock. A MAC slot with a zero operand costs
    no cycle (``skip``) or its cycle but only ``gated_slot`` energy (``gate``). Operands are
    ``value_bits`` wide, partial sums ``accumulator_bits``; an input buffer holds weight
    blocks and input slices, an output buffer partial sums."""

    units: int = number(min=1, max=4096, doc="sparse compute units in the bank")
    mac_width: int = number(min=1, max=1 << 16, doc="MACs per cycle per unit")
    pipeline_depth: int = number(
        min=0, max=MAX_CYCLES, doc="cycles of fill latency of one unit's MAC pipeline, per job"
    )
    zero_handling: Literal["skip", "gate"] = field(
        metadata={"doc": "skip: a zero-operand slot costs no cycle; gate: its cycle, less energy"}
    )
    value_bits: int = number(min=1, max=64, doc="bits of one weight or input operand")
    accumulator_bits: int = number(min=1, max=128, doc="bits of one partial sum")
    input_buffer_bytes: float = quantity(
        "B", min="1B", max="1GiB", doc="per unit: weight blocks and input slices"
    )
    output_buffer_bytes: float = quantity("B", min="1B", max="1GiB", doc="per unit: partial sums")
    energy: ScuEnergy = field(metadata={"doc": "per-action energies"})

    def __post_init__(self) -> None:
        for name in ("input_buffer_bytes", "output_buffer_bytes"):
            value = getattr(self, name)
            if not float(value).is_integer():
                raise ConfigError(f"{name}: must be whole bytes, got {value:g} B")


# --------------------------------------------------------------------------------------------
# The sparse training fabric: DRAM, IMC, SCUs and the dynamic interconnect
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DinEnergy:
    """Per-action energies of the dynamic interconnect's assignment controller, in joules."""

    check: float = quantity(
        "J", min=0.0, max="1J", doc="one layer's new mask compared with the mask in force"
    )
    assign_block: float = quantity(
        "J", min=0.0, max="1J", doc="one non-zero block given a compute unit (balanced)"
    )
    route_entry: float = quantity(
        "J", min=0.0, max="1J", doc="one routing-table entry written (a block's unit changed)"
    )


@dataclass(frozen=True)
class DinConfig:
    """The dynamic interconnect (DIN): which compute unit each non-zero block goes to, and the
    small controller that recomputes it at every mask change.

    ``balanced`` deals a layer's non-zero blocks round-robin over the units in row-major order
    (every unit within one block of the others), recomputed by the controller whenever a mask
    changes; ``static`` sends block (i, j) to unit ``(i x block_cols + j) mod units`` by
    position and never reassigns.
    """

    assignment: Literal["balanced", "static"] = field(
        metadata={"doc": "balanced: recomputed at every mask change; static: by position"}
    )
    check_cycles: int = number(
        min=0, max=MAX_CYCLES, doc="cycles to compare one layer's new mask with the one in force"
    )
    blocks_per_cycle: int = number(
        min=1, max=1 << 16, doc="blocks the controller assigns per cycle when a mask changed"
    )
    energy: DinEnergy = field(metadata={"doc": "per-action energies"})


@dataclass(frozen=True)
class FabricConfig:
    """A digital training fabric for block-sparse networks (``fabric:``): weights in off-chip
    DRAM as block-CSR (:class:`DramConfig`; in YAML also the name of a part file, relative to
    the config's folder, such as ``dram/hbm2.yaml``), one index-aware memory controller
    (:class:`ImcConfig`) fetching the non-zero blocks, a bank of sparse compute units
    (:class:`ScuConfig`), and the dynamic interconnect (:class:`DinConfig`) carrying blocks
    from the IMC to the units over the config's ``noc``, the IMC injecting them at one or
    more routers (``imc_routers``: its network ports).

    ``execution: dense`` runs the same trace with dense weights on the same hardware (every
    block fetched without metadata and computed; zero operands skipped or gated as
    ``scu.zero_handling`` says): the baseline of the speed-up from weight sparsity (with
    ``zero_handling: gate``, a dense accelerator that exploits no zeros at all).
    ``memory: ideal`` and ``interconnect: ideal`` take DRAM timing and the NoC out (blocks are
    in the buffer, and at their unit, the cycle the fetch starts); their traffic is still
    counted.
    """

    dram: DramConfig = field(metadata={"doc": "the off-chip DRAM (or a part file's path)"})
    imc: ImcConfig = field(metadata={"doc": "the index-aware memory controller"})
    scu: ScuConfig = field(metadata={"doc": "the sparse compute units"})
    din: DinConfig = field(metadata={"doc": "the dynamic interconnect's assignment"})
    execution: Literal["sparse", "dense"] = field(
        default="sparse",
        metadata={"doc": "sparse: non-zero blocks, zero operands skipped or gated; dense: all"},
    )
    memory: Literal["dram", "ideal"] = field(
        default="dram", metadata={"doc": "dram: timed DRAM; ideal: no DRAM time or energy"}
    )
    interconnect: Literal["noc", "ideal"] = field(
        default="noc", metadata={"doc": "noc: blocks travel as packets on noc; ideal: no time"}
    )
    imc_routers: tuple[int, ...] = field(
        default=(0,),
        metadata={
            "min": 0, "max": 1 << 20,
            "doc": "the NoC routers where the IMC injects blocks (each unit is served by its "
            "nearest, ties to the first listed); the units take the other routers in order",
        },
    )
    optimizer_macs_per_weight: int = number(
        default=2, min=0, max=64,
        doc="MAC slots of the optimizer step per weight (SGD with momentum: v = m v - lr g, "
        "w += v: 2)",
    )
