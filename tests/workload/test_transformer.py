"""The NumPy vision transformer (issue 13): its backward pass against finite differences, its
attention, its determinism and its accuracy on the digits."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.errors import WorkloadError
from archsim.workload.transformer import VisionTransformer, ViTConfig, train_vit

SMALL = ViTConfig(side=8, patch=2, width=8, heads=2, layers=2, hidden=12)


def test_every_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = VisionTransformer(SMALL, rng)
    images, labels = rng.random((3, 8, 8)), np.array([1, 2, 3])
    _, grads = model.loss_and_gradients(images, labels)
    assert set(grads) == set(model.params)
    step, worst = 1e-5, 0.0
    for name, value in model.params.items():
        for _ in range(2):
            index = tuple(int(rng.integers(0, size)) for size in value.shape)
            old = value[index]
            value[index] = old + step
            up, _ = model.loss_and_gradients(images, labels)
            value[index] = old - step
            down, _ = model.loss_and_gradients(images, labels)
            value[index] = old
            numeric = (up - down) / (2 * step)
            analytic = grads[name][index]
            worst = max(worst, abs(numeric - analytic) / max(1e-7, abs(numeric) + abs(analytic)))
    assert worst < 1e-5


def test_attention_rows_are_distributions_and_the_shapes_follow_the_config():
    model = VisionTransformer(SMALL, np.random.default_rng(2))
    logits, cache = model.forward(np.random.default_rng(3).random((4, 8, 8)))
    assert logits.shape == (4, 10)
    attention = cache["block0"][5]
    assert attention.shape == (4, 2, 16, 16)
    assert np.allclose(attention.sum(-1), 1.0)
    assert model.linear_layers() == (
        "embed", "block0.q", "block0.k", "block0.v", "block0.o", "block0.ffn1", "block0.ffn2",
        "block1.q", "block1.k", "block1.v", "block1.o", "block1.ffn1", "block1.ffn2", "head",
    )


@pytest.mark.parametrize("fields", [{"side": 28, "patch": 5}, {"width": 30, "heads": 4}])
def test_a_shape_that_does_not_divide_is_refused(fields):
    with pytest.raises(WorkloadError):
        ViTConfig(**fields)


def test_training_is_deterministic():
    config = ViTConfig(width=8, hidden=8, layers=1)
    first, a = train_vit(config, seed=5, epochs=1)
    second, b = train_vit(config, seed=5, epochs=1)
    assert a == b
    assert all(np.array_equal(first.params[k], second.params[k]) for k in first.params)


def test_vit_tiny_learns_the_digits():
    """2 layers, 2 heads, 32 features, 16 tokens of 7x7 pixels: above 90 % on the test
    split in 20 epochs (about 10 s on one core)."""
    _, accuracy = train_vit(ViTConfig(), seed=0, epochs=20)
    assert accuracy > 0.9
