"""A small vision transformer in NumPy, trained on the digits (workload stage; issue 13).

``vit-tiny`` cuts each 28x28 digit (:func:`archsim.workload.data.load_digits_28`) into 16
patches of 7x7 pixels, the tokens. Each token is embedded into ``width`` features (a linear
layer) with a learned position embedding, then goes through ``layers`` pre-norm encoder
blocks:

* ``a = LayerNorm(x)``; ``Q, K, V = a W_Q, a W_K, a W_V``, split into ``heads`` heads;
  per head ``P = softmax(Q K^T / sqrt(d_head))`` and ``P V`` (the two *dynamic* matrix
  products: neither operand is a stored weight); the heads concatenated times ``W_O``; added
  to ``x`` (residual);
* ``b = LayerNorm(x)``; ``GELU(b W_1 + b_1) W_2 + b_2`` (tanh form of GELU); added to ``x``.

A final LayerNorm, the mean over the tokens and a linear classifier give 10 logits. Every
operation's backward pass is written out (:meth:`VisionTransformer.backward`) and the model
trains with Adam on cross-entropy, with seeded initialisation and batches; BLAS is held to
one thread so that results do not depend on the machine.

The weight matrices are named ``embed``, ``block{l}.{q,k,v,o,ffn1,ffn2}`` and ``head``
(:meth:`VisionTransformer.linear_layers`); these are what an analog array would hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.train import softmax_cross_entropy

__all__ = ["ViTConfig", "VisionTransformer", "train_vit"]

#: ``linear(name, x)``: ``x @ W`` for the weight matrix ``name`` (see
#: :meth:`VisionTransformer.forward`).
Linear = Callable[[str, np.ndarray], np.ndarray]

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = 0.044715
_LN_EPS = 1e-5


@dataclass(frozen=True)
class ViTConfig:
    """The shape of a vision transformer: images of ``side`` x ``side`` pixels in patches of
    ``patch`` x ``patch`` (the tokens), ``width`` features per token, ``heads`` attention
    heads, ``layers`` encoder blocks with a ``hidden``-wide feed-forward, ``classes`` logits."""

    side: int = 28
    patch: int = 7
    width: int = 32
    heads: int = 2
    layers: int = 2
    hidden: int = 64
    classes: int = 10

    def __post_init__(self) -> None:
        if self.side % self.patch:
            raise WorkloadError(f"patches of {self.patch} do not tile a {self.side}-pixel side")
        if self.width % self.heads:
            raise WorkloadError(f"{self.width} features do not split into {self.heads} heads")

    @property
    def tokens(self) -> int:
        return (self.side // self.patch) ** 2


def _gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x ** 3))
    return 0.5 * x * (1.0 + t), t


def _gelu_back(x: np.ndarray, t: np.ndarray, grad: np.ndarray) -> np.ndarray:
    dt = (1.0 - t ** 2) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x ** 2)
    return grad * (0.5 * (1.0 + t) + 0.5 * x * dt)


def _layernorm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, tuple]:
    centred = x - x.mean(-1, keepdims=True)
    inverse = 1.0 / np.sqrt(centred.var(-1, keepdims=True) + _LN_EPS)
    normed = centred * inverse
    return normed * gain + bias, (normed, inverse)


def _layernorm_back(cache: tuple, gain: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, ...]:
    normed, inverse = cache
    n = normed.shape[-1]
    d_normed = grad * gain
    dx = inverse / n * (
        n * d_normed - d_normed.sum(-1, keepdims=True)
        - normed * (d_normed * normed).sum(-1, keepdims=True)
    )
    return dx, (grad * normed).reshape(-1, n).sum(0), grad.reshape(-1, n).sum(0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class VisionTransformer:
    """The model's parameters (``params``, by name) with its forward and backward passes."""

    def __init__(self, config: ViTConfig, rng: np.random.Generator) -> None:
        self.config = config
        c = config

        def weight(rows: int, cols: int) -> np.ndarray:
            return rng.standard_normal((rows, cols)) * np.sqrt(1.0 / rows)

        params: dict[str, np.ndarray] = {
            "embed": weight(c.patch * c.patch, c.width), "embed.bias": np.zeros(c.width),
            "position": rng.standard_normal((c.tokens, c.width)) * 0.02,
        }
        for layer in range(c.layers):
            block = f"block{layer}"
            params |= {
                f"{block}.ln1.gain": np.ones(c.width), f"{block}.ln1.bias": np.zeros(c.width),
                f"{block}.q": weight(c.width, c.width), f"{block}.k": weight(c.width, c.width),
                f"{block}.v": weight(c.width, c.width), f"{block}.o": weight(c.width, c.width),
                f"{block}.ln2.gain": np.ones(c.width), f"{block}.ln2.bias": np.zeros(c.width),
                f"{block}.ffn1": weight(c.width, c.hidden),
                f"{block}.ffn1.bias": np.zeros(c.hidden),
                f"{block}.ffn2": weight(c.hidden, c.width),
                f"{block}.ffn2.bias": np.zeros(c.width),
            }
        params |= {
            "final.gain": np.ones(c.width), "final.bias": np.zeros(c.width),
            "head": weight(c.width, c.classes), "head.bias": np.zeros(c.classes),
        }
        self.params = params

    def linear_layers(self) -> tuple[str, ...]:
        """The names of the weight matrices, in the order the forward pass uses them."""
        names = ["embed"]
        for layer in range(self.config.layers):
            names += [f"block{layer}.{part}" for part in ("q", "k", "v", "o", "ffn1", "ffn2")]
        return (*names, "head")

    def tokens(self, images: np.ndarray) -> np.ndarray:
        """``(N, side, side[, 1])`` images as ``(N, tokens, patch^2)`` patches, row-major."""
        c = self.config
        n, per = images.shape[0], c.side // c.patch
        grid = images.reshape(n, per, c.patch, per, c.patch).transpose(0, 1, 3, 2, 4)
        return grid.reshape(n, c.tokens, c.patch * c.patch)

    def forward(
        self, images: np.ndarray, linear: Linear | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The logits ``(N, classes)`` and what the backward pass needs. ``linear(name, x)``
        computes ``x @ params[name]`` for every weight matrix (default: exactly; a model of
        hardware may compute it on its arrays instead)."""
        p, c = self.params, self.config
        mul = linear if linear is not None else (lambda name, x: x @ p[name])
        patches = self.tokens(images)
        x = mul("embed", patches) + p["embed.bias"] + p["position"]
        n, t, d = x.shape
        heads, dh = c.heads, d // c.heads
        cache: dict[str, Any] = {"patches": patches}
        for layer in range(c.layers):
            block = f"block{layer}"
            a, ln1 = _layernorm(x, p[f"{block}.ln1.gain"], p[f"{block}.ln1.bias"])
            q, k, v = (
                mul(f"{block}.{m}", a).reshape(n, t, heads, dh).transpose(0, 2, 1, 3)
                for m in ("q", "k", "v")
            )
            attention = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh))
            mixed = (attention @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
            x1 = x + mul(f"{block}.o", mixed)
            b, ln2 = _layernorm(x1, p[f"{block}.ln2.gain"], p[f"{block}.ln2.bias"])
            h = mul(f"{block}.ffn1", b) + p[f"{block}.ffn1.bias"]
            g, gt = _gelu(h)
            cache[block] = (a, ln1, q, k, v, attention, mixed, b, ln2, h, g, gt)
            x = x1 + mul(f"{block}.ffn2", g) + p[f"{block}.ffn2.bias"]
        final, lnf = _layernorm(x, p["final.gain"], p["final.bias"])
        pooled = final.mean(1)
        cache["final"] = (lnf, pooled, t)
        return mul("head", pooled) + p["head.bias"], cache

    def backward(self, cache: dict[str, Any], d_logits: np.ndarray) -> dict[str, np.ndarray]:
        """The gradients of every parameter, given the loss's gradient w.r.t. the logits."""
        p, c = self.params, self.config
        grads: dict[str, np.ndarray] = {}
        lnf, pooled, t = cache["final"]
        grads["head"] = pooled.T @ d_logits
        grads["head.bias"] = d_logits.sum(0)
        d_final = np.repeat((d_logits @ p["head"].T)[:, None, :] / t, t, axis=1)
        dx, grads["final.gain"], grads["final.bias"] = _layernorm_back(
            lnf, p["final.gain"], d_final
        )
        n, _, d = dx.shape
        heads, dh = c.heads, d // c.heads

        def rows(z: np.ndarray) -> np.ndarray:
            return z.reshape(-1, z.shape[-1])

        def merged(z: np.ndarray) -> np.ndarray:
            return z.transpose(0, 2, 1, 3).reshape(n, t, d)

        for layer in reversed(range(c.layers)):
            block = f"block{layer}"
            a, ln1, q, k, v, attention, mixed, b, ln2, h, g, gt = cache[block]
            grads[f"{block}.ffn2"] = rows(g).T @ rows(dx)
            grads[f"{block}.ffn2.bias"] = rows(dx).sum(0)
            dh_ = _gelu_back(h, gt, dx @ p[f"{block}.ffn2"].T)
            grads[f"{block}.ffn1"] = rows(b).T @ rows(dh_)
            grads[f"{block}.ffn1.bias"] = rows(dh_).sum(0)
            d_norm2, grads[f"{block}.ln2.gain"], grads[f"{block}.ln2.bias"] = _layernorm_back(
                ln2, p[f"{block}.ln2.gain"], dh_ @ p[f"{block}.ffn1"].T
            )
            dx1 = dx + d_norm2
            grads[f"{block}.o"] = rows(mixed).T @ rows(dx1)
            d_mixed = (dx1 @ p[f"{block}.o"].T).reshape(n, t, heads, dh).transpose(0, 2, 1, 3)
            d_attention = d_mixed @ v.transpose(0, 1, 3, 2)
            dv = attention.transpose(0, 1, 3, 2) @ d_mixed
            d_scores = attention * (
                d_attention - (d_attention * attention).sum(-1, keepdims=True)
            ) / np.sqrt(dh)
            dq = merged(d_scores @ k)
            dk = merged(d_scores.transpose(0, 1, 3, 2) @ q)
            dv = merged(dv)
            da = np.zeros_like(dx)
            for name, dm in (("q", dq), ("k", dk), ("v", dv)):
                grads[f"{block}.{name}"] = rows(a).T @ rows(dm)
                da += dm @ p[f"{block}.{name}"].T
            d_norm1, grads[f"{block}.ln1.gain"], grads[f"{block}.ln1.bias"] = _layernorm_back(
                ln1, p[f"{block}.ln1.gain"], da
            )
            dx = dx1 + d_norm1
        grads["position"] = dx.sum(0)
        grads["embed"] = rows(cache["patches"]).T @ rows(dx)
        grads["embed.bias"] = rows(dx).sum(0)
        return grads

    def loss_and_gradients(
        self, images: np.ndarray, labels: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy over the batch and every parameter's gradient."""
        logits, cache = self.forward(images)
        loss, d_logits = softmax_cross_entropy(logits, labels)
        return loss, self.backward(cache, d_logits)

    def accuracy(
        self, images: np.ndarray, labels: np.ndarray, linear: Linear | None = None
    ) -> float:
        """The fraction of ``images`` classified as ``labels`` (``linear``: as
        :meth:`forward`)."""
        logits, _ = self.forward(images, linear)
        return float(np.mean(np.argmax(logits, axis=1) == labels))


def train_vit(
    config: ViTConfig = ViTConfig(), *, seed: int = 0, epochs: int = 20, batch: int = 32,
    lr: float = 3e-3,
) -> tuple[VisionTransformer, float]:
    """Train a vision transformer on the digits' training split with Adam (betas 0.9 and
    0.999) from seed ``seed``; return it and its accuracy on the test split."""
    from threadpoolctl import threadpool_limits

    from archsim.workload.data import load_digits_28

    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = load_digits_28(rng)
    x_train, x_test = x_train[..., 0].astype(np.float64), x_test[..., 0].astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        model = VisionTransformer(config, rng)
        first = {name: np.zeros_like(value) for name, value in model.params.items()}
        second = {name: np.zeros_like(value) for name, value in model.params.items()}
        step = 0
        for _ in range(epochs):
            order = rng.permutation(len(y_train))
            for start in range(0, len(order), batch):
                chosen = order[start:start + batch]
                _, grads = model.loss_and_gradients(x_train[chosen], y_train[chosen])
                step += 1
                for name, value in model.params.items():
                    first[name] = 0.9 * first[name] + 0.1 * grads[name]
                    second[name] = 0.999 * second[name] + 0.001 * grads[name] ** 2
                    mean = first[name] / (1.0 - 0.9 ** step)
                    spread = second[name] / (1.0 - 0.999 ** step)
                    value -= lr * mean / (np.sqrt(spread) + 1e-8)
        accuracy = model.accuracy(x_test, y_test)
    return model, accuracy
