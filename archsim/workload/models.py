"""Network DAGs and the model zoo (workload stage).

A :class:`Model` is a list of named layers in topological order; each layer names its inputs and
the network input is called ``"input"``. The zoo (:data:`MODEL_NAMES`, :func:`build_model`) holds
the networks archsim's published cross-checks use: ``lenet-wu`` and ``vgg8-wu``, archsim's
reconstruction of the networks of Wu et al. 2023, Table 2 (arXiv 2305.14547; the shapes that match
every count of the table, archsim/REFERENCES.md [Wu2023]), and the standard CIFAR ResNet-18
(He et al. 2016; REFERENCES.md [He2016]) without batch normalisation or biases for
``resnet18``.

Naming in zoo models: matrix layers are ``conv1..convN`` and ``fc1..fcM`` in topological order,
except residual projection convolutions, which are ``shortcut1..``; the other layers are
``relu<i>``, ``pool<i>`` (max or local average pooling), ``gap<i>`` (global average pooling),
``add<i>`` and ``flatten<i>``, numbered per prefix in topological order.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence, overload

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.layers import (
    Add,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    MatrixLayer,
    MaxPool2D,
    ReLU,
    Shape,
)

INPUT = "input"
"""Name by which layers refer to the network input."""

MODEL_NAMES: tuple[str, ...] = ("mlp", "mlp-wide", "lenet-wu", "vgg8-wu", "resnet18")
"""Names accepted by :func:`build_model`."""


class Model:
    """A feed-forward network: a DAG of layers in topological order.

    The last layer's output is the network output (logits). Shapes are inferred and checked
    when the model is built.

    Attributes:
        name: Model name (a zoo name or any label).
        input_shape: Input shape of one sample, ``(H, W, C)`` (or ``(F,)`` for vectors).
        layers: The layers, in topological order.
    """

    def __init__(self, name: str, input_shape: Sequence[int], layers: Sequence[Layer]) -> None:
        self.name = name
        self.input_shape: Shape = tuple(int(d) for d in input_shape)
        self.layers: tuple[Layer, ...] = tuple(layers)
        if not self.layers:
            raise WorkloadError(f"model '{name}'.layers: must not be empty")
        shapes: dict[str, Shape] = {INPUT: self.input_shape}
        for layer in self.layers:
            if layer.name in shapes:
                raise WorkloadError(f"model '{name}': duplicate layer name '{layer.name}'")
            for src in layer.inputs:
                if src not in shapes:
                    raise WorkloadError(
                        f"model '{name}': layer '{layer.name}' reads '{src}', which is not an "
                        "earlier layer or 'input'"
                    )
            shapes[layer.name] = layer.output_shape([shapes[s] for s in layer.inputs])
        self._shapes = shapes

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, input_shape={self.input_shape}, "
            f"layers={len(self.layers)})"
        )

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; raises WorkloadError if there is none."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise WorkloadError(f"model '{self.name}': no layer named '{name}'")

    def in_shape(self, layer: Layer) -> Shape:
        """Per-sample shape of the (first) input of ``layer``."""
        return self._shapes[layer.inputs[0]]

    def out_shape(self, layer: Layer) -> Shape:
        """Per-sample shape of the output of ``layer``."""
        return self._shapes[layer.name]

    @property
    def output_shape(self) -> Shape:
        """Per-sample shape of the network output."""
        return self._shapes[self.layers[-1].name]

    def matrix_layers(self) -> tuple[MatrixLayer, ...]:
        """The layers with a weight matrix, in topological order."""
        return tuple(layer for layer in self.layers if isinstance(layer, MatrixLayer))

    def weights_count(self) -> int:
        """Total number of weights (matrix entries) over all matrix layers."""
        return sum(layer.rows * layer.cols for layer in self.matrix_layers())

    def vectors_per_sample(self, layer: MatrixLayer) -> int:
        """Number of input vectors ``layer`` processes per sample (conv windows; 1 for dense)."""
        if isinstance(layer, Conv2D):
            return layer.windows(self.in_shape(layer))
        return 1

    def parameters(self) -> dict[tuple[str, str], np.ndarray]:
        """Trainable arrays keyed by (layer name, parameter name); trainers update them in place."""
        return {
            (layer.name, pname): array
            for layer in self.layers
            for pname, array in layer.params().items()
        }

    def _check_batch(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise WorkloadError(
                f"model '{self.name}': input batch must have shape (B, "
                f"{', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}"
            )
        # float64 input is kept: exporters use it so that quantised activations do not depend
        # on how BLAS blocks a float32 product (which varies with the batch size).
        return x if x.dtype == np.float64 else x.astype(np.float32, copy=False)

    @overload
    def forward(self, x: np.ndarray, *, capture: Literal[False] = ...) -> np.ndarray: ...

    @overload
    def forward(
        self, x: np.ndarray, *, capture: Literal[True]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...

    def forward(
        self, x: np.ndarray, *, capture: bool = False
    ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """Run a batch through the network.

        Args:
            x: Batch of shape ``(B, *input_shape)``; computed in float64 if ``x`` is float64,
                otherwise converted to float32.
            capture: Also return each layer's input tensor.

        Returns:
            The network output of shape ``(B, *output_shape)``; with ``capture``, a pair
            (output, inputs) where ``inputs[layer_name]`` is that layer's (first) input batch.
            For ``add`` layers this is the first summand, matching ``in_shape`` in :meth:`spec`.
        """
        values: dict[str, np.ndarray] = {INPUT: self._check_batch(x)}
        captured: dict[str, np.ndarray] = {}
        remaining = self._last_use()
        for index, layer in enumerate(self.layers):
            xs = [values[s] for s in layer.inputs]
            if capture:
                captured[layer.name] = xs[0]
            values[layer.name], _ = layer.forward(xs)
            for src in set(layer.inputs):
                if remaining[src] == index and not capture:
                    del values[src]
        out = values[self.layers[-1].name]
        return (out, captured) if capture else out

    def _last_use(self) -> dict[str, int]:
        """Index of the last layer reading each tensor (so forward can free it early)."""
        last: dict[str, int] = {}
        for index, layer in enumerate(self.layers):
            for src in layer.inputs:
                last[src] = index
        last.setdefault(self.layers[-1].name, len(self.layers))
        return last

    def forward_train(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Forward pass that keeps what :meth:`backward` needs.

        Returns:
            (output, tape); pass the tape to :meth:`backward`.
        """
        values: dict[str, np.ndarray] = {INPUT: self._check_batch(x)}
        tape: dict[str, Any] = {}
        for layer in self.layers:
            values[layer.name], tape[layer.name] = layer.forward([values[s] for s in layer.inputs])
        return values[self.layers[-1].name], tape

    def backward(
        self,
        tape: dict[str, Any],
        grad_out: np.ndarray,
        *,
        outputs: dict[str, np.ndarray] | None = None,
    ) -> dict[tuple[str, str], np.ndarray]:
        """Back-propagate the gradient of the loss w.r.t. the network output.

        Args:
            tape: As returned by :meth:`forward_train` for the same batch.
            grad_out: Gradient w.r.t. the output, shape ``(B, *output_shape)``.
            outputs: If given, filled with the gradient at every layer's output, by layer
                name (what on-chip and sparse trainers update with and trace).

        Returns:
            Gradient of every parameter, keyed like :meth:`parameters`.
        """
        grads: dict[str, np.ndarray] = {self.layers[-1].name: grad_out}
        param_grads: dict[tuple[str, str], np.ndarray] = {}
        for layer in reversed(self.layers):
            g = grads.pop(layer.name, None)
            if g is None:
                continue  # output not used by anything that reaches the loss
            if outputs is not None:
                outputs[layer.name] = g
            need_inputs = any(src != INPUT for src in layer.inputs)
            result = layer.backward(tape[layer.name], g, need_inputs=need_inputs)
            for pname, pgrad in result.params.items():
                param_grads[(layer.name, pname)] = pgrad
            for src, gin in zip(layer.inputs, result.inputs):
                if src == INPUT:
                    continue
                grads[src] = grads[src] + gin if src in grads else gin
        return param_grads

    def spec(self) -> list[dict[str, Any]]:
        """Plain, JSON-serialisable description of every layer, in topological order.

        Each entry has ``name``, ``kind``, ``inputs`` (list of names), ``in_shape`` (per-sample
        shape of the first input), ``out_shape``; conv layers add ``kernel`` ([kh, kw]),
        ``stride`` and ``padding`` (pixels); pooling layers add ``kernel`` and ``stride``;
        matrix layers (conv, dense) add ``rows`` and ``cols`` of their weight matrix.
        """
        return [
            {
                "name": layer.name,
                "kind": layer.kind,
                "inputs": list(layer.inputs),
                "in_shape": list(self.in_shape(layer)),
                "out_shape": list(self.out_shape(layer)),
                **layer.spec_fields(),
            }
            for layer in self.layers
        ]


class _Builder:
    """Appends layers with zoo naming while tracking the current tensor and its shape."""

    def __init__(self, input_shape: Shape) -> None:
        self.layers: list[Layer] = []
        self.counts: dict[str, int] = {}
        self.shapes: dict[str, Shape] = {INPUT: input_shape}
        self.last = INPUT

    def _name(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}{self.counts[prefix]}"

    def _add(self, layer: Layer) -> str:
        self.shapes[layer.name] = layer.output_shape([self.shapes[s] for s in layer.inputs])
        self.layers.append(layer)
        self.last = layer.name
        return layer.name

    def conv(
        self, cout: int, kernel: int, *, stride: int = 1, padding: int = 0, src: str | None = None,
        prefix: str = "conv",
    ) -> str:
        src = self.last if src is None else src
        cin = self.shapes[src][2]
        return self._add(
            Conv2D(self._name(prefix), [src], cin, cout, kernel, stride=stride, padding=padding)
        )

    def dense(self, out_features: int) -> str:
        (in_features,) = self.shapes[self.last]
        return self._add(Dense(self._name("fc"), [self.last], in_features, out_features))

    def relu(self, src: str | None = None) -> str:
        return self._add(ReLU(self._name("relu"), [self.last if src is None else src]))

    def maxpool(self, kernel: int) -> str:
        return self._add(MaxPool2D(self._name("pool"), [self.last], kernel, stride=kernel))

    def global_avgpool(self) -> str:
        h, w, _ = self.shapes[self.last]
        return self._add(AvgPool2D(self._name("gap"), [self.last], (h, w), stride=max(h, w)))

    def add(self, a: str, b: str) -> str:
        return self._add(Add(self._name("add"), [a, b]))

    def flatten(self) -> str:
        return self._add(Flatten(self._name("flatten"), [self.last]))


def _mlp(b: _Builder) -> None:
    b.flatten()
    b.dense(128)
    b.relu()
    b.dense(10)


def _mlp_wide(b: _Builder) -> None:
    # Wide enough that 90 % block sparsity leaves hundreds of blocks per layer.
    b.flatten()
    b.dense(512)
    b.relu()
    b.dense(256)
    b.relu()
    b.dense(10)


def _lenet_wu(b: _Builder) -> None:
    b.conv(4, 5)
    b.relu()
    b.maxpool(2)
    b.conv(12, 5)
    b.relu()
    b.maxpool(2)
    b.flatten()
    b.dense(10)


def _vgg8_wu(b: _Builder) -> None:
    for channels in (32, 64, 128):
        for _ in range(2):
            b.conv(channels, 3, padding=1)
            b.relu()
        b.maxpool(2)
    b.flatten()
    b.dense(128)
    b.relu()
    b.dense(10)


def _resnet18(b: _Builder) -> None:
    b.conv(64, 3, padding=1)
    b.relu()
    cin = 64
    for stage, channels in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            block_in = b.last
            b.conv(channels, 3, stride=stride, padding=1)
            b.relu()
            main = b.conv(channels, 3, padding=1)
            if stride != 1 or cin != channels:
                shortcut = b.conv(channels, 1, stride=stride, src=block_in, prefix="shortcut")
            else:
                shortcut = block_in
            b.add(main, shortcut)
            b.relu()
            cin = channels
    b.global_avgpool()
    b.flatten()
    b.dense(10)


_ZOO = {
    "mlp": ((28, 28, 1), _mlp),
    "mlp-wide": ((28, 28, 1), _mlp_wide),
    "lenet-wu": ((28, 28, 1), _lenet_wu),
    "vgg8-wu": ((32, 32, 3), _vgg8_wu),
    "resnet18": ((32, 32, 3), _resnet18),
}


def build_model(name: str, rng: np.random.Generator) -> Model:
    """Build a zoo model with He/Kaiming-normal weights.

    Args:
        name: One of :data:`MODEL_NAMES`:
            ``mlp`` (28x28x1: flatten, fc 784->128, relu, fc 128->10);
            ``mlp-wide`` (28x28x1: flatten, fc 784->512, relu, fc 512->256, relu,
            fc 256->10; 535,040 weights, for block-sparse training);
            ``lenet-wu`` (28x28x1, Wu et al. 2023 reconstruction, 3220 weights);
            ``vgg8-wu`` (32x32x3, Wu et al. 2023 reconstruction, 549,984 weights);
            ``resnet18`` (32x32x3 CIFAR ResNet-18, no batch norm, no biases, 11,164,352 weights).
        rng: Source of the initial weights; layers are initialised in topological order.

    Returns:
        A new model producing 10 logits per sample.

    Raises:
        WorkloadError: ``name`` is not a zoo model.
    """
    if name not in _ZOO:
        raise WorkloadError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    input_shape, body = _ZOO[name]
    builder = _Builder(input_shape)
    body(builder)
    model = Model(name, input_shape, builder.layers)
    for layer in model.matrix_layers():
        layer.init_he(rng)
    return model
