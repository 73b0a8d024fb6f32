"""Block-sparse dynamic training (archsim.workload.sparse_train): masks, schedule, block-CSR,
the per-step work, and accuracy against dense SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from archsim.errors import WorkloadError
from archsim.workload import sparse_train
from archsim.workload.data import load_digits_28
from archsim.workload.models import Model, build_model
from archsim.workload.sparse_train import (
    BlockCsrStats,
    BlockSparsity,
    StepWork,
    block_csr,
    block_grid,
    block_norms,
    expand_mask,
    keep_count,
    prune_to,
    sparse_layer_names,
    train_block_sparse,
    update_mask,
)
from archsim.workload.train import DEFAULT_TRAINING, train_sgd

RNG = np.random.default_rng  # every draw below is seeded


def test_drop_fraction_is_rigl_cosine():
    """alpha / 2 (1 + cos(pi t / T_end)) (RigL, Evci et al. 2020; published.md section 8):
    alpha at t = 0, alpha / 2 half way, 0 from T_end on."""
    p = BlockSparsity(0.9)
    assert p.drop_fraction_at(0, 600) == pytest.approx(0.3)
    assert p.drop_fraction_at(300, 600) == pytest.approx(0.15)
    assert p.drop_fraction_at(150, 600) == pytest.approx(0.15 * (1 + math.cos(math.pi / 4)))
    assert p.drop_fraction_at(600, 600) == 0.0


def test_block_norms_and_grid_pad_the_edges():
    w = np.arange(1, 31, dtype=np.float32).reshape(5, 6)
    assert block_grid(5, 6, 4) == (2, 2)
    norms = block_norms(w, 4)
    assert norms.shape == (2, 2)
    assert norms[1, 1] == pytest.approx(np.linalg.norm(w[4:, 4:]))
    assert norms[0, 0] == pytest.approx(np.linalg.norm(w[:4, :4]))
    element = expand_mask(np.array([[True, False], [False, True]]), 4, 5, 6)
    assert element.shape == (5, 6) and element.sum() == 16 + 2


def test_prune_keeps_the_largest_blocks_to_within_one_block():
    w = RNG(0).standard_normal((64, 40)).astype(np.float32)  # 8 x 5 blocks of 8
    for s in (0.5, 0.75, 0.9):
        keep = keep_count(40, s)
        assert abs(keep - (1 - s) * 40) <= 0.5
        mask = prune_to(w, 8, keep)
        assert mask.sum() == keep
        norms = block_norms(w, 8)
        assert norms[mask].min() >= norms[~mask].max()
    assert keep_count(3, 0.9) == 1  # never empty


def test_zero_drop_leaves_the_mask_unchanged():
    rng = RNG(1)
    w = rng.standard_normal((16, 16)).astype(np.float32)
    mask = prune_to(w, 4, 6)
    for fraction in (0.0, 0.1):  # floor(0.1 * 6) = 0 as well
        change = update_mask(mask, w, rng.standard_normal((16, 16)), block=4,
                             drop_fraction=fraction, regrowth="random", rng=rng)
        assert change.mask is mask and change.pruned == () and change.regrown == ()


def _hand_made() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3 x 3 grid of 2 x 2 blocks; active blocks 0-3 (row-major) of weight norms 5, 1, 4, 2;
    gradient norms 100 (block 0), 10 (1), 0.1 (3), 3, 7, 0.5, 9, 1 (blocks 4-8), 0 (block 2)."""
    weight = np.zeros((6, 6), np.float32)
    grad = np.zeros((6, 6), np.float32)
    mask = np.zeros((3, 3), bool)
    w_norm = {0: 5.0, 1: 1.0, 2: 4.0, 3: 2.0}
    g_norm = {0: 100.0, 1: 10.0, 3: 0.1, 4: 3.0, 5: 7.0, 6: 0.5, 7: 9.0, 8: 1.0}
    for b in range(9):
        r, c = divmod(b, 3)
        if b in w_norm:
            mask[r, c] = True
            weight[2 * r, 2 * c] = w_norm[b]
        grad[2 * r + 1, 2 * c + 1] = g_norm.get(b, 0.0)
    return weight, grad, mask


def test_gradient_regrowth_picks_the_largest_gradient_blocks():
    """Drop half of 4: blocks 1 and 3 (smallest weights) go. Regrowth takes the 2 largest
    gradients among the blocks not kept: block 1 (10; dropped and regrown, so unchanged) and
    block 7 (9), not block 0 (100, already kept) nor block 5 (7)."""
    weight, grad, mask = _hand_made()
    change = update_mask(mask, weight, grad, block=2, drop_fraction=0.5, regrowth="gradient",
                         rng=RNG(0))
    assert change.pruned == ((1, 0),)
    assert change.regrown == ((2, 1),)
    expected = np.zeros(9, bool)
    expected[[0, 1, 2, 7]] = True
    np.testing.assert_array_equal(change.mask.ravel(), expected)
    assert not change.mask.flags.writeable


def test_random_regrowth_keeps_the_count_and_is_seeded():
    weight, grad, mask = _hand_made()
    masks = []
    for seed in (5, 5, 6):
        change = update_mask(mask, weight, grad, block=2, drop_fraction=0.5, regrowth="random",
                             rng=RNG(seed))
        assert change.mask.sum() == 4
        assert change.mask[0, 0] and change.mask[0, 2]  # the two kept blocks
        assert len(change.pruned) == len(change.regrown)
        masks.append(change.mask)
    np.testing.assert_array_equal(masks[0], masks[1])
    # Some seed regrows differently (5 candidates, 10 pairs); scan a few to be sure.
    others = [update_mask(mask, weight, grad, block=2, drop_fraction=0.5, regrowth="random",
                          rng=RNG(seed)).mask for seed in range(10)]
    assert any(not np.array_equal(masks[0], m) for m in others)


def test_block_csr_round_trips_and_counts_bytes_in_closed_form():
    """published.md section 8: row pointers (M/R + 1) w bits, indices nnzb w bits, data
    nnzb R C b bits; a 10 x 13 matrix in 4 x 4 blocks is padded to 12 x 16."""
    rng = RNG(2)
    weight = rng.standard_normal((10, 13)).astype(np.float32)
    mask = rng.random((3, 4)) < 0.5
    mask[0, 0] = mask[2, 3] = True
    weight[:4, :4] = 0.0  # an all-zero block in force is still stored
    matrix = block_csr(weight, mask, 4)
    assert matrix.shape == (12, 16) and matrix.blocksize == (4, 4)
    np.testing.assert_array_equal(matrix.toarray()[:10, :13],
                                  weight * expand_mask(mask, 4, 10, 13))
    assert not matrix.toarray()[10:].any() and not matrix.toarray()[:, 13:].any()
    nnzb = int(mask.sum())
    np.testing.assert_array_equal(matrix.indptr, np.concatenate([[0], np.cumsum(mask.sum(1))]))
    np.testing.assert_array_equal(matrix.indices, np.nonzero(mask)[1])
    assert matrix.data.shape == (nnzb, 4, 4)
    for w, b in ((32, 32), (16, 8), (5, 3)):
        stats = BlockCsrStats.of(matrix, index_bits=w, value_bits=b)
        assert stats.rowptr_entries == 12 // 4 + 1 and stats.nnzb == nnzb
        assert stats.rowptr_bytes == math.ceil(4 * w / 8)
        assert stats.colidx_bytes == math.ceil(nnzb * w / 8)
        assert stats.data_bytes == math.ceil(nnzb * 16 * b / 8)
        assert stats.total_bytes == stats.index_bytes + stats.data_bytes
    with pytest.raises(WorkloadError, match="index_bits: 2 bits cannot hold"):
        BlockCsrStats.of(matrix, index_bits=2)
    with pytest.raises(WorkloadError, match=r"mask: must have shape \(3, 4\)"):
        block_csr(weight, mask[:2], 4)


def test_which_layers_are_sparse():
    lenet = build_model("lenet-wu", RNG(0))  # conv1 7 blocks, conv2 75, fc1 144 (last) at B=4
    assert sparse_layer_names(lenet, BlockSparsity(0.5, block=4)) == ("conv2",)
    assert sparse_layer_names(lenet, BlockSparsity(0.5, block=4, dense_last=False)) == (
        "conv2", "fc1")
    assert sparse_layer_names(lenet, BlockSparsity(0.5, block=4, min_blocks=1)) == (
        "conv1", "conv2")
    assert sparse_layer_names(lenet, BlockSparsity(0.0, block=4, min_blocks=1)) == ()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sparsity": 1.0}, "sparsity: must be a number in"),
        ({"sparsity": 0.5, "block": 0}, "block: must be an integer >= 1"),
        ({"sparsity": 0.5, "regrowth": "magic"}, "regrowth: expected one of gradient, random"),
        ({"sparsity": 0.5, "end_fraction": 0.0}, "end_fraction: must be"),
        ({"sparsity": 0.5, "update_interval": 0}, "update_interval: must be"),
        ({"sparsity": 0.5, "drop_fraction": 1.5}, "drop_fraction: must be"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        BlockSparsity(**kwargs)


def test_bad_training_arguments():
    p = BlockSparsity(0.5)
    with pytest.raises(WorkloadError, match="model: 'resnet18' cannot be trained block-sparse"):
        train_block_sparse("resnet18", p, rng=RNG(0), epochs=2, lr=0.1, momentum=0.9,
                           batch_size=32)
    with pytest.raises(WorkloadError, match=r"warmup_epochs: must be less than epochs \(1\)"):
        train_block_sparse("mlp", p, rng=RNG(0), epochs=1, lr=0.1, momentum=0.9, batch_size=32)


class _Watch:
    """Captures the model train_block_sparse builds and checks its weights after every step."""

    def __init__(self) -> None:
        self.model: Model | None = None
        self.works: list[StepWork] = []
        self.violations: list[str] = []

    def build(self, name: str, rng: np.random.Generator) -> Model:
        self.model = build_model(name, rng)
        return self.model

    def step(self, work: StepWork) -> None:
        self.works.append(work)
        assert self.model is not None
        for lw in work.layers:
            weight = self.model.layer(lw.layer).weight
            after = np.array(lw.mask)
            for r, c in lw.pruned:
                after[r, c] = False
            for r, c in lw.regrown:
                after[r, c] = True
            # Outside the mask in force and outside the new one: exactly zero (regrown blocks
            # start at zero, pruned ones are zeroed).
            for mask in (lw.mask, after):
                outside = ~expand_mask(mask, 8, lw.rows, lw.cols)
                if np.any(weight[outside] != 0):
                    self.violations.append(f"step {work.step} {lw.layer}")


@pytest.fixture(scope="module")
def watched() -> tuple[_Watch, sparse_train.SparseTrainResult, BlockSparsity]:
    """mlp at s = 0.75, B = 8, 4 epochs of 45 steps, one warm-up epoch, a mask update every
    10 steps until T_end = 135 steps after the warm-up (13 updates)."""
    watch = _Watch()
    params = BlockSparsity(0.75, block=8, warmup_epochs=1, update_interval=10, end_fraction=1.0)
    with pytest.MonkeyPatch.context() as mp, threadpool_limits(1, "blas"):
        mp.setattr(sparse_train, "build_model", watch.build)
        result = train_block_sparse("mlp", params, rng=RNG(4), epochs=4, lr=0.05, momentum=0.9,
                                    batch_size=32, on_step=watch.step)
    return watch, result, params


def test_masks_hold_the_target_sparsity_and_pruned_weights_stay_zero(watched):
    watch, result, _ = watched
    assert not watch.violations
    works = watch.works
    assert len(works) == result.steps == 4 * 45
    events = [w.step for w in works if w.mask_event != "none"]
    assert works[44].mask_event == "prune"
    assert events == [44] + [44 + 10 * m for m in range(1, 14)]
    assert result.mask_updates == 13 == result.layers["fc1"].mask_updates
    fc1 = result.layers["fc1"]
    keep = keep_count(fc1.blocks, 0.75)
    assert abs(keep - 0.25 * fc1.blocks) <= 1
    for work in works:
        by_name = {lw.layer: lw for lw in work.layers}
        expected = fc1.blocks if work.step <= 44 else keep
        assert by_name["fc1"].nnzb == expected
        assert by_name["fc2"].nnzb == by_name["fc2"].blocks  # the classifier stays dense
        assert len(by_name["fc1"].pruned) == len(by_name["fc1"].regrown) or work.step == 44
    assert fc1.nnzb == keep and fc1.initial_pruned == fc1.blocks - keep
    assert fc1.pruned == sum(len(w.layers[0].pruned) for w in works if w.mask_event == "update")
    assert fc1.pruned > 0 and fc1.regrown == fc1.pruned
    weight = result.network.layer("fc1").weight
    assert not weight[~expand_mask(fc1.mask, 8, 784, 128)].any()
    assert result.weight_density == pytest.approx(
        (int(expand_mask(fc1.mask, 8, 784, 128).sum()) + 128 * 10) / (784 * 128 + 1280))


def test_step_work_counts_the_macs_on_the_blocks_in_force(watched):
    watch, _, params = watched
    regrow_steps = 0
    for work in watch.works:
        fc1, fc2 = work.layers
        assert fc1.vectors == fc2.vectors == work.samples
        for lw in (fc1, fc2):
            active = int(expand_mask(lw.mask, params.block, lw.rows, lw.cols).sum())
            assert lw.dense_macs == lw.vectors * lw.rows * lw.cols
            assert lw.forward_macs == lw.update_macs == lw.vectors * active
            assert 0.0 <= lw.input_zero_fraction <= 1.0 and 0.0 <= lw.grad_zero_fraction <= 1.0
        assert fc1.backward_macs == 0  # nothing trainable upstream of fc1
        assert fc2.backward_macs == fc2.forward_macs == fc2.dense_macs
        assert fc1.input_zero_fraction > 0.1  # the digits' background (about 0.29)
        assert fc1.grad_zero_fraction > 0.0  # behind a ReLU
        if work.mask_event == "update":
            regrow_steps += 1
            assert fc1.update_macs + fc1.regrow_macs == fc1.dense_macs
            assert fc2.regrow_macs == 0
        else:
            assert fc1.regrow_macs == 0
    assert regrow_steps == 13


def test_dense_warm_up_then_drop_fraction_zero_keeps_the_first_mask():
    works: list[StepWork] = []
    params = BlockSparsity(0.5, block=8, update_interval=5, drop_fraction=0.0)
    with threadpool_limits(1, "blas"):
        result = train_block_sparse("mlp", params, rng=RNG(5), epochs=2, lr=0.05, momentum=0.9,
                                    batch_size=32, on_step=works.append)
    after_prune = [w for w in works if w.step > 44]
    first = after_prune[0].layers[0].mask
    assert all(w.layers[0].mask is first for w in after_prune)
    assert all(not w.layers[0].pruned and not w.layers[0].regrown for w in after_prune)
    assert result.layers["fc1"].pruned == 0 and result.layers["fc1"].mask_updates > 0


@pytest.mark.parametrize("name", ["mlp", "lenet-wu"])
def test_zero_sparsity_reproduces_dense_sgd(name):
    """s = 0: no mask, no extra draw, so the same weights as train_sgd bit for bit."""
    with threadpool_limits(1, "blas"):
        rng = RNG(3)
        model = build_model(name, rng)
        dense = train_sgd(model, *load_digits_28(rng), epochs=2, lr=0.05, momentum=0.9,
                          batch_size=32, rng=rng)
        sparse = train_block_sparse(name, BlockSparsity(0.0), rng=RNG(3), epochs=2, lr=0.05,
                                    momentum=0.9, batch_size=32)
    for a, b in zip(model.matrix_layers(), sparse.network.matrix_layers()):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert sparse.final_loss == dense.final_loss
    assert sparse.test_accuracy == dense.test_accuracy
    assert sparse.mask_updates == 0 and sparse.weight_density == 1.0


def test_half_sparse_mlp_stays_close_to_dense():
    """mlp, its default schedule (20 epochs), B = 8, s = 0.5 on fc1: within 3 points of dense
    (seed 0: 98.6 % dense, 98.3 % sparse; seeds 0-2 differ by at most 1 point)."""
    cfg = DEFAULT_TRAINING["mlp"]
    accuracy = {}
    with threadpool_limits(1, "blas"):
        for s in (0.0, 0.5):
            result = train_block_sparse(
                "mlp", BlockSparsity(s, block=8), rng=RNG(0), epochs=cfg.epochs, lr=cfg.lr,
                momentum=cfg.momentum, batch_size=cfg.batch_size,
            )
            accuracy[s] = result.test_accuracy
            assert len(result.accuracy_curve) == cfg.epochs
    assert accuracy[0.0] > 0.95
    assert accuracy[0.5] >= accuracy[0.0] - 0.03
