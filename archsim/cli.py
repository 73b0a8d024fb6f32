"""The ``archsim`` command line (the only place that configures logging or prints).

Commands::

    archsim run CONFIG TRACE [--out DIR] [--set PATH=VALUE ...] [--seed N] [--timeline FILE
                [--timeline-max-spans N] [--timeline-first-sample N] [--timeline-samples N]]
        (writes report.json and report.csv to DIR, default runs/<config name>_<model>)
    archsim validate CONFIG [--set PATH=VALUE ...]
    archsim program CONFIG TRACE [--set PATH=VALUE ...]   (the controller's instruction stream)
    archsim noc CONFIG --pattern P --rate R [--packets N] [--data-bits D] [--seed N]
    archsim sweep SPEC --out DIR [--workers N | --scheduler ADDRESS]
        (a design-space sweep: results.csv, results.jsonl, sweep.json and a cache in DIR)
    archsim plot RESULTS [--kind K] [--x PATH] [--y METRIC] [--series PATH] [--out FILE]
    archsim scrramble CONFIG [--slot-size S] [--density D] [--cores 8,2] [--epochs N]
        [--samples N] [--seed N] [--out DIR]   (a block-sparse network: train, check, replay)
    archsim trace export MODEL --out FILE [--samples N] [--train] [--epochs N] [--seed N]
        (MODEL a zoo model or vit-tiny)
    archsim trace export bert-base|bert-large --out FILE --seq-len N [--layers L] [--samples N]
        [--seed N]   (a shape-only encoder)
    archsim trace export MODEL --out FILE --sparsity S [--block B] [--warmup-epochs N]
        [--update-interval N] [--regrowth gradient|random] [--epochs N] [--lr LR]
        [--batch-size N] [--seed N] [--json]   (block-sparse training, every step traced)
    archsim trace info FILE
    archsim trace validate FILE

A user error (bad config field, corrupt trace, a network that does not fit) prints one line
``archsim: error: ...`` on standard error and exits with status 2, leaving no partial output.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, Sequence

from archsim import __version__
from archsim.errors import ArchsimError, shown
from archsim.files import unwritable_folder, write_atomically
from archsim.limits import DEFAULT_LIMITS, Limits, parse_limit

log = logging.getLogger("archsim")

EXIT_USER_ERROR = 2


def _non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _add_config_args(
    parser: argparse.ArgumentParser, example: str = "hw_configs/wu2023_64x64.yaml"
) -> None:
    parser.add_argument("config", help=f"hardware config (YAML), e.g. {example}")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="PATH=VALUE",
        action="append",
        default=[],
        help="override a config field, e.g. --set tile.adc.columns_per_adc=4 (repeatable)",
    )
    _add_limit_arg(parser)


def _add_limit_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        dest="limits",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="raise a size budget, e.g. --limit routers=70000 (repeatable; names: "
        + ", ".join(f.name for f in dataclasses.fields(Limits)) + ")",
    )


#: The help of a run's --seed, which the simulator records but draws nothing from.
_SEED_HELP = (
    "seed recorded in the report (default 0); the simulator draws no random numbers (device "
    "variation is drawn by `archsim accuracy` and when a training trace is exported)"
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every other error of archsim (the
    usage is one ``--help`` away); its subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_USER_ERROR,
            f"archsim: error: {shown(self.prog, 40)}: {shown(message, 300)} "
            f"(see {shown(self.prog, 40)} --help)\n",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``archsim`` command."""
    parser = _Parser(
        prog="archsim",
        description="Cycle-level simulator for compute-in-memory accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"archsim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="simulate a trace on a hardware config")
    _add_config_args(run)
    run.add_argument("trace", help="operation trace (archsim trace format, traces/README.md)")
    run.add_argument(
        "--out",
        metavar="DIR",
        help="write report.json, report.csv and summary.csv here (default "
        "runs/<config name>_<model>, plus a digest of the --set overrides when there are any)",
    )
    run.add_argument("--seed", type=_non_negative, default=0, help=_SEED_HELP)
    run.add_argument(
        "--timeline", metavar="FILE",
        help="also write a Chrome Trace Event JSON timeline (open in ui.perfetto.dev)",
    )
    run.add_argument(
        "--timeline-max-spans", type=_positive, default=None, metavar="N",
        help="keep at most N spans in the timeline (default 200000; the file says what it dropped)",
    )
    run.add_argument(
        "--timeline-first-sample", type=_non_negative, default=None, metavar="N",
        help="record the timeline from sample N of the trace on (default 0)",
    )
    run.add_argument(
        "--timeline-samples", type=_positive, default=None, metavar="N",
        help="record N samples only (default: every sample from the first)",
    )
    run.set_defaults(handler=_cmd_run)

    program = commands.add_parser(
        "program", help="print the controller's instruction stream for one sample of a trace"
    )
    _add_config_args(program)
    program.add_argument("trace", help="operation trace (archsim trace format, traces/README.md)")
    program.set_defaults(handler=_cmd_program)

    validate = commands.add_parser("validate", help="check a hardware config")
    _add_config_args(validate)
    validate.set_defaults(handler=_cmd_validate)

    noc = commands.add_parser("noc", help="drive a config's network-on-chip with synthetic traffic")
    _add_config_args(noc, "hw_configs/noc_mesh8x8.yaml")
    noc.add_argument(
        "--pattern", required=True, help="uniform, transpose, hotspot or neighbor"
    )
    noc.add_argument(
        "--rate", type=float, required=True, help="packets per node per cycle, in (0, 1]"
    )
    noc.add_argument("--packets", type=_positive, default=10_000, help="packets (default 10000)")
    noc.add_argument(
        "--data-bits", type=_positive, default=96, help="payload bits per packet (default 96)"
    )
    noc.add_argument("--seed", type=_non_negative, default=0, help="traffic seed (default 0)")
    noc.add_argument(
        "--out", metavar="DIR", help="also write report.json, report.csv and summary.csv here"
    )
    noc.set_defaults(handler=_cmd_noc)

    sweep = commands.add_parser(
        "sweep", help="run a design-space sweep (format: hw_configs/sweeps/README.md)"
    )
    sweep.add_argument("spec", help="sweep spec (YAML), e.g. hw_configs/sweeps/lenet_adc_xbar.yaml")
    sweep.add_argument(
        "--out", required=True, metavar="DIR",
        help="write results.csv, results.jsonl, sweep.json and cache/ here",
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_positive, default=None,
        help="local worker processes (default: every core; 1: no pool)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://head:8786 (pip install 'archsim[dask]')",
    )
    _add_limit_arg(sweep)
    sweep.set_defaults(handler=_cmd_sweep)

    plot = commands.add_parser(
        "plot", help="plot a sweep's results, a run's report, a NoC report or a timeline"
    )
    plot.add_argument(
        "results",
        help="results.csv/results.jsonl or their folder, report.json or its folder, or a timeline",
    )
    plot.add_argument(
        "--kind", default=None,
        choices=("line", "pareto", "breakdown", "utilization", "heatmap", "timeline"),
        help="what to draw (default: line for sweep results given --x and --y, else the "
        "energy breakdown; timeline for a timeline file)",
    )
    _add_limit_arg(plot)
    plot.add_argument("--x", metavar="PATH", help="swept parameter on the x axis")
    plot.add_argument("--y", metavar="METRIC", help="report metric on the y axis")
    plot.add_argument("--series", metavar="PATH", help="one line per value of this parameter")
    plot.add_argument(
        "--out", metavar="FILE",
        help="output path without suffix (default <RESULTS folder>/plots/<kind>[_<y>])",
    )
    plot.add_argument(
        "--format", dest="formats", action="append", choices=("png", "svg"),
        help="png and/or svg (repeatable; default both)",
    )
    plot.set_defaults(handler=_cmd_plot)

    scr = commands.add_parser(
        "scrramble",
        help="train a ScRRAMBLe block-sparse network on the digits and replay it on a config",
    )
    _add_config_args(scr, "hw_configs/scrramble_256.yaml")
    scr.add_argument("--slot-size", type=_positive, default=16, help="elements per block (16)")
    scr.add_argument("--density", type=float, default=0.2, help="connection density (0.2)")
    scr.add_argument(
        "--cores", default="8,2", help="cores per layer, input side first (default 8,2)"
    )
    scr.add_argument(
        "--epochs", type=_non_negative, default=15, help="SGD epochs (default 15; 0: untrained)"
    )
    scr.add_argument(
        "--samples", type=_positive, default=16, help="test images replayed (default 16)"
    )
    scr.add_argument("--act-bits", type=_positive, default=8, help="bits per activation (8)")
    scr.add_argument(
        "--seed", type=_non_negative, default=0,
        help="seed of the routing, the weights, the data split and the training (default 0)",
    )
    scr.add_argument(
        "--out", metavar="DIR",
        help="also write the trace and report.json, report.csv and summary.csv here",
    )
    scr.set_defaults(handler=_cmd_scrramble)

    acc = commands.add_parser(
        "accuracy", help="train a zoo model in software and test it on a config's crossbars"
    )
    _add_config_args(acc)
    acc.add_argument("model", help="mlp or lenet-wu (trained on the digits data set)")
    acc.add_argument(
        "--seed", type=_non_negative, default=0,
        help="seed of the weights, data split, training, programming and read noise (default 0)",
    )
    acc.add_argument(
        "--adc-range", choices=("calibrated", "full_scale"), default="calibrated",
        help="each ADC's range: set on training images (default) or the largest possible value",
    )
    acc.add_argument("--weight-bits", type=_positive, default=8, help="weight precision (8)")
    acc.add_argument("--act-bits", type=_positive, default=8, help="activation precision (8)")
    acc.add_argument(
        "--epochs", type=_positive, default=None, help="training epochs (default per model)"
    )
    acc.add_argument("--json", action="store_true", help="print the result as JSON")
    acc.set_defaults(handler=_cmd_accuracy)

    trace = commands.add_parser("trace", help="export, inspect or validate traces")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    export = trace_commands.add_parser("export", help="run a zoo model in NumPy and write its trace")
    export.add_argument(
        "model", help="model name: mlp, mlp-wide, lenet-wu, vgg8-wu, resnet18, vit-tiny, "
        "bert-base, bert-large",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="trace file (.jsonl or .jsonl.gz)")
    export.add_argument("--samples", type=_positive, default=1, help="inputs to run (default 1)")
    export.add_argument("--train", action="store_true", help="train on the digits data set first")
    export.add_argument(
        "--algorithm", metavar="ALGO",
        help="with --train: train on analog arrays with ALGO (sgd, ttv2, c-ttv2, agad, mp, "
        "naive) and trace every training step",
    )
    export.add_argument(
        "--config", metavar="CONFIG",
        help="with --algorithm: take the devices from this hardware config's device section",
    )
    export.add_argument(
        "--lr", type=float, default=None, help="with --algorithm or --sparsity: learning rate "
        "(default per algorithm or model)",
    )
    export.add_argument(
        "--plots", metavar="DIR",
        help="with --algorithm: write the accuracy curve and each layer's wear maps here",
    )
    export.add_argument(
        "--json", action="store_true",
        help="with --algorithm or --sparsity: print the training's result as JSON",
    )
    export.add_argument(
        "--sparsity", type=float, default=None, metavar="S",
        help="train block-sparse (RigL) in software, pruning fraction S of the blocks of each "
        "sparse layer (0 <= S < 1; 0: the dense baseline), and trace every training step",
    )
    export.add_argument(
        "--block", type=_positive, default=None, metavar="B",
        help="with --sparsity: block side B, blocks of B x B weights (default 8)",
    )
    export.add_argument(
        "--warmup-epochs", type=_non_negative, default=None, metavar="N",
        help="with --sparsity: dense epochs before the pruning (default 1; at least 1 when S > 0)",
    )
    export.add_argument(
        "--update-interval", type=_positive, default=None, metavar="N",
        help="with --sparsity: training steps between mask updates (default 100)",
    )
    export.add_argument(
        "--regrowth", choices=("gradient", "random"), default=None,
        help="with --sparsity: regrow blocks by gradient norm (RigL, default) or at random (SET)",
    )
    export.add_argument(
        "--batch-size", type=_positive, default=None, metavar="N",
        help="with --sparsity: samples per training step (default per model)",
    )
    export.add_argument(
        "--seq-len", type=int, default=None, metavar="N",
        help="bert-base and bert-large: tokens per sequence (1..65536)",
    )
    export.add_argument(
        "--layers", type=int, default=None, metavar="L",
        help="bert-base and bert-large: trace the first L encoder blocks (default all)",
    )
    _add_limit_arg(export)
    export.add_argument(
        "--epochs", type=_positive, default=None, help="training epochs (default per model)"
    )
    export.add_argument(
        "--seed", type=_non_negative, default=0, help="seed for weights, data split, training"
    )
    export.set_defaults(handler=_cmd_trace_export)
    info = trace_commands.add_parser("info", help="summarise a trace")
    info.add_argument("file")
    info.set_defaults(handler=_cmd_trace_info)
    check = trace_commands.add_parser("validate", help="check every record of a trace")
    check.add_argument("file")
    check.set_defaults(handler=_cmd_trace_validate)
    return parser


def _limits(args: argparse.Namespace) -> Limits:
    """The size budgets with every ``--limit NAME=VALUE`` applied."""
    limits = DEFAULT_LIMITS
    for text in getattr(args, "limits", None) or ():
        limits = parse_limit(text, limits)
    return limits


def _default_out(report: Mapping[str, Any], overrides: Sequence[str]) -> Path:
    """``runs/<config>_<model>``, with a digest of the ``--set`` overrides when there are any,
    so that runs differing only in them do not overwrite each other."""
    name = f"{report['config_name']}_{report['model']}".replace(" ", "_")
    if overrides:
        name += "_" + hashlib.sha256("\n".join(overrides).encode("utf-8")).hexdigest()[:8]
    return Path("runs") / name


def _check_window(window: Mapping[str, int], samples: int, trace: str) -> None:
    """Refuse a timeline window (``first_sample``, ``samples``) outside the ``samples``
    samples of ``trace``."""
    if "first_sample" not in window and "samples" not in window:
        return
    first = window.get("first_sample", 0)
    if first >= samples:
        raise ArchsimError(
            f"--timeline-first-sample: {trace} has samples 0..{samples - 1}, got {first}"
        )
    if first + window.get("samples", 1) > samples:
        last = first + window["samples"] - 1
        raise ArchsimError(
            f"--timeline-samples: samples {first}..{last} asked for, but {trace} has "
            f"samples 0..{samples - 1}"
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from archsim import api
    from archsim.report import summary

    window = {
        "max_events": args.timeline_max_spans,
        "first_sample": args.timeline_first_sample,
        "samples": args.timeline_samples,
    }
    window = {key: value for key, value in window.items() if value is not None}
    if window and not args.timeline:
        raise ArchsimError(
            "--timeline-max-spans, --timeline-first-sample and --timeline-samples need "
            "--timeline FILE"
        )
    terminal = sys.stderr.isatty()
    if "first_sample" in window or "samples" in window or terminal:
        # The sample window and the progress bar need the trace's samples before the run:
        # the config is read first, as the run reads it, so that its errors still come first.
        # Otherwise the run alone reads the two.
        from archsim.workload.trace import read_header

        label = api.load(args.config, args.overrides).name
        samples = read_header(args.trace).samples
        _check_window(window, samples, args.trace)
    timeline = None
    if args.timeline:
        from archsim.stats.timeline import Timeline

        timeline = Timeline(**window)
    bar = None
    if terminal:
        from archsim.dse.progress import ProgressBar

        bar = ProgressBar(samples, sys.stderr, label=label, unit="samples")
    try:
        report = api.run(
            args.config, args.trace, seed=args.seed, overrides=args.overrides,
            timeline=timeline, progress=bar.advance if bar is not None else None,
            limits=_limits(args),
        )
    finally:
        if bar is not None:
            bar.close()
    out = args.out or _default_out(report, args.overrides)
    # The timeline first: if either write fails, nothing of this run is left behind.
    timeline_path = None
    if timeline is not None:
        from archsim.report.timeline import write_timeline

        timeline_path = write_timeline(timeline, args.timeline)
    try:
        paths = report.write(out)
    except ArchsimError:
        if timeline_path is not None:
            timeline_path.unlink(missing_ok=True)
        raise
    print(summary(report))
    written = [*paths, *([timeline_path] if timeline_path else [])]
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _cmd_program(args: argparse.Namespace) -> int:
    from archsim import api

    sys.stdout.write(
        api.program(args.config, args.trace, overrides=args.overrides, limits=_limits(args))
    )
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from archsim.dse import format_summary, run_sweep

    try:
        summary = run_sweep(
            args.spec, args.out, workers=args.workers, scheduler=args.scheduler,
            progress=sys.stderr, limits=_limits(args),
        )
    except KeyboardInterrupt:
        print(
            f"archsim: interrupted; the finished points are cached in {args.out}: run the same "
            "command again to resume",
            file=sys.stderr,
        )
        return 130
    print(format_summary(summary))
    return summary.exit_status


def _cmd_plot(args: argparse.Namespace) -> int:
    from archsim.report.plot_cli import default_kind, plot_command

    source = Path(args.results)
    folder = source if source.is_dir() else source.parent
    kind = args.kind or default_kind(source, args.x, args.y)
    name = kind + (f"_{args.y}" if args.y else "")
    out = Path(args.out) if args.out else folder / "plots" / name
    paths = plot_command(
        args.results, x=args.x, y=args.y, series=args.series, kind=kind, out=out,
        formats=tuple(args.formats or ("png", "svg")), limits=_limits(args),
    )
    print("wrote " + " and ".join(str(p) for p in paths))
    return 0


def _cmd_scrramble(args: argparse.Namespace) -> int:
    import tempfile

    from archsim import api
    from archsim.report import summary

    try:
        cores = tuple(int(part) for part in args.cores.split(","))
    except ValueError:
        raise ArchsimError(
            f"--cores: expected comma-separated integers, got '{shown(args.cores)}'"
        ) from None
    limits = _limits(args)
    limits.check("cores", sum(cores), f"--cores {shown(args.cores)}")
    with tempfile.TemporaryDirectory() as scratch:
        # The trace is written aside and joins the report only once the run has succeeded.
        trace = Path(scratch) / "scrramble.jsonl.gz"
        report = api.scrramble_study(
            args.config, slot_size=args.slot_size, density=args.density, cores=cores,
            epochs=args.epochs, samples=args.samples, seed=args.seed, act_bits=args.act_bits,
            overrides=args.overrides, limits=limits, trace=trace,
        )
        if args.out:
            paths = report.write(args.out)
            try:
                write_atomically({Path(args.out) / trace.name: trace.read_bytes()})
            except OSError as error:
                for path in paths:
                    path.unlink(missing_ok=True)
                raise ArchsimError(
                    f"--out {args.out}: cannot write {trace.name}: {error.strerror or error}"
                ) from None
    print(summary(report))
    return 0


def _cmd_noc(args: argparse.Namespace) -> int:
    from archsim import api
    from archsim.report import summary

    report = api.traffic(
        args.config, pattern=args.pattern, rate=args.rate, packets=args.packets,
        data_bits=args.data_bits, seed=args.seed, overrides=args.overrides, limits=_limits(args),
    )
    if args.out:
        report.write(args.out)
    print(summary(report))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from archsim import api

    config = api.validate(args.config, args.overrides, limits=_limits(args))
    groups = [
        f"{group.tiles} tiles x {group.crossbars_per_tile} crossbars of "
        f"{group.tile.crossbar.rows}x{group.tile.crossbar.cols}, {group.tile.crossbar.cell_bits}"
        f"-bit cells, {group.tile.adc.bits}-bit ADCs"
        for group in config.groups
    ]
    if config.tile_groups:
        groups = [f"{name}: {text}" for name, text in zip(config.tile_groups, groups)]
    fabric = config.fabric
    if fabric is not None:
        groups.append(
            f"sparse fabric of {fabric.scu.units} units x {fabric.scu.mac_width} MACs "
            f"({fabric.scu.zero_handling}), {fabric.dram.name} DRAM, "
            f"{fabric.din.assignment} assignment"
        )
    noc = "" if config.noc is None else f", {config.noc.topology} NoC"
    print(
        f"ok: {config.name}: {'; '.join(groups)}, {config.chip.clock_hz / 1e6:g} MHz{noc}"
    )
    return 0


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from archsim import api

    result = api.accuracy(
        args.config, args.model, seed=args.seed, overrides=args.overrides,
        weight_bits=args.weight_bits, act_bits=args.act_bits, adc_range=args.adc_range,
        epochs=args.epochs, limits=_limits(args),
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    spec = result.spec
    print(
        f"{args.model} on {Path(args.config).name}: {100 * result.accuracy:.2f} % on hardware, "
        f"{100 * result.software_accuracy:.2f} % in software ({result.samples} test images)"
    )
    print(
        f"  {spec.weight_bits}-bit weights in {spec.cell_bits}-bit cells ({spec.signed_weights}),"
        f" {spec.dac_bits}-bit DACs, {spec.adc_bits}-bit ADCs ({spec.adc_accumulate} "
        f"accumulation, {spec.adc_range} range), noise: programming "
        f"{100 * spec.program_noise:g} %, read {100 * spec.read_noise:g} % of the range"
    )
    for layer in result.layers:
        print(
            f"  {layer.name}: {layer.arrays} arrays, {layer.conversions:,} conversions, "
            f"{100 * layer.clipped_fraction:.2f} % clipped"
        )
    return 0


def _cmd_trace_export(args: argparse.Namespace) -> int:
    from archsim.workload.export import export_trace

    training_only = ("config", "lr", "plots")
    if args.model in _TRANSFORMERS:
        return _transformer_trace(args)
    for name in ("seq_len", "layers"):
        if getattr(args, name) is not None:
            raise ArchsimError(
                f"--{name.replace('_', '-')}: only for bert-base and bert-large (model "
                f"{shown(args.model)} takes none)"
            )
    if args.sparsity is not None:
        return _sparse_trace(args)
    for name in _SPARSE_ONLY:
        if getattr(args, name) is not None:
            raise ArchsimError(f"--{name.replace('_', '-')}: only with --sparsity S")
    if args.algorithm is not None:
        return _train_trace(args)
    for name in training_only:
        if getattr(args, name) is not None:
            raise ArchsimError(f"--{name}: only with --train --algorithm ALGO")
    if args.json:
        raise ArchsimError("--json: only with --train --algorithm ALGO or --sparsity S")
    summary = export_trace(
        args.model,
        args.out,
        samples=args.samples,
        train=args.train,
        seed=args.seed,
        epochs=args.epochs,
        limits=_limits(args),
    )
    line = f"wrote {summary.path}: {summary.model}, {summary.samples} samples, {summary.records} records"
    if summary.test_accuracy is not None:
        line += f", test accuracy {100 * summary.test_accuracy:.2f} %"
    print(line)
    return 0


#: ``trace export`` options of block-sparse training only (argparse destinations).
_SPARSE_ONLY = ("block", "warmup_epochs", "update_interval", "regrowth", "batch_size")

#: ``trace export``'s transformers (archsim.workload.transformer_export.TRANSFORMER_MODELS,
#: named here so that other models do not import it).
_TRANSFORMERS = ("vit-tiny", "bert-base", "bert-large")


def _transformer_trace(args: argparse.Namespace) -> int:
    """``trace export vit-tiny`` or ``bert-base`` / ``bert-large`` (version-5 traces)."""
    from archsim import api

    for name in ("sparsity", "algorithm", "config", "lr", "plots", *_SPARSE_ONLY):
        if getattr(args, name) is not None:
            raise ArchsimError(f"--{name.replace('_', '-')}: not an option of {args.model}")
    if args.json:
        raise ArchsimError(f"--json: not an option of {args.model}")
    if args.model == "vit-tiny":
        for name in ("seq_len", "layers"):
            if getattr(args, name) is not None:
                raise ArchsimError(
                    f"--{name.replace('_', '-')}: only for bert-base and bert-large (vit-tiny's "
                    "sequence is its 16 patches, through its 2 blocks)"
                )
        summary = api.export_vit(
            args.out, samples=args.samples, seed=args.seed, train=args.train,
            epochs=args.epochs, limits=_limits(args),
        )
        shape = ""
    else:
        for flag, given in (("--train", args.train), ("--epochs", args.epochs is not None)):
            if given:
                raise ArchsimError(
                    f"{flag}: {args.model} is shape-only (no weights, no data set to train on)"
                )
        if args.seq_len is None:
            raise ArchsimError(f"--seq-len: required for {args.model} (tokens per sequence)")
        summary = api.export_encoder(
            args.out, model=args.model, seq_len=args.seq_len, samples=args.samples,
            layers=args.layers, seed=args.seed, limits=_limits(args),
        )
        shape = f", {args.seq_len} tokens per sequence (shape-only)"
    line = (
        f"wrote {summary.path}: {summary.model}, {summary.samples} samples{shape}, "
        f"{summary.records} records"
    )
    if summary.test_accuracy is not None:
        line += f", test accuracy {100 * summary.test_accuracy:.2f} %"
    print(line)
    return 0


def _sparse_trace(args: argparse.Namespace) -> int:
    """``trace export --sparsity``: train block-sparse in software, trace every step."""
    from archsim import api

    for name in ("algorithm", "config", "plots"):
        if getattr(args, name) is not None:
            raise ArchsimError(
                f"--sparsity: trains block-sparse in software; it does not take --{name}"
            )
    if args.samples != 1:
        raise ArchsimError(
            "--samples: a sparse training trace holds one sample per training step; use "
            "--epochs and --batch-size"
        )
    given = {
        name: getattr(args, name) for name in (*_SPARSE_ONLY, "epochs", "lr")
        if getattr(args, name) is not None
    }
    done = api.train_sparse(
        args.model, args.out, sparsity=args.sparsity, seed=args.seed, limits=_limits(args),
        **given,
    )
    result = done.training
    if args.json:
        print(json.dumps(
            {"path": done.path, "steps": done.steps, "samples": done.samples,
             "records": done.records, "training": result.to_dict()},
            indent=2, sort_keys=True,
        ))
        return 0
    params = result.sparsity
    print(
        f"wrote {done.path}: {result.model}, block-sparse s={params.sparsity:g} "
        f"B={params.block}, {done.steps} steps ({result.epochs} epochs of {result.batch_size}"
        f"-sample batches), {done.records} records, test accuracy "
        f"{100 * result.test_accuracy:.2f} %"
    )
    sparse = [
        f"{name} {layer.nnzb}/{layer.blocks}" for name, layer in result.layers.items()
        if layer.sparse
    ]
    print(
        f"  weight density {100 * result.weight_density:.1f} %, mask updates "
        f"{result.mask_updates} ({params.regrowth} regrowth every {params.update_interval} "
        f"steps); blocks kept: {', '.join(sparse) if sparse else 'none (every layer dense)'}"
    )
    return 0


def _check_plot_dir(text: str) -> None:
    """Refuse a plot folder that could not be made, before hours of training."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ArchsimError(f"--plots: '{text}' exists and is not a directory")
    problem = unwritable_folder(path)
    if problem is not None:
        raise ArchsimError(f"--plots: {problem}")


def _train_trace(args: argparse.Namespace) -> int:
    """``trace export --train --algorithm``: train on analog arrays, trace every step."""
    from archsim import api

    if not args.train:
        raise ArchsimError("--algorithm: trains on analog arrays; give --train too")
    if args.samples != 1:
        raise ArchsimError(
            "--samples: a training trace holds every training sample (epochs x the training "
            "split); use --epochs"
        )
    if args.plots is not None:
        _check_plot_dir(args.plots)
    done = api.train(
        args.model, args.algorithm, args.out, config=args.config, seed=args.seed,
        epochs=args.epochs, lr=args.lr, limits=_limits(args),
    )
    result = done.training
    if args.plots is not None:
        from archsim.report.plots import accuracy_curve, save_figure, wear_maps

        out = Path(args.plots)
        label = f"{result.model}, {result.algorithm}"
        save_figure(accuracy_curve({label: result.accuracy_curve}), out / "accuracy", ["png"])
        maps = {
            f"{name} {array}": counts
            for name, layer in result.layers.items()
            for array, counts in (("W", layer.pulses_w_map), ("A", layer.pulses_a_map))
        }
        save_figure(wear_maps(maps, title=f"device wear: {label}"), out / "wear", ["png"])
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    print(
        f"wrote {done.path}: {result.model}, {result.algorithm}, {result.samples} samples "
        f"({result.epochs} epochs), {done.records} records, test accuracy "
        f"{100 * result.test_accuracy:.2f} %"
    )
    print(
        f"  writes per weight {result.writes_per_weight:.4g} (updating every step: "
        f"{result.every_step_writes_per_weight:.4g})"
    )
    for name, layer in result.layers.items():
        print(
            f"  {name}: W pulses per device mean {layer.pulses_w.mean:.4g}, max "
            f"{layer.pulses_w.max}; A mean {layer.pulses_a.mean:.4g}, max {layer.pulses_a.max}; "
            f"W writes per device mean {layer.writes_w.mean:.4g}"
        )
    if done.lifetime_epochs is not None:
        print("  lifetime (epochs of this training until the most pulsed device wears out): " +
              "; ".join(
                  f"{name} " + ", ".join(
                      f"{array} {epochs:.3g}" for array, epochs in arrays.items()
                      if epochs is not None
                  )
                  for name, arrays in done.lifetime_epochs.items()
              ))
    if args.plots is not None:
        print(f"  plots in {args.plots}: accuracy.png, wear.png")
    return 0


def _cmd_trace_info(args: argparse.Namespace) -> int:
    from archsim.workload.trace import format_summary, trace_info

    print(format_summary(trace_info(args.file)))
    return 0


def _cmd_trace_validate(args: argparse.Namespace) -> int:
    from archsim.workload.trace import validate_trace

    summary = validate_trace(args.file)
    print(f"ok: {Path(args.file).name}: {summary.records} records, {summary.samples_seen} samples")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``archsim`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except ArchsimError as error:
        print(f"archsim: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("archsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `archsim ... | head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
