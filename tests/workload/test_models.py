"""Workload stage: model DAGs and the zoo shapes (Wu et al. 2023; REFERENCES.md [Wu2023])."""

from __future__ import annotations

import json

import numpy as np
import pytest

from archsim.errors import WorkloadError
from archsim.workload.layers import Add, Conv2D, Dense, Flatten, MaxPool2D, ReLU
from archsim.workload.models import MODEL_NAMES, Model, build_model


def matrix_summary(model: Model) -> list[tuple[str, int, int, int]]:
    return [
        (layer.name, layer.rows, layer.cols, model.vectors_per_sample(layer))
        for layer in model.matrix_layers()
    ]


def test_lenet_wu_shapes() -> None:
    """Wu et al. 2023 (arXiv 2305.14547) LeNet as archsim reconstructs it (REFERENCES.md [Wu2023]):
    3220 weights (6440 devices), conv1 25x4 over 576 windows, conv2 100x12 over 64, fc 192x10."""
    model = build_model("lenet-wu", np.random.default_rng(0))
    assert model.input_shape == (28, 28, 1)
    assert model.weights_count() == 3220
    assert matrix_summary(model) == [
        ("conv1", 25, 4, 576),
        ("conv2", 100, 12, 64),
        ("fc1", 192, 10, 1),
    ]
    assert [layer.kind for layer in model.layers] == [
        "conv", "relu", "maxpool", "conv", "relu", "maxpool", "flatten", "dense",
    ]


def test_vgg8_wu_shapes() -> None:
    """Wu et al. 2023 VGG-8 as archsim reconstructs it (REFERENCES.md [Wu2023]): 549,984
    weights and 38.9M MACs (77.8M FLOPs)."""
    model = build_model("vgg8-wu", np.random.default_rng(0))
    assert model.input_shape == (32, 32, 3)
    assert model.weights_count() == 549_984
    summary = matrix_summary(model)
    assert [s[3] for s in summary] == [1024, 1024, 256, 256, 64, 64, 1, 1]
    assert [(s[1], s[2]) for s in summary] == [
        (27, 32), (288, 32), (288, 64), (576, 64), (576, 128), (1152, 128), (2048, 128), (128, 10),
    ]
    macs = sum(rows * cols * vectors for _, rows, cols, vectors in summary)
    assert macs / 1e6 == pytest.approx(38.9, abs=0.05)


def test_resnet18_shapes() -> None:
    """CIFAR ResNet-18 (He et al. 2016) without batch norm and biases: 17 3x3 convs, three 1x1
    stride-2 projection shortcuts, fc 512->10; 11,164,352 weights (the usual 11,173,962
    parameters minus 9,600 batch-norm parameters and 10 fc biases)."""
    model = build_model("resnet18", np.random.default_rng(0))
    names = [layer.name for layer in model.matrix_layers()]
    assert [n for n in names if n.startswith("conv")] == [f"conv{i}" for i in range(1, 18)]
    assert [n for n in names if n.startswith("shortcut")] == ["shortcut1", "shortcut2", "shortcut3"]
    assert [n for n in names if n.startswith("fc")] == ["fc1"]
    expected = 3 * 3 * 3 * 64 + 512 * 10
    cin = 64
    for channels in (64, 128, 256, 512):
        expected += 9 * cin * channels + 3 * 9 * channels * channels
        if cin != channels:
            expected += cin * channels
        cin = channels
    assert expected == 11_164_352
    assert model.weights_count() == expected
    for layer, shape in zip(("shortcut1", "shortcut2", "shortcut3"), (16, 8, 4)):
        sc = model.layer(layer)
        assert isinstance(sc, Conv2D) and sc.kernel == (1, 1) and sc.stride == 2
        assert model.out_shape(sc)[:2] == (shape, shape)
    assert sum(layer.kind == "add" for layer in model.layers) == 8
    assert model.layer("gap1").kind == "avgpool"
    assert model.out_shape(model.layer("gap1")) == (1, 1, 512)


def test_mlp_shapes() -> None:
    model = build_model("mlp", np.random.default_rng(0))
    assert matrix_summary(model) == [("fc1", 784, 128, 1), ("fc2", 128, 10, 1)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_output_and_capture(name: str) -> None:
    model = build_model(name, np.random.default_rng(0))
    x = np.random.default_rng(1).random((2,) + model.input_shape, dtype=np.float32)
    logits = model.forward(x)
    assert logits.shape == (2, 10)
    assert np.all(np.isfinite(logits))
    out, captured = model.forward(x, capture=True)
    np.testing.assert_array_equal(out, logits)
    assert list(captured) == [layer.name for layer in model.layers]
    for layer in model.layers:
        assert captured[layer.name].shape == (2,) + model.in_shape(layer)
    np.testing.assert_array_equal(captured[model.layers[0].name], x)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_spec_is_plain_json(name: str) -> None:
    model = build_model(name, np.random.default_rng(0))
    spec = model.spec()
    assert json.loads(json.dumps(spec)) == spec
    common = {"name", "kind", "inputs", "in_shape", "out_shape"}
    extra = {
        "conv": {"kernel", "stride", "padding", "rows", "cols"},
        "dense": {"rows", "cols"},
        "maxpool": {"kernel", "stride"},
        "avgpool": {"kernel", "stride"},
    }
    names = set()
    for entry, layer in zip(spec, model.layers):
        assert set(entry) == common | extra.get(entry["kind"], set())
        assert entry["name"] == layer.name and entry["kind"] == layer.kind
        assert all(src == "input" or src in names for src in entry["inputs"])
        names.add(entry["name"])
    assert len(names) == len(spec)


def test_build_is_seeded() -> None:
    a = build_model("lenet-wu", np.random.default_rng(7))
    b = build_model("lenet-wu", np.random.default_rng(7))
    c = build_model("lenet-wu", np.random.default_rng(8))
    for la, lb, lc in zip(a.matrix_layers(), b.matrix_layers(), c.matrix_layers()):
        np.testing.assert_array_equal(la.weight, lb.weight)
        assert not np.array_equal(la.weight, lc.weight)
        assert la.weight.dtype == np.float32
    # He normal: std = sqrt(2 / fan_in); conv2 has 1200 weights, so within ~10 %.
    assert a.layer("conv2").weight.std() == pytest.approx(np.sqrt(2 / 100), rel=0.1)


def test_unknown_model_message() -> None:
    with pytest.raises(WorkloadError) as info:
        build_model("x", np.random.default_rng(0))
    assert str(info.value) == (
        "unknown model 'x'; expected one of mlp, mlp-wide, lenet-wu, vgg8-wu, resnet18"
    )


def test_model_validation() -> None:
    with pytest.raises(WorkloadError, match="duplicate layer name 'r'"):
        Model("m", (4,), [ReLU("r", ["input"]), ReLU("r", ["input"])])
    with pytest.raises(WorkloadError, match="reads 'later'"):
        Model("m", (4,), [ReLU("r", ["later"]), ReLU("later", ["input"])])
    model = Model("m", (4,), [Dense("fc1", ["input"], 4, 2)])
    with pytest.raises(WorkloadError, match=r"input batch must have shape \(B, 4\)"):
        model.forward(np.zeros((1, 5)))


def test_dag_backward_matches_numerical_gradient() -> None:
    """Whole-model backward, including a residual fan-out whose gradients must add up."""
    rng = np.random.default_rng(4)
    layers = [
        Conv2D("conv1", ["input"], 2, 3, 3, padding=1),
        ReLU("relu1", ["conv1"]),
        Conv2D("conv2", ["relu1"], 3, 3, 3, padding=1),
        Add("add1", ["conv2", "relu1"]),
        MaxPool2D("pool1", ["add1"], 2),
        Flatten("flatten1", ["pool1"]),
        Dense("fc1", ["flatten1"], 12, 4),
    ]
    model = Model("tiny", (4, 4, 2), layers)
    for layer in model.matrix_layers():
        layer.weight = rng.standard_normal(layer.weight.shape)
    x = rng.standard_normal((3, 4, 4, 2))
    r = rng.standard_normal((3, 4))

    def loss() -> float:
        logits, _ = model.forward_train(x)
        return float((logits * r).sum())

    _, tape = model.forward_train(x)
    grads = model.backward(tape, r)
    assert set(grads) == set(model.parameters())
    eps = 1e-6
    for key, p in model.parameters().items():
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            fp = loss()
            p[idx] = old - eps
            fm = loss()
            p[idx] = old
            numeric[idx] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-7, err_msg=str(key))
