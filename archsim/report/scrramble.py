"""The ScRRAMBLe section of a run report (stage: report).

A ScRRAMBLe network runs as a trace like any other (:func:`archsim.api.scrramble`); this
section adds what is particular to it: the network's shape, the packet header's composition
beside ScRRAMBLe's analytic overhead ``A / (A + D)`` (archsim/REFERENCES.md [ScRRAMBLe]) and,
from ``archsim scrramble``, the trained network's accuracy and the check that the offset
encoding cancels (:func:`archsim.mapping.scrramble.check_offset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archsim.hw.noc.packet import scrramble_address_bits
from archsim.mapping.scrramble import OffsetCheck
from archsim.workload.scrramble import ScrrambleNetwork, signed_input_bits, spec_dict

__all__ = ["accuracy_fields", "scrramble_section"]


def scrramble_section(
    report: Mapping[str, Any], network: ScrrambleNetwork, *, act_bits: int
) -> dict[str, Any]:
    """The network's shape and its packets: header ``A`` (destination router + chunk index
    bits, as the simulated packets carry it) and payload ``D = s x act_bits``; the header
    overhead measured over the packets sent, and ScRRAMBLe's analytic ``A / (A + D)`` from the
    spec alone, with ``A`` = the destination bits + ``ceil(log2(#chunks x density))``
    (:func:`~archsim.hw.noc.packet.scrramble_address_bits`; ``#chunks`` = the source blocks a
    layer's cores draw from, the largest over the layers, as one packet format serves all).
    The two agree when the trace's routes are the ones the spec implies."""
    noc = report["noc"]
    header = noc["header_bits_per_packet"]
    chunk = noc["chunk_index_bits"]
    spec = network.spec
    data = spec.slot_size * act_bits
    address = max(
        scrramble_address_bits(spec.sources(layer), spec.density)
        for layer in range(len(spec.cores))
    )
    analytic = header - chunk + address
    return {
        "spec": spec_dict(network.spec),
        "cores": network.spec.total_cores,
        "connections": len(network.connections),
        "input_bits": signed_input_bits(network, act_bits),
        "header_bits": header,
        "destination_bits": header - chunk,
        "chunk_index_bits": chunk,
        "data_bits": data,
        "measured_overhead": noc["header_overhead"],
        "analytic_header_bits": analytic,
        "analytic_overhead": analytic / (analytic + data),
    }


def accuracy_fields(
    check: OffsetCheck, *, accuracy: float, epochs: int, test_images: int
) -> dict[str, Any]:
    """The training outcome and the offset check, for ``archsim scrramble``'s section."""
    return {
        "test_accuracy": accuracy,
        "test_images": test_images,
        "epochs": epochs,
        "offset_check": {
            "max_error": check.max_error,
            "relative_error": check.relative_error,
            "max_input_sum": check.max_input_sum,
        },
    }
