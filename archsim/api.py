"""The library's entry points: what the command line, the sweeps and every script call.

Each function runs the whole pipeline for one kind of job and returns its result::

    from archsim import api

    report = api.run("hw_configs/wu2023_64x64.yaml", "traces/lenet-wu_trained_16.jsonl.gz",
                     overrides=["mapping.pipeline=true"])
    report["per_inference"]["latency_s"]
    report.write("runs/lenet")                     # report.json, report.csv, summary.csv

* :func:`load` reads a hardware config (a path, with ``--set``-style overrides);
* :func:`validate` loads a config and builds its hardware without a workload, so that every
  check a run would make on the config alone is made;
* :func:`run` simulates a trace on a config: simulation, energy accounting, report;
* :func:`traffic` drives a config's NoC with synthetic traffic and reports it the same way;
* :func:`program` lists the controller's instruction stream for one sample of a trace;
* :func:`scrramble` exports a ScRRAMBLe network's trace and runs it; :func:`scrramble_study`
  builds and trains the network first and adds its accuracy;
* :func:`export` runs a zoo model in NumPy and writes its trace
  (:func:`archsim.workload.export.export_trace`); :func:`export_vit` does so for the vision
  transformer ``vit-tiny`` and :func:`export_encoder` writes a shape-only BERT encoder's
  (:mod:`archsim.workload.transformer_export`: version-5 traces with attention's operations);
* :func:`train` trains a zoo model on analog arrays with an on-chip algorithm and writes every
  step as a training trace (:func:`archsim.workload.export.export_training_trace`);
* :func:`train_sparse` trains a zoo model block-sparse (RigL / SET) and writes every step as a
  sparse training trace (:func:`archsim.workload.sparse_export.export_sparse_training_trace`);
* :func:`accuracy` trains a zoo model in software and tests it on the config's crossbars
  (:mod:`archsim.workload.functional`: conductances, noise, DAC and ADC resolution).

A ``config`` argument is a path (loaded with ``overrides``; errors then name the file) or a
:class:`~archsim.config.HardwareConfig` already loaded. ``limits`` are the size budgets
(:class:`~archsim.limits.Limits`). User errors raise :class:`~archsim.errors.ArchsimError`
subclasses with one-line messages naming the file, field or record.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from archsim.config import HardwareConfig, load_hardware
from archsim.config.loader import describe_value
from archsim.energy import account
from archsim.errors import ArchsimError, listed
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.report.report import Report, build_report
from archsim.sim import Handlers, program_listing, simulate
from archsim.sim.engine import naming_config
from archsim.stats.timeline import Timeline

if TYPE_CHECKING:
    import numpy as np

    from archsim.workload.export import TrainingExport
    from archsim.workload.export import export_trace as export
    from archsim.workload.functional import HardwareEvaluation
    from archsim.workload.redistribution import RedistributionStudy
    from archsim.workload.scrramble import ScrrambleNetwork
    from archsim.workload.sparse_export import SparseExport
    from archsim.workload.transformer_export import export_encoder_trace as export_encoder
    from archsim.workload.transformer_export import export_vit_trace as export_vit

__all__ = [
    "Report", "accuracy", "export", "export_encoder", "export_vit", "load", "program",
    "redistribution", "run",
    "scrramble", "scrramble_study", "traffic", "train", "train_sparse", "validate",
]

Config = str | os.PathLike[str] | HardwareConfig


def __getattr__(name: str) -> Any:
    """:func:`export` is :func:`archsim.workload.export.export_trace`, :func:`export_vit` and
    :func:`export_encoder` are :func:`~archsim.workload.transformer_export.export_vit_trace`
    and :func:`~archsim.workload.transformer_export.export_encoder_trace`, imported on first
    use: the zoo's models, their training and the exporters would otherwise cost every
    command its start-up time."""
    if name == "export":
        from archsim.workload.export import export_trace

        return export_trace
    if name in ("export_vit", "export_encoder"):
        from archsim.workload import transformer_export

        return getattr(transformer_export, f"{name}_trace")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(config: Config, overrides: Sequence[str] = ()) -> HardwareConfig:
    """The hardware config at path ``config`` with ``overrides`` applied (a loaded config is
    returned as it is; overrides then are an error)."""
    if isinstance(config, HardwareConfig):
        if overrides:
            raise ValueError("overrides apply to a config file; this config is already loaded")
        return config
    return load_hardware(config, overrides)


def _source(config: Config) -> str | None:
    return None if isinstance(config, HardwareConfig) else os.fspath(config)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArchsimError(f"seed: must be an integer >= 0, got {seed!r}")


def validate(
    config: Config, overrides: Sequence[str] = (), *, limits: Limits = DEFAULT_LIMITS
) -> HardwareConfig:
    """Load ``config`` and build its hardware with no workload: its NoC, buffers and sizes are
    checked as a run would check them. Returns the loaded config."""
    import simpy

    from archsim.hw.system import build_system

    loaded = load(config, overrides)
    with naming_config(_source(config)):
        build_system(simpy.Environment(), loaded, limits=limits)
    return loaded


def run(
    config: Config,
    trace: str | os.PathLike[str],
    *,
    seed: int = 0,
    overrides: Sequence[str] = (),
    timeline: Timeline | None = None,
    progress: Callable[[], None] | None = None,
    handlers: Handlers | None = None,
    limits: Limits = DEFAULT_LIMITS,
    identify_inputs: bool = True,
) -> Report:
    """Simulate ``trace`` on ``config``: :func:`~archsim.sim.simulate`,
    :func:`~archsim.energy.account` and :func:`~archsim.report.build_report`.

    ``timeline`` records what every component did; ``progress`` is called once per completed
    sample; ``handlers`` replaces the registry of operation handlers. The report is a pure
    function of the config, the trace and the seed. Its ``inputs`` name the config and trace
    files with their digests; with ``identify_inputs`` False only the config's digest (a
    sweep's points, whose trace paths differ between machines).
    """
    _check_seed(seed)
    return _report(
        load(config, overrides), trace, seed, source=_source(config), named=identify_inputs,
        overrides=overrides, timeline=timeline, progress=progress, handlers=handlers,
        limits=limits,
    )


def _report(
    loaded: HardwareConfig,
    trace: str | os.PathLike[str],
    seed: int,
    *,
    source: str | None,
    named: bool,
    overrides: Sequence[str],
    limits: Limits,
    **options: Any,
) -> Report:
    """Simulate, account and report ``trace`` on ``loaded`` (the config file ``source``);
    ``named``: the report's inputs name the files."""
    result = simulate(loaded, trace, seed, limits=limits, config_source=source, **options)
    return build_report(
        result, account(result), config=loaded, config_file=source if named else None,
        trace_file=trace if named else None, overrides=overrides,
    )


def traffic(
    config: Config,
    *,
    pattern: str,
    rate: float,
    packets: int = 10_000,
    data_bits: int | Sequence[int] = 96,
    seed: int = 0,
    hotspot: float = 0.2,
    overrides: Sequence[str] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Drive the NoC of ``config`` with synthetic traffic (:func:`~archsim.sim.drive_traffic`)
    and report latency, throughput, saturation, link utilization and energy."""
    from archsim.sim.traffic import drive_traffic

    _check_seed(seed)
    loaded = load(config, overrides)
    result = drive_traffic(
        loaded, pattern, rate, packets=packets, data_bits=data_bits, seed=seed,
        hotspot=hotspot, limits=limits, config_source=_source(config),
    )
    return build_report(
        result, account(result), config=loaded, config_file=_source(config), overrides=overrides
    )


def _check_scrramble(
    loaded: HardwareConfig,
    source: str | None,
    network: ScrrambleNetwork,
    *,
    act_bits: int,
    weight_bits: int | None,
    input_node: int,
    limits: Limits,
) -> int:
    """Check that ScRRAMBLe ``network`` maps onto ``loaded`` one core per crossbar and router
    (:func:`archsim.mapping.scrramble.check_scrramble`), errors naming the config file
    ``source``; return the weight bits it will be exported with."""
    from archsim.mapping.scrramble import check_scrramble as check

    with naming_config(source):
        return check(
            network, loaded, act_bits=act_bits, weight_bits=weight_bits, input_node=input_node,
            limits=limits,
        )


def scrramble(
    config: Config,
    network: ScrrambleNetwork,
    inputs: np.ndarray,
    *,
    seed: int = 0,
    act_bits: int = 8,
    weight_bits: int | None = None,
    input_node: int = 0,
    overrides: Sequence[str] = (),
    trace: str | os.PathLike[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Run ScRRAMBLe ``network`` on ``inputs`` (a batch of digits images or flat vectors) on
    ``config``: check that it maps one core per crossbar and router
    (:func:`~archsim.mapping.scrramble.check_scrramble`), write its trace to ``trace`` (a
    temporary file when None), and :func:`run` it the way ScRRAMBLe computes: pipelined, one
    sample at a time, each core as soon as its blocks have arrived, the network input from
    router ``input_node`` (these three mapping settings replace the config's). The report
    gains a ``scrramble`` section (:func:`~archsim.report.scrramble.scrramble_section`).
    """
    _check_seed(seed)
    loaded = load(config, overrides)
    bits = _check_scrramble(
        loaded, _source(config), network, act_bits=act_bits, weight_bits=weight_bits,
        input_node=input_node, limits=limits,
    )
    return _run_scrramble(
        loaded, _source(config), network, inputs, seed=seed, act_bits=act_bits,
        weight_bits=bits, input_node=input_node, overrides=overrides, trace=trace,
        limits=limits,
    )


def _run_scrramble(
    given: HardwareConfig,
    source: str | None,
    network: ScrrambleNetwork,
    inputs: np.ndarray,
    *,
    seed: int,
    act_bits: int,
    weight_bits: int,
    input_node: int,
    overrides: Sequence[str],
    trace: str | os.PathLike[str] | None,
    limits: Limits,
) -> Report:
    """:func:`scrramble` once ``network`` has been checked on the loaded config ``given``."""
    import dataclasses
    import tempfile

    from archsim.report.scrramble import scrramble_section
    from archsim.workload.scrramble import export_scrramble_trace

    loaded = dataclasses.replace(given, mapping=dataclasses.replace(
        given.mapping, pipeline=True, samples_in_flight=1, input_node=input_node,
    ))
    with tempfile.TemporaryDirectory() as scratch:
        path = trace if trace is not None else os.path.join(scratch, "scrramble.jsonl.gz")
        export_scrramble_trace(
            network, inputs, path, act_bits=act_bits, weight_bits=weight_bits, seed=seed
        )
        report = _report(
            loaded, path, seed, source=source, named=True, overrides=overrides, limits=limits,
        )
    return report.with_section("scrramble", scrramble_section(report, network, act_bits=act_bits))


def scrramble_study(
    config: Config,
    *,
    slot_size: int,
    density: float,
    cores: Sequence[int],
    epochs: int,
    samples: int,
    seed: int = 0,
    network_seed: Sequence[int] | None = None,
    act_bits: int = 8,
    overrides: Sequence[str] = (),
    trace: str | os.PathLike[str] | None = None,
    digits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Build a ScRRAMBLe network of ``cores`` per layer (each core one crossbar of the
    config's first tile group: its rows are the core's inputs), blocks of ``slot_size`` and
    connection ``density``; train it ``epochs`` epochs on the 28x28 digits with SGD (0: keep
    its random weights); check the offset encoding; and run ``samples`` test images
    (:func:`scrramble`). The report's ``scrramble`` section gains the test accuracy and the
    offset check.

    Everything that can be refused (cores over the budget, a network the NoC cannot hold,
    more samples than the test set) is refused before the network is trained. The network
    and its training draw from ``numpy.random.default_rng(network_seed)`` (default ``(seed,
    1)``), the digits' split from ``seed``; ``digits`` passes a split already loaded
    (:func:`archsim.workload.data.load_digits_28`). Training runs on one BLAS thread: the same
    bytes on any machine, and no contention for the cores.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from archsim.mapping.scrramble import check_offset
    from archsim.report.scrramble import accuracy_fields
    from archsim.workload.data import load_digits_28
    from archsim.workload.scrramble import (
        DEFAULT_TRAINING,
        ScrrambleSpec,
        build_scrramble,
        scrramble_accuracy,
        train_scrramble,
    )
    from archsim.workload.train import MAX_EPOCHS, TrainingConfig

    _check_seed(seed)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 <= epochs <= MAX_EPOCHS:
        raise ArchsimError(f"epochs: expected 0..{MAX_EPOCHS}, got {describe_value(epochs)}")
    loaded = load(config, overrides)
    spec = ScrrambleSpec(loaded.groups[0].tile.crossbar.rows, slot_size, density, tuple(cores))
    shown_cores = listed([str(n) for n in cores])
    limits.check("cores", spec.total_cores, f"a ScRRAMBLe network of cores [{shown_cores}]")
    rng = np.random.default_rng(list(network_seed) if network_seed is not None else [seed, 1])
    network = build_scrramble(spec, rng)
    bits = _check_scrramble(
        loaded, _source(config), network, act_bits=act_bits, weight_bits=None, input_node=0,
        limits=limits,
    )
    if digits is None:
        digits = load_digits_28(np.random.default_rng(seed))
    test_images = len(digits[2])
    if not 1 <= samples <= test_images:
        raise ArchsimError(
            f"samples: the digits test set has {test_images} images, expected 1 to "
            f"{test_images}, got {samples}"
        )
    with threadpool_limits(limits=1, user_api="blas"):
        if epochs:
            base = DEFAULT_TRAINING["default"]
            training = TrainingConfig(epochs, base.lr, base.momentum, base.batch_size)
            accuracy = train_scrramble(network, digits, training, rng).test_accuracy
        else:
            accuracy = scrramble_accuracy(network, digits[2], digits[3])
        inputs = digits[2][:samples]
        check = check_offset(network, inputs)
        report = _run_scrramble(
            loaded, _source(config), network, inputs, seed=seed, act_bits=act_bits,
            weight_bits=bits, input_node=0, overrides=overrides, trace=trace, limits=limits,
        )
    section = {
        **report["scrramble"],
        **accuracy_fields(check, accuracy=accuracy, epochs=epochs, test_images=test_images),
    }
    return report.with_section("scrramble", section)


def program(
    config: Config,
    trace: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """The controller's instruction stream for one sample of ``trace`` on ``config``, as text
    (the whole trace is checked first, as a run would)."""
    return program_listing(
        load(config, overrides), trace, limits, config_source=_source(config)
    )


#: The config field behind each parameter of the functional model that a config gives.
_SPEC_FIELDS = {
    "array_rows": "tile.crossbar.rows", "array_cols": "tile.crossbar.cols",
    "cell_bits": "tile.crossbar.cell_bits", "signed_weights": "tile.crossbar.signed_weights",
    "dac_bits": "tile.dac.bits", "adc_bits": "tile.adc.bits",
    "adc_accumulate": "tile.adc.accumulate", "columns_per_adc": "tile.adc.columns_per_adc",
    "g_min_s": "device.g_min", "g_max_s": "device.g_max",
    "program_noise": "device.program_noise", "read_noise": "device.read_noise",
}


def accuracy(
    config: Config,
    model: str,
    *,
    seed: int = 0,
    overrides: Sequence[str] = (),
    weight_bits: int = 8,
    act_bits: int = 8,
    adc_range: str = "calibrated",
    epochs: int | None = None,
    calibration_samples: int = 256,
    limits: Limits = DEFAULT_LIMITS,
) -> HardwareEvaluation:
    """Test accuracy of zoo ``model`` (``mlp`` or ``lenet-wu``), trained in software on the
    digits, with its matrix layers on ``config``'s crossbars.

    The crossbars are the config's tile design (``tile.crossbar``: rows, cell bits, signed
    weights; ``tile.dac.bits``; ``tile.adc``: bits, accumulation) and its ``device`` section
    (conductance range, programming and read noise). ``adc_range`` is ``calibrated`` (each
    ADC's range set from ``calibration_samples`` training images) or ``full_scale``. One
    generator seeded with ``seed`` draws, in order, the initial weights, the data split, the
    training shuffles, the programming noise and the read-noise key; BLAS runs on one thread.
    The ADC conversions it would compute are checked against ``limits.conversions`` first.

    Raises:
        ConfigError: the config has no device section, or tile groups of different designs.
        WorkloadError: an argument is out of range.
        LimitError: the evaluation would exceed the conversions budget.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from archsim.errors import ConfigError, WorkloadError
    from archsim.workload.data import digits_split_sizes
    from archsim.workload.export import TRAINABLE_MODELS
    from archsim.workload.functional import AnalogSpec, conversions_per_sample, evaluate_hardware
    from archsim.workload.models import build_model
    from archsim.workload.train import train_zoo

    _check_seed(seed)
    loaded = load(config, overrides)
    source = _source(config)
    prefix = f"{source}: " if source else ""
    device = loaded.device
    if device is None:
        raise ConfigError(
            f"{prefix}device: missing; accuracy needs the cells' conductance range and noise "
            "(see hw_configs/README.md)"
        )
    tile = loaded.groups[0].tile
    if any(group.tile != tile for group in loaded.groups):
        raise ConfigError(
            f"{prefix}tile_groups: accuracy models one tile design; this config's groups "
            "differ"
        )
    if isinstance(calibration_samples, bool) or not isinstance(calibration_samples, int) or not (
        1 <= calibration_samples <= 4096
    ):
        raise WorkloadError(
            f"calibration_samples: must be an integer 1..4096, got {calibration_samples!r}"
        )
    try:
        spec = AnalogSpec.from_tile(
            tile, weight_bits=weight_bits, act_bits=act_bits, adc_range=adc_range,
            g_min_s=device.g_min, g_max_s=device.g_max, program_noise=device.program_noise,
            read_noise=device.read_noise,
        )
    except WorkloadError as error:
        # A parameter the config gave is named by its config path, with the file.
        name, _, rest = str(error).partition(": ")
        path = _SPEC_FIELDS.get(name)
        if path is None:
            raise
        raise ConfigError(f"{prefix}{path}: {rest}") from None
    if model in TRAINABLE_MODELS:  # (other names are refused by train_zoo, below)
        _, test_images = digits_split_sizes()
        images = test_images + (calibration_samples if spec.adc_range == "calibrated" else 0)
        shape = build_model(model, np.random.default_rng(0))
        limits.check(
            "conversions", images * conversions_per_sample(shape, spec),
            f"accuracy of {model} on {images} images",
        )
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1, user_api="blas"):
        trained = train_zoo(model, rng, epochs=epochs)
        calibration = (
            trained.x_train[:calibration_samples] if spec.adc_range == "calibrated" else None
        )
        return evaluate_hardware(
            trained.model, spec, trained.x_test, trained.y_test, rng=rng,
            calibration=calibration,
        )


def redistribution(
    model: str = "vit-tiny",
    *,
    fractions: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
    rules: Sequence[str] = ("gradient", "magnitude", "random"),
    mlc_std: float = 0.4,
    seed: int = 0,
    epochs: int = 20,
    steps: int = 200,
    lr: float = 0.3,
    noise_draws: int = 5,
    choice_draws: int = 3,
    config: Config | None = None,
    overrides: Sequence[str] = (),
) -> RedistributionStudy:
    """HyFlexPIM's gradient redistribution (archsim/REFERENCES.md [HyFlexPIM]) on ``model``
    (``vit-tiny``, trained ``epochs`` epochs on the digits from ``seed``): its encoder blocks'
    weight matrices replaced by their SVD, the singular values fine-tuned for ``steps``
    mini-batches at learning rate ``lr``, and the test accuracy with the rank components
    chosen by each of ``rules`` on SLC arrays at each of ``fractions``, the rest on MLC
    arrays whose 2-bit slices read with relative noise ``mlc_std``
    (:func:`archsim.workload.redistribution.redistribution_study`). BLAS runs on one thread.

    With a ``config`` (a hybrid chip with a ``device`` section, such as
    ``hw_configs/hyflexpim.yaml``) the layers are read through the crossbar functional model
    instead (:func:`archsim.workload.redistribution.crossbar_accuracy`, the path of
    :func:`accuracy`): each mode's cells per weight and ADC resolution from the config's first
    hybrid group, the device's conductance range, its programming noise (each mode's own
    where ``tile.modes.<mode>.program_noise`` gives one) and read noise, ADC ranges
    calibrated on 128 training images; ``noise_draws`` programming draws per accuracy.

    Raises:
        WorkloadError: an argument is out of range or the model is not ``vit-tiny``.
        ConfigError: the config has no hybrid tile group or no device section.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from archsim.errors import WorkloadError
    from archsim.workload.data import load_digits_28
    from archsim.workload.redistribution import SELECTION_RULES, redistribution_study
    from archsim.workload.transformer import ViTConfig, train_vit

    _check_seed(seed)
    if model != "vit-tiny":
        raise WorkloadError(f"model: gradient redistribution is run on vit-tiny, got {model!r}")
    for rule in rules:
        if rule not in SELECTION_RULES:
            raise WorkloadError(
                f"selection rule: expected one of {', '.join(SELECTION_RULES)}, got {rule!r}"
            )
    if not fractions or any(
        isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f <= 1.0
        for f in fractions
    ):
        raise WorkloadError(f"fractions: expected numbers in [0, 1], got {list(fractions)!r}")
    for name, value, low, high in (
        ("epochs", epochs, 1, 1000), ("steps", steps, 0, 100_000),
        ("noise_draws", noise_draws, 1, 1000), ("choice_draws", choice_draws, 1, 1000),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise WorkloadError(f"{name}: must be an integer {low}..{high}, got {value!r}")
    for name, value, low, high in (("mlc_std", mlc_std, 0.0, 10.0), ("lr", lr, 0.0, 100.0)):
        if (
            isinstance(value, bool) or not isinstance(value, (int, float))
            or not low <= value <= high or (name == "lr" and value == 0)
        ):
            raise WorkloadError(f"{name}: must be a number in [{low:g}, {high:g}]"
                                f"{' above 0' if name == 'lr' else ''}, got {value!r}")
    specs = None if config is None else _mode_specs(config, overrides)
    trained, _ = train_vit(ViTConfig(), seed=seed, epochs=epochs)
    x_train, y_train, x_test, y_test = load_digits_28(np.random.default_rng(seed))
    data = (x_train[..., 0].astype(float), y_train, x_test[..., 0].astype(float), y_test)
    layers = [name for name in trained.linear_layers() if name.startswith("block")]
    evaluate = hardware = None
    if specs is not None:
        from archsim.workload.redistribution import crossbar_accuracy

        calibration = data[0][:128]

        def evaluate(svds: Any, masks: Any, draw: int) -> float:
            return crossbar_accuracy(
                trained, svds, masks, specs, data[2], data[3],
                rng=np.random.default_rng([seed, 5, draw]), calibration=calibration,
            )

        hardware = f"crossbars of {load(config, overrides).name}"
    with threadpool_limits(limits=1, user_api="blas"):
        return redistribution_study(
            trained, model, layers, data, fractions=fractions, rules=rules, mlc_std=mlc_std,
            noise_draws=noise_draws, choice_draws=choice_draws, steps=steps, batch=64, lr=lr,
            seed=seed, evaluate=evaluate, hardware=hardware or "mlc slices",
        )


def _mode_specs(config: Config, overrides: Sequence[str]) -> dict[str, Any]:
    """The crossbar functional model's spec of each mode of ``config``'s first hybrid tile
    group (8-bit weights and activations, calibrated ADC ranges)."""
    from dataclasses import replace

    from archsim.errors import ConfigError
    from archsim.workload.functional import AnalogSpec

    loaded = load(config, overrides)
    prefix = f"{_source(config)}: " if _source(config) else ""
    group = next((g for g in loaded.groups if g.tile.kind == "hybrid"), None)
    if group is None or group.tile.modes is None:
        raise ConfigError(f"{prefix}tile.kind: the accuracy of SLC/MLC arrays needs a hybrid "
                          "tile group")
    device = loaded.device
    if device is None:
        raise ConfigError(f"{prefix}device: missing; the crossbars' accuracy needs the cells' "
                          "conductance range and noise (see hw_configs/README.md)")
    specs = {}
    for name in ("slc", "mlc"):
        mode = getattr(group.tile.modes, name)
        tile = replace(
            group.tile, crossbar=replace(group.tile.crossbar, cell_bits=mode.cell_bits),
            adc=replace(group.tile.adc, bits=mode.adc_bits),
        )
        noise = device.program_noise if mode.program_noise is None else mode.program_noise
        specs[name] = AnalogSpec.from_tile(
            tile, weight_bits=8, act_bits=8, adc_range="calibrated", g_min_s=device.g_min,
            g_max_s=device.g_max, program_noise=noise, read_noise=device.read_noise,
        )
    return specs


def train(
    model: str,
    algorithm: str,
    out: str | os.PathLike[str],
    *,
    config: Config | None = None,
    overrides: Sequence[str] = (),
    seed: int = 0,
    epochs: int | None = None,
    lr: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrainingExport:
    """Train zoo ``model`` (``mlp`` or ``lenet-wu``) on analog arrays with ``algorithm`` (one
    of :data:`archsim.workload.analog_train.ALGORITHM_NAMES`) and write its training trace to
    ``out``, to be run with :func:`run` on a config with a ``training`` section. With a
    config whose ``training`` gives an endurance, the result also predicts each array's
    lifetime in epochs of this training (its most pulsed device's).

    The devices are ``config``'s ``device`` section (multi-level cells with ``2**cell_bits``
    levels; its ``soft_bounds`` response for the pulsed algorithms), or archsim's defaults
    without a config (:data:`~archsim.workload.analog_train.DEFAULT_MULTILEVEL`,
    :data:`~archsim.workload.analog_train.DEFAULT_SOFT_BOUNDS`). The schedule is
    :func:`~archsim.workload.analog_train.default_training`'s, with ``epochs`` and ``lr`` when
    given. The trace's samples are checked against ``limits.training_samples`` first.

    Raises:
        LimitError: the trace would exceed the training-samples budget.
        ConfigError: the config is invalid.
        WorkloadError: an argument is out of range, or the config has no device section, or
            none with a soft-bounds response for a pulsed algorithm.
    """
    import dataclasses

    from archsim.errors import ConfigError
    from archsim.workload.analog_train import (
        DEFAULT_MULTILEVEL,
        DEFAULT_SOFT_BOUNDS,
        default_training,
        devices_from_config,
        uses_soft_bounds,
    )
    from archsim.workload.analog_update import TransferParams
    from archsim.workload.data import digits_split_sizes
    from archsim.workload.export import export_training_trace

    _check_seed(seed)
    training = default_training(algorithm, epochs=epochs)
    if lr is not None:
        training = dataclasses.replace(training, lr=lr)
    train_images, _ = digits_split_sizes()
    limits.check(
        "training_samples", training.epochs * train_images,
        f"a training trace of {training.epochs} epochs of {train_images} images",
    )
    multilevel, soft_bounds = DEFAULT_MULTILEVEL, DEFAULT_SOFT_BOUNDS
    if config is not None:
        loaded = load(config, overrides)
        source = _source(config)
        prefix = f"{source}: " if source else ""
        if loaded.device is None:
            raise ConfigError(f"{prefix}device: missing; training needs the cells to train on")
        multilevel, soft, (mean, std) = devices_from_config(loaded)
        if soft is None and uses_soft_bounds(training):
            raise ConfigError(
                f"{prefix}device.soft_bounds: missing; {algorithm} pulses soft-bounds devices"
            )
        soft_bounds = soft or soft_bounds
        if isinstance(training.params, TransferParams):
            training = dataclasses.replace(
                training,
                params=dataclasses.replace(
                    training.params, reference_mean=mean, reference_std=std
                ),
            )
    done = export_training_trace(
        model, out, training, seed=seed, multilevel=multilevel, soft_bounds=soft_bounds
    )
    if config is not None and loaded.training is not None:
        endurance = loaded.training.endurance_cycles
        if endurance is not None:
            done = dataclasses.replace(
                done, lifetime_epochs=done.training.lifetime_epochs(endurance)
            )
    return done


def train_sparse(
    model: str,
    out: str | os.PathLike[str],
    *,
    sparsity: float,
    block: int = 8,
    epochs: int | None = None,
    warmup_epochs: int = 1,
    update_interval: int = 100,
    regrowth: str = "gradient",
    lr: float | None = None,
    momentum: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> SparseExport:
    """Train zoo ``model`` (``mlp``, ``mlp-wide`` or ``lenet-wu``) block-sparse on the digits and
    write every training step (mini-batch) as a version-4 trace to ``out``
    (:func:`archsim.workload.sparse_export.export_sparse_training_trace`: ``spmm`` records on
    the blocks in force, and the masks after each pruning and drop-and-regrow update).

    ``sparsity`` is the fraction of ``block`` x ``block`` blocks pruned in each sparse layer, in
    [0, 1) (0: a dense run, every block in force, the baseline in the same records). After
    ``warmup_epochs`` (>= 1 when sparse) of dense training the layers are pruned by block
    norm; then every ``update_interval`` steps RigL's cosine-annealed drop fraction of their
    blocks is dropped and as many regrown by ``regrowth`` (``gradient``: RigL, ``random``:
    SET); see :mod:`archsim.workload.sparse_train`. ``epochs``, ``lr``, ``momentum`` and
    ``batch_size`` default to the model's :data:`~archsim.workload.train.DEFAULT_TRAINING`.
    The training samples (epochs x the training split) are checked against
    ``limits.training_samples`` first.

    Raises:
        LimitError: the training would exceed the training-samples budget.
        WorkloadError: an argument is out of range or ``out`` cannot be written (nothing is
            written), or training diverged.
    """
    from archsim.workload.data import digits_split_sizes
    from archsim.workload.sparse_export import export_sparse_training_trace
    from archsim.workload.sparse_train import BlockSparsity
    from archsim.workload.train import DEFAULT_TRAINING, MAX_EPOCHS

    params = BlockSparsity(
        sparsity, block=block, warmup_epochs=warmup_epochs, update_interval=update_interval,
        regrowth=regrowth,
    )
    if epochs is None and isinstance(model, str) and model in DEFAULT_TRAINING:
        epochs = DEFAULT_TRAINING[model].epochs
    # (an epochs out of range is refused by the export, with the other arguments)
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= MAX_EPOCHS:
        train_images, _ = digits_split_sizes()
        limits.check(
            "training_samples", epochs * train_images,
            f"a sparse training trace of {epochs} epochs of {train_images} images",
        )
    return export_sparse_training_trace(
        model, out, params, seed=seed, epochs=epochs, lr=lr, momentum=momentum,
        batch_size=batch_size,
    )
