"""Workload stage: the functional (numerical) crossbar model and hardware accuracy."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from archsim.config import load_hardware
from archsim.errors import WorkloadError
from archsim.mapping.crossbar import layer_geometry
from archsim.workload.data import load_digits_28
from archsim.workload.functional import (
    AnalogSpec,
    MappedLayer,
    evaluate_hardware,
    hardware_accuracy,
    map_layer,
)
from archsim.workload.layers import Dense
from archsim.workload.models import Model, build_model
from archsim.workload.train import DEFAULT_TRAINING, train_sgd

CONFIGS = Path(__file__).resolve().parents[2] / "hw_configs"
EPOCHS = 10  # half of DEFAULT_TRAINING["mlp"]: 98 % on the digits in about 1.5 s

#: conductance window of Wu et al. 2023's cells, 4-40 uS (hw_configs/wu2023_64x64.yaml)
G_MIN_S, G_MAX_S = 4e-6, 40e-6


@pytest.fixture(scope="module")
def trained() -> tuple[Model, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The mlp trained as export_trace trains it (one generator: weights, split, shuffles)."""
    rng = np.random.default_rng(0)
    model = build_model("mlp", rng)
    data = load_digits_28(rng)
    cfg = DEFAULT_TRAINING["mlp"]
    train_sgd(
        model, *data, epochs=EPOCHS, lr=cfg.lr, momentum=cfg.momentum,
        batch_size=cfg.batch_size, rng=rng,
    )
    return model, data


@pytest.fixture(scope="module")
def mlp(trained) -> Model:
    return trained[0]


@pytest.fixture(scope="module")
def digits(trained) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return trained[1]


@pytest.fixture(scope="module")
def wu_spec() -> AnalogSpec:
    """Wu et al. 2023's tile (64x64, 7-bit cells, differential, bit-serial inputs, 8-bit ADC per
    8 columns, analog accumulation), ideal: no noise, calibrated ranges."""
    tile = load_hardware(CONFIGS / "wu2023_64x64.yaml").tile
    return AnalogSpec.from_tile(
        tile, weight_bits=8, act_bits=8, adc_range="calibrated", g_min_s=G_MIN_S,
        g_max_s=G_MAX_S, program_noise=0.0, read_noise=0.0,
    )


def _evaluate(model: Model, spec: AnalogSpec, digits, *, seed: int = 0, samples: int | None = None,
              batch_size: int = 256):
    x_train, _, x_test, y_test = digits
    calibration = x_train[:256] if spec.adc_range == "calibrated" else None
    n = len(x_test) if samples is None else samples
    return evaluate_hardware(
        model, spec, x_test[:n], y_test[:n], rng=np.random.default_rng(seed),
        calibration=calibration, batch_size=batch_size,
    )


def _spec(**changes: object) -> AnalogSpec:
    """A small spec with several row blocks, slices, input slices and ADC groups."""
    base: dict[str, object] = {
        "array_rows": 64, "cell_bits": 3, "signed_weights": "differential", "weight_bits": 8,
        "act_bits": 8, "dac_bits": 2, "adc_bits": 16, "adc_accumulate": "analog",
        "adc_range": "full_scale", "g_min_s": G_MIN_S, "g_max_s": G_MAX_S, "program_noise": 0.0,
        "read_noise": 0.0, "array_cols": 32, "columns_per_adc": 4,
    }
    base.update(changes)
    return AnalogSpec(**base)  # type: ignore[arg-type]


def _error_bound(mapped: MappedLayer, x: np.ndarray) -> np.ndarray:
    """Largest |hardware - quantised float product| per (sample, output), no noise.

    Each conversion errs by at most half an LSB, R / (2 La). An output merges, per row block
    r, polarity p, weight slice s and input slice j, one conversion with weight
    2**(s cell_bits - pad) * 2**(j dac_bits) (analog accumulation: one conversion, weight
    2**(s cell_bits - pad)), where the stored magnitude of mb bits is left-aligned in
    S = ceil(mb / cell_bits) cells, pad = S cell_bits - mb. In weight and activation units the
    integer error scales by s_x / Lx * s_w / Lw; a sample with negative inputs runs twice.
    """
    spec = mapped.spec
    mb = spec.weight_bits - 1 if spec.signed_weights == "differential" else spec.weight_bits
    slices = math.ceil(mb / spec.cell_bits)
    pad = slices * spec.cell_bits - mb
    slice_weight = 2.0 ** (np.arange(slices) * spec.cell_bits - pad)
    if spec.adc_accumulate == "analog":
        input_weight = 1.0
    else:
        reads = math.ceil(spec.act_bits / spec.dac_bits)
        input_weight = float(sum(2.0 ** (j * spec.dac_bits) for j in range(reads)))
    half_lsb = mapped.adc_range / (2 * (2**spec.adc_bits - 1))  # (blocks, P, S, N)
    per_output = input_weight * np.einsum("rpsn,s->n", half_lsb, slice_weight)
    scale = np.abs(x).max(axis=1) / (2**spec.act_bits - 1)
    passes = np.where((x < 0).any(axis=1), 2.0, 1.0)
    w_unit = mapped.weight_scale / (2 ** (spec.weight_bits - 1) - 1)
    return (passes * scale)[:, None] * per_output[None, :] * w_unit


@pytest.mark.parametrize("adc_range", ["full_scale", "calibrated"])
@pytest.mark.parametrize("accumulate", ["analog", "digital"])
@pytest.mark.parametrize("scheme", ["differential", "offset"])
def test_dense_layer_ideal_within_quantisation_bound(scheme, accumulate, adc_range) -> None:
    """No noise, 16-bit ADC: one dense layer (3 row blocks, 2 column splits, 3 weight slices, 4
    input slices) equals the quantised float product to within the derived ADC bound."""
    rng = np.random.default_rng(1)
    layer = Dense("fc", ["input"], 150, 10)
    layer.init_he(rng)
    x = np.abs(rng.standard_normal((12, 150)))
    x[x < 0.3] = 0.0
    x[:3] -= 0.5  # negative inputs in three samples: the sign-split path
    spec = _spec(signed_weights=scheme, adc_accumulate=accumulate, adc_range=adc_range)
    mapped = map_layer(layer, spec, rng=np.random.default_rng(2))
    if adc_range == "calibrated":
        mapped = mapped.calibrated(mapped.column_peaks(x))
    y, counts = mapped.forward(x)

    s_x = np.abs(x).max(axis=1, keepdims=True)
    xq = np.sign(x) * np.rint(np.abs(x) / s_x * 255) * s_x / 255
    s_w = np.abs(layer.weight).max()
    wq = np.rint(layer.weight / s_w * 127) * s_w / 127
    reference = xq @ wq.astype(np.float64)
    bound = _error_bound(mapped, x)
    assert np.all(np.abs(y - reference) <= bound * (1 + 1e-9) + 1e-12)
    # The bound is tight enough to mean something: far below the outputs themselves.
    assert bound.max() < 2e-3 * np.abs(reference).max()
    assert counts.clipped == 0
    reads = 1 if accumulate == "analog" else 4
    columns = spec.polarity * spec.weight_slices * 10
    assert counts.conversions == (12 + 3) * 3 * columns * reads  # 3 samples run twice


@pytest.mark.parametrize("scheme", ["differential", "offset"])
def test_output_follows_programmed_conductances(scheme) -> None:
    """With programming noise, the output is the product of the conductances actually written
    (differential: G+ - G-; offset: column minus its array's reference column, less the
    offset Lw sum(xq)), merged over slices with weights 2**(s cell_bits - pad)."""
    spec = _spec(signed_weights=scheme, program_noise=0.05, array_cols=16)
    rng = np.random.default_rng(4)
    layer = Dense("fc", ["input"], 150, 10)
    layer.init_he(rng)
    x = rng.random((5, 150))
    mapped = map_layer(layer, spec, rng=np.random.default_rng(5))
    y, _ = mapped.forward(x)

    xq = np.rint(x / x.max(axis=1, keepdims=True) * 255)
    step = (G_MAX_S - G_MIN_S) / 7
    g = mapped.conductance
    mb = 7 if scheme == "differential" else 8
    slice_weight = 2.0 ** (np.arange(3) * 3 - (9 - mb))
    if scheme == "differential":
        levels = (g[0] - g[1]) / step
    else:
        array_of_output = np.arange(10) // 5  # 16 columns hold 5 outputs of 3 cells
        assert mapped.reference is not None and mapped.reference.shape == (150, 2)
        levels = (g[0] - mapped.reference[None, :, array_of_output]) / step
    y_int = xq @ np.einsum("skn,s->kn", levels, slice_weight)
    if scheme == "offset":
        y_int -= 127 * xq.sum(axis=1, keepdims=True)
    expected = y_int * x.max(axis=1, keepdims=True) / 255 * mapped.weight_scale / 127
    bound = _error_bound(mapped, x)
    assert np.all(np.abs(y - expected) <= bound * (1 + 1e-9) + 1e-12)
    ideal = xq @ np.rint(layer.weight / mapped.weight_scale * 127)
    assert np.abs(y_int - ideal).max() > 1.0  # the noise is there to be followed


def test_calibrated_range_is_per_adc() -> None:
    """Calibrated ranges: every column gets the largest peak of the columns its ADC converts.
    With 32-column arrays, 6 columns per output (2 polarities x 3 slices) and 4 columns per
    ADC, output n sits in array n // 5, its column (p, s) at (n % 5) * 6 + 3 p + s."""
    spec = _spec(adc_range="calibrated")
    rng = np.random.default_rng(6)
    layer = Dense("fc", ["input"], 150, 10)
    layer.init_he(rng)
    mapped = map_layer(layer, spec, rng=rng)
    peaks = mapped.column_peaks(rng.random((20, 150)))
    ranges = mapped.calibrated(peaks).adc_range
    assert peaks.shape == ranges.shape == (3, 2, 3, 10)
    p, s, n = np.meshgrid(np.arange(2), np.arange(3), np.arange(10), indexing="ij")
    adc = (n // 5) * 8 + ((n % 5) * 6 + 3 * p + s) // 4
    for r in range(3):
        for k in np.unique(adc):
            group = adc == k
            np.testing.assert_array_equal(ranges[r][group], peaks[r][group].max())
    assert len(np.unique(ranges[0])) > 5


@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize("accumulate", ["analog", "digital"])
def test_read_noise_std_matches_per_cell_sum(scheme, accumulate) -> None:
    """The output noise equals that of independent per-cell read errors of std
    read_noise x (g_max - g_min): per slice column, sr sqrt(sum_j 4**(j dac_bits) sum_i x_ji**2)
    with sr = read_noise Lc in level units; weight slices merge with weights w_s; the offset
    scheme subtracts one reference column per array, read once and shared by the slices:
    var = sr**2 E (sum_s w_s**2 + (sum_s w_s)**2), differential var = sr**2 E 2 sum_s w_s**2."""
    spec = _spec(
        signed_weights=scheme, adc_accumulate=accumulate, cell_bits=4, read_noise=0.05,
        array_cols=None, columns_per_adc=1,
    )
    layer = Dense("fc", ["input"], 64, 3)
    layer.weight[...] = -8 / 127  # every stored digit far from 0: no clipping at the ADC
    layer.weight[0, :] = 1.0
    mapped = map_layer(layer, spec, rng=np.random.default_rng(0))
    n = 3000
    x_one = np.linspace(0.2, 1.0, 64)
    x = np.tile(x_one, (n, 1))
    y, counts = mapped.forward(x, [np.random.default_rng((7, i)) for i in range(n)])
    assert counts.clipped == 0

    xq = np.rint(x_one / x_one.max() * 255).astype(int)
    bits = [(xq >> (2 * j)) & 3 for j in range(4)]
    energy = sum(4.0 ** (2 * j) * float((b**2).sum()) for j, b in enumerate(bits))
    mb = 7 if scheme == "differential" else 8
    slices = math.ceil(mb / 4)
    w = 2.0 ** (np.arange(slices) * 4 - (slices * 4 - mb))
    slice_factor = 2 * (w**2).sum() if scheme == "differential" else (w**2).sum() + w.sum() ** 2
    sr = 0.05 * 15
    unit = x_one.max() / 255 * 1.0 / 127
    expected = sr * math.sqrt(energy * slice_factor) * unit
    measured = y.std(axis=0)
    # 3000 draws estimate a std to about 1.3 % (1 / sqrt(2 n)); 5 % is a 3.8 sigma margin.
    np.testing.assert_allclose(measured, expected, rtol=0.05)


@pytest.mark.parametrize("adc_range", ["calibrated", "full_scale"])
def test_mlp_ideal_hardware_matches_software(mlp, digits, wu_spec, adc_range) -> None:
    spec = dataclasses.replace(wu_spec, adc_bits=16, adc_range=adc_range)
    result = _evaluate(mlp, spec, digits)
    assert result.software_accuracy > 0.95
    assert abs(result.accuracy - result.software_accuracy) <= 0.01


@pytest.mark.parametrize("accumulate", ["analog", "digital"])
def test_accuracy_falls_with_adc_bits(mlp, digits, wu_spec, accumulate) -> None:
    spec = dataclasses.replace(wu_spec, adc_accumulate=accumulate)
    acc = {
        bits: _evaluate(mlp, dataclasses.replace(spec, adc_bits=bits), digits).accuracy
        for bits in (8, 4, 2)
    }
    software = _evaluate(mlp, spec, digits).software_accuracy
    one_sample = 1 / len(digits[2])
    assert acc[8] >= software - 0.01
    assert acc[4] <= acc[8] + one_sample
    assert acc[2] <= acc[4] - 0.05


def test_calibration_beats_full_scale(mlp, digits, wu_spec) -> None:
    """At 4 bits a full-scale range wastes the ADC on column values that never occur; a range
    calibrated on training data keeps the accuracy. Calibrating on one image clips."""
    four = dataclasses.replace(wu_spec, adc_bits=4)
    calibrated = _evaluate(mlp, four, digits)
    full = _evaluate(mlp, dataclasses.replace(four, adc_range="full_scale"), digits)
    assert calibrated.accuracy >= full.accuracy + 0.2
    assert all(layer.clipped_fraction == 0 for layer in full.layers)
    x_train, _, x_test, y_test = digits
    narrow = evaluate_hardware(
        mlp, four, x_test, y_test, rng=np.random.default_rng(0), calibration=x_train[:1]
    )
    assert narrow.layers[0].clipped_fraction > 0.01


def test_signed_weight_schemes_agree_ideal(mlp, digits, wu_spec) -> None:
    # Full-scale ranges: nothing clips, so both are within a 16-bit ADC's error of the same
    # quantised product (calibrated ranges clip the rare test input beyond the calibration
    # set's peak, and do so differently in the two schemes).
    ideal = dataclasses.replace(wu_spec, adc_bits=16, adc_range="full_scale")
    differential = _evaluate(mlp, ideal, digits)
    offset = _evaluate(mlp, dataclasses.replace(ideal, signed_weights="offset"), digits)
    assert differential.layers[0].polarity == 2 and offset.layers[0].polarity == 1
    assert differential.accuracy == offset.accuracy


def test_cell_bits_agree_ideal(mlp, digits, wu_spec) -> None:
    results = {
        bits: _evaluate(
            mlp, dataclasses.replace(wu_spec, adc_bits=16, cell_bits=bits, adc_range="full_scale"),
            digits,
        )
        for bits in (1, 4, 8)
    }
    assert [results[b].layers[0].weight_slices for b in (1, 4, 8)] == [7, 2, 1]
    assert len({r.accuracy for r in results.values()}) == 1


def test_programming_noise_lowers_accuracy(mlp, digits, wu_spec) -> None:
    means = []
    for noise in (0.0, 0.1, 0.3):
        spec = dataclasses.replace(wu_spec, program_noise=noise)
        means.append(np.mean([_evaluate(mlp, spec, digits, seed=s).accuracy for s in range(3)]))
    assert means[0] > means[1] > means[2]
    assert means[2] <= means[0] - 0.05


@pytest.mark.parametrize(
    ("scheme", "accumulate"), [("differential", "analog"), ("offset", "digital")]
)
def test_seed_determines_result_whatever_the_batch_size(
    mlp, digits, wu_spec, scheme, accumulate
) -> None:
    spec = dataclasses.replace(
        wu_spec, signed_weights=scheme, adc_accumulate=accumulate, program_noise=0.05,
        read_noise=0.2,
    )
    runs = [_evaluate(mlp, spec, digits, seed=3, samples=150, batch_size=b) for b in (256, 40, 7)]
    again = _evaluate(mlp, spec, digits, seed=3, samples=150, batch_size=256)
    assert again.to_dict() == runs[0].to_dict()
    for run in runs[1:]:
        assert run.to_dict() == runs[0].to_dict()
    noisy = dataclasses.replace(spec, program_noise=0.3)
    seeds = {_evaluate(mlp, noisy, digits, seed=s, samples=150).accuracy for s in range(3)}
    assert len(seeds) > 1


def test_report_matches_mapping_stage(mlp, digits, wu_spec) -> None:
    result = _evaluate(mlp, wu_spec, digits)
    assert [layer.name for layer in result.layers] == ["fc1", "fc2"]
    for report, layer in zip(result.layers, mlp.matrix_layers()):
        geometry = layer_geometry(
            layer.name, layer.rows, layer.cols, array_rows=64, array_cols=64, weight_bits=8,
            cell_bits=7, signed_weights="differential",
        )
        assert report.row_blocks == geometry.row_splits
        assert report.col_splits == geometry.col_splits
        assert report.arrays == geometry.crossbars
        assert report.weight_slices == geometry.weight_slices
        assert report.input_slices == 8
        # analog accumulation: one conversion per physical column per row block per sample
        assert report.conversions == result.samples * report.row_blocks * 2 * layer.cols
        assert 0.0 <= report.clipped_fraction < 0.01
    assert (result.layers[0].row_blocks, result.layers[0].arrays) == (13, 52)
    assert json.loads(json.dumps(result.to_dict()))["spec"]["adc_bits"] == 8
    x_train, _, x_test, y_test = digits
    assert hardware_accuracy(
        mlp, wu_spec, x_test, y_test, rng=np.random.default_rng(0), calibration=x_train[:256]
    ) == result.accuracy


def test_from_tile_reads_the_tile(wu_spec) -> None:
    assert (wu_spec.array_rows, wu_spec.array_cols, wu_spec.cell_bits) == (64, 64, 7)
    assert (wu_spec.signed_weights, wu_spec.dac_bits, wu_spec.adc_bits) == ("differential", 1, 8)
    assert (wu_spec.adc_accumulate, wu_spec.columns_per_adc) == ("analog", 8)
    assert (wu_spec.weight_slices, wu_spec.input_slices) == (1, 8)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("adc_bits", 0),
        ("adc_bits", 17),
        ("program_noise", -0.1),
        ("read_noise", -1e-3),
        ("read_noise", float("nan")),
        ("g_min_s", 40e-6),
        ("g_min_s", 50e-6),
        ("adc_range", "auto"),
        ("adc_accumulate", "both"),
        ("signed_weights", "twos_complement"),
        ("weight_bits", 1),
        ("cell_bits", 0),
        ("act_bits", True),
        ("dac_bits", 2.5),
        ("array_cols", 4),  # one output needs 2 x 3 = 6 columns
    ],
)
def test_bad_parameters(field, value) -> None:
    with pytest.raises(WorkloadError, match=f"^{field}: ") as error:
        _spec(**{field: value})
    assert "\n" not in str(error.value)


def test_bad_arguments(mlp, digits, wu_spec) -> None:
    x_train, _, x_test, y_test = digits
    rng = np.random.default_rng(0)
    with pytest.raises(WorkloadError, match="^calibration: required"):
        evaluate_hardware(mlp, wu_spec, x_test, y_test, rng=rng)
    full = dataclasses.replace(wu_spec, adc_range="full_scale")
    with pytest.raises(WorkloadError, match="^calibration: given"):
        evaluate_hardware(mlp, full, x_test, y_test, rng=rng, calibration=x_train)
    with pytest.raises(WorkloadError, match="^batch_size: "):
        evaluate_hardware(mlp, full, x_test, y_test, rng=rng, batch_size=0)
    with pytest.raises(WorkloadError, match="^x_test: "):
        evaluate_hardware(mlp, full, x_test[:, :27], y_test, rng=rng)
    with pytest.raises(WorkloadError, match="^y_test: "):
        evaluate_hardware(mlp, full, x_test, y_test[:-1], rng=rng)
    noisy = map_layer(mlp.layer("fc2"), dataclasses.replace(full, read_noise=0.1), rng=rng)
    with pytest.raises(WorkloadError, match="^read_rngs: "):
        noisy.forward(np.ones((2, 128)))
