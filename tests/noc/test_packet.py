"""Packet format: header bits, flits, overhead A / (A + D), ScRRAMBLe address bits, zero-load
latency closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archsim.hw.noc.packet import PacketFormat, scrramble_address_bits, zero_load_latency


@pytest.mark.parametrize("nodes, chunk, meta, destination, header", [
    (1, 0, 0, 1, 1),      # a single endpoint still has a destination field
    (2, 0, 0, 1, 1),
    (3, 0, 0, 2, 2),
    (64, 0, 0, 6, 6),
    (65, 0, 0, 7, 7),
    (64, 6, 0, 6, 12),
    (64, 6, 8, 6, 20),
    (1024, 0, 3, 10, 13),
])
def test_header_bits(nodes, chunk, meta, destination, header):
    fmt = PacketFormat(nodes, 32, chunk_index_bits=chunk, metadata_bits=meta)
    assert fmt.destination_bits == destination
    assert fmt.header_bits == header


@pytest.mark.parametrize("nodes, width, chunk, data, flits, overhead", [
    (64, 32, 0, 0, 1, 1.0),          # header alone: 6 bits, one flit
    (64, 32, 0, 26, 1, 6 / 32),      # exactly one flit
    (64, 32, 0, 27, 2, 6 / 33),      # one bit more: two
    (64, 32, 0, 64, 3, 6 / 70),
    (64, 32, 6, 52, 2, 12 / 64),     # exactly two
    (16, 8, 0, 256, 33, 4 / 260),
    (2, 1, 0, 10, 11, 1 / 11),       # one-bit links: a flit per bit
    (256, 128, 4, 1024, 9, 12 / 1036),
])
def test_flits_and_overhead(nodes, width, chunk, data, flits, overhead):
    fmt = PacketFormat(nodes, width, chunk_index_bits=chunk)
    assert fmt.flits(data) == flits
    assert fmt.overhead(data) == pytest.approx(overhead, rel=1e-12)
    assert fmt.bits(data) == fmt.header_bits + data


formats = st.builds(
    PacketFormat,
    nodes=st.integers(1, 1 << 16),
    link_width_bits=st.integers(1, 1024),
    chunk_index_bits=st.integers(0, 32),
    metadata_bits=st.integers(0, 64),
)


@given(fmt=formats, data=st.integers(0, 1 << 20))
def test_overhead_is_header_over_packet_bits(fmt, data):
    header = math.ceil(math.log2(fmt.nodes)) if fmt.nodes > 1 else 1
    a = header + fmt.chunk_index_bits + fmt.metadata_bits
    assert fmt.header_bits == a
    assert fmt.overhead(data) == a / (a + data)


@given(fmt=formats, data=st.integers(0, 1 << 20))
def test_flits_are_the_fewest_that_hold_the_packet(fmt, data):
    flits = fmt.flits(data)
    width, bits = fmt.link_width_bits, fmt.header_bits + data
    assert flits >= 1
    assert (flits - 1) * width < bits <= flits * width
    assert fmt.flits(data + 1) >= flits


def test_packet_format_is_frozen_and_compares_by_value():
    a = PacketFormat(64, 32, chunk_index_bits=4)
    assert a == PacketFormat(64, 32, chunk_index_bits=4) != PacketFormat(64, 32)
    with pytest.raises(AttributeError):
        a.header_bits = 3  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, message", [
    ({"nodes": 0, "link_width_bits": 32}, "nodes: must be an integer >= 1, got 0"),
    ({"nodes": 4, "link_width_bits": 0}, "link_width_bits: must be an integer >= 1, got 0"),
    ({"nodes": 4, "link_width_bits": 8.0}, "link_width_bits: must be an integer >= 1, got 8.0"),
    ({"nodes": 4, "link_width_bits": 8, "chunk_index_bits": -1},
     "chunk_index_bits: must be an integer >= 0, got -1"),
    ({"nodes": 4, "link_width_bits": 8, "metadata_bits": True},
     "metadata_bits: must be an integer >= 0, got True"),
])
def test_bad_packet_formats(kwargs, message):
    with pytest.raises(ValueError) as error:
        PacketFormat(**kwargs)
    assert str(error.value) == message


def test_negative_payload_is_rejected():
    fmt = PacketFormat(4, 8)
    for method in (fmt.flits, fmt.overhead):
        with pytest.raises(ValueError, match=r"^data_bits: must be >= 0, got -1$"):
            method(-1)


def test_numpy_integers_are_accepted():
    fmt = PacketFormat(np.int64(64), np.int64(32))
    assert fmt.header_bits == 6 and fmt.flits(26) == 1


# --------------------------------------------------------------------------------------------
# ScRRAMBLe address bits (archsim/REFERENCES.md [ScRRAMBLe]: A ~ log2(#chunks x density);
# cores of 256 inputs, slots of 1-64, density 0.2 for MNIST)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunks, density, bits", [
    (256, 0.2, 6),      # slot size 1: 51.2 -> 52 blocks -> 6 bits
    (64, 0.2, 4),       # slot size 4: 12.8 -> 13 blocks
    (16, 0.2, 2),       # slot size 16: 3.2 -> 4 blocks, exactly 2 bits
    (4, 0.2, 1),        # slot size 64: 0.8 -> 1 block; at least one bit
    (64, 0.25, 4),      # 16 blocks exactly
    (100, 0.07, 3),     # 7.000000000000001 in floating point: 7 blocks, not 8
    (1024, 1.0, 10),
    (1025, 1.0, 11),
    (1, 1.0, 1),
    (2, 1.0, 1),
    (3, 1.0, 2),
])
def test_scrramble_address_bits(chunks, density, bits):
    assert scrramble_address_bits(chunks, density) == bits


@given(data=st.data(), chunks=st.integers(1, 1 << 20))
def test_scrramble_address_bits_of_a_whole_number_of_blocks(data, chunks):
    """A density of blocks / chunks names exactly ``blocks`` blocks, whatever the rounding of
    ``chunks x (blocks / chunks)`` in floating point."""
    blocks = data.draw(st.integers(1, chunks))
    assert scrramble_address_bits(chunks, blocks / chunks) == max(1, math.ceil(math.log2(blocks)))


@given(chunks=st.integers(1, 1 << 20), density=st.floats(1e-6, 1.0))
def test_scrramble_address_bits_name_every_connected_block(chunks, density):
    bits = scrramble_address_bits(chunks, density)
    count = chunks * density
    assert bits >= 1
    assert 2**bits >= count * (1 - 1e-9)
    if count > 2:
        assert 2 ** (bits - 1) < count * (1 + 1e-9)


@pytest.mark.parametrize("chunks, density, message", [
    (0, 0.5, "chunks: must be an integer >= 1, got 0"),
    (16, 0.0, "density: must be in (0, 1], got 0.0"),
    (16, 1.5, "density: must be in (0, 1], got 1.5"),
])
def test_bad_scrramble_arguments(chunks, density, message):
    with pytest.raises(ValueError) as error:
        scrramble_address_bits(chunks, density)
    assert str(error.value) == message


# --------------------------------------------------------------------------------------------
# Zero-load latency
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hops, flits, router, link, latency", [
    (0, 1, 2, 1, 1),        # to its own router: ejection only
    (0, 5, 2, 1, 5),
    (1, 1, 2, 1, 4),
    (3, 4, 2, 1, 13),
    (14, 3, 2, 1, 45),      # corner to corner of an 8x8 mesh
    (4, 2, 1, 0, 6),        # zero-cycle links
])
def test_zero_load_latency(hops, flits, router, link, latency):
    assert zero_load_latency(hops, flits, router, link) == latency


@given(hops=st.integers(0, 64), flits=st.integers(1, 64),
       router=st.integers(0, 8), link=st.integers(0, 8))
def test_zero_load_latency_grows_by_one_hop_delay_per_link(hops, flits, router, link):
    assert (zero_load_latency(hops + 1, flits, router, link)
            - zero_load_latency(hops, flits, router, link)) == router + link
    assert zero_load_latency(hops, flits + 1, router, link) == (
        zero_load_latency(hops, flits, router, link) + 1)


@pytest.mark.parametrize("args, message", [
    ((-1, 1, 2, 1), "hops: must be an integer >= 0, got -1"),
    ((1, 0, 2, 1), "flits: must be an integer >= 1, got 0"),
    ((1, 1, -2, 1), "router_cycles: must be an integer >= 0, got -2"),
    ((1, 1, 2, 0.5), "link_cycles: must be an integer >= 0, got 0.5"),
])
def test_bad_zero_load_arguments(args, message):
    with pytest.raises(ValueError) as error:
        zero_load_latency(*args)
    assert str(error.value) == message
