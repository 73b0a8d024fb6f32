"""Input data for the model zoo (workload stage).

Everything here works offline. The 28x28 models (``mlp``, ``lenet-wu``) use scikit-learn's bundled
handwritten-digits set (UCI "Optical Recognition of Handwritten Digits", 1797 images of 8x8
pixels, values 0..16, shipped inside scikit-learn as ``sklearn.datasets.load_digits``), rescaled
to [0, 1] and resized to 28x28 by bilinear interpolation. There is no offline CIFAR-10, so the
32x32x3 models (``vgg8-wu``, ``resnet18``) get :func:`synthetic_images`, which only serve
shape-driven traces (layer sizes, vector counts), not accuracy figures.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from archsim.errors import WorkloadError

DIGITS_DATASET = "sklearn-digits-28x28"
"""Name recorded for the resized scikit-learn digits data set."""

DIGITS_TEST_FRACTION = 0.2
"""Fraction of each class held out for testing by :func:`load_digits_28`."""


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear map that resamples a length-``n_in`` signal to ``n_out`` samples, bilinear.

    Uses half-pixel centres (output sample ``i`` sits at input coordinate
    ``(i + 0.5) * n_in / n_out - 0.5``), clamped at the borders, as PIL and OpenCV do.

    Returns:
        float32 array of shape ``(n_out, n_in)`` whose rows sum to 1.
    """
    if n_in < 1 or n_out < 1:
        raise WorkloadError(f"bilinear_matrix: sizes must be >= 1, got {n_in} -> {n_out}")
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m.astype(np.float32)


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a batch of single-channel images with bilinear interpolation.

    Args:
        images: Array ``(N, H, W)``.
        size: Output (height, width), in pixels.

    Returns:
        float32 array ``(N, height, width)``.
    """
    rows = bilinear_matrix(images.shape[1], size[0])
    cols = bilinear_matrix(images.shape[2], size[1])
    return np.einsum("ih,nhw,jw->nij", rows, images.astype(np.float32), cols).astype(np.float32)


def load_digits_28(
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1] and resized to 28x28x1.

    The split is stratified: in each class, a random ``DIGITS_TEST_FRACTION`` (rounded) of the
    images, drawn with ``rng``, goes to the test set (359 of the 1797 images); each split is then
    shuffled with ``rng``. The same generator state gives the same split.

    Args:
        rng: Generator that decides the split and the order.

    Returns:
        (x_train, y_train, x_test, y_test): images float32 ``(N, 28, 28, 1)`` in [0, 1],
        labels int64 ``(N,)`` in 0..9.
    """
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    digits = load_digits()
    images = resize_bilinear(digits.images / 16.0, (28, 28))
    images = np.clip(images, 0.0, 1.0)[..., None]
    labels = digits.target.astype(np.int64)
    test_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for cls in range(10):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(DIGITS_TEST_FRACTION * idx.size))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return images[train], labels[train], images[test], labels[test]


def digits_split_sizes() -> tuple[int, int]:
    """Images in the training and the test split of :func:`load_digits_28` (the split is
    stratified by class with rounded fractions, so its sizes do not depend on the generator)."""
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    labels = load_digits().target
    test = sum(
        int(round(DIGITS_TEST_FRACTION * int((labels == cls).sum()))) for cls in range(10)
    )
    return len(labels) - test, test


def synthetic_images(shape: Sequence[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random images in [0, 1) for models without an offline data set.

    Only layer shapes and activation statistics of random inputs come out of these; use them for
    shape-driven traces (32x32x3 models), never for accuracy.

    Args:
        shape: Per-sample shape, e.g. ``(32, 32, 3)``.
        n: Number of samples, >= 1.
        rng: Source of the pixel values.

    Returns:
        float32 array ``(n, *shape)``.
    """
    if n < 1:
        raise WorkloadError(f"synthetic_images.n: must be >= 1, got {n}")
    return rng.random((n, *(int(d) for d in shape)), dtype=np.float32)
