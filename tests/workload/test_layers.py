"""Workload stage: NumPy layers against naive references and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.errors import WorkloadError
from archsim.workload.layers import (
    Add,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    col2im,
    im2col,
)


def naive_conv(x: np.ndarray, w: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """Direct loop convolution, HWC, weights (k*k*cin, cout) ordered (kh, kw, cin)."""
    b, h, wd, cin = x.shape
    cout = w.shape[1]
    w4 = w.reshape(k, k, cin, cout)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho = (h + 2 * pad - k) // stride + 1
    wo = (wd + 2 * pad - k) // stride + 1
    y = np.zeros((b, ho, wo, cout))
    for n in range(b):
        for i in range(ho):
            for j in range(wo):
                for o in range(cout):
                    acc = 0.0
                    for di in range(k):
                        for dj in range(k):
                            for c in range(cin):
                                acc += xp[n, i * stride + di, j * stride + dj, c] * w4[di, dj, c, o]
                    y[n, i, j, o] = acc
    return y


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 2),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_conv_forward_matches_naive_loop(
    b: int, h: int, w: int, cin: int, cout: int, k: int, stride: int, pad: int, seed: int
) -> None:
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    rng = np.random.default_rng(seed)
    layer = Conv2D("c", ["input"], cin, cout, k, stride=stride, padding=pad)
    layer.weight = rng.standard_normal((k * k * cin, cout))
    x = rng.standard_normal((b, h, w, cin))
    y, _ = layer.forward([x])
    assert y.shape == (b,) + layer.output_shape([(h, w, cin)])
    np.testing.assert_allclose(y, naive_conv(x, layer.weight, k, stride, pad), atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(2, 6),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_col2im_is_adjoint_of_im2col(h: int, k: int, stride: int, pad: int, seed: int) -> None:
    """<im2col(x), c> == <x, col2im(c)>: backward scatters exactly what forward gathered."""
    if h + 2 * pad < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, h + 1, 3))
    cols = im2col(x, (k, k), stride, pad)
    c = rng.standard_normal(cols.shape)
    lhs = float((cols * c).sum())
    rhs = float((x * col2im(c, x.shape[1:], (k, k), stride, pad)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


def numeric_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of scalar f() w.r.t. array a (perturbed in place, restored)."""
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = a[idx]
        a[idx] = old + eps
        fp = f()
        a[idx] = old - eps
        fm = f()
        a[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def check_gradients(layer: Layer, xs: list[np.ndarray], rng: np.random.Generator) -> None:
    """Analytic input and parameter gradients equal numerical ones for loss = sum(y * r)."""
    y, _ = layer.forward(xs)
    r = rng.standard_normal(y.shape)

    def loss() -> float:
        return float((layer.forward(xs)[0] * r).sum())

    _, cache = layer.forward(xs)
    grads = layer.backward(cache, r)
    for x, gx in zip(xs, grads.inputs):
        np.testing.assert_allclose(gx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for pname, p in layer.params().items():
        np.testing.assert_allclose(grads.params[pname], numeric_grad(loss, p), rtol=1e-6, atol=1e-8)


def test_dense_gradients_match_numerical() -> None:
    rng = np.random.default_rng(0)
    layer = Dense("fc", ["input"], 5, 3)
    layer.weight = rng.standard_normal((5, 3))
    check_gradients(layer, [rng.standard_normal((4, 5))], rng)


@pytest.mark.parametrize("k,stride,pad", [(3, 1, 1), (2, 2, 0), (3, 2, 1), (1, 2, 0)])
def test_conv_gradients_match_numerical(k: int, stride: int, pad: int) -> None:
    rng = np.random.default_rng(1)
    layer = Conv2D("c", ["input"], 2, 3, k, stride=stride, padding=pad)
    layer.weight = rng.standard_normal((k * k * 2, 3))
    check_gradients(layer, [rng.standard_normal((2, 5, 4, 2))], rng)


def test_pool_relu_add_flatten_gradients_match_numerical() -> None:
    rng = np.random.default_rng(2)
    # Distinct values keep max pooling differentiable at the test point.
    x = rng.permutation(2 * 4 * 6 * 2).reshape(2, 4, 6, 2).astype(np.float64) / 10
    check_gradients(MaxPool2D("p", ["input"], 2), [x.copy()], rng)
    check_gradients(MaxPool2D("p", ["input"], 3, stride=1), [x.copy()], rng)
    check_gradients(AvgPool2D("a", ["input"], 2), [x.copy()], rng)
    check_gradients(AvgPool2D("g", ["input"], (4, 6)), [x.copy()], rng)
    check_gradients(ReLU("r", ["input"]), [x - 2.45], rng)
    check_gradients(Add("s", ["a", "b"]), [x.copy(), rng.standard_normal(x.shape)], rng)
    check_gradients(Flatten("f", ["input"]), [x.copy()], rng)


def test_pools_match_naive() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 4, 3))
    y_max, _ = MaxPool2D("p", ["input"], 2).forward([x])
    y_avg, _ = AvgPool2D("a", ["input"], 2).forward([x])
    blocks = x.reshape(2, 3, 2, 2, 2, 3)
    np.testing.assert_allclose(y_max, blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(y_avg, blocks.mean(axis=(2, 4)))
    gap = AvgPool2D("g", ["input"], (6, 4))
    assert gap.output_shape([(6, 4, 3)]) == (1, 1, 3)
    np.testing.assert_allclose(gap.forward([x])[0][:, 0, 0, :], x.mean(axis=(1, 2)))


def test_flatten_is_hwc_order() -> None:
    x = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4)
    y, _ = Flatten("f", ["input"]).forward([x])
    np.testing.assert_array_equal(y[1], x[1].ravel())


def test_matrix_shapes() -> None:
    conv = Conv2D("c", ["input"], 4, 12, 5)
    assert (conv.rows, conv.cols) == (100, 12)
    assert conv.windows((12, 12, 4)) == 64
    dense = Dense("d", ["input"], 192, 10)
    assert (dense.rows, dense.cols) == (192, 10)
    assert conv.spec_fields() == {
        "kernel": [5, 5], "stride": 1, "padding": 0, "rows": 100, "cols": 12,
    }


def test_invalid_layers_raise_workload_error() -> None:
    with pytest.raises(WorkloadError, match="add takes at least 2 inputs"):
        Add("s", ["a"])
    with pytest.raises(WorkloadError, match="kernel"):
        Conv2D("c", ["input"], 1, 1, 0)
    with pytest.raises(WorkloadError, match="stride"):
        MaxPool2D("p", ["input"], 2, stride=0)
    with pytest.raises(WorkloadError, match="takes 1 input"):
        ReLU("r", ["a", "b"])
    with pytest.raises(WorkloadError, match="expects input shape"):
        Dense("d", ["input"], 3, 2).output_shape([(4,)])
    with pytest.raises(WorkloadError, match="smaller than kernel"):
        Conv2D("c", ["input"], 1, 1, 5).output_shape([(3, 3, 1)])
    with pytest.raises(WorkloadError, match="equal shapes"):
        Add("s", ["a", "b"]).output_shape([(2, 2, 1), (2, 2, 2)])
