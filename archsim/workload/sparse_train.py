"""Block-sparse dynamic training of zoo models in NumPy, and its block-CSR form (workload stage).

:func:`train_block_sparse` trains ``mlp``, ``mlp-wide`` or ``lenet-wu`` on the digits with
mini-batch SGD with momentum, exactly as :func:`archsim.workload.train.train_sgd` does, on
weights kept block-sparse (block-CSR and the schedules of RigL and SET: archsim/REFERENCES.md
[RigL], [SET]):

* **Blocks.** Every matrix layer's weight matrix ``(rows, cols)`` (a convolution's is
  ``(kh * kw * cin, cout)``, :class:`archsim.workload.layers.Conv2D`) is cut into square blocks of
  ``B x B`` weights, on a grid of ``ceil(rows / B) x ceil(cols / B)`` blocks. A matrix whose sides
  are not multiples of ``B`` is zero-padded on its last block row and column: those edge blocks
  hold fewer real weights, and block-CSR stores them padded to ``B x B``. A layer's *mask* is a
  boolean array over this grid; weights outside it are exactly zero.
* **Which layers are sparse.** With ``s > 0`` a matrix layer is made sparse unless its grid has
  fewer than ``min_blocks`` blocks (a layer of n blocks can only reach the target to within
  1 / n) or it is the network's last matrix layer and ``dense_last`` is set (the classifier holds
  a small share of the weights, and pruning its few blocks would cut whole groups of classes'
  inputs). Dense layers are never masked. Each sparse layer keeps
  ``round((1 - s) * blocks)`` blocks (at least one) at all times after the warm-up.
* **Schedule.** ``warmup_epochs`` epochs of dense training; after the last warm-up step the
  blocks of smallest L2 norm are pruned at once to the target (with no warm-up, the initial
  weights are pruned before the first step). Then, after every ``update_interval`` sparse steps
  and while before ``T_end``, the mask is updated with the drop fraction of RigL (Evci et al.,
  ICML 2020): ``f(t) = alpha / 2 (1 + cos(pi t / T_end))``, ``alpha = 0.3``, ``T_end = 75 %`` of
  training, here with ``t`` and ``T_end`` counted in steps from the end of the warm-up (without
  a warm-up this is RigL's schedule exactly).
* **Mask update** (:func:`update_mask`). Of the ``n`` active blocks, the ``floor(f n)`` of
  smallest weight L2 norm are dropped (RigL rounds down); as many are regrown among the blocks
  not kept, by the L2 norm of their dense gradient on the current batch (``gradient``, RigL) or
  uniformly at random from ``rng`` (``random``, SET: Mocanu et al. 2018), so the count of active
  blocks stays ``n``. A block dropped and regrown in the same update stays as it was (RigL's
  default); a newly regrown block starts at zero (its weights and momentum were zero while
  pruned). Ties go to the lower row-major block index.
* **Optimizer.** ``v = momentum v - lr g``; on a sparse layer the step ``v`` is then multiplied by
  the mask before ``w += v``, so the momentum of pruned blocks is zero and their weights stay
  exactly zero; at a mask change both are multiplied by the new mask. With ``s = 0`` no layer is
  sparse, nothing is masked and no random number is drawn besides the shuffles, so training
  reproduces :func:`~archsim.workload.train.train_sgd` bit for bit (same seed, model and data).

Per step, ``on_step`` receives a :class:`StepWork`: per matrix layer the non-zero blocks in
force, the dense and the non-zero-block MACs of the forward, backward and update products, the
zero fractions of the inputs and of the output gradients, and the blocks pruned and regrown
after the step. A later trace writer turns these into records.

Randomness, from one generator in this order: the initial weights, the data split (unless
``data`` is given), then per epoch the shuffle and the random regrowth draws of its mask updates.
Call under one BLAS thread for results that do not depend on the machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from archsim.errors import WorkloadError
from archsim.workload.data import DIGITS_DATASET, load_digits_28
from archsim.workload.layers import Conv2D, MatrixLayer
from archsim.workload.models import INPUT, MODEL_NAMES, Model, build_model
from archsim.workload.train import MAX_EPOCHS, accuracy, softmax_cross_entropy

if TYPE_CHECKING:
    from scipy.sparse import bsr_array

__all__ = [
    "REGROWTH_RULES",
    "SPARSE_MODELS",
    "BlockCsrStats",
    "BlockSparsity",
    "LayerSparsity",
    "LayerStepWork",
    "MaskUpdate",
    "SparseTrainResult",
    "StepWork",
    "block_csr",
    "block_grid",
    "block_norms",
    "expand_mask",
    "keep_count",
    "prune_to",
    "sparse_layer_names",
    "train_block_sparse",
    "update_mask",
]

REGROWTH_RULES: tuple[str, ...] = ("gradient", "random")
"""Regrowth rules: ``gradient`` (RigL, largest dense-gradient L2 norm), ``random`` (SET)."""

SPARSE_MODELS: tuple[str, ...] = ("mlp", "mlp-wide", "lenet-wu")
"""Zoo models :func:`train_block_sparse` trains on the digits (the 28x28x1 ones)."""

Regrowth = Literal["gradient", "random"]
MaskEvent = Literal["none", "prune", "update"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class BlockSparsity:
    """How to keep a network block-sparse while it trains (see the module docstring).

    Attributes:
        sparsity: Target fraction s of blocks pruned in each sparse layer, in [0, 1).
        block: Block side B, in weights (blocks are B x B), >= 1.
        warmup_epochs: Dense epochs before the first pruning, >= 0 (fewer than the epochs run).
        update_interval: Sparse steps (mini-batches) between mask updates, >= 1 (RigL: 100).
        drop_fraction: RigL's alpha, the drop fraction of the first update, in [0, 1] (0.3).
        end_fraction: T_end as a fraction of the sparse steps, in (0, 1]; no update after it
            (RigL: 0.75).
        regrowth: ``gradient`` (RigL) or ``random`` (SET).
        min_blocks: Layers whose block grid has fewer blocks stay dense, >= 1.
        dense_last: Keep the last matrix layer (the classifier) dense.
    """

    sparsity: float
    block: int = 8
    warmup_epochs: int = 1
    update_interval: int = 100
    drop_fraction: float = 0.3
    end_fraction: float = 0.75
    regrowth: Regrowth = "gradient"
    min_blocks: int = 16
    dense_last: bool = True

    def __post_init__(self) -> None:
        if not (_is_real(self.sparsity) and 0 <= self.sparsity < 1):
            raise WorkloadError(f"sparsity: must be a number in [0, 1), got {self.sparsity!r}")
        if not (_is_int(self.block) and self.block >= 1):
            raise WorkloadError(f"block: must be an integer >= 1, got {self.block!r}")
        if not (_is_int(self.warmup_epochs) and 0 <= self.warmup_epochs < MAX_EPOCHS):
            raise WorkloadError(
                f"warmup_epochs: must be an integer 0..{MAX_EPOCHS - 1}, got {self.warmup_epochs!r}"
            )
        if not (_is_int(self.update_interval) and self.update_interval >= 1):
            raise WorkloadError(
                f"update_interval: must be an integer >= 1, got {self.update_interval!r}"
            )
        if not (_is_real(self.drop_fraction) and 0 <= self.drop_fraction <= 1):
            raise WorkloadError(
                f"drop_fraction: must be a number in [0, 1], got {self.drop_fraction!r}"
            )
        if not (_is_real(self.end_fraction) and 0 < self.end_fraction <= 1):
            raise WorkloadError(
                f"end_fraction: must be a number in (0, 1], got {self.end_fraction!r}"
            )
        if self.regrowth not in REGROWTH_RULES:
            raise WorkloadError(
                f"regrowth: expected one of {', '.join(REGROWTH_RULES)}, got {self.regrowth!r}"
            )
        if not (_is_int(self.min_blocks) and self.min_blocks >= 1):
            raise WorkloadError(f"min_blocks: must be an integer >= 1, got {self.min_blocks!r}")
        if not isinstance(self.dense_last, bool):
            raise WorkloadError(f"dense_last: must be true or false, got {self.dense_last!r}")

    def drop_fraction_at(self, t: int, t_end: int) -> float:
        """RigL's cosine-annealed drop fraction ``alpha / 2 (1 + cos(pi t / T_end))``.

        Args:
            t: Sparse steps run so far (steps after the warm-up).
            t_end: ``T_end`` in the same steps, >= 1.

        Returns:
            The fraction of active blocks to drop, in [0, alpha]; 0 from ``t_end`` on.
        """
        if t >= t_end:
            return 0.0
        return self.drop_fraction / 2 * (1 + math.cos(math.pi * t / t_end))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form."""
        return asdict(self)


def block_grid(rows: int, cols: int, block: int) -> tuple[int, int]:
    """Blocks along each side of a ``rows x cols`` matrix cut into ``block x block`` blocks
    (the last row and column of blocks padded): ``(ceil(rows / B), ceil(cols / B))``."""
    return -(-rows // block), -(-cols // block)


def _padded(matrix: np.ndarray, block: int) -> np.ndarray:
    """``matrix`` zero-padded to whole blocks."""
    rows, cols = matrix.shape
    br, bc = block_grid(rows, cols, block)
    if (br * block, bc * block) == (rows, cols):
        return matrix
    out = np.zeros((br * block, bc * block), dtype=matrix.dtype)
    out[:rows, :cols] = matrix
    return out


def _tiles(matrix: np.ndarray, block: int) -> np.ndarray:
    """The blocks of ``matrix`` (padded) as an array ``(block rows, block cols, B, B)``."""
    padded = _padded(matrix, block)
    br, bc = padded.shape[0] // block, padded.shape[1] // block
    return padded.reshape(br, block, bc, block).transpose(0, 2, 1, 3)


def block_norms(matrix: np.ndarray, block: int) -> np.ndarray:
    """L2 (Frobenius) norm of every block of ``matrix``, computed in float64.

    Returns:
        Array of shape :func:`block_grid`; padded positions count as zeros.
    """
    tiles = _tiles(np.asarray(matrix, dtype=np.float64), block)
    return np.sqrt(np.einsum("ijkl,ijkl->ij", tiles, tiles))


def expand_mask(mask: np.ndarray, block: int, rows: int, cols: int) -> np.ndarray:
    """The element mask ``(rows, cols)`` of a block mask (each block repeated B x B, padding
    cut off)."""
    return np.repeat(np.repeat(mask, block, axis=0), block, axis=1)[:rows, :cols]


def keep_count(blocks: int, sparsity: float) -> int:
    """Blocks a sparse layer of ``blocks`` blocks keeps at sparsity s: ``round((1 - s) blocks)``,
    at least one (so the achieved sparsity is within half a block of s, or 1 - 1 / blocks)."""
    return max(1, round((1 - float(sparsity)) * blocks))


def _top(indices: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` of ``indices`` with the largest ``scores[indices]``; ties to the lower index."""
    order = np.argsort(-scores[indices], kind="stable")
    return indices[order[:k]]


def prune_to(weight: np.ndarray, block: int, keep: int) -> np.ndarray:
    """One-shot magnitude pruning: the mask of the ``keep`` blocks of largest L2 norm.

    Returns:
        Boolean mask of shape :func:`block_grid`, read-only.
    """
    norms = block_norms(weight, block)
    kept = _top(np.arange(norms.size), norms.ravel(), keep)
    mask = np.zeros(norms.size, dtype=bool)
    mask[kept] = True
    mask = mask.reshape(norms.shape)
    mask.setflags(write=False)
    return mask


@dataclass(frozen=True)
class MaskUpdate:
    """The outcome of one :func:`update_mask`.

    Attributes:
        mask: The new block mask (the old object itself when nothing changed), read-only.
        pruned: ``(block row, block col)`` of the blocks switched off, row-major order.
        regrown: ``(block row, block col)`` of the blocks switched on, row-major order; as many
            as ``pruned``.
    """

    mask: np.ndarray = field(repr=False, compare=False)
    pruned: tuple[tuple[int, int], ...]
    regrown: tuple[tuple[int, int], ...]


def _positions(flat: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    rows, cols = np.unravel_index(np.sort(flat), shape)
    return tuple((int(r), int(c)) for r, c in zip(rows, cols))


def update_mask(
    mask: np.ndarray,
    weight: np.ndarray,
    grad: np.ndarray,
    *,
    block: int,
    drop_fraction: float,
    regrowth: Regrowth,
    rng: np.random.Generator,
) -> MaskUpdate:
    """One drop-and-regrow step on a block mask (RigL, Evci et al. 2020; SET, Mocanu et al.
    2018).

    The ``floor(drop_fraction * n)`` active blocks of smallest weight L2 norm are dropped, and as
    many blocks not kept are switched on: those of largest dense-gradient L2 norm (``gradient``)
    or a uniform random choice from ``rng`` (``random``; drawn only when something is dropped).
    A block both dropped and regrown stays on and is in neither list.

    Args:
        mask: Current block mask, shape :func:`block_grid` of ``weight``.
        weight: The layer's weights ``(rows, cols)`` (zero outside ``mask``).
        grad: Dense gradient of the loss w.r.t. ``weight`` on the current batch.
        block: Block side B, in weights.
        drop_fraction: Fraction of the active blocks to drop, in [0, 1].
        regrowth: ``gradient`` or ``random``.
        rng: Source of the random regrowth.

    Returns:
        The new mask and the blocks switched off and on.
    """
    active = np.flatnonzero(mask)
    drop = math.floor(drop_fraction * active.size)
    if drop == 0:
        return MaskUpdate(mask=mask, pruned=(), regrown=())
    kept = _top(active, block_norms(weight, block).ravel(), active.size - drop)
    candidates = np.setdiff1d(np.arange(mask.size), kept)
    if regrowth == "gradient":
        grown = _top(candidates, block_norms(grad, block).ravel(), drop)
    else:
        grown = rng.choice(candidates, size=drop, replace=False)
    new = np.zeros(mask.size, dtype=bool)
    new[kept] = True
    new[grown] = True
    new = new.reshape(mask.shape)
    new.setflags(write=False)
    dropped = np.setdiff1d(active, kept)
    return MaskUpdate(
        mask=new,
        pruned=_positions(np.setdiff1d(dropped, grown), mask.shape),
        regrown=_positions(np.setdiff1d(grown, dropped), mask.shape),
    )


def block_csr(weight: np.ndarray, mask: np.ndarray, block: int) -> bsr_array:
    """The block-CSR form of ``weight`` under ``mask``.

    Every block on in ``mask`` is stored, including one whose weights are all zero (a block just
    regrown): the hardware fetches what the mask says. The matrix is zero-padded to whole blocks,
    so its shape is ``block_grid(rows, cols, B) * B``; ``toarray()[:rows, :cols]`` gives the
    masked weights back.

    Args:
        weight: Weights ``(rows, cols)``.
        mask: Block mask of shape ``block_grid(rows, cols, block)``.
        block: Block side B, in weights.

    Returns:
        ``scipy.sparse.bsr_array`` with ``blocksize = (B, B)``: ``indptr`` (block rows + 1 row
        pointers), ``indices`` (block column of each stored block, row-major) and ``data``
        ``(nnzb, B, B)``.

    Raises:
        WorkloadError: ``mask`` does not match the block grid of ``weight``.
    """
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise WorkloadError(f"weight: must be a matrix, got shape {weight.shape}")
    grid = block_grid(weight.shape[0], weight.shape[1], block)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grid:
        raise WorkloadError(f"mask: must have shape {grid} for B = {block}, got {mask.shape}")
    from scipy.sparse import bsr_array  # imported when used: a chip's start-up needs none

    rows, cols = np.nonzero(mask)
    data = _tiles(weight, block)[rows, cols]
    indptr = np.zeros(grid[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=grid[0]), out=indptr[1:])
    return bsr_array(
        (data, cols.astype(np.int64), indptr),
        shape=(grid[0] * block, grid[1] * block),
        blocksize=(block, block),
    )


@dataclass(frozen=True)
class BlockCsrStats:
    """Storage of one block-CSR matrix, as published.md section 8 counts it: row pointers
    ``(M / R + 1) w`` bits, block column indices ``nnzb w`` bits, data ``nnzb R C b`` bits (each
    array rounded up to whole bytes on its own).

    Attributes:
        shape: Stored (padded) matrix shape (M, N), in weights.
        blocksize: (R, C), in weights.
        rowptr_entries: M / R + 1.
        nnzb: Stored blocks.
        index_bits: w, bits per row pointer and per column index.
        value_bits: b, bits per stored weight.
        rowptr_bytes: Bytes of the row pointers.
        colidx_bytes: Bytes of the block column indices.
        data_bytes: Bytes of the blocks' values.
    """

    shape: tuple[int, int]
    blocksize: tuple[int, int]
    rowptr_entries: int
    nnzb: int
    index_bits: int
    value_bits: int
    rowptr_bytes: int
    colidx_bytes: int
    data_bytes: int

    @property
    def index_bytes(self) -> int:
        """Metadata bytes: row pointers and column indices."""
        return self.rowptr_bytes + self.colidx_bytes

    @property
    def total_bytes(self) -> int:
        """Metadata and data bytes."""
        return self.index_bytes + self.data_bytes

    @property
    def metadata_fraction(self) -> float:
        """Share of the bytes that are metadata (0 for an empty matrix)."""
        return self.index_bytes / self.total_bytes if self.total_bytes else 0.0

    @classmethod
    def of(cls, matrix: bsr_array, *, index_bits: int = 32, value_bits: int = 32) -> BlockCsrStats:
        """The storage of ``matrix`` with ``index_bits``-bit indices and ``value_bits``-bit values.

        Raises:
            WorkloadError: A bit width is not positive, or ``index_bits`` cannot hold the largest
                row pointer (nnzb) or block column index.
        """
        r, c = (int(v) for v in matrix.blocksize)
        m, n = (int(v) for v in matrix.shape)
        return cls.sized(
            (m, n), (r, c), int(matrix.indptr[-1]), index_bits=index_bits, value_bits=value_bits
        )

    @classmethod
    def sized(
        cls, shape: tuple[int, int], blocksize: tuple[int, int], nnzb: int, *,
        index_bits: int = 32, value_bits: int = 32,
    ) -> BlockCsrStats:
        """The storage of a block-CSR matrix of (padded) ``shape`` in ``blocksize`` blocks
        with ``nnzb`` stored blocks: the same counts as :meth:`of` of such a matrix, from
        the counts alone (no values).

        Raises:
            WorkloadError: As :meth:`of`.
        """
        if not (_is_int(index_bits) and index_bits >= 1):
            raise WorkloadError(f"index_bits: must be an integer >= 1, got {index_bits!r}")
        if not (_is_int(value_bits) and value_bits >= 1):
            raise WorkloadError(f"value_bits: must be an integer >= 1, got {value_bits!r}")
        (m, n), (r, c) = shape, blocksize
        largest = max(nnzb, n // c - 1)
        if largest >= 2**index_bits:
            raise WorkloadError(
                f"index_bits: {index_bits} bits cannot hold the block index {largest}"
            )
        rowptr = m // r + 1
        return cls(
            shape=(m, n), blocksize=(r, c), rowptr_entries=rowptr, nnzb=nnzb,
            index_bits=int(index_bits), value_bits=int(value_bits),
            rowptr_bytes=-(-rowptr * index_bits // 8), colidx_bytes=-(-nnzb * index_bits // 8),
            data_bytes=-(-nnzb * r * c * value_bits // 8),
        )


@dataclass(frozen=True)
class LayerStepWork:
    """One matrix layer's work in one training step (one mini-batch).

    MAC counts are multiply-accumulates over the batch; "non-zero-block" MACs count the real
    (unpadded) weights of the blocks in force during the step, times the input vectors.

    Attributes:
        layer: Layer name.
        vectors: Input vectors of the batch (samples x conv windows).
        rows: Input vector length K (weight rows).
        cols: Outputs N (weight columns).
        blocks: Blocks in the layer's grid (padded).
        nnzb: Blocks in force during the step (all of them while dense).
        dense_macs: ``vectors * rows * cols``: one dense pass (forward, backward or update).
        forward_macs: Forward MACs on the blocks in force.
        backward_macs: Input-gradient MACs on the blocks in force; 0 when no matrix layer
            upstream needs the gradient (the first matrix layer).
        update_macs: Weight-gradient MACs on the blocks in force.
        regrow_macs: Extra weight-gradient MACs on the blocks not in force, spent to score
            gradient regrowth at a mask update (``update_macs + regrow_macs = dense_macs``
            then); 0 otherwise.
        input_zero_fraction: Fraction of zero entries of the forward input vectors (for a
            convolution, its im2col windows, padding included).
        grad_zero_fraction: Fraction of zero entries of the gradient at the layer's output (the
            operand of the backward and the update products).
        pruned: Blocks switched off after the step's update, ``(block row, block col)``.
        regrown: Blocks switched on after the step's update.
        mask: The block mask in force during the step, read-only.
    """

    layer: str
    vectors: int
    rows: int
    cols: int
    blocks: int
    nnzb: int
    dense_macs: int
    forward_macs: int
    backward_macs: int
    update_macs: int
    regrow_macs: int
    input_zero_fraction: float
    grad_zero_fraction: float
    pruned: tuple[tuple[int, int], ...]
    regrown: tuple[tuple[int, int], ...]
    mask: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class StepWork:
    """The work of one training step, for a trace (see :class:`LayerStepWork`).

    Attributes:
        step: Step index from 0 over the whole run.
        epoch: Epoch index from 0.
        samples: Samples in the batch.
        loss: Batch-mean softmax cross-entropy before the update, in nats.
        mask_event: What happened to the masks after the step's update: ``none``, ``prune``
            (the one-shot pruning that ends the warm-up) or ``update`` (a drop-and-regrow).
        drop_fraction: The drop fraction of an ``update`` (s for ``prune``, else 0).
        layers: Per matrix layer, in topological order.
    """

    step: int
    epoch: int
    samples: int
    loss: float
    mask_event: MaskEvent
    drop_fraction: float
    layers: tuple[LayerStepWork, ...]


@dataclass(frozen=True)
class LayerSparsity:
    """One matrix layer's sparsity after training.

    Attributes:
        rows, cols: Weight matrix shape, in weights.
        blocks: Blocks in the (padded) grid.
        sparse: Whether the layer was kept sparse (module docstring).
        nnzb: Blocks on at the end.
        density: ``nnzb / blocks``.
        weight_density: Real weights inside the blocks on, over ``rows * cols``.
        mask_updates: Drop-and-regrow updates applied (the initial pruning not counted).
        initial_pruned: Blocks removed by the pruning that ends the warm-up.
        pruned: Blocks switched off by the updates, in all.
        regrown: Blocks switched on by the updates, in all.
        mask: Final block mask, read-only.
    """

    rows: int
    cols: int
    blocks: int
    sparse: bool
    nnzb: int
    density: float
    weight_density: float
    mask_updates: int
    initial_pruned: int
    pruned: int
    regrown: int
    mask: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class SparseTrainResult:
    """Outcome of :func:`train_block_sparse`.

    Attributes:
        model: Zoo model name.
        sparsity: The sparsity parameters used.
        epochs: Epochs run.
        steps: Optimizer steps run (mini-batches).
        steps_per_epoch: Mini-batches per epoch.
        lr: Learning rate.
        momentum: Momentum coefficient.
        batch_size: Samples per step.
        final_loss: Mean batch loss of the last epoch, in nats.
        train_accuracy: Training-set accuracy after training.
        test_accuracy: Test-set accuracy after training.
        accuracy_curve: Test accuracy after each epoch.
        dataset: Data set name.
        mask_updates: Drop-and-regrow updates run (0 without sparse layers).
        weight_density: Real weights inside blocks on, over all matrix weights of the network.
        layers: Per matrix layer, in topological order.
        network: The trained model (weights zero outside the masks).
    """

    model: str
    sparsity: BlockSparsity
    epochs: int
    steps: int
    steps_per_epoch: int
    lr: float
    momentum: float
    batch_size: int
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    accuracy_curve: tuple[float, ...]
    dataset: str
    mask_updates: int
    weight_density: float
    layers: Mapping[str, LayerSparsity]
    network: Model = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (without the masks and the network)."""
        return {
            "model": self.model, "sparsity": self.sparsity.to_dict(), "epochs": self.epochs,
            "steps": self.steps, "steps_per_epoch": self.steps_per_epoch, "lr": self.lr,
            "momentum": self.momentum, "batch_size": self.batch_size,
            "final_loss": self.final_loss, "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy, "accuracy_curve": list(self.accuracy_curve),
            "dataset": self.dataset, "mask_updates": self.mask_updates,
            "weight_density": self.weight_density,
            "layers": {
                name: {k: v for k, v in asdict(layer).items() if k != "mask"}
                for name, layer in self.layers.items()
            },
        }


def sparse_layer_names(model: Model, sparsity: BlockSparsity) -> tuple[str, ...]:
    """The matrix layers of ``model`` that ``sparsity`` makes sparse (module docstring)."""
    if sparsity.sparsity == 0:
        return ()
    matrix = model.matrix_layers()
    names = []
    for index, layer in enumerate(matrix):
        br, bc = block_grid(layer.rows, layer.cols, sparsity.block)
        if br * bc < sparsity.min_blocks:
            continue
        if sparsity.dense_last and index == len(matrix) - 1:
            continue
        names.append(layer.name)
    return tuple(names)


def _needs_input_grad(model: Model) -> set[str]:
    """Matrix layers with a matrix layer upstream (whose input gradient training needs)."""
    trains: dict[str, bool] = {INPUT: False}
    needs: set[str] = set()
    for layer in model.layers:
        upstream = any(trains[src] for src in layer.inputs)
        if isinstance(layer, MatrixLayer) and upstream:
            needs.add(layer.name)
        trains[layer.name] = upstream or isinstance(layer, MatrixLayer)
    return needs


class _LayerState:
    """The mask of one matrix layer while training, with its counters."""

    def __init__(self, layer: MatrixLayer, block: int, sparse: bool) -> None:
        self.layer = layer
        self.block = block
        self.sparse = sparse
        self.grid = block_grid(layer.rows, layer.cols, block)
        mask = np.ones(self.grid, dtype=bool)
        mask.setflags(write=False)
        self.element: np.ndarray | None = None
        self.mask = mask
        self.active_weights = layer.rows * layer.cols
        self.updates = self.initial_pruned = self.pruned = self.regrown = 0

    @property
    def blocks(self) -> int:
        return self.grid[0] * self.grid[1]

    def set_mask(self, mask: np.ndarray, velocity: np.ndarray) -> None:
        """Put ``mask`` in force: zero the weights and momentum outside it."""
        layer = self.layer
        self.mask = mask
        element = expand_mask(mask, self.block, layer.rows, layer.cols)
        self.element = element.astype(layer.weight.dtype)
        self.active_weights = int(element.sum())
        layer.weight *= self.element
        velocity *= self.element


def _zero_fraction(array: np.ndarray) -> float:
    return 1.0 - float(np.count_nonzero(array)) / array.size if array.size else 0.0


def _layer_input(layer: MatrixLayer, cache: Any) -> np.ndarray:
    """A matrix layer's forward input vectors from its tape (im2col windows for conv)."""
    return cache[0] if isinstance(layer, Conv2D) else cache


def _check_training(epochs: Any, lr: Any, momentum: Any, batch_size: Any) -> None:
    if not (_is_int(epochs) and 1 <= epochs <= MAX_EPOCHS):
        raise WorkloadError(f"epochs: must be an integer 1..{MAX_EPOCHS}, got {epochs!r}")
    if not (_is_real(lr) and lr > 0 and math.isfinite(lr)):
        raise WorkloadError(f"lr: must be a finite number > 0, got {lr!r}")
    if not (_is_real(momentum) and 0 <= momentum < 1):
        raise WorkloadError(f"momentum: must be a number in [0, 1), got {momentum!r}")
    if not (_is_int(batch_size) and batch_size >= 1):
        raise WorkloadError(f"batch_size: must be an integer >= 1, got {batch_size!r}")


def train_block_sparse(
    model_name: str,
    sparsity: BlockSparsity,
    *,
    rng: np.random.Generator,
    epochs: int,
    lr: float,
    momentum: float,
    batch_size: int,
    on_step: Callable[[StepWork], None] | None = None,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> SparseTrainResult:
    """Train zoo model ``model_name`` block-sparse with SGD and momentum (module docstring).

    Args:
        model_name: One of :data:`SPARSE_MODELS` (any zoo model when ``data`` is given).
        sparsity: Block size, target sparsity, schedule and regrowth rule.
        rng: The one source of randomness (module docstring).
        epochs: Passes over the training split, 1..MAX_EPOCHS, more than the warm-up.
        lr: Learning rate, > 0.
        momentum: Heavy-ball momentum in [0, 1).
        batch_size: Samples per step, >= 1 (the last batch of an epoch may be smaller).
        on_step: Called after every step with its :class:`StepWork` (None: not built).
        data: ``(x_train, y_train, x_test, y_test)`` instead of the digits split.

    Returns:
        Accuracy, its curve per epoch, and the masks and their history per layer. Compare
        with a dense run (``sparsity = 0``, same seed) for the accuracy cost of sparsity.

    Raises:
        WorkloadError: An unknown model, a parameter out of range, or a diverged loss.
    """
    if model_name not in (MODEL_NAMES if data is not None else SPARSE_MODELS):
        raise WorkloadError(
            f"model: {model_name!r} cannot be trained block-sparse; expected one of "
            f"{', '.join(SPARSE_MODELS)}"
        )
    _check_training(epochs, lr, momentum, batch_size)
    if sparsity.warmup_epochs >= epochs:
        raise WorkloadError(
            f"warmup_epochs: must be less than epochs ({epochs}), got {sparsity.warmup_epochs}"
        )
    model = build_model(model_name, rng)
    x_train, y_train, x_test, y_test = load_digits_28(rng) if data is None else data
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise WorkloadError(
            f"data: {len(x_train)} training inputs and {len(y_train)} labels; need equal, > 0"
        )
    if len(x_test) != len(y_test) or len(x_test) == 0:
        raise WorkloadError(
            f"data: {len(x_test)} test inputs and {len(y_test)} labels; need equal, > 0"
        )
    x_train = np.asarray(x_train, dtype=np.float32)
    n = len(x_train)
    steps_per_epoch = -(-n // batch_size)
    start = sparsity.warmup_epochs * steps_per_epoch
    t_end = max(1, round(sparsity.end_fraction * (epochs * steps_per_epoch - start)))
    sparse = set(sparse_layer_names(model, sparsity))
    states = {
        layer.name: _LayerState(layer, sparsity.block, layer.name in sparse)
        for layer in model.matrix_layers()
    }
    needs_grad = _needs_input_grad(model)
    params = model.parameters()
    velocity = {key: np.zeros_like(p) for key, p in params.items()}
    lr32 = np.float32(lr)
    mom32 = np.float32(momentum)

    def prune_all() -> dict[str, MaskUpdate]:
        events = {}
        for name in sparse:
            state = states[name]
            mask = prune_to(state.layer.weight, sparsity.block,
                            keep_count(state.blocks, sparsity.sparsity))
            off = np.flatnonzero(~mask)
            events[name] = MaskUpdate(mask, _positions(off, state.grid), ())
            state.initial_pruned = off.size
            state.set_mask(mask, velocity[(name, "weight")])
        return events

    def update_all(grads: dict[tuple[str, str], np.ndarray], f: float) -> dict[str, MaskUpdate]:
        events = {}
        for layer in model.matrix_layers():
            if layer.name not in sparse:
                continue
            state = states[layer.name]
            change = update_mask(
                state.mask, layer.weight, grads[(layer.name, "weight")], block=sparsity.block,
                drop_fraction=f, regrowth=sparsity.regrowth, rng=rng,
            )
            state.updates += 1
            state.pruned += len(change.pruned)
            state.regrown += len(change.regrown)
            if change.mask is not state.mask:
                state.set_mask(change.mask, velocity[(layer.name, "weight")])
            events[layer.name] = change
        return events

    if sparse and start == 0:
        prune_all()
    step = mask_updates = 0
    curve: list[float] = []
    epoch_loss = float("nan")
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses: list[float] = []
        for first in range(0, n, batch_size):
            idx = order[first : first + batch_size]
            logits, tape = model.forward_train(x_train[idx])
            loss, d_logits = softmax_cross_entropy(logits, y_train[idx])
            outputs: dict[str, np.ndarray] = {}
            grads = model.backward(tape, d_logits, outputs=outputs)
            in_force = {name: (s.mask, s.active_weights) for name, s in states.items()}
            for key, p in params.items():
                v = velocity[key]
                v *= mom32
                v -= lr32 * grads[key]
                element = states[key[0]].element if key[0] in states else None
                if element is not None:
                    v *= element
                p += v
            losses.append(loss)
            event: MaskEvent = "none"
            fraction = 0.0
            changes: dict[str, MaskUpdate] = {}
            sparse_steps = step + 1 - start
            if sparse and sparse_steps == 0:
                event, fraction, changes = "prune", float(sparsity.sparsity), prune_all()
            elif (sparse and sparse_steps > 0 and sparse_steps % sparsity.update_interval == 0
                  and sparse_steps < t_end):
                fraction = sparsity.drop_fraction_at(sparse_steps, t_end)
                event, changes = "update", update_all(grads, fraction)
                mask_updates += 1
            if on_step is not None:
                on_step(StepWork(
                    step=step, epoch=epoch, samples=len(idx), loss=loss, mask_event=event,
                    drop_fraction=fraction,
                    layers=tuple(
                        _layer_work(layer, tape, outputs, in_force[layer.name],
                                    states[layer.name], changes.get(layer.name),
                                    layer.name in needs_grad,
                                    event == "update" and sparsity.regrowth == "gradient")
                        for layer in model.matrix_layers()
                    ),
                ))
            step += 1
        epoch_loss = float(np.mean(losses))
        if not np.isfinite(epoch_loss):
            raise WorkloadError(f"lr: loss diverged (non-finite) with lr={lr}; use a smaller value")
        curve.append(accuracy(model, x_test, y_test))
    layers = {
        name: LayerSparsity(
            rows=s.layer.rows, cols=s.layer.cols, blocks=s.blocks, sparse=s.sparse,
            nnzb=int(s.mask.sum()), density=float(s.mask.sum()) / s.blocks,
            weight_density=s.active_weights / (s.layer.rows * s.layer.cols),
            mask_updates=s.updates, initial_pruned=s.initial_pruned, pruned=s.pruned,
            regrown=s.regrown, mask=s.mask,
        )
        for name, s in states.items()
    }
    return SparseTrainResult(
        model=model_name, sparsity=sparsity, epochs=epochs, steps=step,
        steps_per_epoch=steps_per_epoch, lr=float(lr), momentum=float(momentum),
        batch_size=int(batch_size), final_loss=epoch_loss,
        train_accuracy=accuracy(model, x_train, y_train), test_accuracy=curve[-1],
        accuracy_curve=tuple(curve), dataset=DIGITS_DATASET if data is None else "given",
        mask_updates=mask_updates,
        weight_density=sum(s.active_weights for s in states.values()) / model.weights_count(),
        layers=MappingProxyType(layers), network=model,
    )


def _layer_work(
    layer: MatrixLayer,
    tape: dict[str, Any],
    outputs: dict[str, np.ndarray],
    in_force: tuple[np.ndarray, int],
    state: _LayerState,
    change: MaskUpdate | None,
    input_grad: bool,
    regrow_scored: bool,
) -> LayerStepWork:
    """The :class:`LayerStepWork` of ``layer`` for the step whose tape and gradients are given;
    ``in_force`` is the mask during the step and its real weights."""
    mask, active = in_force
    grad = outputs[layer.name]
    vectors = grad.size // layer.cols
    dense = vectors * layer.rows * layer.cols
    nonzero = vectors * active
    return LayerStepWork(
        layer=layer.name, vectors=vectors, rows=layer.rows, cols=layer.cols,
        blocks=state.blocks, nnzb=int(mask.sum()), dense_macs=dense, forward_macs=nonzero,
        backward_macs=nonzero if input_grad else 0, update_macs=nonzero,
        regrow_macs=dense - nonzero if regrow_scored and state.sparse else 0,
        input_zero_fraction=_zero_fraction(_layer_input(layer, tape[layer.name])),
        grad_zero_fraction=_zero_fraction(grad),
        pruned=change.pruned if change is not None else (),
        regrown=change.regrown if change is not None else (),
        mask=mask,
    )
