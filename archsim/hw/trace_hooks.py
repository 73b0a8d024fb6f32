"""What hardware components tell a timeline recorder while they act (stage: hw).

A run records a timeline only when it is given a recorder (:class:`TimelineHooks`; the
simulation stage implements it in :class:`archsim.stats.timeline.Timeline`). The components
report *spans*, intervals ``[start, end)`` in integer cycles of the chip clock, computed from
the same cycle arithmetic that times them: reporting adds no SimPy event, and a component
without a recorder never calls a hook (it tests for one at most once per job, operation or
packet, never per VMM step or per controller reservation).

What each hook stands for:

* :meth:`TimelineHooks.arrays`: a crossbar group's job of ``steps`` operations of
  ``op_cycles`` each from ``start``, in lockstep on every crossbar of the group (one report per
  job with an untimed controller, one per step, ``steps = 1``, with a timed one); the ADC
  conversions inside each operation follow from :attr:`ArrayWork.conversions`;
* :meth:`TimelineHooks.instruction`: one reservation of a controller core;
* :meth:`TimelineHooks.packet`: one activation packet, creation to the tail's ejection;
* :meth:`TimelineHooks.vector`: one operation of a vector unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from archsim.hw.tile import CrossbarTiles
from archsim.mapping.crossbar import CrossbarLayout

#: Conversion phases of one operation: ``(offset, cycles)`` from the operation's start.
Phases = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ArrayWork:
    """What a crossbar group's jobs compute, for the timeline: the ``layer``, and per crossbar
    of the group (in :attr:`~archsim.mapping.placement.PlacedGroup.crossbars` order) the
    phases in which its ADCs convert during one operation."""

    layer: str
    conversions: tuple[Phases, ...]


def conversion_phases(tiles: CrossbarTiles, layout: CrossbarLayout, input_bits: int) -> Phases:
    """When the ADCs of a crossbar holding ``layout`` convert during one operation on
    ``input_bits``-bit inputs: ``(offset, cycles)`` per phase, offsets in cycles from the
    operation's start.

    The same cycle semantics as :meth:`CrossbarTiles.op_cost` (``S`` slices, ``G`` column groups,
    ``r`` read and ``c`` conversion cycles at the configured resolution); every ADC of the
    array converts the same column group at once, so a phase is the array's ADC bank at work:

    * analog accumulation: per column group ``g``, the slices are read and integrated, then
      converted: a phase of ``c`` at ``g x (S x r + c) + S x r``;
    * digital accumulation: per slice ``k``, the ``G`` groups are converted back to back, a
      phase of ``G x c`` at ``k x (r + G x c) + r``, or with ``overlap_with_read`` at
      ``r + k x max(r, G x c)`` (while slice ``k + 1`` is read).

    The last phase ends with the operation (``op_cost(...).cycles``).
    """
    cfg = tiles.config
    slices = tiles.dac.slices(input_bits)
    groups = tiles.adc.column_groups(layout.cols_used)
    read = cfg.crossbar.read_cycles
    conv = tiles.conversion_cycles
    if cfg.adc.accumulate == "analog":
        period = slices * read + conv
        return tuple((g * period + slices * read, conv) for g in range(groups))
    convert_all = groups * conv
    if cfg.adc.overlap_with_read:
        pitch = max(read, convert_all)
        return tuple((read + k * pitch, convert_all) for k in range(slices))
    return tuple((k * (read + convert_all) + read, convert_all) for k in range(slices))


class TimelineHooks(Protocol):
    """The recorder interface the hardware reports to. Times are cycles of the chip clock; a
    recorder ignores empty spans (``end == start``)."""

    def arrays(
        self, crossbars: tuple[int, ...], start: int, steps: int, op_cycles: int, work: ArrayWork
    ) -> None:
        """The ``crossbars`` (global indices) of a group compute ``steps`` operations of
        ``op_cycles`` each, back to back from ``start`` (the group's busy time: each crossbar is
        busy ``steps x op_cycles``)."""

    def instruction(self, core: int, op: str, start: int, end: int) -> None:
        """Controller core ``core`` executes instructions ``op`` (a class, or ``+``-joined
        classes issued together, such as ``load+mvm``) in ``[start, end)``."""

    def packet(
        self, src_tile: int, dst_tile: int, created: int, delivered: int, flits: int, hops: int
    ) -> None:
        """A packet of ``flits`` flits from tile ``src_tile`` to tile ``dst_tile`` over ``hops``
        links, created at ``created`` and ejected (tail) at ``delivered``."""

    def vector(self, unit: int, kind: str, elements: int, start: int, end: int) -> None:
        """Vector unit ``unit`` runs one ``kind`` operation on ``elements`` elements in
        ``[start, end)``."""
