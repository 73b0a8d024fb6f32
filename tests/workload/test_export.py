"""Workload stage: activation statistics and trace export (read back with the trace reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.errors import WorkloadError
from archsim.workload import export as export_module
from archsim.workload.activity import (
    activity_stats,
    activity_stats_batch,
    quantize_unsigned,
)
from archsim.workload.export import TRAINABLE_MODELS, export_trace
from archsim.workload.layers import Conv2D, Dense
from archsim.workload.models import build_model
from archsim.workload.trace import TraceReader

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "traces" / "lenet-wu_trained_16.jsonl.gz"


# ---------------------------------------------------------------------------------------------
# activity
# ---------------------------------------------------------------------------------------------


def test_conv_stats_by_hand() -> None:
    """3x3 input, 2x2 kernel, 2-bit activations.

    Quantised input [[3,0,1],[0,0,0],[2,0,0]] gives the windows [3,0,0,0], [0,1,0,0],
    [0,0,2,0], [0,0,0,0]: 3 non-zero of 16 elements; bit 0 is set in 3 and 1 (2/16), bit 1 in
    3 and 2 (2/16); bit plane 0 is empty in windows 3 and 4, bit plane 1 in windows 2 and 4.
    """
    q = np.array([[3, 0, 1], [0, 0, 0], [2, 0, 0]], dtype=np.float32)
    x = (q / 3 * 0.6)[:, :, None]  # any positive scale; max maps to 3
    layer = Conv2D("c", ["input"], 1, 5, 2)
    stats = activity_stats(layer, x, act_bits=2)
    assert (stats.vectors, stats.rows, stats.act_bits) == (4, 4, 2)
    assert stats.input_nz == pytest.approx(3 / 16)
    assert stats.bitplane_nz == pytest.approx((2 / 16, 2 / 16))
    assert stats.bitplane_allzero == pytest.approx((2 / 4, 2 / 4))
    assert not stats.negative_inputs


def test_padding_counts_as_zeros() -> None:
    """A single pixel of 1.0 under a 3x3 kernel with padding 1: one window of 9, one non-zero."""
    layer = Conv2D("c", ["input"], 1, 2, 3, padding=1)
    stats = activity_stats(layer, np.ones((1, 1, 1)), act_bits=8)
    assert (stats.vectors, stats.rows) == (1, 9)
    assert stats.input_nz == pytest.approx(1 / 9)
    assert stats.bitplane_nz == pytest.approx((1 / 9,) * 8)  # 255 = all ones
    assert stats.bitplane_allzero == pytest.approx((0.0,) * 8)


def test_dense_stats_zero_and_negative_inputs() -> None:
    layer = Dense("d", ["input"], 4, 3)
    stats = activity_stats(layer, np.array([0.0, 0.4, 1.0, 0.6]), act_bits=1)
    assert stats.vectors == 1 and stats.input_nz == 0.5
    assert stats.bitplane_nz == (0.5,) and stats.bitplane_allzero == (0.0,)
    zero = activity_stats(layer, np.zeros(4), act_bits=3)
    assert zero.input_nz == 0.0
    assert zero.bitplane_nz == (0.0, 0.0, 0.0) and zero.bitplane_allzero == (1.0, 1.0, 1.0)
    neg = activity_stats(layer, np.array([-1.0, 0.2, 0.0, 0.0]), act_bits=1)
    assert neg.negative_inputs and neg.input_nz == 0.25


def test_quantize_unsigned_per_sample_scale() -> None:
    x = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [0.5, 0.25, 0.0]])
    q, negative = quantize_unsigned(x, 8)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, [[0, 128, 255], [0, 0, 0], [255, 128, 0]])
    assert not negative.any()
    q16, _ = quantize_unsigned(x, 12)
    assert q16.dtype == np.uint16 and q16.max() == 4095
    with pytest.raises(WorkloadError, match="act_bits"):
        quantize_unsigned(x, 0)


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 6),
    cin=st.integers(1, 3),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 1),
    bits=st.integers(1, 10),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_stats_match_per_vector_reference(
    h: int, cin: int, k: int, stride: int, pad: int, bits: int, density: float, seed: int
) -> None:
    """Vectorised statistics equal a loop over explicit windows of the quantised input."""
    if h + 2 * pad < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.random((2, h, h, cin)) * (rng.random((2, h, h, cin)) < density)
    layer = Conv2D("c", ["input"], cin, 2, k, stride=stride, padding=pad)
    batch = activity_stats_batch(layer, x, act_bits=bits)
    levels = 2**bits - 1
    for s in range(2):
        scale = x[s].max()
        q = np.rint(x[s] / scale * levels).astype(int) if scale > 0 else np.zeros_like(x[s], int)
        qp = np.pad(q, ((pad, pad), (pad, pad), (0, 0)))
        vecs = [
            qp[i : i + k, j : j + k, :].ravel()
            for i in range(0, h + 2 * pad - k + 1, stride)
            for j in range(0, h + 2 * pad - k + 1, stride)
        ]
        elems = np.concatenate(vecs)
        got = batch[s]
        assert got.vectors == len(vecs) and got.rows == k * k * cin
        assert got.input_nz == pytest.approx(np.mean(elems != 0))
        for b in range(bits):
            assert got.bitplane_nz[b] == pytest.approx(np.mean((elems >> b) & 1))
            assert got.bitplane_allzero[b] == pytest.approx(
                np.mean([not ((v >> b) & 1).any() for v in vecs])
            )


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


def read_trace(path: Path):
    with TraceReader(path) as reader:
        return reader.header, list(reader)


def check_trace_matches_model(path: Path, model_name: str, samples: int) -> list:
    """Header describes the zoo model; records run every layer once per sample, in order."""
    model = build_model(model_name, np.random.default_rng(0))
    header, records = read_trace(path)
    assert header.model == model_name and header.samples == samples
    assert tuple(header.network.input_shape) == model.input_shape
    assert [layer.name for layer in header.network.layers] == [lay.name for lay in model.layers]
    assert len(records) == samples * len(model.layers)
    for i, record in enumerate(records):
        layer = model.layers[i % len(model.layers)]
        assert record.sample == i // len(model.layers)
        assert record.phase == "forward" and record.layer == layer.name
        in_elems = int(np.prod(model.in_shape(layer)))
        out_elems = int(np.prod(model.out_shape(layer)))
        if layer.kind in ("conv", "dense"):
            assert record.kind == "mvm"
            assert (record.vectors, record.rows, record.cols) == (
                model.vectors_per_sample(layer), layer.rows, layer.cols,
            )
            assert record.input_bits == header.network.act_bits
            assert len(record.bitplane_nz) == len(record.bitplane_allzero) == record.input_bits
            assert 0.0 <= record.input_nz <= 1.0
            assert all(p <= record.input_nz + 1e-12 for p in record.bitplane_nz)
            assert all(0.0 <= p <= 1.0 for p in record.bitplane_allzero)
        elif layer.kind in ("maxpool", "avgpool"):
            assert record.kind == layer.kind
            assert (record.elements, record.outputs) == (in_elems, out_elems)
        else:
            assert record.kind == layer.kind
            assert record.elements == out_elems
    return records


def test_export_lenet_untrained(tmp_path: Path) -> None:
    out = tmp_path / "lenet.jsonl.gz"
    summary = export_trace("lenet-wu", out, samples=3, seed=0)
    assert summary.path == str(out) and summary.model == "lenet-wu"
    assert summary.samples == 3 and summary.records == 24 and summary.test_accuracy is None
    records = check_trace_matches_model(out, "lenet-wu", 3)
    assert [r.vectors for r in records[:8] if r.kind == "mvm"] == [576, 64, 1]
    header, _ = read_trace(out)
    assert header.seed == 0 and header.meta["training"] is None
    assert header.network.weight_bits == 8 and header.network.act_bits == 8
    # Digit images have a black border: conv1 sees many zero elements but not all.
    assert 0.05 < records[0].input_nz < 0.9


def test_export_is_deterministic_and_batch_independent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    export_trace("lenet-wu", a, samples=5, seed=3, act_bits=4)
    monkeypatch.setattr(export_module, "MAX_BATCH", 2)
    export_trace("lenet-wu", b, samples=5, seed=3, act_bits=4)
    ra, rb = read_trace(a)[1], read_trace(b)[1]
    assert ra == rb
    assert ra[0].input_bits == 4 and len(ra[0].bitplane_nz) == 4
    # Different samples are different images.
    assert ra[0].input_nz != ra[8].input_nz or ra[3].input_nz != ra[11].input_nz
    # Synthetic inputs are drawn per sample, so batching does not change them either.
    export_trace("vgg8-wu", b, samples=3, seed=3)
    monkeypatch.setattr(export_module, "MAX_BATCH", 64)
    export_trace("vgg8-wu", a, samples=3, seed=3)
    assert read_trace(a)[1] == read_trace(b)[1]


def test_export_cycles_test_images(tmp_path: Path) -> None:
    """The digits test split holds 359 images; sample 359 is sample 0 again."""
    out = tmp_path / "mlp.jsonl"
    export_trace("mlp", out, samples=361, seed=0)
    records = read_trace(out)[1]
    per = 4
    first, again = records[0:per], records[359 * per : 360 * per]
    for r0, r1 in zip(first, again):
        assert (r0.layer, r0.input_nz, r0.bitplane_nz) == (r1.layer, r1.input_nz, r1.bitplane_nz)
    fc1 = [r.input_nz for r in records[1::per][:3]]  # records[1] is fc1 of sample 0
    assert len(set(fc1)) > 1


def test_export_trained_mlp(tmp_path: Path) -> None:
    out = tmp_path / "mlp.jsonl.gz"
    summary = export_trace("mlp", out, samples=2, train=True, epochs=2, seed=1)
    assert summary.test_accuracy is not None and summary.test_accuracy > 0.8
    header, _ = read_trace(out)
    assert header.meta["training"]["epochs"] == 2
    assert header.meta["training"]["test_accuracy"] == summary.test_accuracy
    check_trace_matches_model(out, "mlp", 2)


@pytest.mark.parametrize("name", ["vgg8-wu", "resnet18"])
def test_export_synthetic_models(tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.jsonl"
    summary = export_trace(name, out, samples=1, seed=0)
    records = check_trace_matches_model(out, name, 1)
    assert summary.records == len(records)
    mvm = [r.vectors for r in records if r.kind == "mvm"]
    if name == "vgg8-wu":
        assert mvm == [1024, 1024, 256, 256, 64, 64, 1, 1]
    else:
        assert len(mvm) == 21
        # Uniform [0, 1) pixels are almost never quantised to 0 (p = 0.5 / 255), but the zero
        # padding is: along each axis 32 windows x 3 taps see 94 of 96 in-image positions.
        assert records[0].input_nz == pytest.approx((94 / 96) ** 2 * (1 - 0.5 / 255), abs=0.005)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"model_name": "x"}, "unknown model 'x'; expected one of mlp, mlp-wide, lenet-wu, vgg8-wu"),
        ({"samples": 0}, "samples"),
        ({"seed": -1}, "seed"),
        ({"act_bits": 0}, "act_bits"),
        ({"weight_bits": 17}, "weight_bits"),
        ({"model_name": "vgg8-wu", "train": True}, "model 'vgg8-wu' cannot be trained"),
        ({"model_name": "resnet18", "train": True}, "model 'resnet18' cannot be trained"),
        ({"epochs": 3}, "epochs: given"),
        ({"train": True, "epochs": 0}, "epochs"),
    ],
)
def test_export_rejects_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    out = tmp_path / "bad.jsonl.gz"
    args = {"model_name": "lenet-wu", "out_path": out, "samples": 1} | kwargs
    with pytest.raises(WorkloadError, match=match):
        export_trace(**args)
    assert list(tmp_path.iterdir()) == []


def test_export_creates_missing_directories(tmp_path: Path) -> None:
    summary = export_trace("mlp", tmp_path / "new" / "dir" / "t.jsonl", samples=1)
    assert Path(summary.path).is_file()


def test_export_refuses_a_file_as_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(WorkloadError, match="out_path: .* is not a directory"):
        export_trace("mlp", tmp_path / "file" / "t.jsonl", samples=1)


def test_trainable_models() -> None:
    assert TRAINABLE_MODELS == ("mlp", "lenet-wu")


def test_bundled_trace() -> None:
    """traces/lenet-wu_trained_16.jsonl.gz (scripts/make_traces.py): trained lenet-wu, seed 0,
    16 digits test samples, small enough to ship."""
    assert BUNDLED.stat().st_size < 100_000
    check_trace_matches_model(BUNDLED, "lenet-wu", 16)
    header, _ = read_trace(BUNDLED)
    assert header.seed == 0
    assert header.meta["training"]["test_accuracy"] >= 0.95
