"""ScRRAMBLe block-sparse networks of crossbar-sized cores, in NumPy (workload stage).

ScRRAMBLe ("ScRRAMBLe: block-sparse deep learning architecture for analog in-memory computing
accelerators", Nature Communications; archsim/REFERENCES.md [ScRRAMBLe]; code at
github.com/Integrated-Systems-Neuroengineering/scrramble) builds a network out of *cores*, each
one crossbar with ``C`` inputs and ``C`` outputs. A core's inputs are divided into ``C / s``
*slots* of ``s`` elements, and the cores talk to each other only in whole blocks ("chunks") of
``s`` values: a *connection* routes one ``s``-wide block of a source (a core's outputs, or the
network input) into one core.

Input-balanced routing. Every connection enters its core twice, with sign +1 into one slot and
sign -1 into another, so each core's input vector sums to zero for any input; that is what lets
a signed weight be one positive conductance ``G = a (W + b)`` (the offset term ``a b sum(x)``
vanishes; see :mod:`archsim.mapping.scrramble`). The published code draws the negative partner of
every positive connection from the same source block into a random slot of the same core
(``ScRRAMBLe_routing`` in its ``utils``); this module does the same, with two choices of its own:

* *density* ``d`` is the fraction of the ``K`` source blocks a core connects to: every core of a
  layer draws ``ceil(d K)`` distinct blocks (at least one), so the header of a packet names one
  of ``d K`` blocks, ``A ~ log2(#chunks x density)`` (ScRRAMBLe; REFERENCES.md [ScRRAMBLe]);
* the ``2 ceil(d K)`` signed uses of a core are spread evenly over its slots (each slot gets
  the floor or the ceiling of the mean), the two uses of one block landing in different slots
  so that they never cancel inside the routing. Uses that share a slot are summed: their
  blocks share that slot's weights (the paper's weight sharing across feature dimensions).

Cores of one layer compute ``y = x_core @ W_core`` (``W_core`` is ``C x C``, float32), hidden
layers apply ReLU, and the last layer's outputs are read out by population coding: the first
``classes x g`` outputs form ``classes`` groups of ``g`` whose means are the logits.

Sizes. The network input is the flattened 28 x 28 digits image (784 pixels, zero-padded to whole
blocks). :data:`DEFAULT_SPEC` is 10 cores of 256 inputs (8 hidden, 2 for the readout), blocks of
16, density 0.2 (the paper's core size and MNIST density; REFERENCES.md [ScRRAMBLe]): with
:data:`DEFAULT_TRAINING` (SGD, :func:`train_scrramble`) it reaches 96.1-97.8 % test accuracy on
the digits over five seeds in about 1.5 s on one core. :data:`SMALL_SPEC` (6 cores of 64
inputs, blocks of 8) reaches 95.0-97.8 % in about 0.3 s, for tests. Eight hidden cores at
density 0.2 see about 83 % of the input blocks between them (``1 - 0.8^8``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.data import DIGITS_DATASET
from archsim.workload.train import TrainingConfig, TrainResult, train_sgd

DIGITS_INPUTS = 28 * 28
"""Inputs of the resized digits images (:func:`archsim.workload.data.load_digits_28`)."""


def connected_chunks(chunks: int, density: float) -> int:
    """Source blocks each core connects to: ``ceil(chunks x density)``, at least 1.

    Floating-point noise in the product (``100 x 0.07 = 7.000000000000001``) is snapped to the
    nearest integer first, as :func:`archsim.hw.noc.packet.scrramble_address_bits` does, so the
    count and the address bits that name one of them always agree.
    """
    if chunks < 1:
        raise WorkloadError(f"scrramble.chunks: must be >= 1, got {chunks}")
    if not 0.0 < density <= 1.0:
        raise WorkloadError(f"scrramble.density: must be in (0, 1], got {density!r}")
    count = chunks * density
    nearest = round(count)
    if math.isclose(count, nearest, rel_tol=1e-9):
        count = nearest
    return max(1, min(chunks, math.ceil(count)))


@dataclass(frozen=True)
class ScrrambleSpec:
    """The shape of a ScRRAMBLe network.

    Attributes:
        core_inputs: ``C``, inputs (and outputs) of every core: one crossbar's rows.
        slot_size: ``s``, elements per slot and per routed block; must divide ``C`` with at
            least two slots per core (a block's +1 and -1 uses need different slots).
        density: fraction of a layer's source blocks that each of its cores connects to, (0, 1].
        cores: cores per layer, input side first; the last layer is the readout.
        inputs: network input elements (784 for the 28x28 digits); zero-padded to whole blocks.
        classes: classes read out by population coding from the last layer.
    """

    core_inputs: int
    slot_size: int
    density: float
    cores: tuple[int, ...]
    inputs: int = DIGITS_INPUTS
    classes: int = 10

    def __post_init__(self) -> None:
        c, s = self.core_inputs, self.slot_size
        if c < 2:
            raise WorkloadError(f"scrramble.core_inputs: must be >= 2, got {c}")
        if s < 1 or c % s or c // s < 2:
            raise WorkloadError(
                f"scrramble.slot_size: must divide core_inputs ({c}) into >= 2 slots, got {s}"
            )
        if not 0.0 < self.density <= 1.0:
            raise WorkloadError(f"scrramble.density: must be in (0, 1], got {self.density!r}")
        if not self.cores or min(self.cores) < 1:
            raise WorkloadError(
                f"scrramble.cores: need one or more layers of >= 1 core, got {self.cores!r}"
            )
        if self.inputs < 1:
            raise WorkloadError(f"scrramble.inputs: must be >= 1, got {self.inputs}")
        if self.classes < 1 or self.cores[-1] * c < self.classes:
            raise WorkloadError(
                f"scrramble.classes: the last layer's {self.cores[-1] * c} outputs must hold "
                f"one group per class, got {self.classes} classes"
            )

    @property
    def slots(self) -> int:
        """Slots per core, ``C / s``."""
        return self.core_inputs // self.slot_size

    @property
    def input_blocks(self) -> int:
        """Blocks of ``s`` the (zero-padded) network input is cut into."""
        return -(-self.inputs // self.slot_size)

    def sources(self, layer: int) -> int:
        """Source blocks ``K`` that layer ``layer``'s cores choose from: the input's blocks for
        layer 0, else the previous layer's output blocks (cores x slots)."""
        return self.input_blocks if layer == 0 else self.cores[layer - 1] * self.slots

    @property
    def total_cores(self) -> int:
        """Cores in all layers (one crossbar each)."""
        return sum(self.cores)

    @property
    def group_size(self) -> int:
        """Outputs per class in the population-coded readout."""
        return self.cores[-1] * self.core_inputs // self.classes


@dataclass(frozen=True)
class Connection:
    """One routed block: source block ``source`` of layer ``layer``'s source space into core
    ``core`` of that layer, added into slot ``plus_slot`` and subtracted from ``minus_slot``.

    ``chunk`` is the block's index among its core's connections (ascending source order): the
    index a packet header carries. For layer 0 the source is a block of the network input; for
    a later layer, block ``source`` is slot-sized output block ``source % slots`` of core
    ``source // slots`` of the previous layer.
    """

    layer: int
    core: int
    chunk: int
    source: int
    plus_slot: int
    minus_slot: int


@dataclass(frozen=True)
class LayerRouting:
    """The connections into one layer's cores.

    Attributes:
        layer: layer index.
        sources: source blocks ``K`` the layer draws from.
        cores: cores in the layer.
        slots: slots per core.
        connections: every connection, by core then chunk.
        signs: ``(K, cores x slots)`` int8 matrix, the sum of the signs with which source block
            ``k`` enters slot ``q`` (core ``q // slots``); derived.
    """

    layer: int
    sources: int
    cores: int
    slots: int
    connections: tuple[Connection, ...]
    signs: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        signs = np.zeros((self.sources, self.cores * self.slots), dtype=np.int8)
        for conn in self.connections:
            signs[conn.source, conn.core * self.slots + conn.plus_slot] += 1
            signs[conn.source, conn.core * self.slots + conn.minus_slot] -= 1
        signs.setflags(write=False)
        object.__setattr__(self, "signs", signs)

    def core_sign_sums(self) -> np.ndarray:
        """Sum of the signs entering each core, ``(cores,)``: all zeros when balanced."""
        return self.signs.reshape(self.sources, self.cores, self.slots).sum(axis=(0, 2))


def draw_routing(spec: ScrrambleSpec, layer: int, rng: np.random.Generator) -> LayerRouting:
    """Draw the input-balanced random connectivity of one layer (see the module docstring).

    Every core connects to ``connected_chunks(K, density)`` distinct source blocks; each block
    enters once with +1 and once with -1, into two different slots; a core's ``2 m`` uses are
    spread evenly over its slots.
    """
    sources = spec.sources(layer)
    slots = spec.slots
    m = connected_chunks(sources, spec.density)
    connections: list[Connection] = []
    for core in range(spec.cores[layer]):
        chosen = np.sort(rng.choice(sources, size=m, replace=False))
        pairs = _slot_pairs(m, slots, rng)
        for chunk, source in enumerate(chosen.tolist()):
            plus, minus = pairs[chunk]
            connections.append(Connection(layer, core, chunk, int(source), plus, minus))
    return LayerRouting(layer, sources, spec.cores[layer], slots, tuple(connections))


def _slot_pairs(m: int, slots: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``m`` (plus, minus) slot pairs with plus != minus, every slot used ``floor`` or ``ceil``
    of ``2 m / slots`` times.

    The ``2 m`` uses are random permutations of the slots laid end to end, paired in order. A
    pair that straddles two permutations may repeat a slot ``v`` (odd slot counts only); it
    then swaps its minus with that of a random other pair holding no ``v``, which keeps every
    slot's count. Such a pair exists: no slot is used more than ``m`` times when ``slots >= 2``.
    """
    rounds = -(-2 * m // slots)
    order = np.concatenate([rng.permutation(slots) for _ in range(rounds)])[: 2 * m]
    pairs = [(int(order[2 * k]), int(order[2 * k + 1])) for k in range(m)]
    for k in range(m):
        v = pairs[k][0]
        if pairs[k][1] != v:
            continue
        others = [j for j in range(m) if j != k and v not in pairs[j]]
        j = others[int(rng.integers(len(others)))]
        pairs[k], pairs[j] = (v, pairs[j][1]), (pairs[j][0], v)
    return pairs


@dataclass(frozen=True)
class ScrrambleTape:
    """What :meth:`ScrrambleNetwork.backward` needs from a forward pass.

    ``core_inputs[l]`` is ``(B, cores_l, C)``; ``core_outputs[l]`` the pre-activation outputs.
    """

    core_inputs: tuple[np.ndarray, ...]
    core_outputs: tuple[np.ndarray, ...]


class ScrrambleNetwork:
    """A ScRRAMBLe network: a spec, its routing and one ``C x C`` weight matrix per core.

    Attributes:
        spec: the network's shape.
        routings: one :class:`LayerRouting` per layer.
        weights: per layer a ``(cores, C, C)`` array (rows = core inputs, cols = core outputs);
            trainers update them in place. Their dtype sets the dtype of the computation.
    """

    def __init__(
        self,
        spec: ScrrambleSpec,
        routings: Sequence[LayerRouting],
        weights: Sequence[np.ndarray],
    ) -> None:
        layers = len(spec.cores)
        if len(routings) != layers or len(weights) != layers:
            raise WorkloadError(
                f"scrramble network: {layers} layers need as many routings and weight arrays, "
                f"got {len(routings)} and {len(weights)}"
            )
        c = spec.core_inputs
        for index, (routing, w) in enumerate(zip(routings, weights)):
            if routing.sources != spec.sources(index) or routing.cores != spec.cores[index]:
                raise WorkloadError(f"scrramble network: routing of layer {index} does not fit")
            if w.shape != (spec.cores[index], c, c):
                raise WorkloadError(
                    f"scrramble network: layer {index} weights must be "
                    f"{(spec.cores[index], c, c)}, got {w.shape}"
                )
        self.spec = spec
        self.routings = tuple(routings)
        self.weights = list(weights)

    def __repr__(self) -> str:
        return f"ScrrambleNetwork({self.spec!r})"

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every connection of every layer, layer by layer."""
        return tuple(conn for routing in self.routings for conn in routing.connections)

    def parameters(self) -> dict[tuple[str, str], np.ndarray]:
        """Trainable arrays keyed ``(f"layer{l}", "weight")``, updated in place by trainers."""
        return {(f"layer{i}", "weight"): w for i, w in enumerate(self.weights)}

    def input_blocks(self, x: np.ndarray) -> np.ndarray:
        """The network input of a batch as blocks, ``(B, input_blocks, s)``, zero-padded.

        ``x`` is ``(B, ...)`` with ``spec.inputs`` elements per sample (images are flattened in
        HWC order).
        """
        x = np.asarray(x)
        flat = x.reshape(len(x), -1)
        spec = self.spec
        if flat.shape[1] != spec.inputs:
            raise WorkloadError(
                f"scrramble input: expected {spec.inputs} elements per sample, got {flat.shape[1]}"
            )
        pad = spec.input_blocks * spec.slot_size - spec.inputs
        if pad:
            flat = np.pad(flat, ((0, 0), (0, pad)))
        return flat.reshape(len(x), spec.input_blocks, spec.slot_size).astype(
            self.weights[0].dtype, copy=False
        )

    def route(self, layer: int, blocks: np.ndarray) -> np.ndarray:
        """Assemble the core inputs of ``layer`` from its source blocks.

        Args:
            layer: layer index.
            blocks: ``(B, K, s)`` source blocks (input blocks, or the previous layer's
                activations cut into slots).

        Returns:
            ``(B, cores, C)``: slot ``j`` of core ``c`` holds the signed sum of the blocks routed
            into it.
        """
        routing = self.routings[layer]
        signs = routing.signs.astype(blocks.dtype)
        b, _, s = blocks.shape
        routed = np.matmul(blocks.transpose(0, 2, 1), signs)  # (B, s, cores*slots)
        return routed.transpose(0, 2, 1).reshape(b, routing.cores, routing.slots * s)

    def _unroute(self, layer: int, grad: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`route`: ``(B, cores, C)`` -> ``(B, K, s)``."""
        routing = self.routings[layer]
        s = self.spec.slot_size
        b = grad.shape[0]
        g = grad.reshape(b, routing.cores * routing.slots, s)
        return np.matmul(routing.signs.astype(grad.dtype), g)  # (K, Q) @ (B, Q, s) -> (B, K, s)

    def forward_train(self, x: np.ndarray) -> tuple[np.ndarray, ScrrambleTape]:
        """Logits ``(B, classes)`` of a batch, with the tape for :meth:`backward`."""
        spec = self.spec
        blocks = self.input_blocks(x)
        inputs: list[np.ndarray] = []
        outputs: list[np.ndarray] = []
        last = len(spec.cores) - 1
        for layer, w in enumerate(self.weights):
            core_in = self.route(layer, blocks)
            core_out = np.matmul(core_in.transpose(1, 0, 2), w).transpose(1, 0, 2)
            inputs.append(core_in)
            outputs.append(core_out)
            if layer < last:
                act = np.maximum(core_out, 0)
                blocks = act.reshape(len(act), -1, spec.slot_size)
        flat = outputs[-1].reshape(len(outputs[-1]), -1)
        g = spec.group_size
        logits = flat[:, : spec.classes * g].reshape(-1, spec.classes, g).mean(axis=2)
        return logits, ScrrambleTape(tuple(inputs), tuple(outputs))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(B, classes)`` of a batch."""
        return self.forward_train(x)[0]

    def backward(
        self, tape: ScrrambleTape, d_logits: np.ndarray
    ) -> dict[tuple[str, str], np.ndarray]:
        """Gradients of the loss w.r.t. every weight array, keyed like :meth:`parameters`.

        Args:
            tape: from :meth:`forward_train` on the same batch.
            d_logits: gradient of the loss w.r.t. the logits, ``(B, classes)``.
        """
        spec = self.spec
        g = spec.group_size
        b = d_logits.shape[0]
        last_out = tape.core_outputs[-1]
        d_flat = np.zeros((b, last_out.shape[1] * last_out.shape[2]), dtype=last_out.dtype)
        d_flat[:, : spec.classes * g] = np.repeat(d_logits / g, g, axis=1)
        d_out = d_flat.reshape(last_out.shape)
        grads: dict[tuple[str, str], np.ndarray] = {}
        for layer in range(len(self.weights) - 1, -1, -1):
            core_in = tape.core_inputs[layer]
            w = self.weights[layer]
            # Per core: dW = x^T dy over the batch; dx = dy W^T.
            grads[(f"layer{layer}", "weight")] = np.matmul(
                core_in.transpose(1, 2, 0), d_out.transpose(1, 0, 2)
            )
            if layer == 0:
                break
            d_in = np.matmul(d_out.transpose(1, 0, 2), w.transpose(0, 2, 1)).transpose(1, 0, 2)
            d_blocks = self._unroute(layer, d_in)
            previous = tape.core_outputs[layer - 1]
            d_out = d_blocks.reshape(previous.shape) * (previous > 0)
        return grads

    def trace(self, x: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """Per layer, every core's input ``(B, cores, C)`` and its output before activation."""
        _, tape = self.forward_train(x)
        return tape.core_inputs, tape.core_outputs


def build_scrramble(
    spec: ScrrambleSpec, rng: np.random.Generator, *, dtype: type = np.float32
) -> ScrrambleNetwork:
    """A ScRRAMBLe network of ``spec`` with random routing and weights drawn from ``rng``.

    Weights are normal with std ``sqrt(2 / (C x u))``, ``u`` = mean signed uses per slot, so that
    a core's outputs start at about the scale of one input block (He-like).
    """
    routings = tuple(draw_routing(spec, layer, rng) for layer in range(len(spec.cores)))
    weights = []
    for layer, routing in enumerate(routings):
        uses = 2 * connected_chunks(routing.sources, spec.density) / spec.slots
        std = math.sqrt(2.0 / (spec.core_inputs * max(1.0, uses)))
        shape = (spec.cores[layer], spec.core_inputs, spec.core_inputs)
        weights.append((rng.standard_normal(shape) * std).astype(dtype))
    return ScrrambleNetwork(spec, routings, weights)


def scrramble_accuracy(
    network: ScrrambleNetwork, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256
) -> float:
    """Fraction of samples whose arg-max logit equals the label."""
    if len(x) == 0 or len(x) != len(y):
        raise WorkloadError(f"scrramble accuracy: {len(x)} inputs and {len(y)} labels")
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = network.forward(x[start : start + batch_size])
        correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum())
    return correct / len(x)


DEFAULT_SPEC = ScrrambleSpec(core_inputs=256, slot_size=16, density=0.2, cores=(8, 2))
"""Paper-sized cores (256 inputs; REFERENCES.md [ScRRAMBLe]), blocks of 16, density 0.2."""

SMALL_SPEC = ScrrambleSpec(core_inputs=64, slot_size=8, density=0.2, cores=(5, 1))
"""A small network for fast tests: 6 cores of 64 inputs."""

DEFAULT_TRAINING: Mapping[str, TrainingConfig] = MappingProxyType({
    "default": TrainingConfig(epochs=15, lr=0.05, momentum=0.9, batch_size=16),
    "small": TrainingConfig(epochs=30, lr=0.05, momentum=0.9, batch_size=16),
})
"""SGD settings for :data:`DEFAULT_SPEC` and :data:`SMALL_SPEC`, tuned on the 28x28 digits: mean
test accuracy over five seeds 96.8 % for both (default: 96.1-97.8 %, small: 95.0-97.8 %)."""


def train_scrramble(
    network: ScrrambleNetwork,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    training: TrainingConfig,
    rng: np.random.Generator,
    *,
    dataset: str = DIGITS_DATASET,
) -> TrainResult:
    """Train ``network`` in place with :func:`archsim.workload.train.train_sgd`.

    ``train_sgd`` uses only ``parameters()``, ``forward_train()``, ``backward()`` and
    ``forward()`` of its model, which :class:`ScrrambleNetwork` provides with the same
    semantics as :class:`~archsim.workload.models.Model`: softmax cross-entropy, SGD with
    momentum, reshuffled every epoch with ``rng``.

    Args:
        network: the network; its weights are updated in place.
        data: ``(x_train, y_train, x_test, y_test)``, e.g. from
            :func:`~archsim.workload.data.load_digits_28`.
        training: epochs, learning rate, momentum and batch size.
        rng: source of the shuffling.
        dataset: data set name recorded in the result.
    """
    x_train, y_train, x_test, y_test = data
    return train_sgd(
        network,  # type: ignore[arg-type]  # duck-typed: the four methods above
        x_train, y_train, x_test, y_test,
        epochs=training.epochs, lr=training.lr, momentum=training.momentum,
        batch_size=training.batch_size, rng=rng, dataset=dataset,
    )


def spec_dict(spec: ScrrambleSpec) -> dict[str, Any]:
    """JSON-serialisable form of a spec."""
    return {
        "core_inputs": spec.core_inputs,
        "slot_size": spec.slot_size,
        "density": spec.density,
        "cores": list(spec.cores),
        "inputs": spec.inputs,
        "classes": spec.classes,
    }


# --------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------


def core_name(layer: int, core: int) -> str:
    """The trace layer of core ``core`` of ScRRAMBLe layer ``layer``: ``l<layer>c<core>``."""
    return f"l{layer}c{core}"


def signed_input_bits(network: ScrrambleNetwork, act_bits: int) -> int:
    """Bits of a core's input element: a slot holds the signed sum of up to ``u`` blocks of
    unsigned ``act_bits``-bit activations, so ``act_bits + ceil(log2(u)) + 1`` (magnitude,
    growth, sign), ``u`` the most uses of one slot in the network (archsim's choice; the
    paper's cores take the balanced signed inputs directly)."""
    uses = max(int(np.abs(routing.signs).sum(axis=0).max()) for routing in network.routings)
    return act_bits + max(0, (uses - 1).bit_length()) + 1


def trace_layers(network: ScrrambleNetwork) -> list[dict[str, Any]]:
    """The trace header's layers of ``network``: one ``routed`` layer per core, in layer then
    core order, whose routes are the core's connections in chunk order
    (:class:`~archsim.workload.trace.LayerSpec`)."""
    spec = network.spec
    c, s = spec.core_inputs, spec.slot_size
    layers: list[dict[str, Any]] = []
    for routing in network.routings:
        index = routing.layer
        for core in range(routing.cores):
            conns = [conn for conn in routing.connections if conn.core == core]
            if index == 0:
                inputs, in_shape = ["input"], [spec.inputs]
                routes = [[0, conn.source, conn.plus_slot, conn.minus_slot] for conn in conns]
            else:
                sources = sorted({conn.source // spec.slots for conn in conns})
                inputs = [core_name(index - 1, source) for source in sources]
                in_shape = [c]
                routes = [
                    [sources.index(conn.source // spec.slots), conn.source % spec.slots,
                     conn.plus_slot, conn.minus_slot]
                    for conn in conns
                ]
            layers.append({
                "name": core_name(index, core), "kind": "routed", "inputs": inputs,
                "in_shape": in_shape, "out_shape": [c], "rows": c, "cols": c, "block": s,
                "routes": routes,
            })
    return layers


def core_statistics(
    network: ScrrambleNetwork, inputs: np.ndarray, act_bits: int
) -> list[list[dict[str, Any]]]:
    """Per sample, per core (trace layer order): the fields of the core's ``mvm`` record.

    Each layer's sources are quantised per sample to unsigned ``act_bits``-bit integers
    (:func:`~archsim.workload.activity.quantize_unsigned`) and routed exactly, in integers;
    the signed core inputs are applied as ``input_bits - 1`` magnitude bit planes and a sign
    plane (the last entry of ``bitplane_nz``).
    """
    from archsim.workload.activity import quantize_unsigned

    spec = network.spec
    input_bits = signed_input_bits(network, act_bits)
    magnitude_planes = input_bits - 1
    _, outputs = network.trace(inputs)
    samples = len(inputs)
    records: list[list[dict[str, Any]]] = [[] for _ in range(samples)]
    for layer in range(len(spec.cores)):
        if layer == 0:
            sources = network.input_blocks(inputs)
        else:
            act = np.maximum(outputs[layer - 1], 0)
            sources = act.reshape(len(act), -1, spec.slot_size)
        q, _ = quantize_unsigned(sources, act_bits)
        core_in = network.route(layer, q.astype(np.int64))  # (B, cores, C), exact
        magnitude = np.abs(core_in)
        planes = (magnitude[..., None] >> np.arange(magnitude_planes)) & 1
        density = planes.mean(axis=2)  # (B, cores, planes)
        sign = (core_in < 0).mean(axis=2)
        nonzero = (core_in != 0).mean(axis=2)
        for sample in range(samples):
            for core in range(core_in.shape[1]):
                bitplanes = [float(v) for v in density[sample, core]] + [float(sign[sample, core])]
                records[sample].append({
                    "kind": "mvm", "vectors": 1, "rows": spec.core_inputs,
                    "cols": spec.core_inputs, "input_bits": input_bits,
                    "input_nz": float(nonzero[sample, core]),
                    "bitplane_nz": bitplanes,
                    "bitplane_allzero": [1.0 if v == 0.0 else 0.0 for v in bitplanes],
                })
    return records


def export_scrramble_trace(
    network: ScrrambleNetwork,
    inputs: np.ndarray,
    path: str | Any,
    *,
    act_bits: int = 8,
    weight_bits: int = 7,
    seed: int | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Write the inference trace of ``network`` on ``inputs`` (a batch of digits images or
    flat vectors) to ``path``: one ``routed`` layer per core (:func:`trace_layers`), one
    forward ``mvm`` record per core per sample with the core's exact input statistics
    (:func:`core_statistics`). ``weight_bits`` is the precision the mapping assumes (one 7-bit
    cell per weight on Wu et al.'s devices), ``seed`` the network's, ``meta`` free provenance.
    Returns the records written.

    Raises:
        WorkloadError: ``act_bits`` out of 1..16 or an empty batch.
    """
    from archsim.workload.activity import MAX_ACT_BITS
    from archsim.workload.trace import FORWARD, TraceWriter

    if not 1 <= act_bits <= MAX_ACT_BITS:
        raise WorkloadError(f"act_bits: must be 1..{MAX_ACT_BITS}, got {act_bits}")
    inputs = np.asarray(inputs)
    if inputs.ndim < 2 or len(inputs) < 1:
        raise WorkloadError(f"inputs: need a batch of >= 1 sample, got shape {inputs.shape}")
    layers = trace_layers(network)
    header = {
        "model": "scrramble",
        "samples": len(inputs),
        "seed": seed,
        "network": {
            "input_shape": [network.spec.inputs], "weight_bits": weight_bits,
            "act_bits": act_bits, "layers": layers,
        },
        "meta": {"scrramble": spec_dict(network.spec), **(meta or {})},
    }
    records = 0
    with TraceWriter(path, header) as writer:
        for sample, fields in enumerate(core_statistics(network, inputs, act_bits)):
            for layer, record in zip(layers, fields):
                writer.write({"sample": sample, "phase": FORWARD, "layer": layer["name"],
                              **record})
                records += 1
    return records
