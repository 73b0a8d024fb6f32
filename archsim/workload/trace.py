"""Operation-trace format, versions 1-5: writing, streaming reading, validation (workload stage).

A trace is JSON Lines, optionally gzip-compressed: a header object describing the network, one
object per operation record, then an end record carrying the record count (so that a truncated
file is always detected). The format is specified in ``traces/README.md``; this module is its
reference implementation. Both :class:`TraceWriter` and :class:`TraceReader` validate records
with the same table, :data:`RECORD_KINDS`.

Reading streams: memory stays bounded by one line, whatever the file size. Every problem in a
file is reported as one :class:`~archsim.errors.TraceError` naming the file, the record number
(0-based, counting op records), the line number, the field and what was expected.
"""

from __future__ import annotations

import gzip
import json
import math
import numbers
import os
import re
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from itertools import islice
from types import MappingProxyType, TracebackType
from typing import IO, Any, Final, NoReturn

from archsim.config.loader import open_regular
from archsim.errors import TraceError

__all__ = [
    "MAX_COUNT",
    "MAX_DIMS",
    "MAX_HEADER_INT",
    "MAX_NESTING",
    "MAX_OPERAND_BITS",
    "TRACE_FORMAT",
    "TRACE_VERSION",
    "PHASES",
    "LAYER_KINDS",
    "MATRIX_LAYER_KINDS",
    "RECORD_KINDS",
    "FieldSpec",
    "RecordKind",
    "LayerSpec",
    "NetworkSpec",
    "TraceHeader",
    "OpRecord",
    "TraceSummary",
    "TraceWriter",
    "TraceReader",
    "read_header",
    "validate_trace",
    "trace_info",
    "format_summary",
]

TRACE_FORMAT: Final = "archsim-trace"
"""Value of the header's ``format`` field."""

TRACE_VERSION: Final = 5
"""The newest trace format version this module reads and writes. Version 2 added the
``routed`` layer kind; version 3 the training records (``update`` ``transfer`` and
``digital``, and the pulse and programming fields of ``outer`` and ``write``); version 4 the
block-sparse training records (``forward`` ``spmm``, ``backward`` ``spmm_t``, ``update``
``spmm_w``, and the block ``positions`` of ``mask``); version 5 the transformer operations
(the layer kinds ``matmul``, ``softmax``, ``layernorm`` and ``gelu`` and their ``forward``
records). A writer states the lowest version that holds its header (1 without routed or
transformer layers, 2 with routed ones, 5 with transformer ones) unless told a higher one, and
every version up to this one is read."""

#: The layer kinds each version added.
_LAYER_KINDS_SINCE: Final = MappingProxyType(
    {"routed": 2, "matmul": 5, "softmax": 5, "layernorm": 5, "gelu": 5}
)

#: The record kinds each version added, by (phase, kind).
_RECORD_KINDS_SINCE: Final = MappingProxyType(
    {
        ("update", "transfer"): 3,
        ("update", "digital"): 3,
        ("forward", "spmm"): 4,
        ("backward", "spmm_t"): 4,
        ("update", "spmm_w"): 4,
        ("forward", "matmul"): 5,
        ("forward", "softmax"): 5,
        ("forward", "layernorm"): 5,
        ("forward", "gelu"): 5,
    }
)

#: The phase of inference records (and of work that has no other phase).
FORWARD: Final = "forward"
PHASES: Final = (FORWARD, "backward", "update")
"""Record phases, in the order they occur within a training step."""

LAYER_KINDS: Final = (
    "dense", "conv", "routed", "relu", "maxpool", "avgpool", "add", "flatten", "matmul",
    "softmax", "layernorm", "gelu",
)
"""Every layer kind of the newest version (those a version added: :data:`_LAYER_KINDS_SINCE`).
``matmul`` is a *dynamic* matrix product (attention's Q K^T and softmax x V): both operands are
activations, so it is not a matrix layer."""

MATRIX_LAYER_KINDS: Final = frozenset({"dense", "conv", "routed"})
"""Layer kinds with a weight matrix (mapped onto crossbars)."""

_MAX_LINE_BYTES: Final = 1 << 24  # one line (the header included) may not exceed 16 MiB

MAX_COUNT: Final = 2**40
"""Largest integer field of an op record (vectors, rows, elements, pulses, ...): far above any
network's count, low enough that products such as vectors x rows x cols stay exact in a
float64 and a run's event count stays bounded."""

MAX_HEADER_INT: Final = 2**31
"""Largest ``samples``, bit width, shape entry, ``rows``, ``cols``, stride or padding of a
header."""

MAX_OPERAND_BITS: Final = 32
"""Largest ``operand_bits`` of a ``matmul`` record (the precision of its two operands)."""

MAX_DIMS: Final = 8
"""Most entries of a header shape or kernel (a tensor shape has 1 to 3)."""

MAX_NESTING: Final = 64
"""Deepest nesting of JSON arrays and objects in a header (its ``meta`` is free-form)."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_WRITE_CHUNK_BYTES: Final = 1 << 18
_SHOW_CHARS: Final = 60

# --------------------------------------------------------------------------------------------
# The record table
# --------------------------------------------------------------------------------------------

# Value types of record fields.
_COUNT: Final = "count"  # non-negative integer
_POSITIVE: Final = "positive"  # integer >= 1
_FRACTION: Final = "fraction"  # number in [0, 1]
_FRACTIONS: Final = "fractions"  # list of input_bits numbers in [0, 1], LSB first
_CHOICE: Final = "choice"  # one of the field's choices (a string)
_BITS: Final = "bits"  # integer 1..MAX_OPERAND_BITS
# A mask's block positions: blocks_nonzero strictly increasing integers 0..blocks_total - 1.
_INDICES: Final = "indices"

#: The arrays of an analog training tile: the weights W and the gradient accumulator A
#: (Rasch et al. 2024's tiki-taka family; archsim/REFERENCES.md [Rasch2024]).
ARRAYS: Final = ("W", "A")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a record kind.

    Attributes:
        name: JSON key (and :class:`OpRecord` attribute).
        type: ``"count"`` (integer >= 0), ``"positive"`` (integer >= 1), ``"bits"`` (integer
            1 .. :data:`MAX_OPERAND_BITS`), ``"fraction"`` (number in [0, 1]), ``"fractions"``
            (list of ``input_bits`` fractions, LSB first), ``"choice"`` (one of ``choices``)
            or ``"indices"`` (a mask's block positions: a list of ``blocks_nonzero`` strictly
            increasing integers ``0 .. blocks_total - 1``).
        choices: the values of a ``"choice"`` field.
    """

    name: str
    type: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordKind:
    """The shape of one (phase, kind) of op record.

    Attributes:
        phase: ``"forward"``, ``"backward"`` or ``"update"``.
        kind: the operation (``"mvm"``, ``"relu"``, ...).
        fields: the kind-specific fields, in the order they are written.
        layer_kinds: kinds of header layer the record may refer to.
        matrix_shape: rows/cols must equal the layer's weight-matrix shape.
    """

    phase: str
    kind: str
    fields: tuple[FieldSpec, ...]
    layer_kinds: frozenset[str]
    matrix_shape: bool = False

    @property
    def keys(self) -> frozenset[str]:
        """Every JSON key a record of this kind has, ``type`` included."""
        return frozenset((*_COMMON_KEYS, *(f.name for f in self.fields)))


_COMMON_KEYS: Final = ("type", "sample", "phase", "layer", "kind")


def _fields(*pairs: tuple[str, str]) -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(name, kind) for name, kind in pairs)


_ARRAY_FIELD = FieldSpec("array", _CHOICE, ARRAYS)


_MVM_FIELDS = _fields(
    ("vectors", _POSITIVE),
    ("rows", _POSITIVE),
    ("cols", _POSITIVE),
    ("input_bits", _POSITIVE),
    ("input_nz", _FRACTION),
    ("bitplane_nz", _FRACTIONS),
    ("bitplane_allzero", _FRACTIONS),
)
_ELEMENT_FIELDS = _fields(("elements", _COUNT))
_POOL_FIELDS = _fields(("elements", _COUNT), ("outputs", _COUNT))
_BLOCK_FIELDS = _fields(("blocks", _COUNT))
# A product on the non-zero blocks of a block-sparse weight matrix (version 4).
_SPMM_FIELDS = _fields(
    ("vectors", _POSITIVE),
    ("rows", _POSITIVE),
    ("cols", _POSITIVE),
    ("block", _POSITIVE),
    ("blocks", _COUNT),
    ("weights", _COUNT),
    ("input_nz", _FRACTION),
)
# A dynamic matrix product, heads x (m x k) x (k x n), of two activations (version 5).
_MATMUL_FIELDS = _fields(
    ("heads", _POSITIVE),
    ("m", _POSITIVE),
    ("k", _POSITIVE),
    ("n", _POSITIVE),
    ("operand_bits", _BITS),
)
_MASK_FIELDS = _fields(
    ("block_rows", _POSITIVE),
    ("block_cols", _POSITIVE),
    ("blocks_total", _COUNT),
    ("blocks_nonzero", _COUNT),
)


def _kind(
    phase: str, kind: str, fields: tuple[FieldSpec, ...], layer_kinds: set[str] | None = None,
    matrix_shape: bool = False,
) -> RecordKind:
    allowed = frozenset(MATRIX_LAYER_KINDS if layer_kinds is None else layer_kinds)
    return RecordKind(phase, kind, fields, allowed, matrix_shape)


RECORD_KINDS: Final[Mapping[tuple[str, str], RecordKind]] = MappingProxyType(
    {
        (spec.phase, spec.kind): spec
        for spec in (
            _kind("forward", "mvm", _MVM_FIELDS, matrix_shape=True),
            _kind("forward", "relu", _ELEMENT_FIELDS, {"relu"}),
            _kind("forward", "add", _ELEMENT_FIELDS, {"add"}),
            _kind("forward", "flatten", _ELEMENT_FIELDS, {"flatten"}),
            _kind("forward", "maxpool", _POOL_FIELDS, {"maxpool"}),
            _kind("forward", "avgpool", _POOL_FIELDS, {"avgpool"}),
            _kind("forward", "spmm", _SPMM_FIELDS, matrix_shape=True),
            _kind("forward", "matmul", _MATMUL_FIELDS, {"matmul"}),
            _kind("forward", "softmax", _ELEMENT_FIELDS, {"softmax"}),
            _kind("forward", "layernorm", _ELEMENT_FIELDS, {"layernorm"}),
            _kind("forward", "gelu", _ELEMENT_FIELDS, {"gelu"}),
            _kind("backward", "mvm_t", _MVM_FIELDS, matrix_shape=True),
            _kind("backward", "relu", _ELEMENT_FIELDS, {"relu"}),
            _kind("backward", "add", _ELEMENT_FIELDS, {"add"}),
            _kind("backward", "maxpool", _POOL_FIELDS, {"maxpool"}),
            _kind("backward", "avgpool", _POOL_FIELDS, {"avgpool"}),
            _kind("backward", "spmm_t", _SPMM_FIELDS, matrix_shape=True),
            _kind(
                "update",
                "outer",
                (
                    *_fields(
                        ("vectors", _POSITIVE), ("rows", _POSITIVE), ("cols", _POSITIVE),
                        ("bit_length", _POSITIVE), ("pulses", _COUNT),
                    ),
                    _ARRAY_FIELD,
                ),
                matrix_shape=True,
            ),
            _kind(
                "update",
                "write",
                _fields(
                    ("cells", _COUNT), ("pulses", _COUNT), ("verify_reads", _COUNT),
                    ("rounds", _COUNT),
                ),
            ),
            _kind(
                "update",
                "transfer",
                _fields(
                    ("reads", _POSITIVE), ("input_bits", _POSITIVE), ("bit_length", _COUNT),
                    ("pulses", _COUNT),
                ),
            ),
            _kind("update", "digital", _fields(("flops", _COUNT), ("bits", _COUNT))),
            _kind("update", "mask", (*_MASK_FIELDS, FieldSpec("positions", _INDICES))),
            _kind("update", "prune", _BLOCK_FIELDS),
            _kind("update", "regrow", _BLOCK_FIELDS),
            _kind(
                "update",
                "spmm_w",
                (*_SPMM_FIELDS, *_fields(("grad_nz", _FRACTION), ("scored", _COUNT))),
                matrix_shape=True,
            ),
        )
    }
)
"""Every record kind of the newest version by (phase, kind): the single table used for writing
and reading (older versions: :data:`_RECORD_KINDS_SINCE` and :data:`_OLD_SHAPES`)."""

#: Record kinds whose fields changed: (last version of the old shape, its fields, the values
#: its records take for the new fields). Version 2's outer product had no pulse train (read as
#: one slot on W, pulses unknown) and its writes no rounds (read as programmed one cell at a
#: time: rounds unknown); version 3's masks had no block positions (read as None: unknown).
_OLD_SHAPES: Final = MappingProxyType({
    ("update", "outer"): (
        2, _fields(("vectors", _POSITIVE), ("rows", _POSITIVE), ("cols", _POSITIVE)),
        MappingProxyType({"bit_length": 1, "pulses": 0, "array": "W"}),
    ),
    ("update", "write"): (
        2, _fields(("cells", _COUNT), ("pulses", _COUNT), ("verify_reads", _COUNT)),
        MappingProxyType({"rounds": None}),  # None: unknown, one cell at a time
    ),
    ("update", "mask"): (3, _MASK_FIELDS, MappingProxyType({"positions": None})),
})

#: The kinds of the products on a block-sparse matrix's non-zero blocks (version 4).
_SPMM_KINDS: Final = frozenset({"spmm", "spmm_t", "spmm_w"})


@dataclass(frozen=True)
class _CompiledKind:
    """A RecordKind prepared for the per-record hot path."""

    spec: RecordKind
    keys: frozenset[str]
    # (name, check code, lower bound, upper bound, choices) per field: code _INT_CHECK,
    # _FRACTION_CHECK, _FRACTIONS_CHECK or _CHOICE_CHECK; the bounds are for integers only.
    checks: tuple[tuple[str, int, int, int, tuple[str, ...]], ...]
    rank: int  # position of the phase in PHASES: forward 0, backward 1, update 2
    # Values of the newest shape's fields that an older shape lacks (empty for the newest).
    defaults: Mapping[str, Any]
    # The cross-field check after the fields: _NO_CROSS, _MASK_CROSS (_check_mask),
    # _UPDATE_CROSS (_check_update) or _SPMM_CROSS (_check_spmm).
    cross: int


_INT_CHECK, _FRACTION_CHECK, _FRACTIONS_CHECK, _CHOICE_CHECK, _INDICES_CHECK = 0, 1, 2, 3, 4
_CHECK_CODES: Final = MappingProxyType(
    {
        _COUNT: _INT_CHECK,
        _POSITIVE: _INT_CHECK,
        _BITS: _INT_CHECK,
        _FRACTION: _FRACTION_CHECK,
        _FRACTIONS: _FRACTIONS_CHECK,
        _CHOICE: _CHOICE_CHECK,
        _INDICES: _INDICES_CHECK,
    }
)
_NO_CROSS, _MASK_CROSS, _UPDATE_CROSS, _SPMM_CROSS = 0, 1, 2, 3

#: Update kinds whose counts bound each other (:func:`_check_update`).
_BOUNDED_UPDATES: Final = frozenset({"outer", "transfer", "write"})


def _cross(spec: RecordKind, defaults: Mapping[str, Any]) -> int:
    """The cross-field check of a kind's records (none for an old shape of a bounded update:
    its counts did not bound each other yet)."""
    if spec.kind == "mask":
        return _MASK_CROSS
    if spec.kind in _SPMM_KINDS:
        return _SPMM_CROSS
    if spec.phase == "update" and spec.kind in _BOUNDED_UPDATES and not defaults:
        return _UPDATE_CROSS
    return _NO_CROSS


def _compile(spec: RecordKind, defaults: Mapping[str, Any]) -> _CompiledKind:
    return _CompiledKind(
        spec,
        spec.keys,
        tuple(
            (
                f.name, _CHECK_CODES[f.type], 1 if f.type in (_POSITIVE, _BITS) else 0,
                MAX_OPERAND_BITS if f.type == _BITS else MAX_COUNT, f.choices,
            )
            for f in spec.fields
        ),
        PHASES.index(spec.phase),
        defaults,
        _cross(spec, defaults),
    )


@cache
def _compiled_for(version: int) -> Mapping[tuple[str, str], _CompiledKind]:
    """The record table of trace ``version``: the kinds it has, in the shapes it had (each
    :data:`_OLD_SHAPES` entry up to its own last version: 2 for outer and write, 3 for
    mask). Built on first use, once per version (a run reads one version; a table of every
    version built at import would cost every command its start-up time)."""
    table = {}
    for key, spec in RECORD_KINDS.items():
        if _RECORD_KINDS_SINCE.get(key, 1) > version:
            continue
        old = _OLD_SHAPES.get(key)
        if old is not None and version <= old[0]:
            shaped = RecordKind(spec.phase, spec.kind, old[1], spec.layer_kinds, spec.matrix_shape)
            table[key] = _compile(shaped, old[2])
        else:
            table[key] = _compile(spec, MappingProxyType({}))
    return MappingProxyType(table)


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the traced network, as described in the header.

    Attributes:
        name: unique layer name (never ``"input"``).
        kind: one of :data:`LAYER_KINDS`.
        inputs: names of the layers (or ``"input"``) feeding it, all earlier in the header; a
            matmul's two are its left operand, then its right.
        in_shape: per-sample shape of the (first) input tensor, elements (H, W, C or N).
        out_shape: per-sample shape of the output tensor, elements.
        rows: matrix layers: weight-matrix rows = input-vector length (0 otherwise).
        cols: matrix layers: weight-matrix columns = outputs per vector (0 otherwise).
        kernel: conv and pooling window size, pixels (empty otherwise).
        stride: conv and pooling stride, pixels.
        padding: conv (and optionally pooling) zero padding on each side, pixels.
        block: routed layers: elements per routed block (0 otherwise); ``rows`` is a whole
            number of blocks, the input vector's *slots*.
        routes: routed layers: ``(input, block, plus_slot, minus_slot)`` per connection: block
            ``block`` of input layer ``inputs[input]``'s output (its elements
            ``[block x size, (block + 1) x size)``, zero-padded) is added into input slot
            ``plus_slot`` and subtracted from ``minus_slot`` of the layer's one input vector
            (ScRRAMBLe's input-balanced routing). Each connection is one packet on a NoC.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    rows: int = 0
    cols: int = 0
    kernel: tuple[int, ...] = ()
    stride: int = 1
    padding: int = 0
    block: int = 0
    routes: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def is_matrix(self) -> bool:
        """Whether the layer has a weight matrix (dense, conv, routed) mapped onto crossbars."""
        return self.kind in MATRIX_LAYER_KINDS

    @property
    def vectors_per_sample(self) -> int:
        """Input vectors a matrix layer applies per sample: a convolution's output pixels (one
        patch each), one for the other kinds."""
        return math.prod(self.out_shape[:-1]) if self.kind == "conv" else 1


@dataclass(frozen=True)
class NetworkSpec:
    """The traced network: a DAG of layers in topological order.

    Attributes:
        input_shape: per-sample input tensor shape, elements.
        weight_bits: weight precision the mapping stage should assume, bits.
        act_bits: activation precision of the forward pass, bits.
        layers: the layers, each after all of its inputs.
    """

    input_shape: tuple[int, ...]
    weight_bits: int
    act_bits: int
    layers: tuple[LayerSpec, ...]

    @cached_property
    def _by_name(self) -> Mapping[str, LayerSpec]:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows.
        return MappingProxyType({layer.name: layer for layer in self.layers})

    def layer(self, name: str) -> LayerSpec:
        """The layer called ``name``; KeyError if there is none."""
        return self._by_name[name]

    def matrix_layers(self) -> tuple[LayerSpec, ...]:
        """The dense and conv layers, in header order."""
        return tuple(layer for layer in self.layers if layer.is_matrix)


@dataclass(frozen=True)
class TraceHeader:
    """The first line of a trace.

    Attributes:
        version: format version (:data:`TRACE_VERSION`).
        model: name of the traced model.
        samples: number of samples (inputs) the trace covers; every one of 0..samples-1 has
            records.
        seed: seed of the run that produced the trace, or None if unknown.
        network: the network description.
        meta: free-form provenance (read-only; JSON objects become mappings, arrays tuples).
    """

    version: int
    model: str
    samples: int
    seed: int | None
    network: NetworkSpec
    meta: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One operation of one sample on one layer. Fields a kind does not have are 0 / empty.

    Attributes:
        index: 0-based position among the op records of the file.
        sample: the sample (input) index: 0 in the first record, then the previous record's
            sample or the next one, up to the header's ``samples`` - 1.
        phase: ``"forward"``, ``"backward"`` or ``"update"``.
        layer: name of the header layer.
        kind: the operation, see :data:`RECORD_KINDS`.
        vectors: mvm/mvm_t: input vectors applied; outer: vectors in the update (samples of
            a batch, or a convolution's windows), one pulse train each; spmm/spmm_t/spmm_w:
            vectors of the training step's products (its mini-batch, times a convolution's
            windows).
        rows: mvm/mvm_t/outer/spmm/spmm_t/spmm_w: forward weight-matrix rows (input-vector
            length).
        cols: mvm/mvm_t/outer/spmm/spmm_t/spmm_w: forward weight-matrix columns.
        input_bits: mvm/mvm_t: precision of the input vector elements, bits.
        input_nz: mvm/mvm_t: fraction of input elements that are non-zero; spmm: of the input
            vectors' elements; spmm_t: of the output gradient's (the transposed product's
            input); spmm_w: of the layer input's.
        bitplane_nz: mvm/mvm_t: per bit plane (LSB first), fraction of input elements whose
            bit is 1.
        bitplane_allzero: mvm/mvm_t: per bit plane, fraction of vectors whose plane is all zero.
        elements: relu/add/flatten/pools/softmax/layernorm/gelu: input elements processed.
        outputs: pools: output elements produced.
        cells: write: memory cells programmed.
        pulses: write: programming pulses applied in total; outer: device pulses the trains
            applied (coincidences of a row and a column pulse); transfer: pulses applied to W.
        verify_reads: write: verify reads performed in total.
        rounds: write: pulse-and-verify rounds when the cells of one row are programmed
            together (per row, its cell with the most trials; summed over rows). None (read
            from a version 2 file): unknown; the cells are programmed one at a time.
        bit_length: outer: pulse slots per train (the bit length l); transfer: pulse slots of
            W's update per row read (0: W not written).
        array: outer: the array the pulses go to, ``"W"`` (weights) or ``"A"`` (gradient
            accumulator).
        reads: transfer: row reads of A (one MVM each, with a one-hot input).
        flops: digital: floating-point operations of the update's digital part.
        bits: digital: bits the digital part moves to and from its memory.
        block_rows: mask: rows per sparsity block.
        block_cols: mask: columns per sparsity block.
        blocks_total: mask: blocks in the layer's weight matrix.
        blocks_nonzero: mask: blocks kept (not all zero).
        blocks: prune/regrow: blocks pruned or regrown; spmm/spmm_t/spmm_w: non-zero blocks in
            force (those the product uses).
        block: spmm/spmm_t/spmm_w: side B of the square sparsity blocks, weights.
        weights: spmm/spmm_t/spmm_w: real (unpadded) weights inside the blocks in force.
        grad_nz: spmm_w: fraction of the output gradient's elements that are non-zero.
        scored: spmm_w: further blocks whose dense gradient is computed only to score their
            regrowth at a mask update (not updated).
        positions: mask: row-major flat indices (block row x block columns of the grid + block
            column) of the ``blocks_nonzero`` blocks kept, strictly increasing. None (read
            from a version 1-3 file): unknown.
        heads: matmul: independent products (attention heads), each (m x k) x (k x n).
        m: matmul: rows of each left operand (query tokens), elements.
        k: matmul: the inner dimension, elements.
        n: matmul: columns of each right operand, elements. The right operands, heads x k x n
            elements (K^T or V), are what digital PIM arrays are written with.
        operand_bits: matmul: precision of both operands, bits (1 .. 32).
    """

    index: int
    sample: int
    phase: str
    layer: str
    kind: str
    vectors: int = 0
    rows: int = 0
    cols: int = 0
    input_bits: int = 0
    input_nz: float = 0.0
    bitplane_nz: tuple[float, ...] = ()
    bitplane_allzero: tuple[float, ...] = ()
    elements: int = 0
    outputs: int = 0
    cells: int = 0
    pulses: int = 0
    verify_reads: int = 0
    block_rows: int = 0
    block_cols: int = 0
    blocks_total: int = 0
    blocks_nonzero: int = 0
    blocks: int = 0
    rounds: int | None = 0
    bit_length: int = 0
    array: str = ""
    reads: int = 0
    flops: int = 0
    bits: int = 0
    block: int = 0
    weights: int = 0
    grad_nz: float = 0.0
    scored: int = 0
    positions: tuple[int, ...] | None = ()
    heads: int = 0
    m: int = 0
    k: int = 0
    n: int = 0
    operand_bits: int = 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates: vectors x rows x cols for mvm, mvm_t and outer, and for spmm,
        spmm_t and spmm_w too (their dense equivalent: :attr:`sparse_macs` counts those on the
        blocks in force); heads x m x k x n for matmul; 0 otherwise."""
        # A kind's record has the fields of one product or the other (the rest are 0).
        return self.vectors * self.rows * self.cols + self.heads * self.m * self.k * self.n

    @property
    def sparse_macs(self) -> int:
        """Multiply-accumulates on the weights in force: vectors x weights for spmm, spmm_t and
        spmm_w (the real weights of the non-zero blocks; spmm_w's ``scored`` blocks not
        included); :attr:`macs` for every other kind."""
        return self.vectors * self.weights if self.kind in _SPMM_KINDS else self.macs


@dataclass(frozen=True)
class TraceSummary:
    """The result of reading a whole trace (:func:`validate_trace`).

    Attributes:
        path: the trace file.
        compressed: whether it is gzip-compressed.
        header: its header.
        records: number of op records.
        samples_seen: number of distinct sample indices among the records; a valid trace has
            records for every sample, so this equals ``header.samples``.
        counts: number of records per (phase, kind), in :data:`RECORD_KINDS` order.
        total_macs: multiply-accumulates over all mvm, mvm_t, outer, spmm, spmm_t, spmm_w and
            matmul records (:attr:`OpRecord.macs`: the spmm kinds' dense equivalent).
        macs_by_phase: multiply-accumulates per phase (phases with records only).
        sparse_macs_by_phase: of the spmm, spmm_t and spmm_w records, the multiply-accumulates
            on the weights in force (:attr:`OpRecord.sparse_macs`), per phase (phases with
            such records only; empty for a trace without them).
        matmul_macs: of ``total_macs``, those of the matmul records: the dynamic products of
            two activations (attention's Q K^T and softmax x V), no weights involved.
    """

    path: str
    compressed: bool
    header: TraceHeader
    records: int
    samples_seen: int
    counts: Mapping[tuple[str, str], int]
    total_macs: int
    macs_by_phase: Mapping[str, int]
    sparse_macs_by_phase: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    matmul_macs: int = 0


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A validation failure; the caller adds file, record and line."""

    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        # A key from the file may hold a newline or be huge: messages stay one short line.
        self.field_name = field_name if field_name is None else _printable(field_name)
        self.message = message


def _printable(text: str) -> str:
    """``text`` itself if it is short and printable; else escaped as in JSON and shortened."""
    if len(text) <= _SHOW_CHARS and text.isprintable():
        return text
    escaped = json.dumps(text)[1:-1]
    return escaped if len(escaped) <= _SHOW_CHARS else escaped[: _SHOW_CHARS - 3] + "..."


def _quoted(name: object) -> str:
    """A name from the file for messages: ``'conv1'``, escaped and shortened if need be."""
    return f"'{_printable(name)}'" if type(name) is str else _show(name)


def _show(value: object) -> str:
    """A JSON-ish rendering of a value for messages, shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    except RecursionError:  # a deeply nested value decoded near the recursion limit
        text = f"a deeply nested {'list' if type(value) is list else 'object'}"
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _int_problem(value: object, lowest: int, highest: int, shown: str) -> str:
    """Why ``value`` is not an integer ``lowest..highest`` (``shown``: highest as a power; empty
    for a small bound, given as a range)."""
    if not shown:
        return f"expected an integer {lowest}..{highest}, got {_show(value)}"
    if type(value) is int and value > highest:
        return f"expected at most {highest} ({shown}), got {_show(value)}"
    return f"expected an integer >= {lowest}, got {_show(value)}"


def _a(word: str) -> str:
    """``word`` with its indefinite article: "a forward", "an update"."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _choices(values: Any) -> str:
    return ", ".join(repr(value) for value in values)


def _fractions(name: str, value: object, length: int) -> tuple[float, ...]:
    """Check a list of ``length`` fractions; return it as floats."""
    if type(value) is list and len(value) == length:
        for item in value:
            if type(item) is not float or not 0.0 <= item <= 1.0:
                break
        else:
            return tuple(value)
    expected = f"a list of {length} numbers in [0, 1] (one per input bit, LSB first)"
    if type(value) is not list:
        raise _Invalid(name, f"expected {expected}, got {_show(value)}")
    if len(value) != length:
        raise _Invalid(name, f"expected {expected}, got a list of {len(value)}")
    result = []
    for position, item in enumerate(value):
        if type(item) not in (int, float) or not 0.0 <= item <= 1.0:
            raise _Invalid(f"{name}[{position}]", f"expected a number in [0, 1], got {_show(item)}")
        result.append(float(item))
    return tuple(result)


class _RecordChecker:
    """Validates op records against a header; keeps the order state of one file.

    Samples run from 0 without gaps: each record's sample is the previous record's or the next
    one. Within a sample, the forward records name every header layer exactly once, in header
    order; backward, then update records may follow them. :meth:`finish` then checks that the
    records covered every sample the header promises. Every check is O(1) per record, and a
    record that fails leaves the state as it was (a writer may go on with a valid one).
    """

    __slots__ = (
        "_layers", "_order", "_expected", "_samples", "_samples_seen", "_step", "_compiled",
        "_version",
    )

    def __init__(self, header: TraceHeader) -> None:
        self._layers = {layer.name: layer for layer in header.network.layers}
        self._order = tuple(layer.name for layer in header.network.layers)
        # The forward layer expected at each step (None past the last layer): one lookup.
        self._expected = (*self._order, None, None, None)
        self._samples = header.samples
        self._version = header.version
        self._compiled = _compiled_for(header.version)
        self._samples_seen = 0  # distinct samples so far; the current sample is this - 1
        # Where the current sample is, in one integer: below len(_order), the position of the
        # next forward layer; len(_order) + rank, after its forward records and then those of
        # phase PHASES[rank] (0 forward, 1 backward, 2 update).
        self._step = 0

    def check(self, obj: object, index: int) -> OpRecord:
        """Validate one decoded op record (``type`` included) and build its OpRecord."""
        if type(obj) is not dict:
            raise _Invalid(None, f"expected a JSON object, got {_show(obj)}")
        try:
            compiled = self._compiled.get((obj.get("phase"), obj.get("kind")))
        except TypeError:  # an unhashable phase or kind
            compiled = None
        if compiled is None or obj.get("type") != "op":
            self._diagnose_head(obj)
        if obj.keys() != compiled.keys:
            self._diagnose_keys(obj, compiled.spec)
        sample = obj["sample"]
        seen = self._samples_seen
        if type(sample) is not int or not (
            0 <= sample < self._samples and seen - 1 <= sample <= seen
        ):
            self._diagnose_sample(sample)
        name = obj["layer"]
        layer = self._layers.get(name) if type(name) is str else None
        spec = compiled.spec
        if layer is None or layer.kind not in spec.layer_kinds:
            self._diagnose_layer(name, layer, spec)
        step = self._step if sample != seen else self._first_step(seen)
        if compiled.rank:
            step = self._step_after(sample, name, spec.phase, step, compiled.rank)
        elif self._expected[step] != name:
            self._diagnose_order(sample, name, spec.phase, step)
        else:
            step += 1
        values: dict[str, Any] = {}
        for field_name, code, lowest, highest, choices in compiled.checks:
            value = obj[field_name]
            if code == _CHOICE_CHECK:
                if type(value) is not str or value not in choices:
                    raise _Invalid(
                        field_name, f"expected one of {_choices(choices)}, got {_show(value)}"
                    )
            elif code == _FRACTION_CHECK:
                if type(value) is int and 0 <= value <= 1:
                    value = float(value)
                elif type(value) is not float or not 0.0 <= value <= 1.0:
                    raise _Invalid(field_name, f"expected a number in [0, 1], got {_show(value)}")
            elif code == _FRACTIONS_CHECK:
                value = _fractions(field_name, value, values["input_bits"])
            elif code == _INDICES_CHECK:
                pass  # bounded by the counts before it: checked with them, by _check_mask
            elif type(value) is not int or not lowest <= value <= highest:
                raise _Invalid(
                    field_name,
                    _int_problem(value, lowest, highest, "2**40" if highest == MAX_COUNT else ""),
                )
            values[field_name] = value
        if spec.matrix_shape and (values["rows"] != layer.rows or values["cols"] != layer.cols):
            which = "rows" if values["rows"] != layer.rows else "cols"
            raise _Invalid(
                which,
                f"expected {getattr(layer, which)} ({which} of layer '{layer.name}' in the "
                f"header), got {values[which]}",
            )
        cross = compiled.cross
        if cross:
            if cross == _SPMM_CROSS:
                _check_spmm(spec.kind, values)
            elif cross == _MASK_CROSS:
                _check_mask(values)
            else:
                _check_update(spec.kind, values, layer)
        self._samples_seen = sample + 1
        self._step = step
        if compiled.defaults:
            values.update(compiled.defaults)
        return OpRecord(index, sample, spec.phase, name, spec.kind, **values)

    def spec(self, phase: str, kind: str) -> RecordKind:
        """The shape of (phase, kind) records in this file's version."""
        return self._compiled[phase, kind].spec

    def finish(self) -> None:
        """Check, after the last record, that the last sample ran every layer (raises
        :class:`_Invalid` with no field name) and that the records hold every sample of the
        header (field ``samples``)."""
        if self._samples_seen and self._step < len(self._order):
            raise _Invalid(None, self._ends_early(self._samples_seen - 1))
        if self._samples_seen != self._samples:
            promised = f"{self._samples} sample{'s' if self._samples != 1 else ''}"
            raise _Invalid(
                "samples", f"header promises {promised}, the records hold {self._samples_seen}"
            )

    def _first_step(self, sample: int) -> int:
        """The step a new ``sample`` starts at, once the previous one is complete."""
        if sample and self._step < len(self._order):
            raise _Invalid("sample", self._ends_early(sample - 1))
        return 0

    def _step_after(self, sample: int, name: str, phase: str, step: int, rank: int) -> int:
        """The step after a backward (rank 1) or update (rank 2) record at ``step``."""
        last = len(self._order)
        if not last <= step <= last + rank:
            self._diagnose_order(sample, name, phase, step)
        return last + rank

    def _ends_early(self, sample: int) -> str:
        """The message for a sample whose forward records stop before its last layer."""
        missing = self._order[self._step :]
        shown = ", ".join(missing[:6])
        if len(missing) > 6:
            shown += f", ... ({len(missing)} in all)"
        return (
            f"sample {sample} ends after layer '{self._order[self._step - 1]}'; layers {shown} "
            "have no forward record"
        )

    def _diagnose_order(self, sample: int, name: str, phase: str, step: int) -> NoReturn:
        order = self._order
        if step < len(order):
            what = {"forward": f"'{name}'", "backward": "a backward record"}.get(
                phase, "an update record"
            )
            raise _Invalid(
                "layer" if phase == "forward" else "phase",
                f"sample {sample} must run layer '{order[step]}' next (header order), "
                f"got {what}",
            )
        if phase == "forward" and step == len(order):
            raise _Invalid(
                "layer",
                f"sample {sample} has run every header layer already, got another forward "
                f"record of '{name}'",
            )
        raise _Invalid(
            "phase",
            f"sample {sample} has {PHASES[step - len(order)]} records already, got '{phase}' "
            "(phases run forward, backward, update)",
        )

    def _diagnose_head(self, obj: dict[str, Any]) -> NoReturn:
        for key in ("type", "phase", "kind"):
            if key not in obj:
                raise _Invalid(key, "missing")
        if obj["type"] != "op":
            raise _Invalid("type", f"expected 'op' or 'end', got {_show(obj['type'])}")
        phase = obj["phase"]
        if type(phase) is not str or phase not in PHASES:
            raise _Invalid("phase", f"expected one of {_choices(PHASES)}, got {_show(phase)}")
        kind = obj["kind"]
        since = _RECORD_KINDS_SINCE.get((phase, kind)) if type(kind) is str else None
        if since is not None:
            raise _Invalid(
                "kind",
                f"{phase} '{kind}' records need trace version {since}, this header says "
                f"{self._version}",
            )
        kinds = sorted(k for p, k in self._compiled if p == phase)
        raise _Invalid(
            "kind", f"expected one of {_choices(kinds)} for phase '{phase}', got {_show(kind)}"
        )

    def _diagnose_keys(self, obj: dict[str, Any], spec: RecordKind) -> NoReturn:
        order = [*_COMMON_KEYS, *(f.name for f in spec.fields)]
        needed = ", ".join(order[1:])
        for key in order:
            if key not in obj:
                raise _Invalid(
                    key, f"missing ({_a(spec.phase)} {spec.kind} record needs {needed})"
                )
        extra = sorted(str(key) for key in obj.keys() - set(order))
        message = f"unexpected in {_a(spec.phase)} {spec.kind} record"
        old = _OLD_SHAPES.get((spec.phase, spec.kind))
        if old is not None and self._version <= old[0]:
            if extra[0] in RECORD_KINDS[spec.phase, spec.kind].keys:
                message += (
                    f" (the field came with trace version {old[0] + 1}, this header says "
                    f"{self._version})"
                )
        raise _Invalid(extra[0], message)

    def _diagnose_sample(self, sample: object) -> NoReturn:
        if type(sample) is not int or sample < 0:
            raise _Invalid("sample", f"expected an integer >= 0, got {_show(sample)}")
        if sample >= self._samples:
            raise _Invalid("sample", f"expected < {self._samples} (header samples), got {sample}")
        current = self._samples_seen - 1
        if sample < current:
            raise _Invalid(
                "sample", f"expected >= {current} (samples must be non-decreasing), got {sample}"
            )
        expected = "0" if current < 0 else f"{current} or {current + 1}"
        raise _Invalid(
            "sample",
            f"expected {expected} (samples are numbered from 0 without gaps), got {sample}",
        )

    def _diagnose_layer(self, name: object, layer: LayerSpec | None, spec: RecordKind) -> NoReturn:
        if type(name) is not str:
            raise _Invalid("layer", f"expected a layer name, got {_show(name)}")
        if layer is None:
            raise _Invalid("layer", f"{_quoted(name)} is not a layer in the header")
        names = sorted(spec.layer_kinds)
        kinds = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise _Invalid(
            "layer",
            f"{_a(spec.phase)} {spec.kind} record needs a {kinds} layer; '{name}' is "
            f"{layer.kind}",
        )


def _check_update(kind: str, values: dict[str, Any], layer: LayerSpec) -> None:
    """Cross-field bounds of an update record: no more pulses than its trains can apply, and
    a write's rounds between one per pulse and none without pulses."""
    pulses = values["pulses"]
    if kind == "outer":
        most = values["vectors"] * values["bit_length"] * layer.rows * layer.cols
        if pulses > most:
            raise _Invalid(
                "pulses",
                f"expected at most vectors x bit_length x rows x cols ({most}: one per "
                f"device and slot), got {pulses}",
            )
    elif kind == "transfer":
        most = values["reads"] * values["bit_length"] * layer.cols
        if pulses > most:
            raise _Invalid(
                "pulses",
                f"expected at most reads x bit_length x cols ({most}: one per device of the "
                f"rows written and slot), got {pulses}",
            )
    else:
        rounds = values.get("rounds")
        if pulses < values["cells"]:
            raise _Invalid(
                "pulses", f"expected at least cells ({values['cells']}: one per cell "
                f"programmed), got {pulses}"
            )
        low = 1 if pulses else 0
        if rounds is not None and not low <= rounds <= pulses:
            raise _Invalid(
                "rounds", f"expected {low}..{pulses} (a round applies at least one of the "
                f"{pulses} pulses), got {rounds}"
            )


def _check_mask(values: dict[str, Any]) -> None:
    """Cross-field bounds of a mask record: no more blocks kept than the matrix has, and (from
    version 4) their positions; ``values["positions"]`` becomes a tuple."""
    total = values["blocks_total"]
    nonzero = values["blocks_nonzero"]
    if nonzero > total:
        raise _Invalid(
            "blocks_nonzero", f"expected at most blocks_total ({total}), got {nonzero}"
        )
    if "positions" in values:
        values["positions"] = _block_indices("positions", values["positions"], nonzero, total)


def _block_indices(name: str, value: object, length: int, total: int) -> tuple[int, ...]:
    """Check a list of ``length`` strictly increasing integers ``0 .. total - 1``; return it as
    a tuple.

    The fast path runs in C (a set of the item types, a pairwise comparison), about 20 ns per
    index; a line holds at most a few million. Only a list that fails takes the Python loop,
    which finds the first bad item for the message.
    """
    if (
        type(value) is list
        and len(value) == length
        and (
            not value
            or (
                set(map(type, value)) == {int}
                and 0 <= value[0]
                and value[-1] < total
                and all(map(int.__lt__, value, islice(value, 1, None)))
            )
        )
    ):
        return tuple(value)
    wanted = f"{length} block indices (blocks_nonzero)"
    if type(value) is not list:
        raise _Invalid(
            name, f"expected a list of {wanted}, strictly increasing in 0..{total - 1}, "
            f"got {_show(value)}"
        )
    if len(value) != length:
        raise _Invalid(name, f"expected {wanted}, got {len(value)}")
    previous = -1
    for position, item in enumerate(value):
        if type(item) is not int:
            raise _Invalid(
                name, f"expected an integer block index at position {position}, got {_show(item)}"
            )
        if not 0 <= item < total:
            raise _Invalid(
                name, f"expected block indices in 0..{total - 1} (blocks_total {total}), got "
                f"{_show(item)} at position {position}"
            )
        if item <= previous:
            raise _Invalid(
                name, f"expected strictly increasing block indices in 0..{total - 1}, got "
                f"{item} after {previous} at position {position}"
            )
        previous = item
    raise AssertionError("unreachable: the fast path accepts every valid list")  # pragma: no cover


def _check_spmm(kind: str, values: dict[str, Any]) -> None:
    """Cross-field bounds of a product on a block-sparse matrix's non-zero blocks: a block
    side of at most max(rows, cols), no more blocks than its grid of ``block`` x ``block``
    blocks holds, at least one and at most ``block`` x ``block`` real weights per block (none
    past the matrix), and for ``spmm_w`` the scored blocks among those not in force. O(1);
    ``rows`` and ``cols`` are the layer's."""
    rows, cols, block = values["rows"], values["cols"], values["block"]
    blocks, weights = values["blocks"], values["weights"]
    if block > max(rows, cols):
        raise _Invalid(
            "block",
            f"expected at most max(rows, cols) ({max(rows, cols)}: a block larger than the "
            f"matrix holds only padding), got {block}",
        )
    grid = -(-rows // block) * -(-cols // block)
    if blocks > grid:
        raise _Invalid(
            "blocks",
            f"expected at most ceil(rows / block) x ceil(cols / block) ({grid}: the blocks of "
            f"the layer's grid), got {blocks}",
        )
    if weights < blocks:
        raise _Invalid(
            "weights",
            f"expected at least blocks ({blocks}: every block in force holds a real weight), "
            f"got {weights}",
        )
    most = min(blocks * block * block, rows * cols)
    if weights > most:
        raise _Invalid(
            "weights",
            f"expected at most min(blocks x block x block, rows x cols) ({most}), got {weights}",
        )
    if kind == "spmm_w" and blocks + values["scored"] > grid:
        raise _Invalid(
            "scored",
            f"expected at most ceil(rows / block) x ceil(cols / block) - blocks "
            f"({grid - blocks}: the grid's blocks not in force), got {values['scored']}",
        )


def _check_end(obj: dict[str, Any], records: int) -> None:
    for key in obj:
        if key not in ("type", "records"):
            raise _Invalid(str(key), "unexpected in the end record")
    count = obj.get("records")
    if type(count) is not int or count < 0:
        raise _Invalid("records", f"expected an integer >= 0, got {_show(count)}")
    if count != records:
        raise _Invalid("records", f"the end record says {count} records, but {records} were read")


# --- header ----------------------------------------------------------------------------------


def _require(
    obj: dict[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """Check that ``obj`` has every required key and no key outside required + optional."""
    for key in required:
        if key not in obj:
            raise _Invalid(f"{where}{key}", "missing")
    for key in obj:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted((*required, *optional)))
            raise _Invalid(f"{where}{key}", f"unexpected; expected one of {allowed}")


def _int(obj: dict[str, Any], key: str, where: str, lowest: int) -> int:
    value = obj[key]
    if type(value) is not int or not lowest <= value <= MAX_HEADER_INT:
        raise _Invalid(f"{where}{key}", _int_problem(value, lowest, MAX_HEADER_INT, "2**31"))
    return value


def _shape(obj: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = obj[key]
    if type(value) is not list or not value or any(type(x) is not int or x < 1 for x in value):
        raise _Invalid(
            f"{where}{key}", f"expected a non-empty list of integers >= 1, got {_show(value)}"
        )
    if len(value) > MAX_DIMS:
        raise _Invalid(f"{where}{key}", f"expected at most {MAX_DIMS} entries, got {len(value)}")
    for position, item in enumerate(value):
        if item > MAX_HEADER_INT:
            raise _Invalid(
                f"{where}{key}[{position}]", _int_problem(item, 1, MAX_HEADER_INT, "2**31")
            )
    return tuple(value)


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    """A name: non-empty, printable (it appears in messages and reports), at most 256
    characters."""
    value = obj[key]
    if type(value) is not str or not value or len(value) > 256 or not value.isprintable():
        raise _Invalid(
            f"{where}{key}",
            f"expected a non-empty string of at most 256 printable characters, got {_show(value)}",
        )
    return value


_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")

_LAYER_COMMON: Final = ("name", "kind", "inputs", "in_shape", "out_shape")
_LAYER_EXTRA: Final = MappingProxyType(
    {  # kind -> (required, optional) fields beyond the common ones
        "dense": (("rows", "cols"), ()),
        "conv": (("rows", "cols", "kernel", "stride", "padding"), ()),
        "routed": (("rows", "cols", "block", "routes"), ()),
        "maxpool": (("kernel", "stride"), ("padding",)),
        "avgpool": (("kernel", "stride"), ("padding",)),
        "relu": ((), ()),
        "add": ((), ()),
        "flatten": ((), ()),
        "matmul": ((), ()),
        "softmax": ((), ()),
        "layernorm": ((), ()),
        "gelu": ((), ()),
    }
)

#: Layer kinds whose output has their input's shape (element-wise; an addition's operands).
_SHAPE_KEEPING: Final = frozenset({"relu", "add", "softmax", "layernorm", "gelu"})


def _parse_layer(obj: object, where: str, shapes: dict[str, tuple[int, ...]]) -> LayerSpec:
    """Validate one header layer; ``shapes`` maps earlier names (and "input") to output shapes."""
    if type(obj) is not dict:
        raise _Invalid(where.rstrip("."), f"expected a JSON object, got {_show(obj)}")
    kind = obj.get("kind")
    if type(kind) is not str or kind not in _LAYER_EXTRA:  # a list or object is unhashable
        if "kind" not in obj:
            raise _Invalid(f"{where}kind", "missing")
        raise _Invalid(
            f"{where}kind", f"expected one of {_choices(LAYER_KINDS)}, got {_show(kind)}"
        )
    required, optional = _LAYER_EXTRA[kind]
    _require(obj, where, _LAYER_COMMON + required, optional)
    name = _str(obj, "name", where)
    if name in shapes:
        problem = "is reserved for the network input" if name == "input" else "is not unique"
        raise _Invalid(f"{where}name", f"'{name}' {problem}")
    inputs = obj["inputs"]
    if type(inputs) is not list or not inputs or any(type(x) is not str for x in inputs):
        raise _Invalid(
            f"{where}inputs", f"expected a non-empty list of layer names, got {_show(inputs)}"
        )
    if len(set(inputs)) != len(inputs):
        raise _Invalid(f"{where}inputs", f"names a layer twice: {_show(inputs)}")
    if kind == "add":
        arity_ok, needed = len(inputs) >= 2, "at least 2 inputs"
    elif kind == "matmul":
        arity_ok, needed = len(inputs) == 2, "exactly 2 inputs (the left operand, then the right)"
    else:
        arity_ok, needed = len(inputs) == 1 or kind == "routed", "exactly 1 input"
    if not arity_ok:
        raise _Invalid(f"{where}inputs", f"a {kind} layer takes {needed}, got {len(inputs)}")
    for source in inputs:
        if source not in shapes:
            raise _Invalid(
                f"{where}inputs", f"{_quoted(source)} is not 'input' or an earlier layer"
            )
    in_shape = _shape(obj, "in_shape", where)
    out_shape = _shape(obj, "out_shape", where)
    # A product's operands have shapes of their own (softmax x V: [heads, T, T] and [T, d]):
    # in_shape is the left operand's.
    for source in inputs[:1] if kind == "matmul" else inputs:
        if shapes[source] != in_shape:
            raise _Invalid(
                f"{where}in_shape",
                f"expected {list(shapes[source])} (output shape of '{source}'), "
                f"got {list(in_shape)}",
            )
    if kind in _SHAPE_KEEPING and out_shape != in_shape:
        raise _Invalid(
            f"{where}out_shape", f"expected {list(in_shape)} (= in_shape), got {list(out_shape)}"
        )
    if kind == "flatten" and out_shape != (math.prod(in_shape),):
        raise _Invalid(
            f"{where}out_shape", f"expected [{math.prod(in_shape)}], got {list(out_shape)}"
        )
    extra: dict[str, Any] = {}
    for key in ("rows", "cols", "stride"):
        if key in obj:
            extra[key] = _int(obj, key, where, 1)
    if "padding" in obj:
        extra["padding"] = _int(obj, "padding", where, 0)
    if "kernel" in obj:
        extra["kernel"] = _shape(obj, "kernel", where)
    if kind == "routed":
        extra["block"], extra["routes"] = _routes(obj, where, len(inputs), in_shape, extra)
    shapes[name] = out_shape
    return LayerSpec(name, kind, tuple(inputs), in_shape, out_shape, **extra)


def _routes(
    obj: dict[str, Any], where: str, inputs: int, in_shape: tuple[int, ...],
    extra: Mapping[str, Any],
) -> tuple[int, tuple[tuple[int, int, int, int], ...]]:
    """A routed layer's block size and connections, checked against its inputs and rows."""
    block = _int(obj, "block", where, 1)
    rows = extra["rows"]
    if rows % block or rows // block < 2:
        raise _Invalid(
            f"{where}block", f"expected a size that cuts rows ({rows}) into >= 2 slots, "
            f"got {block}"
        )
    slots = rows // block
    blocks = -(-math.prod(in_shape) // block)
    routes = obj["routes"]
    if type(routes) is not list or not routes:
        raise _Invalid(f"{where}routes", f"expected a non-empty list of connections, got "
                                         f"{_show(routes)}")
    checked = []
    bounds = (inputs, blocks, slots, slots)
    for position, route in enumerate(routes):
        if (
            type(route) is not list or len(route) != 4
            or any(type(v) is not int or not 0 <= v < bound for v, bound in zip(route, bounds))
            or route[2] == route[3]
        ):
            raise _Invalid(
                f"{where}routes[{position}]",
                f"expected [input 0..{inputs - 1}, block 0..{blocks - 1}, plus slot, minus "
                f"slot] with two different slots 0..{slots - 1}, got {_show(route)}",
            )
        checked.append((route[0], route[1], route[2], route[3]))
    return block, tuple(checked)


def _parse_network(obj: object) -> NetworkSpec:
    if type(obj) is not dict:
        raise _Invalid("network", f"expected a JSON object, got {_show(obj)}")
    _require(obj, "network.", ("input_shape", "weight_bits", "act_bits", "layers"))
    input_shape = _shape(obj, "input_shape", "network.")
    weight_bits = _int(obj, "weight_bits", "network.", 1)
    act_bits = _int(obj, "act_bits", "network.", 1)
    layers = obj["layers"]
    if type(layers) is not list or not layers:
        raise _Invalid(
            "network.layers", f"expected a non-empty list of layers, got {_show(layers)}"
        )
    shapes: dict[str, tuple[int, ...]] = {"input": input_shape}
    parsed = tuple(
        _parse_layer(layer, f"network.layers[{position}].", shapes)
        for position, layer in enumerate(layers)
    )
    return NetworkSpec(input_shape, weight_bits, act_bits, parsed)


def _freeze(value: Any) -> Any:
    """Decoded JSON -> read-only: objects become mappings, arrays tuples."""
    if type(value) is dict:
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if type(value) is list:
        return tuple(_freeze(item) for item in value)
    return value


def _lowest_version(header: Mapping[str, Any]) -> int:
    """The lowest trace version that holds ``header``'s layer kinds (1 without routed or
    transformer layers; :data:`_LAYER_KINDS_SINCE`), so that an older reader still reads every
    file it could hold."""
    network = header.get("network")
    layers = network.get("layers") if isinstance(network, Mapping) else None
    kinds = [
        layer.get("kind") for layer in (layers if isinstance(layers, list) else ())
        if isinstance(layer, Mapping)
    ]
    return max((_LAYER_KINDS_SINCE.get(k, 1) for k in kinds if isinstance(k, str)), default=1)


def _parse_header(obj: object) -> TraceHeader:
    """Validate a decoded header line (format, version first) and build the TraceHeader."""
    if type(obj) is not dict or obj.get("format") != TRACE_FORMAT:
        raise _Invalid("format", f"not an archsim trace (expected \"format\": \"{TRACE_FORMAT}\")")
    version = obj.get("version")
    if type(version) is not int:
        raise _Invalid("version", f"expected an integer, got {_show(version)}")
    if version > TRACE_VERSION:
        raise _Invalid(
            "version", f"version {version} is newer than this archsim supports ({TRACE_VERSION})"
        )
    if version < 1:
        raise _Invalid(
            "version", f"version {version} is not a trace version (expected 1..{TRACE_VERSION})"
        )
    _require(obj, "", ("format", "version", "model", "samples", "seed", "network"), ("meta",))
    model = _str(obj, "model", "")
    if not _MODEL_NAME.fullmatch(model):  # it names the output folder of a run
        raise _Invalid("model", f"expected letters, digits, '_', '.' or '-', got {_show(model)}")
    samples = _int(obj, "samples", "", 1)
    seed = obj["seed"]
    if seed is not None and type(seed) is not int:
        raise _Invalid("seed", f"expected an integer or null, got {_show(seed)}")
    network = _parse_network(obj["network"])
    for position, layer in enumerate(network.layers):
        since = _LAYER_KINDS_SINCE.get(layer.kind, 1)
        if since > version:
            raise _Invalid(
                f"network.layers[{position}].kind",
                f"'{layer.kind}' layers need trace version {since}, this header says {version}",
            )
    meta = obj.get("meta", {})
    if type(meta) is not dict:
        raise _Invalid("meta", f"expected a JSON object, got {_show(meta)}")
    return TraceHeader(version, model, samples, seed, network, _freeze(meta))


# --------------------------------------------------------------------------------------------
# JSON I/O helpers
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER: Final = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


def _decode_line(raw: bytes) -> Any:
    """Decode one newline-terminated JSON line (ValueError if it is not exactly one value,
    is nested too deeply for the decoder or has an integer of more than 4300 digits)."""
    text = raw.decode("utf-8")
    try:
        try:
            obj, end = _DECODER.raw_decode(text)
        except ValueError:
            end = -1
        if end != len(text) - 1:  # leading/trailing blanks or an error: the full, slower path
            return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return obj


class _DuplicateKey(ValueError):
    """A JSON object names a key twice (JSON allows it; the decoder keeps the last value)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_STRICT_DECODER: Final = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
)


def _duplicate_key(raw: bytes) -> str | None:
    """The first key an object of ``raw`` (a line that decodes) gives twice, or None.

    The slow path of the duplicate check: a second decode that sees every key. Callers run it
    only when the line's colons outnumber the keys decoded (see :meth:`TraceReader._records`).
    """
    try:
        _STRICT_DECODER.decode(raw.decode("utf-8"))
    except _DuplicateKey as error:
        return error.key
    except (ValueError, RecursionError):  # the first decode succeeded: cannot happen
        return None
    return None


def _shape_of(obj: Any) -> tuple[int, int]:
    """(nesting depth, number of object keys) of a decoded JSON value, without recursion."""
    depth = keys = 0
    stack = [(obj, 1)]
    while stack:
        value, level = stack.pop()
        if type(value) is dict:
            keys += len(value)
            items: Any = value.values()
        elif type(value) is list:
            items = value
        else:
            continue
        depth = max(depth, level)
        stack.extend((item, level + 1) for item in items if type(item) in (dict, list))
    return depth, keys


def _plain(value: Any) -> Any:
    """Writer input -> JSON-ready builtins (numpy scalars and arrays, tuples, mappings)."""
    kind = type(value)
    if kind is int or kind is float or kind is str or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays, scalars
        return _plain(value.tolist())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


class TraceWriter:
    """Writes a trace file atomically: a temporary file that replaces ``path`` on close.

    Use as a context manager; if the ``with`` block raises, the temporary file is removed and
    ``path`` is left untouched. A ``path`` ending in ``.gz`` is gzip-compressed (deterministic:
    no timestamp or file name in the gzip header, so equal records give equal bytes).

    Args:
        path: the trace file to create or replace.
        header: the header fields ``model``, ``samples``, ``seed``, ``network`` (with
            ``input_shape``, ``weight_bits``, ``act_bits``, ``layers``) and optionally ``meta``
            (any JSON object). Tuples and NumPy values are accepted.
        version: the format version to write, at least the lowest that holds the header
            (the default); a trace of training records (``transfer``, ``digital``, pulse
            trains) needs 3, one of block-sparse training records (``spmm``, ``spmm_t``,
            ``spmm_w``, ``mask`` with ``positions``) 4; the lowest version of a header with a
            ``matmul``, ``softmax``, ``layernorm`` or ``gelu`` layer is 5. Record kinds do not
            raise the version:
            a record the version lacks is refused, naming the version it needs.

    Raises:
        TraceError: the header is invalid (message names the field), or the file cannot be created.
        TypeError: ``header`` is not a mapping.
        ValueError: ``header`` contains ``format`` or ``version`` (this module sets them).
    """

    def __init__(
        self, path: str | os.PathLike[str], header: Mapping[str, Any], *, version: int = 1
    ) -> None:
        self.path = os.fspath(path)
        if type(version) is not int or not 1 <= version <= TRACE_VERSION:
            raise ValueError(f"version must be an integer 1..{TRACE_VERSION}, got {version!r}")
        if not isinstance(header, Mapping):
            raise TypeError(f"header must be a mapping, got {type(header).__name__}")
        if "format" in header or "version" in header:
            raise ValueError("header must not contain 'format' or 'version'; the writer sets them")
        given = _plain(header)
        given.setdefault("meta", {})
        # Canonical key order, so that equal headers give equal bytes; unknown keys go last
        # (and are rejected by the validation below).
        order = ("model", "samples", "seed", "network", "meta")
        full = {"format": TRACE_FORMAT, "version": max(version, _lowest_version(given))}
        full.update((key, given[key]) for key in order if key in given)
        full.update((key, value) for key, value in given.items() if key not in order)
        try:
            header_line = _ENCODER.encode(full)
            self.header = _parse_header(_DECODER.decode(header_line))
        except _Invalid as error:
            raise TraceError(
                f"{self.path}: header: field '{error.field_name}': {error.message}"
            ) from None
        except (TypeError, ValueError) as error:  # not JSON-serialisable (e.g. NaN in meta)
            raise TraceError(f"{self.path}: header: not serialisable as JSON: {error}") from None
        self._checker = _RecordChecker(self.header)
        self._records = 0
        self._pending: list[str] = []
        self._pending_chars = 0
        self._closed = False
        directory, base = os.path.split(self.path)
        self._temp = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
        # From here on, any failure (Ctrl-C included) removes the temporary file: its name is
        # random, so if it exists, it is this writer's.
        try:
            self._raw: IO[bytes] = open(self._temp, "xb")  # noqa: SIM115 - see close()
            self._stream: IO[bytes] = self._raw
            if self.path.endswith(".gz"):
                self._stream = gzip.GzipFile(  # type: ignore[assignment]
                    filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0
                )
            self._emit(header_line)
        except OSError as error:
            self._discard()
            raise TraceError(
                f"{self.path}: cannot write trace: {error.strerror or error}"
            ) from None
        except BaseException:
            self._discard()
            raise

    @property
    def records(self) -> int:
        """Op records written so far."""
        return self._records

    def _emit(self, line: str) -> None:
        self._pending.append(line)
        self._pending_chars += len(line) + 1
        if self._pending_chars >= _WRITE_CHUNK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._pending.append("")
            self._stream.write("\n".join(self._pending).encode("utf-8"))
            self._pending.clear()
            self._pending_chars = 0

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one op record: a mapping with ``sample``, ``phase``, ``layer``, ``kind`` and the
        kind's fields (see :data:`RECORD_KINDS`), without ``type``.

        Raises:
            TraceError: the record is invalid (same checks as on reading, record order
                included; names the field), and the writer stays usable; or the file cannot
                be written, and the writer is discarded with its temporary file.
            TypeError: ``record`` is not a mapping.
            ValueError: the writer is closed, or ``record`` contains ``type``.
        """
        if self._closed:
            raise ValueError(f"{self.path}: write() on a closed TraceWriter")
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping, got {type(record).__name__}")
        if "type" in record:
            raise ValueError("record must not contain 'type'; the writer sets it")
        obj = {"type": "op"}
        for key, value in record.items():
            obj[key] = _plain(value)
        try:
            op = self._checker.check(obj, self._records)
        except _Invalid as error:
            field_text = f"field '{error.field_name}': " if error.field_name else ""
            raise TraceError(
                f"{self.path}: record {self._records}: {field_text}{error.message}"
            ) from None
        spec = self._checker.spec(op.phase, op.kind)
        out: dict[str, Any] = {
            "type": "op",
            "sample": op.sample,
            "phase": op.phase,
            "layer": op.layer,
            "kind": op.kind,
        }
        for spec_field in spec.fields:
            value = getattr(op, spec_field.name)
            out[spec_field.name] = list(value) if type(value) is tuple else value
        try:
            self._emit(_ENCODER.encode(out))
        except OSError as error:  # a full disk: the file cannot be completed
            self._discard()
            raise TraceError(
                f"{self.path}: cannot write trace: {error.strerror or error}"
            ) from None
        except BaseException:  # Ctrl-C in the middle of a chunk: the file is torn
            self._discard()
            raise
        self._records += 1

    def close(self) -> None:
        """Write the end record and move the file into place. Idempotent.

        Raises:
            TraceError: the records do not cover every sample the header promises, or the last
                sample's forward records stop before its last layer; or the file cannot be
                written. The file is then not written (``path`` is left as it was).
        """
        if self._closed:
            return
        self._closed = True
        try:
            try:
                self._checker.finish()
            except _Invalid as error:
                if error.field_name is None:  # the last sample ends early
                    raise TraceError(
                        f"{self.path}: end of the records: {error.message}"
                    ) from None
                raise TraceError(
                    f"{self.path}: header: field '{error.field_name}': {error.message}"
                ) from None
            self._emit(_ENCODER.encode({"type": "end", "records": self._records}))
            self._flush()
            if self._stream is not self._raw:
                self._stream.close()
            self._raw.close()
            os.replace(self._temp, self.path)
        except OSError as error:  # a full disk, or path is a directory
            self._discard()
            raise TraceError(
                f"{self.path}: cannot write trace: {error.strerror or error}"
            ) from None
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        """Close everything and delete the temporary file, keeping any existing ``path``."""
        self._closed = True
        # The streams may not exist yet (a failure while __init__ opened them).
        for stream in (getattr(self, "_stream", None), getattr(self, "_raw", None)):
            if stream is None:
                continue
            try:
                stream.close()
            except (OSError, ValueError, EOFError, zlib.error):
                pass  # already failing; the temporary file is deleted below
        try:
            os.unlink(self._temp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


_STREAM_ERRORS: Final = (OSError, EOFError, zlib.error)


class TraceReader:
    """Reads a trace lazily: the header on construction, records while iterating.

    Use as a context manager. Memory is bounded by one line; the file is never read whole.
    Each ``iter()`` starts again at the first record (an older iterator then stops with
    RuntimeError). Reading to the end checks the end record and that the records hold every
    sample the header promises, so a complete iteration proves the file complete. gzip is
    detected by its magic bytes, not by the file name.

    Args:
        path: the trace file.

    Attributes:
        path: the trace file, as given.
        compressed: whether the file is gzip-compressed.
        header: the validated header.

    Raises:
        TraceError: the file is missing or unreadable, or its header is invalid; and, while
            iterating, any invalid, truncated or corrupt record.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            # A FIFO or a directory is refused here: iterating twice rewinds the file.
            self._raw: IO[bytes] = open_regular(self.path)  # closed in close()
        except OSError as error:
            raise TraceError(f"{self.path}: cannot read trace: {error.strerror or error}") from None
        self._generation = 0
        try:
            magic = self._raw.read(2)
            self._raw.seek(0)
            self.compressed = magic == _GZIP_MAGIC
            self._stream: IO[bytes] = (
                gzip.GzipFile(mode="rb", fileobj=self._raw) if self.compressed else self._raw
            )
            self.header = self._read_header()
        except OSError as error:
            self.close()
            raise TraceError(f"{self.path}: cannot read trace: {error.strerror or error}") from None
        except BaseException:
            self.close()
            raise

    def _error(self, where: str, message: str) -> TraceError:
        return TraceError(f"{self.path}: {where}: {message}")

    def _readline(self, line_number: int) -> bytes:
        try:
            return self._stream.readline(_MAX_LINE_BYTES)
        except _STREAM_ERRORS as error:
            raise self._stream_error(line_number, error) from None

    def _stream_error(self, line_number: int, error: Exception) -> TraceError:
        what = "compressed data is truncated or corrupt" if self.compressed else "read error"
        return self._error(f"line {line_number}", f"{what} ({error})")

    def _complete_line(self, raw: bytes, where: str) -> bytes:
        if raw.endswith(b"\n"):
            return raw
        if len(raw) >= _MAX_LINE_BYTES:
            raise self._error(where, f"line longer than {_MAX_LINE_BYTES} bytes")
        raise self._error(where, "truncated: the last line is incomplete (no final newline)")

    def _read_header(self) -> TraceHeader:
        raw = self._readline(1)
        if not raw:
            raise self._error("header (line 1)", "missing: the file is empty")
        raw = self._complete_line(raw, "header (line 1)")
        try:
            obj = _decode_line(raw)
        except ValueError as error:
            raise self._error(
                "header (line 1)", f"not an archsim trace (malformed JSON: {error})"
            ) from None
        # The header is read once: a full look for deep nesting (meta is free-form, and is
        # copied and printed recursively) and duplicate keys costs nothing noticeable.
        depth, keys = _shape_of(obj)
        if depth > MAX_NESTING:
            raise self._error("header (line 1)", f"nested deeper than {MAX_NESTING} levels")
        if raw.count(b":") != keys:
            duplicate = _duplicate_key(raw)
            if duplicate is not None:
                raise self._error(
                    "header (line 1)", f"duplicate key {_show(duplicate)} (given twice)"
                )
        try:
            return _parse_header(obj)
        except _Invalid as error:
            raise self._error(
                "header (line 1)", f"field '{error.field_name}': {error.message}"
            ) from None

    def __iter__(self) -> Iterator[OpRecord]:
        if self._raw.closed:
            raise ValueError(f"{self.path}: the TraceReader is closed")
        self._generation += 1
        if self._generation > 1:
            try:
                self._stream.seek(0)
            except _STREAM_ERRORS as error:
                raise self._error("line 1", f"cannot rewind ({error})") from None
            self._complete_line(self._readline(1), "header (line 1)")
        return self._records(self._generation)

    def _records(self, generation: int) -> Iterator[OpRecord]:
        checker = _RecordChecker(self.header)
        decode = _decode_line
        # The stream's own readline, not self._readline: one Python call less per record.
        readline = self._stream.readline
        index = 0
        line_number = 1
        while True:
            if generation != self._generation:
                raise RuntimeError(
                    f"{self.path}: the trace was iterated again; this iterator is stale"
                )
            line_number += 1
            try:
                raw = readline(_MAX_LINE_BYTES)
            except _STREAM_ERRORS as error:
                raise self._stream_error(line_number, error) from None
            if not raw:
                after = f"record {index - 1}" if index else "the header"
                raise self._error("truncated", f"no end record after {after}")
            if raw[-1] != 10:  # b"\n"
                self._complete_line(raw, f"record {index} (line {line_number})")
            try:
                obj = decode(raw)
            except ValueError as error:
                raise self._error(
                    f"record {index} (line {line_number})", f"malformed JSON ({error})"
                ) from None
            # Duplicate keys, cheaply: every key is followed by a colon, so a line with no
            # more colons than the object has keys has none. Only a line with colons inside
            # strings (or nested objects) takes the second, slower decode.
            if type(obj) is dict and raw.count(b":") != len(obj):
                self._check_duplicates(raw, obj, index, line_number)
            if type(obj) is dict and obj.get("type") == "end":
                try:
                    _check_end(obj, index)
                except _Invalid as error:
                    raise self._error(
                        f"end record (line {line_number})",
                        f"field '{error.field_name}': {error.message}",
                    ) from None
                try:
                    checker.finish()
                except _Invalid as error:
                    if error.field_name is None:  # the last sample ends early
                        raise self._error(
                            f"end record (line {line_number})", error.message
                        ) from None
                    raise self._error(
                        "header (line 1)", f"field '{error.field_name}': {error.message}"
                    ) from None
                break
            try:
                record = checker.check(obj, index)
            except _Invalid as error:
                field_text = f"field '{error.field_name}': " if error.field_name else ""
                raise self._error(
                    f"record {index} (line {line_number})", field_text + error.message
                ) from None
            yield record
            index += 1
        trailing = self._readline(line_number + 1)
        if trailing:
            raise self._error(f"line {line_number + 1}", "unexpected data after the end record")

    def _check_duplicates(
        self, raw: bytes, obj: dict[str, Any], index: int, line_number: int
    ) -> None:
        duplicate = _duplicate_key(raw)
        if duplicate is not None:
            what = "end record" if obj.get("type") == "end" else f"record {index}"
            raise self._error(
                f"{what} (line {line_number})",
                f"field '{_printable(duplicate)}': duplicate key (given twice)",
            )

    def close(self) -> None:
        """Close the file. Idempotent."""
        stream = getattr(self, "_stream", None)
        if stream is not None and stream is not self._raw:
            stream.close()
        self._raw.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Whole-file helpers
# --------------------------------------------------------------------------------------------


def read_header(path: str | os.PathLike[str]) -> TraceHeader:
    """Read and validate only the header of a trace.

    Raises:
        TraceError: the file is missing or its header invalid.
    """
    with TraceReader(path) as reader:
        return reader.header


def validate_trace(path: str | os.PathLike[str]) -> TraceSummary:
    """Read a whole trace (streaming, one pass), validating every record and the end record.

    The checks are the reader's (:class:`TraceReader` read to the end): among them, record
    samples run from 0 without gaps and cover exactly the header's ``samples``.

    Raises:
        TraceError: the first problem found, naming the record, line and field.
    """
    counts = dict.fromkeys(RECORD_KINDS, 0)
    macs = dict.fromkeys(PHASES, 0)
    sparse = dict.fromkeys(PHASES, 0)
    seen_sparse: set[str] = set()
    matmul = 0
    records = 0
    with TraceReader(path) as reader:
        for record in reader:
            records += 1
            counts[record.phase, record.kind] += 1
            if record.vectors:
                macs[record.phase] += record.macs
                if record.kind in _SPMM_KINDS:
                    sparse[record.phase] += record.sparse_macs
                    seen_sparse.add(record.phase)
            elif record.heads:
                product = record.macs
                macs[record.phase] += product
                matmul += product
        return TraceSummary(
            path=reader.path,
            compressed=reader.compressed,
            header=reader.header,
            records=records,
            # Reading to the end proved that the records hold exactly the header's samples.
            samples_seen=reader.header.samples,
            counts=MappingProxyType({key: n for key, n in counts.items() if n}),
            total_macs=sum(macs.values()),
            macs_by_phase=MappingProxyType({phase: n for phase, n in macs.items() if n}),
            sparse_macs_by_phase=MappingProxyType(
                {phase: n for phase, n in sparse.items() if phase in seen_sparse}
            ),
            matmul_macs=matmul,
        )


def trace_info(path: str | os.PathLike[str]) -> TraceSummary:
    """Summarise a trace for ``archsim trace info`` (validates it too; one streaming pass)."""
    return validate_trace(path)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def _meta_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_meta_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_meta_text(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def format_summary(summary: TraceSummary) -> str:
    """Multi-line, human-readable text of a :class:`TraceSummary` (``archsim trace info``)."""
    header = summary.header
    network = header.network
    matrix = network.matrix_layers()
    lines = [
        f"trace     {summary.path} ({'gzip, ' if summary.compressed else ''}"
        f"{TRACE_FORMAT} v{header.version})",
        f"model     {header.model} (seed {'unknown' if header.seed is None else header.seed})",
        f"samples   {summary.samples_seen}",
        f"network   input {_dims(network.input_shape)}, {network.weight_bits}-bit weights, "
        f"{network.act_bits}-bit activations, {len(network.layers)} layers ({len(matrix)} matrix)",
    ]
    name_width = max(len(layer.name) for layer in network.layers)
    # 7 characters: as wide as the column was before version 5 (every older layer kind fits).
    kind_width = max([7, *(len(layer.kind) for layer in network.layers)])
    for layer in network.layers:
        shapes = f"{_dims(layer.in_shape)} -> {_dims(layer.out_shape)}"
        text = f"  {layer.name:<{name_width}}  {layer.kind:<{kind_width}}  {shapes:<24}"
        if layer.is_matrix:
            text += f"  {layer.rows} x {layer.cols} weights"
        if layer.kind == "matmul":
            text += f"  {layer.inputs[0]} x {layer.inputs[1]}"
        if layer.kernel:
            text += f"  kernel {_dims(layer.kernel)} stride {layer.stride}"
            if layer.padding:
                text += f" padding {layer.padding}"
        lines.append(text.rstrip())
    lines.append(f"records   {summary.records:,}")
    kind_width = max([7, *(len(kind) for _, kind in summary.counts)])
    for (phase, kind), count in summary.counts.items():
        lines.append(f"  {phase:<8}  {kind:<{kind_width}}  {count:>{19 - kind_width},}")
    lines.append(f"MACs      {summary.total_macs:,}")
    for phase, count in summary.macs_by_phase.items():
        lines.append(f"  {phase:<8}  {count:>21,}")
    if summary.matmul_macs:
        lines.append(
            f"  of which {summary.matmul_macs:,} in matmul records (products of two activations)"
        )
    if summary.sparse_macs_by_phase:
        total = sum(summary.sparse_macs_by_phase.values())
        lines.append(f"sparse    {total:,} MACs on the blocks in force of spmm records")
        for phase, count in summary.sparse_macs_by_phase.items():
            lines.append(f"  {phase:<8}  {count:>21,}")
    if header.meta:
        lines.append("meta")
        for key, value in header.meta.items():
            text = _meta_text(value)
            if len(text) > 100:
                text = text[:97] + "..."
            lines.append(f"  {key}: {text}")
    return "\n".join(lines)
