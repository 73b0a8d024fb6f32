"""The block-sparse training fabric: DRAM, IMC, SCUs and the dynamic interconnect (stage: hw).

A :class:`Fabric` is built by :func:`archsim.hw.system.build_system` from a config's
``fabric:`` section (:class:`~archsim.config.schema.FabricConfig`) for the matrix layers of a
network. It holds:

* the off-chip **DRAM** (:class:`~archsim.hw.dram.Dram`; none with ``memory: ideal``), in
  which every matrix layer has a region (:class:`LayerStore`): its weights W as block-CSR
  (row pointers, block column indices, B x B blocks, :class:`~archsim.hw.imc.BlockCsrLayout`)
  followed by the optimizer's velocity V (data blocks only, in W's block order, sharing W's
  metadata). A region is sized for every block of the layer, so a mask change never moves a
  layer; regions start on DRAM row boundaries, in layer order;
* the **IMC** (:class:`~archsim.hw.imc.Imc`), which fetches a layer's non-zero blocks;
* the **SCUs** (:class:`~archsim.hw.scu.ScuBank`), which run the blocks' MACs as streamed
  jobs (:meth:`~archsim.hw.scu.ScuBank.stream`);
* the **DIN** controller (:class:`DinController`), which assigns each layer's non-zero blocks
  to units at every mask change, and the routers of the IMC and the units on the NoC.

:meth:`Fabric.deliver` is the data path of one product: the IMC fetches the layer's blocks
(block-CSR, or the dense matrix block by block with ``execution: dense``); each block, once in
the prefetch buffer, goes to its unit as one packet over the NoC (``interconnect: noc``) or
at once (``ideal``); its value is, per unit, the cycles its blocks arrived. A batch leaves the
IMC's buffer once its packets are handed to the network (whose injection queue is not bounded).
Events: the IMC's per batch, one timeout per distinct ready cycle of a batch's blocks, and one
packet process per block on the NoC.

With ``execution: dense`` a layer's matrix is stored tiled (block after block, every block of
its grid, padded) without metadata, and every block of the grid is fetched and computed (zero
operands still skipped or gated as ``scu.zero_handling`` says).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np
import simpy

from archsim.config.schema import DinConfig, FabricConfig
from archsim.errors import ArchsimError, ConfigError
from archsim.hw.component import Component
from archsim.hw.dram import Dram
from archsim.hw.imc import BlockBatch, BlockCsrLayout, Imc, ImcStats
from archsim.hw.noc.network import Network
from archsim.hw.noc.topology import HopCounts
from archsim.hw.scu import ScuBank
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.stats import CHIP, FORWARD
from archsim.workload.sparse_train import BlockCsrStats

__all__ = ["MASK", "DinController", "Fabric", "LayerStore", "block_assignment"]

#: The phase of mask-update work (the controller, the rewrite of a layer's block-CSR).
MASK = "mask"

Process = Generator[simpy.Event, object, object]


def block_assignment(
    positions: np.ndarray, block_cols: int, units: int, rule: str
) -> np.ndarray:
    """The unit of each block at row-major flat ``positions`` (sorted), in that order:
    ``balanced`` deals them round-robin (unit ``k mod units`` for the k-th), ``static`` by
    position (``position mod units``, block (i, j) at ``i x block_cols + j``)."""
    if rule == "balanced":
        return np.arange(positions.size, dtype=np.int64) % units
    return positions.astype(np.int64) % units


class DinController(Component):
    """The dynamic interconnect's assignment controller (:class:`~archsim.config.schema.
    DinConfig`). At a mask update it compares each layer's new mask with the one in force
    (``check_cycles``, action ``check``); when the mask changed and the assignment is
    ``balanced`` it deals the non-zero blocks over the units again (``ceil(nnzb /
    blocks_per_cycle)`` cycles, ``assign_block`` per block) and writes the routing-table
    entries of the blocks whose unit changed or that are new (``route_entry``). A ``static``
    assignment is fixed by position: a changed mask only writes the entries of regrown
    blocks."""

    KIND = "din"

    def __init__(self, config: DinConfig, *, group: str = CHIP) -> None:
        super().__init__(1, group=group)
        self.config = config
        energy = config.energy
        self.declare("check", energy.check, "one layer's new mask compared with the old")
        self.declare("assign_block", energy.assign_block, "one block given a unit")
        self.declare("route_entry", energy.route_entry, "one routing-table entry written")

    def update(
        self, old: np.ndarray, old_units: np.ndarray, new: np.ndarray, new_units: np.ndarray,
    ) -> tuple[int, int]:
        """Count the controller's work for one layer going from blocks ``old`` (sorted flat
        positions, assigned ``old_units``) to ``new`` (``new_units``): (its cycles, the
        routing entries written)."""
        config = self.config
        self.count("check", 1, MASK)
        cycles = config.check_cycles
        if np.array_equal(old, new):
            self.add_busy(cycles, MASK)
            return cycles, 0
        before = dict(zip(old.tolist(), old_units.tolist(), strict=True))
        written = sum(
            1 for p, u in zip(new.tolist(), new_units.tolist(), strict=True)
            if before.get(p) != u
        )
        if config.assignment == "balanced":
            self.count("assign_block", new.size, MASK)
            cycles += -(-new.size // config.blocks_per_cycle)
        self.count("route_entry", written, MASK)
        self.add_busy(cycles, MASK)
        return cycles, written


@dataclass
class LayerStore:
    """One matrix layer on the fabric: its shape, block grid and DRAM region, the blocks in
    force (sorted row-major flat ``positions``) with their block-CSR ``layout`` and the unit
    of each (``units_of``, in block-CSR order), and where V's data starts."""

    name: str
    rows: int
    cols: int
    block: int
    grid: tuple[int, int]
    base: int
    region_bytes: int
    positions: np.ndarray = field(repr=False)
    layout: BlockCsrLayout = field(repr=False)
    velocity_address: int = 0
    block_bytes: int = 0
    units_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    #: the unit of every block of the grid, row-major (the assignment with all in force)
    grid_units_of: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64), repr=False
    )

    @property
    def blocks(self) -> int:
        """Blocks of the grid."""
        return self.grid[0] * self.grid[1]

    @property
    def nnzb(self) -> int:
        """Blocks in force."""
        return int(self.positions.size)


class Fabric:
    """The fabric's units, wired, and its layers' DRAM regions (module docstring).

    Attributes:
        config: the ``fabric`` section.
        dram, imc: the DRAM and its IMC (None with ``memory: ideal``).
        scu: the sparse compute units.
        din: the assignment controller.
        noc: the network the blocks travel (None with ``interconnect: ideal``).
        unit_nodes, port_of_unit: per unit, its router and the IMC port serving it.
        layers: per matrix layer, its :class:`LayerStore`.
        fetched: what the fetches read, in block-CSR terms (counted with ideal memory too).
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: FabricConfig,
        clock_hz: float,
        *,
        noc: Network | None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.env = env
        self.config = config
        self.clock_hz = clock_hz
        self.limits = limits
        units = config.scu.units
        self.dram = (
            Dram(env, config.dram, clock_hz=clock_hz, group=CHIP)
            if config.memory == "dram" else None
        )
        self.imc = (
            Imc(env, config.imc, self.dram, clock_hz=clock_hz) if self.dram is not None else None
        )
        self.scu = ScuBank(env, config.scu, clock_hz=clock_hz)
        self.din = DinController(config.din)
        self.noc = noc if config.interconnect == "noc" else None
        self.unit_nodes: tuple[int, ...] = ()
        #: per unit, the IMC port (router) that serves it
        self.port_of_unit: tuple[int, ...] = ()
        if self.noc is not None:
            self.unit_nodes, self.port_of_unit = self._place(self.noc, config, units)
        self.fetched = ImcStats()
        self.layers: dict[str, LayerStore] = {}
        self._next_base = 0

    def layer(self, name: str, rows: int, cols: int, block: int) -> LayerStore:
        """Layer ``name``'s store, made at its first use: a ``rows`` x ``cols`` matrix in
        blocks of ``block`` x ``block``, all of them in force, in the next DRAM region.

        Raises:
            ConfigError: the blocks are not whole bytes, a block does not fit the IMC's or a
                unit's buffers, a block's packet does not fit the NoC, or the layers no longer
                fit the DRAM part.
            LimitError: the layer's grid has more blocks than the ``blocks`` budget.
            ValueError: the layer exists with another shape or block size.
        """
        store = self.layers.get(name)
        if store is not None:
            if (store.rows, store.cols, store.block) != (rows, cols, block):
                raise ValueError(
                    f"layer '{name}' is a {store.rows} x {store.cols} matrix in {store.block} x "
                    f"{store.block} blocks, not {rows} x {cols} in {block} x {block}"
                )
            return store
        grid = (-(-rows // block), -(-cols // block))
        self.limits.check(
            "blocks", grid[0] * grid[1],
            f"layer '{name}': a {rows} x {cols} matrix in {block} x {block} blocks",
        )
        block_bytes = self._block_bytes(block)
        self._check_buffers(block, block_bytes)
        if self.noc is not None:
            flits = self.noc.format.flits(block_bytes * 8)
            try:
                self.noc.check_fits(flits)
            except ArchsimError:
                raise ConfigError(
                    f"noc.buffer_flits: a {block} x {block} block ({block_bytes} B) travels as "
                    f"one {flits}-flit packet, larger than this NoC carries; enlarge the "
                    "buffers or the links, or use wormhole flow control"
                ) from None
        config = self.config
        align = int(config.dram.row_bytes)
        base = self._next_base
        full = np.arange(grid[0] * grid[1], dtype=np.int64)
        layout = self._layout(full, grid, base, block)
        data_end = layout.data_address + layout.stats.data_bytes
        velocity = -(-data_end // align) * align
        size = velocity + layout.stats.data_bytes - base
        end = -(-(base + size) // align) * align
        if end > config.dram.capacity_bytes:
            raise ConfigError(
                f"fabric.dram: the layers' weights and velocities need {end:,} B (up to layer "
                f"'{name}'); the part '{config.dram.name}' holds "
                f"{config.dram.capacity_bytes:,} B"
            )
        store = LayerStore(
            name, rows, cols, block, grid, base, size, full, layout, velocity,
            block_bytes=block_bytes,
        )
        store.units_of = store.grid_units_of = self._assign(store, full)
        self.layers[name] = store
        self._next_base = end
        return store

    @staticmethod
    def _place(
        noc: Network, config: FabricConfig, units: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The units' routers (those not the IMC's, in order) and each unit's IMC port (the
        nearest in hops, ties to the first listed)."""
        routers = noc.topology.nodes
        ports = config.imc_routers
        if not ports:
            raise ConfigError("fabric.imc_routers: expected at least one router")
        for port in ports:
            if port >= routers:
                raise ConfigError(
                    f"fabric.imc_routers: expected routers 0..{routers - 1} of the NoC, got "
                    f"{port}"
                )
        if len(set(ports)) != len(ports):
            raise ConfigError(f"fabric.imc_routers: expected distinct routers, got {list(ports)}")
        if routers < units + len(ports):
            raise ConfigError(
                f"fabric.scu.units: the NoC has {routers} routers, {len(ports)} for the IMC "
                f"and one per unit; got {units} units"
            )
        taken = set(ports)
        nodes = tuple(r for r in range(routers) if r not in taken)[:units]
        hops = HopCounts(noc.topology).between(
            np.asarray(ports, dtype=np.int64)[:, None], np.asarray(nodes, dtype=np.int64)[None, :]
        )
        serving = tuple(ports[int(i)] for i in np.argmin(hops, axis=0))
        return nodes, serving

    # ---------------------------------------------------------------------------------------
    # Layout and assignment
    # ---------------------------------------------------------------------------------------

    def _check_buffers(self, block: int, block_bytes: int) -> None:
        """A block must fit the IMC's prefetch buffer, and a block with its input slice (and a
        slice of partial sums) a unit's buffers."""
        config = self.config
        if block_bytes > config.imc.buffer_bytes:
            raise ConfigError(
                f"fabric.imc.buffer_bytes: a {block} x {block} block ({block_bytes:,} B) does "
                f"not fit the prefetch buffer ({config.imc.buffer_bytes:,.0f} B)"
            )
        problem = self.scu.buffer_problem(block)
        if problem is not None:
            raise ConfigError(f"fabric.scu.{problem[0]}: {problem[1]}")

    def _block_bytes(self, block: int) -> int:
        bits = block * block * self.config.imc.value_bits
        if bits % 8:
            raise ConfigError(
                f"fabric.imc.value_bits: a {block} x {block} block of "
                f"{self.config.imc.value_bits}-bit weights is not whole bytes"
            )
        return bits // 8

    def _layout(
        self, positions: np.ndarray, grid: tuple[int, int], base: int, b: int
    ) -> BlockCsrLayout:
        """The block-CSR layout of the B x B (``b``) blocks at ``positions`` of a ``grid``, at
        ``base``: the arrays' sizes depend only on the grid and the blocks' count."""
        config = self.config.imc
        stats = BlockCsrStats.sized(
            (grid[0] * b, grid[1] * b), (b, b), int(positions.size),
            index_bits=config.index_bits, value_bits=config.value_bits,
        )
        burst = self.config.dram.burst_bytes
        return BlockCsrLayout.contiguous(stats, base, burst)

    def _assign(self, store: LayerStore, positions: np.ndarray) -> np.ndarray:
        return block_assignment(
            positions, store.grid[1], self.config.scu.units, self.config.din.assignment
        )

    def computed_units(self, store: LayerStore) -> np.ndarray:
        """The unit of each block a product on ``store`` computes, in fetch order: the blocks
        in force, or every block of the grid with ``execution: dense``."""
        return store.grid_units_of if self.config.execution == "dense" else store.units_of

    def loads(self, store: LayerStore) -> np.ndarray:
        """Blocks per unit of a product on ``store``."""
        return np.bincount(self.computed_units(store), minlength=self.config.scu.units)

    def set_mask(self, name: str, positions: np.ndarray) -> tuple[int, int, bool]:
        """Put blocks ``positions`` (sorted row-major flat indices) in force on layer ``name``:
        the controller's check and reassignment (:class:`DinController`) and, when the mask
        changed, the new block-CSR layout and assignment. Returns (the controller's cycles,
        the routing entries written, whether the mask changed)."""
        store = self.layers[name]
        units = self._assign(store, positions)
        cycles, written = self.din.update(store.positions, store.units_of, positions, units)
        if np.array_equal(store.positions, positions):
            return cycles, written, False
        store.positions = positions
        store.units_of = units
        store.layout = self._layout(positions, store.grid, store.base, store.block)
        return cycles, written, True

    # ---------------------------------------------------------------------------------------
    # Data path
    # ---------------------------------------------------------------------------------------

    def deliver(self, name: str, phase: str = FORWARD) -> simpy.Process:
        """Fetch layer ``name``'s blocks (all of its grid with ``execution: dense``) and send
        each to its unit (module docstring): a process whose value is, per unit, the chip
        cycles at which its blocks arrived."""
        return self.env.process(self._deliver(name, phase))

    def _fetch_stats(self, store: LayerStore) -> ImcStats:
        stats = store.layout.stats
        if self.config.execution == "dense":
            return ImcStats(
                fetches=1, blocks_fetched=store.blocks,
                data_bytes=store.blocks * store.block_bytes,
                data_bytes_read=store.blocks * store.block_bytes,
            )
        return ImcStats(
            fetches=1, blocks_fetched=stats.nnzb, rowptr_bytes=stats.rowptr_bytes,
            colidx_bytes=stats.colidx_bytes, data_bytes=stats.data_bytes,
            metadata_bytes_read=stats.rowptr_bytes + stats.colidx_bytes,
            data_bytes_read=stats.data_bytes,
        )

    def _deliver(self, name: str, phase: str) -> Generator[simpy.Event, object, list[list[int]]]:
        env, store = self.env, self.layers[name]
        units = self.config.scu.units
        dense = self.config.execution == "dense"
        unit_of = self.computed_units(store).tolist()
        count = len(unit_of)
        arrivals: list[list[int]] = [[] for _ in range(units)]
        if self.imc is None:  # ideal memory: every block is there now
            self.fetched = self.fetched + self._fetch_stats(store)
            now = int(env.now)
            packets = self._send(
                range(count), unit_of, now, arrivals, phase, store.block_bytes
            )
            if packets:
                yield env.all_of(packets)
            return arrivals
        fetch = (
            self.imc.fetch_dense(count * store.block, store.block, store.base, phase) if dense
            else self.imc.fetch(store.layout, phase)
        )
        packets: list[simpy.Process] = []
        done_blocks = 0
        block_bytes = store.block_bytes
        chunk = self.imc.dense_chunk_bytes(count * block_bytes)
        while True:
            batch: BlockBatch = yield self.imc.output.get()
            if dense:  # chunks of request_bytes: the blocks each one completes
                end = count if batch.last else min(
                    count, (batch.first + batch.count) * chunk // block_bytes
                )
                ready = [(done_blocks, end, batch.ready)]
                done_blocks = end
            else:
                ready = [
                    (batch.first + k, batch.first + k + 1, t)
                    for k, t in enumerate(batch.ready_cycles)
                ]
            for first, last, t in ready:
                if t > env.now:
                    yield env.timeout(t - env.now)
                packets += self._send(
                    range(first, last), unit_of, int(env.now), arrivals, phase, block_bytes
                )
            self.imc.consume(batch, phase)
            if batch.last:
                break
        result: ImcStats = yield fetch  # type: ignore[assignment]
        if dense:  # streamed as bytes: its blocks are the grid's
            result = replace(result, blocks_fetched=count)
        self.fetched = self.fetched + result
        if packets:
            yield env.all_of(packets)
        return arrivals

    def _send(
        self, blocks: range, unit_of: list[int], now: int, arrivals: list[list[int]],
        phase: str, block_bytes: int,
    ) -> list[simpy.Process]:
        """Send ``blocks`` to their units now: a packet each over the NoC, whose delivery is
        the arrival; with an ideal interconnect they arrive now."""
        if self.noc is None:
            for k in blocks:
                arrivals[unit_of[k]].append(now)
            return []
        packets = []
        bits = block_bytes * 8
        for k in blocks:
            unit = unit_of[k]
            packet = self.noc.send(
                self.port_of_unit[unit], self.unit_nodes[unit], bits, phase
            )
            packet.callbacks.append(
                lambda event, unit=unit: event.ok and arrivals[unit].append(event.value.delivered)
            )
            packets.append(packet)
        return packets

    # ---------------------------------------------------------------------------------------
    # Plain DRAM transfers (velocity, write-back, block-CSR rewrite)
    # ---------------------------------------------------------------------------------------

    def track_mask(self, name: str, positions: np.ndarray) -> None:
        """Record the blocks in force on layer ``name`` without any work (a dense run keeps
        every block; the records are still checked against the mask)."""
        self.layers[name].positions = positions

    def transfer(self, address: int, nbytes: int, write: bool, phase: str) -> int:
        """Read or write the bursts covering ``nbytes`` bytes at ``address``, all requested
        now: the chip cycle the last completes (now with ideal memory or no bytes)."""
        now = int(self.env.now)
        if self.dram is None or nbytes <= 0:
            return now
        burst = self.config.dram.burst_bytes
        first, last = address // burst, (address + nbytes - 1) // burst
        addresses = range(first * burst, (last + 1) * burst, burst)
        done = self.dram.write(addresses, phase) if write else self.dram.read(addresses, phase)
        if self.imc is not None:  # the IMC issues every request, reads and writes
            self.imc.count("request", len(done), phase)
        return max(done, default=now)

    def components(self) -> tuple[Component, ...]:
        """The fabric's component banks: DRAM, IMC, SCUs, DIN controller."""
        banks: list[Component] = []
        if self.dram is not None:
            banks.append(self.dram)
        if self.imc is not None:
            banks.append(self.imc)
        banks += [self.scu, self.din]
        return tuple(banks)
