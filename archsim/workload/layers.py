"""NumPy network layers with forward and backward passes (workload stage).

Tensors are float32 in HWC layout with a leading batch axis: images are ``(B, H, W, C)``,
feature vectors ``(B, F)``. Shapes passed to and returned by :meth:`Layer.output_shape` leave
the batch axis out.

Layers are functional: :meth:`Layer.forward` returns the output together with a cache that
:meth:`Layer.backward` needs, so a layer holds no per-batch state. Matrix layers (:class:`Dense`,
:class:`Conv2D`) own one weight matrix of shape ``(rows, cols)`` = (inputs K, outputs N), the
shape that is mapped onto crossbars; they have no bias so that ``rows`` is exactly the length of
the vector applied to the array.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from archsim.errors import WorkloadError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Gradients:
    """Result of one layer's backward pass.

    Attributes:
        inputs: Gradient of the loss with respect to each input tensor, in the order of
            :attr:`Layer.inputs`.
        params: Gradient with respect to each trainable parameter, keyed like
            :meth:`Layer.params`; empty for layers without parameters.
    """

    inputs: tuple[np.ndarray, ...]
    params: dict[str, np.ndarray] = field(default_factory=dict)


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        pair = tuple(int(v) for v in value)  # type: ignore[assignment]
    if len(pair) != 2 or min(pair) < 1:
        raise WorkloadError(f"{what}: must be a positive int or a pair of them, got {value!r}")
    return pair


def conv_output_hw(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: int, padding: int
) -> tuple[int, int]:
    """Output height and width of a sliding window over an ``in_hw`` image.

    Args:
        in_hw: Input height and width, in pixels.
        kernel: Window height and width, in pixels.
        stride: Step between windows, in pixels (both axes).
        padding: Zero padding added on every border, in pixels.

    Returns:
        (H_out, W_out); each is ``(H + 2 padding - k) // stride + 1``.
    """
    return (
        (in_hw[0] + 2 * padding - kernel[0]) // stride + 1,
        (in_hw[1] + 2 * padding - kernel[1]) // stride + 1,
    )


def im2col(
    x: np.ndarray, kernel: tuple[int, int], stride: int, padding: int
) -> np.ndarray:
    """Unfold sliding windows of an HWC batch into vectors.

    Args:
        x: Batch of images, shape ``(B, H, W, C)``; any dtype.
        kernel: Window (kh, kw), in pixels.
        stride: Window step, in pixels.
        padding: Zero padding on every border, in pixels; padded positions are zeros.

    Returns:
        Array of shape ``(B, H_out, W_out, kh * kw * C)`` with the same dtype as ``x``. The last
        axis is ordered (kh, kw, C), matching the rows of :attr:`Conv2D.weight`.
    """
    kh, kw = kernel
    b, h, w, c = x.shape
    ho, wo = conv_output_hw((h, w), kernel, stride, padding)
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = np.empty((b, ho, wo, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[
                :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride, :
            ]
    return cols.reshape(b, ho, wo, kh * kw * c)


def col2im(
    cols: np.ndarray,
    in_shape: Shape,
    kernel: tuple[int, int],
    stride: int,
    padding: int,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum window vectors back onto the image they came from.

    Args:
        cols: Window vectors, shape ``(B, H_out, W_out, kh * kw * C)``.
        in_shape: Image shape without batch, ``(H, W, C)``.
        kernel: Window (kh, kw), in pixels.
        stride: Window step, in pixels.
        padding: Zero padding on every border, in pixels (dropped from the result).

    Returns:
        Array of shape ``(B, H, W, C)``.
    """
    kh, kw = kernel
    h, w, c = in_shape
    b, ho, wo, _ = cols.shape
    cols = cols.reshape(b, ho, wo, kh, kw, c)
    out = np.zeros((b, h + 2 * padding, w + 2 * padding, c), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[
                :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride, :
            ] += cols[:, :, :, i, j, :]
    if padding:
        out = out[:, padding:-padding, padding:-padding, :]
    return out


class Layer(ABC):
    """One node of a network DAG.

    Attributes:
        name: Unique name within its model.
        inputs: Names of the layers feeding this one (``"input"`` is the network input).
        kind: Short type string used in specs and traces.
    """

    kind: ClassVar[str]
    arity: ClassVar[int] = 1

    def __init__(self, name: str, inputs: Sequence[str]) -> None:
        if not name:
            raise WorkloadError("layer.name: must be a non-empty string")
        inputs = tuple(inputs)
        if len(inputs) != self.arity and self.arity > 0:
            raise WorkloadError(
                f"layer '{name}'.inputs: {self.kind} takes {self.arity} input(s), got {len(inputs)}"
            )
        self.name = name
        self.inputs: tuple[str, ...] = inputs

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, inputs={self.inputs!r})"

    @abstractmethod
    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        """Output shape (without batch) for the given input shapes; WorkloadError if invalid."""

    @abstractmethod
    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        """Compute the output for a batch.

        Args:
            xs: One batched array per entry of :attr:`inputs`.

        Returns:
            (output, cache); pass the cache unchanged to :meth:`backward`.
        """

    @abstractmethod
    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        """Back-propagate ``grad_out`` (gradient w.r.t. the output) through this layer.

        Args:
            cache: Second element returned by :meth:`forward` for the same batch.
            grad_out: Gradient of the loss w.r.t. this layer's output.
            need_inputs: Compute input gradients; when False, ``Gradients.inputs`` is empty
                (saves the work for layers fed only by the network input).
        """

    def params(self) -> dict[str, np.ndarray]:
        """Trainable parameters by name; arrays are updated in place by trainers."""
        return {}

    def spec_fields(self) -> dict[str, Any]:
        """Kind-specific, JSON-serialisable fields of :meth:`Model.spec` entries."""
        return {}


class MatrixLayer(Layer):
    """A layer computed as vector-matrix products with one weight matrix (mapped to crossbars).

    Attributes:
        weight: float32 array of shape ``(rows, cols)``: rows = input vector length K,
            cols = number of outputs N.
    """

    def __init__(self, name: str, inputs: Sequence[str], rows: int, cols: int) -> None:
        super().__init__(name, inputs)
        if rows < 1 or cols < 1:
            raise WorkloadError(f"layer '{name}': weight shape must be positive, got {rows}x{cols}")
        self.weight = np.zeros((rows, cols), dtype=np.float32)

    @property
    def rows(self) -> int:
        """Length K of each input vector (crossbar rows used)."""
        return int(self.weight.shape[0])

    @property
    def cols(self) -> int:
        """Number N of outputs per vector (crossbar columns used, one per signed weight)."""
        return int(self.weight.shape[1])

    def init_he(self, rng: np.random.Generator) -> None:
        """Draw weights from He/Kaiming normal, std = sqrt(2 / rows)."""
        std = np.sqrt(2.0 / self.rows)
        draw = rng.standard_normal(self.weight.shape, dtype=np.float32)
        self.weight[...] = draw * np.float32(std)

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight}

    def spec_fields(self) -> dict[str, Any]:
        return {"rows": self.rows, "cols": self.cols}


class Dense(MatrixLayer):
    """Fully connected layer without bias: ``y = x @ weight``, x of shape ``(B, rows)``."""

    kind = "dense"

    def __init__(
        self, name: str, inputs: Sequence[str], in_features: int, out_features: int
    ) -> None:
        super().__init__(name, inputs, in_features, out_features)

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        (shape,) = in_shapes
        if tuple(shape) != (self.rows,):
            raise WorkloadError(
                f"layer '{self.name}': expects input shape ({self.rows},), got {tuple(shape)}"
            )
        return (self.cols,)

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        return x @ self.weight, x

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        x = cache
        d_x = (grad_out @ self.weight.T,) if need_inputs else ()
        return Gradients(inputs=d_x, params={"weight": x.T @ grad_out})


class Conv2D(MatrixLayer):
    """2-D convolution without bias on HWC tensors, computed as im2col x weight.

    ``weight`` has shape ``(kh * kw * cin, cout)`` with rows ordered (kh, kw, cin). Each output
    pixel is one vector (window) of length ``rows`` applied to the matrix.
    """

    kind = "conv"

    def __init__(
        self,
        name: str,
        inputs: Sequence[str],
        in_channels: int,
        out_channels: int,
        kernel: int | Sequence[int],
        *,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        self.kernel = _pair(kernel, f"layer '{name}'.kernel")
        if stride < 1:
            raise WorkloadError(f"layer '{name}'.stride: must be >= 1, got {stride}")
        if padding < 0:
            raise WorkloadError(f"layer '{name}'.padding: must be >= 0, got {padding}")
        self.in_channels = int(in_channels)
        self.stride = int(stride)
        self.padding = int(padding)
        super().__init__(
            name, inputs, self.kernel[0] * self.kernel[1] * self.in_channels, out_channels
        )

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        (shape,) = in_shapes
        if len(shape) != 3 or shape[2] != self.in_channels:
            raise WorkloadError(
                f"layer '{self.name}': expects (H, W, {self.in_channels}) input, got {tuple(shape)}"
            )
        ho, wo = conv_output_hw((shape[0], shape[1]), self.kernel, self.stride, self.padding)
        if ho < 1 or wo < 1:
            raise WorkloadError(f"layer '{self.name}': input {tuple(shape)} smaller than kernel")
        return (ho, wo, self.cols)

    def windows(self, in_shape: Shape) -> int:
        """Number of output pixels (input vectors) per sample for an ``(H, W, C)`` input."""
        ho, wo = conv_output_hw((in_shape[0], in_shape[1]), self.kernel, self.stride, self.padding)
        return ho * wo

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        cols = im2col(x, self.kernel, self.stride, self.padding)
        b, ho, wo, k = cols.shape
        y = (cols.reshape(-1, k) @ self.weight).reshape(b, ho, wo, self.cols)
        return y, (cols, x.shape[1:])

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        cols, in_shape = cache
        k = cols.shape[-1]
        g = grad_out.reshape(-1, self.cols)
        d_weight = cols.reshape(-1, k).T @ g
        if not need_inputs:
            return Gradients(inputs=(), params={"weight": d_weight})
        d_cols = (g @ self.weight.T).reshape(cols.shape)
        d_x = col2im(d_cols, in_shape, self.kernel, self.stride, self.padding)
        return Gradients(inputs=(d_x,), params={"weight": d_weight})

    def spec_fields(self) -> dict[str, Any]:
        return {
            "kernel": list(self.kernel),
            "stride": self.stride,
            "padding": self.padding,
            **super().spec_fields(),
        }


class _Pool2D(Layer):
    """Shared window handling of the pooling layers (no padding)."""

    def __init__(
        self,
        name: str,
        inputs: Sequence[str],
        kernel: int | Sequence[int],
        *,
        stride: int | None = None,
    ) -> None:
        super().__init__(name, inputs)
        self.kernel = _pair(kernel, f"layer '{name}'.kernel")
        self.stride = int(self.kernel[0] if stride is None else stride)
        if self.stride < 1:
            raise WorkloadError(f"layer '{name}'.stride: must be >= 1, got {self.stride}")

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        (shape,) = in_shapes
        if len(shape) != 3:
            raise WorkloadError(f"layer '{self.name}': expects (H, W, C) input, got {tuple(shape)}")
        ho, wo = conv_output_hw((shape[0], shape[1]), self.kernel, self.stride, 0)
        if ho < 1 or wo < 1:
            raise WorkloadError(f"layer '{self.name}': input {tuple(shape)} smaller than kernel")
        return (ho, wo, shape[2])

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """Windows of ``x`` as ``(B, H_out, W_out, kh * kw, C)``."""
        cols = im2col(x, self.kernel, self.stride, 0)
        b, ho, wo, _ = cols.shape
        return cols.reshape(b, ho, wo, self.kernel[0] * self.kernel[1], x.shape[3])

    def spec_fields(self) -> dict[str, Any]:
        return {"kernel": list(self.kernel), "stride": self.stride}


class MaxPool2D(_Pool2D):
    """Max pooling over ``kernel`` windows moved by ``stride`` (default: the kernel height)."""

    kind = "maxpool"

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        win = self._windows(x)
        arg = win.argmax(axis=3)
        y = np.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]
        return y, (arg, x.shape)

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        if not need_inputs:
            return Gradients(inputs=())
        arg, in_shape = cache
        kk = self.kernel[0] * self.kernel[1]
        onehot = arg[:, :, :, None, :] == np.arange(kk)[None, None, None, :, None]
        d_win = onehot * grad_out[:, :, :, None, :]
        b, ho, wo = grad_out.shape[:3]
        d_cols = d_win.astype(grad_out.dtype).reshape(b, ho, wo, -1)
        return Gradients(inputs=(col2im(d_cols, in_shape[1:], self.kernel, self.stride, 0),))


class AvgPool2D(_Pool2D):
    """Average pooling; a kernel equal to the input's (H, W) is global average pooling."""

    kind = "avgpool"

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        return self._windows(x).mean(axis=3), x.shape

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        if not need_inputs:
            return Gradients(inputs=())
        in_shape = cache
        kk = self.kernel[0] * self.kernel[1]
        d_win = np.broadcast_to(
            (grad_out / np.float32(kk))[:, :, :, None, :],
            grad_out.shape[:3] + (kk, grad_out.shape[3]),
        )
        d_cols = d_win.reshape(grad_out.shape[:3] + (-1,))
        return Gradients(inputs=(col2im(d_cols, in_shape[1:], self.kernel, self.stride, 0),))


class ReLU(Layer):
    """Rectified linear unit, ``max(x, 0)`` element-wise."""

    kind = "relu"

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        (shape,) = in_shapes
        return tuple(shape)

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        mask = x > 0
        return x * mask, mask

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        if not need_inputs:
            return Gradients(inputs=())
        return Gradients(inputs=(grad_out * cache,))


class Add(Layer):
    """Element-wise sum of two or more equally shaped inputs (residual connections)."""

    kind = "add"
    arity = 0

    def __init__(self, name: str, inputs: Sequence[str]) -> None:
        super().__init__(name, inputs)
        if len(self.inputs) < 2:
            raise WorkloadError(f"layer '{name}'.inputs: add takes at least 2 inputs")

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        first = tuple(in_shapes[0])
        for shape in in_shapes[1:]:
            if tuple(shape) != first:
                raise WorkloadError(
                    f"layer '{self.name}': inputs must have equal shapes, got "
                    + ", ".join(str(tuple(s)) for s in in_shapes)
                )
        return first

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return y, len(xs)

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        if not need_inputs:
            return Gradients(inputs=())
        return Gradients(inputs=(grad_out,) * cache)


class Flatten(Layer):
    """Reshape ``(B, H, W, C)`` to ``(B, H * W * C)`` in HWC order."""

    kind = "flatten"

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        (shape,) = in_shapes
        return (int(np.prod(shape)),)

    def forward(self, xs: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
        (x,) = xs
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, cache: Any, grad_out: np.ndarray, *, need_inputs: bool = True) -> Gradients:
        if not need_inputs:
            return Gradients(inputs=())
        return Gradients(inputs=(grad_out.reshape(cache),))
