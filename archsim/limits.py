"""Size budgets checked before anything large is built (shared by every stage).

A config, a trace or a command-line argument can ask for work that would take hours or
gigabytes: a tree NoC of 65,535 routers, a dense hop table of 64 GiB, a record of 10^12 vectors
on a timed controller, a sweep of 10^12 points. archsim refuses such requests up front, in well
under a second, with one message naming what was asked for, the limit and how to raise it
(``--limit NAME=VALUE`` on the command line, ``Limits(name=...)`` from Python).

The defaults are far above anything the bundled configs and traces need and low enough that
a refused request would have taken minutes or more than a few GiB. :class:`Limits` is a frozen
value passed in by the caller; nothing here is global state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

from archsim.errors import ArchsimError, shown

__all__ = ["DEFAULT_LIMITS", "LimitError", "Limits", "parse_limit"]


class LimitError(ArchsimError):
    """A request exceeds a size budget; the message names the budget and how to raise it."""


@dataclass(frozen=True)
class Limits:
    """Size budgets (all inclusive upper bounds).

    Attributes:
        routers: NoC routers a config may build.
        crossbars: crossbar arrays a chip may have (tiles x crossbars per tile, all groups).
        hop_table_bytes: bytes of a dense router-to-router hop table (8 bytes per pair), which
            only the traffic-aware placement's search of a NoC of up to 1,024 routers builds
            (hop counts are otherwise computed for the pairs that carry traffic).
        events: SimPy events one trace record may imply (a timed controller costs one per VMM
            step of each crossbar group; an untimed one, one per group).
        packets: packets one run may send: synthetic NoC traffic, or a trace's transfers over
            the NoC (per sample, from the mapping, times the samples) on the packet model
            (``noc.model: packet``); one record's transfers, scaled to its vectors, likewise.
        trains: trains one run may send on the train model (``noc.model: train``), counted as
            ``packets`` is.
        sweep_points: design points one sweep may have.
        cores: ScRRAMBLe cores one network may have.
        conversions: ADC conversions one accuracy evaluation may compute (``archsim
            accuracy``: test and calibration images through every layer's converters; about
            10^8 a second).
        training_samples: samples one training trace may hold (epochs x the training split;
            the bundled models train in 5 to 20 epochs of 1,438).
        blocks: weight blocks of one layer on a sparse fabric (its grid of B x B blocks).
        trace_records: records one exported inference trace may hold (samples x the
            records of one; a ResNet-18 sample is about 60, a BERT-large block's 14).
        copies: layer copies one mapping may lay out, summed over the layers and their parts
            (each copy is a block of weights in the arrays, whatever their size).
    """

    routers: int = 16_384
    crossbars: int = 4_000_000
    hop_table_bytes: int = 1 << 30
    events: int = 50_000_000
    packets: int = 10_000_000
    trains: int = 1_000_000
    sweep_points: int = 1_000_000
    cores: int = 16_384
    conversions: int = 4_000_000_000
    training_samples: int = 100_000
    blocks: int = 4_000_000
    trace_records: int = 50_000_000
    copies: int = 1_000_000

    def check(self, name: str, value: int, what: str) -> None:
        """Raise :class:`LimitError` if ``value`` exceeds the budget ``name``.

        ``what`` names the request in the message (``"noc.dims: a tree [2, 15]"``); the message
        adds the amount, the limit and the option that raises it.
        """
        limit = getattr(self, name)
        if value > limit:
            if value >= 10**18:  # no budget goes that high: nothing to raise it to
                raise LimitError(
                    f"{what} needs more than 10^18 {_UNITS[name]}, over the limit of {limit:,}"
                )
            raise LimitError(
                f"{what} needs {value:,} {_UNITS[name]}, over the limit of {limit:,} "
                f"(raise it with --limit {name}={value})"
            )


_UNITS: Final = {
    "routers": "routers",
    "crossbars": "crossbars",
    "hop_table_bytes": "bytes of hop table",
    "events": "simulation events",
    "packets": "packets",
    "trains": "trains",
    "sweep_points": "design points",
    "cores": "cores",
    "conversions": "ADC conversions",
    "training_samples": "training samples",
    "blocks": "weight blocks",
    "trace_records": "trace records",
    "copies": "layer copies",
}

DEFAULT_LIMITS: Final = Limits()
"""The budgets used when a caller gives none."""


def parse_limit(text: str, limits: Limits = DEFAULT_LIMITS) -> Limits:
    """``limits`` with one ``"name=value"`` (``--limit``) applied; value an integer >= 1.

    Raises:
        ArchsimError: an unknown name or a value that is not a positive integer.
    """
    name, equals, value = text.partition("=")
    name = name.strip()
    names = [field.name for field in dataclasses.fields(Limits)]
    if not equals or name not in names:
        raise ArchsimError(
            f"--limit {shown(text)}: expected NAME=VALUE with NAME one of {', '.join(names)}"
        )
    value = value.strip().replace("_", "")
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
    if not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) < 1:
        raise ArchsimError(
            f"--limit {shown(text)}: expected a positive integer below 10^18, got "
            f"'{shown(value)}'"
        )
    return dataclasses.replace(limits, **{name: int(value)})
