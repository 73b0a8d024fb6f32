"""Index-aware memory controller: fetches a block-CSR weight matrix from DRAM (stage: hw).

An :class:`Imc` stands between a :class:`~archsim.hw.dram.Dram` and the compute units that use
the weights (the SCUs, wired later). It is configured by an
:class:`~archsim.config.schema.ImcConfig`. A matrix lies in DRAM as block-CSR stores it
(:class:`BlockCsrLayout`): the row pointers (``rowptr_entries`` x ``index_bits``), the block
column indices (``nnzb`` x ``index_bits``) and the blocks' values (``nnzb`` x R x C x
``value_bits``, block after block, row-major over the stored blocks), each array contiguous.

Timing of :meth:`Imc.fetch`, in integer cycles of the chip clock ``clock_hz`` (SimPy time):

1. at the start ``t0`` it reads the bursts covering the row pointers, all requested at once;
2. when the last has arrived, the prefix-sum/diff unit walks them:
   ``ceil(rowptr_entries / prefix_sum_entries_per_cycle)`` cycles; meanwhile the bursts
   covering the column indices are read (their length is the last row pointer, known now);
3. when both are done, the data is read in batches of ``request_bytes // block_bytes`` blocks
   (at least one). A batch first reserves its bytes in the prefetch buffer (a
   :class:`simpy.Container` of free bytes) and waits while there is not room for it, then
   requests all the bursts it covers at once (:meth:`Dram.read`); blocks are contiguous, so
   row-buffer hits come from the DRAM model. A burst shared with the previous batch is not read
   twice, so each array costs exactly the bursts covering it;
4. the fetch ends when the last block has arrived.

Its value is the :class:`ImcStats` of that fetch. :meth:`Imc.fetch_dense` streams a dense
matrix (``rows x cols x value_bits / 8`` bytes rounded up) the same way without steps 1-2, in
chunks of ``request_bytes`` (at least one DRAM burst).

Consumers: every batch is put, as it is requested, into :attr:`Imc.output` (a
:class:`simpy.Store` of :class:`BlockBatch`, in order; the fetch's last batch has ``last``
True, an empty matrix gives one empty batch). A batch carries the chip cycle at which each of
its blocks is in the buffer (blocks are delivered in order: a block is ready when its bursts
and every earlier block's have arrived). A consumer ``get``\\ s a batch, waits for the blocks
it needs, and calls :meth:`Imc.consume` when it has read the whole batch, which frees its
bytes. A batch holds its buffer bytes from its request to its consumption, so the bytes
fetched (or in flight) and not yet consumed never exceed ``buffer_bytes``. :meth:`Imc.drain`
is a ready-made consumer that reads blocks at a fixed number of bytes per cycle.

Events: O(1) per batch (a buffer reservation and a store put) and O(1) per phase of a fetch;
per-block and per-burst work is arithmetic, never a SimPy event.

Actions (energies from ``ImcConfig.energy``): ``prefix_sum`` (per row-pointer entry),
``request`` (per DRAM burst requested, metadata and data), ``buffer_write`` and
``buffer_read`` (per byte of block data written into or read out of the prefetch buffer;
metadata goes to the prefix-sum unit and the index path, not the buffer). Busy cycles: the
fetch spans. DRAM energy is the DRAM's own.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import TYPE_CHECKING

import simpy

from archsim.config.schema import ImcConfig
from archsim.hw.component import Component
from archsim.hw.dram import Dram
from archsim.stats import CHIP, FORWARD
from archsim.workload.sparse_train import BlockCsrStats

if TYPE_CHECKING:
    from scipy.sparse import bsr_array

__all__ = ["BlockBatch", "BlockCsrLayout", "Imc", "ImcStats"]


def _align(address: int, alignment: int) -> int:
    return -(-address // alignment) * alignment


@dataclass(frozen=True)
class BlockCsrLayout:
    """Where the three arrays of one block-CSR matrix (sizes in ``stats``) start in DRAM, as
    byte addresses."""

    stats: BlockCsrStats
    rowptr_address: int
    colidx_address: int
    data_address: int

    @classmethod
    def contiguous(cls, stats: BlockCsrStats, base: int = 0, align: int = 1) -> BlockCsrLayout:
        """Row pointers at ``base``, then the column indices, then the data, each array
        starting at the next multiple of ``align`` bytes (a DRAM burst: no burst shared)."""
        colidx = _align(base + stats.rowptr_bytes, align)
        data = _align(colidx + stats.colidx_bytes, align)
        return cls(stats, base, colidx, data)

    @property
    def block_bytes(self) -> int:
        """Bytes of one stored block: R x C x value_bits / 8 (whole bytes, checked by the
        IMC)."""
        r, c = self.stats.blocksize
        return r * c * self.stats.value_bits // 8


@dataclass(frozen=True)
class BlockBatch:
    """Consecutive blocks fetched together: blocks ``first`` .. ``first + count - 1`` of the
    data array (chunks of ``request_bytes`` in dense mode), ``nbytes`` bytes of the prefetch
    buffer, and the chip cycle at which each block is in the buffer (non-decreasing). ``last``
    marks a fetch's final batch."""

    first: int
    count: int
    nbytes: int
    ready_cycles: tuple[int, ...]
    last: bool

    @property
    def ready(self) -> int:
        """Chip cycle at which the whole batch is in the buffer (0 for an empty batch)."""
        return self.ready_cycles[-1] if self.ready_cycles else 0


@dataclass(frozen=True)
class ImcStats:
    """What an IMC fetched, over one fetch or a whole run.

    ``rowptr_bytes``, ``colidx_bytes`` and ``data_bytes`` are the block-CSR arrays' sizes as
    :class:`~archsim.workload.sparse_train.BlockCsrStats` counts them (the dense matrix's bytes
    in dense mode); ``metadata_bytes_read`` and ``data_bytes_read`` are the DRAM bytes of the
    bursts covering them. Cycles are chip cycles: ``prefix_sum_cycles`` of the prefix-sum
    unit, ``stall_cycles`` spent waiting for buffer room, ``fetch_cycles`` from the start of a
    fetch to its last block (summed over fetches). ``buffer_max_bytes`` is the largest
    reserved occupancy of the prefetch buffer.
    """

    fetches: int = 0
    blocks_fetched: int = 0
    rowptr_bytes: int = 0
    colidx_bytes: int = 0
    data_bytes: int = 0
    metadata_bytes_read: int = 0
    data_bytes_read: int = 0
    prefix_sum_cycles: int = 0
    stall_cycles: int = 0
    fetch_cycles: int = 0
    buffer_max_bytes: int = 0

    @property
    def metadata_bytes(self) -> int:
        """Row-pointer and column-index bytes (block-CSR count, not burst-rounded)."""
        return self.rowptr_bytes + self.colidx_bytes

    @property
    def dram_bytes_read(self) -> int:
        """Bytes read from DRAM: whole bursts of metadata and data."""
        return self.metadata_bytes_read + self.data_bytes_read

    @property
    def metadata_fraction(self) -> float:
        """Share of the DRAM bytes read that were metadata (0 before any read)."""
        total = self.dram_bytes_read
        return self.metadata_bytes_read / total if total else 0.0

    def __add__(self, other: ImcStats) -> ImcStats:
        """Totals of two runs; ``buffer_max_bytes`` is the larger."""
        values = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        values["buffer_max_bytes"] = max(self.buffer_max_bytes, other.buffer_max_bytes)
        return ImcStats(**values)


class Imc(Component):
    """One index-aware memory controller on ``env`` reading from ``dram`` (module docstring).

    ``clock_hz`` is the chip clock SimPy time counts; ``dram`` must count the same
    (``Dram(env, ..., clock_hz=clock_hz)``).

    Raises:
        ValueError: ``dram`` runs on another environment or clock.
    """

    KIND = "imc"

    def __init__(
        self, env: simpy.Environment, config: ImcConfig, dram: Dram, *, clock_hz: float,
        group: str = CHIP,
    ) -> None:
        super().__init__(1, group=group)
        if dram.env is not env:
            raise ValueError("imc: dram must run on the same SimPy environment")
        expected = dram.config.tck_s * clock_hz
        if abs(float(dram.ratio) - expected) > 1e-6 * expected:
            raise ValueError(
                f"imc: dram counts chip cycles of another clock (ratio {float(dram.ratio):g}, "
                f"expected tck_s x clock_hz = {expected:g})"
            )
        self.env = env
        self.config = config
        self.dram = dram
        self.clock_hz = clock_hz
        energy = config.energy
        self.declare("prefix_sum", energy.prefix_sum, "one row-pointer entry prefix-summed")
        self.declare("request", energy.request, "one DRAM burst requested (read or write)")
        self.declare("buffer_write", energy.buffer_write_byte, "one byte into the buffer")
        self.declare("buffer_read", energy.buffer_read_byte, "one byte out of the buffer")
        self._capacity = int(config.buffer_bytes)
        #: free bytes of the prefetch buffer
        self.buffer = simpy.Container(env, capacity=self._capacity, init=self._capacity)
        #: fetched batches, in order, for the consumer (module docstring)
        self.output: simpy.Store = simpy.Store(env)
        self._burst = dram.config.burst_bytes
        self._totals = ImcStats()

    # ---------------------------------------------------------------------------------------
    # Layout
    # ---------------------------------------------------------------------------------------

    def layout(self, matrix: bsr_array, base: int = 0) -> BlockCsrLayout:
        """``matrix`` stored at byte ``base`` with this IMC's index and value widths, each
        array starting on a DRAM burst boundary."""
        stats = BlockCsrStats.of(
            matrix, index_bits=self.config.index_bits, value_bits=self.config.value_bits
        )
        return BlockCsrLayout.contiguous(stats, base, self._burst)

    # ---------------------------------------------------------------------------------------
    # Fetches
    # ---------------------------------------------------------------------------------------

    def fetch(self, layout: BlockCsrLayout, phase: str = FORWARD) -> simpy.Process:
        """Fetch the stored blocks of ``layout`` starting now: a process whose value is the
        fetch's :class:`ImcStats`.

        Raises:
            ValueError: the layout's bit widths are not the config's, a block is not whole
                bytes, or it does not fit in the buffer.
        """
        stats = layout.stats
        for name in ("index_bits", "value_bits"):
            given, configured = getattr(stats, name), getattr(self.config, name)
            if given != configured:
                raise ValueError(f"imc: layout {name} is {given}, the config's is {configured}")
        r, c = stats.blocksize
        if r * c * stats.value_bits % 8:
            raise ValueError(
                f"imc: a block of {r} x {c} x {stats.value_bits} bits is not whole bytes"
            )
        self._check_fits(layout.block_bytes)
        return self.env.process(self._run(layout, (0, 0), phase))

    def fetch_dense(
        self, rows: int, cols: int, address: int, phase: str = FORWARD
    ) -> simpy.Process:
        """Stream a dense ``rows`` x ``cols`` matrix of ``value_bits`` weights stored at byte
        ``address``, without metadata, in chunks of ``request_bytes``: a process whose value is
        the fetch's :class:`ImcStats`.

        Raises:
            ValueError: ``rows`` or ``cols`` is negative.
        """
        if rows < 0 or cols < 0:
            raise ValueError(f"imc: a dense matrix must have rows, cols >= 0, got {rows} x {cols}")
        nbytes = -(-rows * cols * self.config.value_bits // 8)
        return self.env.process(self._run(None, (address, nbytes), phase))

    def dense_chunk_bytes(self, total: int) -> int:
        """Bytes of each batch of a dense stream of ``total`` bytes: ``request_bytes``, at least
        one burst (a smaller request reads it anyway), at most ``total`` (at least 1)."""
        return min(max(int(self.config.request_bytes), self._burst), total) or 1

    def _check_fits(self, block_bytes: int) -> None:
        if block_bytes > self._capacity:
            raise ValueError(
                f"imc: a block of {block_bytes} B does not fit in buffer_bytes "
                f"({self._capacity} B)"
            )

    def _read_span(self, address: int, nbytes: int, phase: str) -> tuple[int, int]:
        """Read the bursts covering ``nbytes`` bytes at ``address`` now: (the last completion,
        chip cycles; the bytes of those bursts)."""
        now = int(self.env.now)
        if nbytes <= 0:
            return now, 0
        burst = self._burst
        first, last = address // burst, (address + nbytes - 1) // burst
        done = self.dram.read(range(first * burst, (last + 1) * burst, burst), phase)
        self.count("request", len(done), phase)
        return max(done), len(done) * burst

    def _run(
        self, layout: BlockCsrLayout | None, dense: tuple[int, int], phase: str
    ) -> Generator[simpy.Event, object, ImcStats]:
        env, config = self.env, self.config
        start = int(env.now)
        prefix = metadata_read = 0
        rowptr_bytes = colidx_bytes = 0
        if layout is not None:
            stats = layout.stats
            rowptr_bytes, colidx_bytes = stats.rowptr_bytes, stats.colidx_bytes
            rowptr_done, read = self._read_span(layout.rowptr_address, rowptr_bytes, phase)
            metadata_read += read
            yield env.timeout(rowptr_done - env.now)
            prefix = -(-stats.rowptr_entries // config.prefix_sum_entries_per_cycle)
            self.count("prefix_sum", stats.rowptr_entries, phase)
            colidx_done, read = self._read_span(layout.colidx_address, colidx_bytes, phase)
            metadata_read += read
            yield env.timeout(max(int(env.now) + prefix, colidx_done) - env.now)
            address, item_bytes, total = layout.data_address, layout.block_bytes, stats.data_bytes
            items = stats.nnzb
        else:
            address, total = dense
            item_bytes = self.dense_chunk_bytes(total)
            items = -(-total // item_bytes)
        per_batch = max(1, int(config.request_bytes) // item_bytes)
        burst = self._burst
        next_burst = address // burst  # the first burst of the data not yet requested
        ready = int(env.now)  # the last block delivered so far
        stall = data_read = buffer_max = 0
        if items == 0:
            self.output.put(BlockBatch(0, 0, 0, (), True))
        for first in range(0, items, per_batch):
            count = min(per_batch, items - first)
            lo, hi = first * item_bytes, min(total, (first + count) * item_bytes)
            asked = int(env.now)
            yield self.buffer.get(hi - lo)
            stall += int(env.now) - asked
            buffer_max = max(buffer_max, self._capacity - int(self.buffer.level))
            low = max(next_burst, (address + lo) // burst)
            high = (address + hi - 1) // burst
            done = self.dram.read(range(low * burst, (high + 1) * burst, burst), phase)
            next_burst = high + 1
            self.count("request", len(done), phase)
            self.count("buffer_write", hi - lo, phase)
            data_read += len(done) * burst
            # in-order delivery: ready[i] is the last completion among bursts low .. low + i - 1
            arrived = list(accumulate(done, max, initial=ready))
            ready_cycles = tuple(
                arrived[max(0, (address + min(total, (k + 1) * item_bytes) - 1) // burst
                            - low + 1)]
                for k in range(first, first + count)
            )
            ready = ready_cycles[-1]
            self.output.put(
                BlockBatch(first, count, hi - lo, ready_cycles, first + count == items)
            )
        yield env.timeout(max(0, ready - int(env.now)))
        span = int(env.now) - start
        self.add_busy(span, phase)
        result = ImcStats(
            fetches=1,
            blocks_fetched=items if layout is not None else 0,
            rowptr_bytes=rowptr_bytes,
            colidx_bytes=colidx_bytes,
            data_bytes=total,
            metadata_bytes_read=metadata_read,
            data_bytes_read=data_read,
            prefix_sum_cycles=prefix,
            stall_cycles=stall,
            fetch_cycles=span,
            buffer_max_bytes=buffer_max,
        )
        self._totals = self._totals + result
        return result

    # ---------------------------------------------------------------------------------------
    # Consumers
    # ---------------------------------------------------------------------------------------

    def consume(self, batch: BlockBatch, phase: str = FORWARD) -> None:
        """Mark ``batch`` read out of the buffer: its bytes are free for later batches.

        Raises:
            ValueError: more bytes consumed than the buffer holds (a batch consumed twice).
        """
        if self.buffer.level + batch.nbytes > self._capacity:
            raise ValueError(
                f"imc: consuming {batch.nbytes} B would free more than the buffer holds "
                f"({self._capacity - int(self.buffer.level)} B)"
            )
        if batch.nbytes:  # an empty matrix's single batch frees nothing
            self.count("buffer_read", batch.nbytes, phase)
            self.buffer.put(batch.nbytes)

    def drain(self, bytes_per_cycle: float, phase: str = FORWARD) -> simpy.Process:
        """A consumer that reads the blocks of :attr:`output` in order at ``bytes_per_cycle``
        (``math.inf``: instantly) until a fetch's last batch: a block is read from when it is
        ready and the previous one is read; a batch is consumed when its last block is read
        (rounded up to a whole cycle). One timeout per batch.

        Raises:
            ValueError: ``bytes_per_cycle`` is not positive.
        """
        if not bytes_per_cycle > 0:
            raise ValueError(f"imc: bytes_per_cycle must be > 0, got {bytes_per_cycle}")
        return self.env.process(self._drain(bytes_per_cycle, phase))

    def _drain(self, rate: float, phase: str) -> Generator[simpy.Event, object, None]:
        env = self.env
        while True:
            batch = yield self.output.get()
            per_block = batch.nbytes / batch.count / rate if batch.count else 0.0
            t = float(env.now)
            for cycle in batch.ready_cycles:
                t = max(t, cycle) + per_block
            yield env.timeout(math.ceil(t) - env.now)
            self.consume(batch, phase)
            if batch.last:
                return

    # ---------------------------------------------------------------------------------------
    # Statistics
    # ---------------------------------------------------------------------------------------

    def stats(self) -> ImcStats:
        """Totals over every fetch completed so far."""
        return self._totals
