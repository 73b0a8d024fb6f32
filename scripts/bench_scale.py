"""Benchmark archsim at scale: whole networks co-simulated with their NoC (prints figures; not a
test).

Cases, each in a fresh process (its wall time and peak memory its own):

* LeNet with no NoC on ``wu2023_64x64``: the whole ``archsim run`` command, start-up included
  (goal: under 0.25 s);
* VGG-8 on ``wu2023_256x64_noc`` (a 9x9 mesh, one core): seconds per inference under the train
  model and the packet model, and the train model's latency error against the packet model's
  (goals: under 20 ms per inference, within 2 %);
* ResNet-18 on a 38x38 mesh (the same tiles, 1,444 of them): seconds per inference under the
  train model (goal: under 1 s), and with ``--packet`` the packet model's, for the error;
* a BERT-base-sized encoder: 12 layers of 1x1 convolutions over 128 tokens (Q, K and V as one
  768 -> 2304 matrix, W_O 768 -> 768, the feed-forward 768 -> 3072 -> 768, residual adds;
  attention's own products are issue 13's and not simulated: W_O reads the layer's input in
  their place), 10,368 arrays of 256x64 (8-bit weights on two cells) on a 102x102 mesh,
  train model with trains of up to 128 packets (its flows are about 136 packets long):
  seconds per sequence and peak memory (goals: under 60 s, under 2 GiB); with ``--packet``
  also the train model's error against the packet model on 2 of its layers and 32 tokens on
  a 42x42 mesh. Its trace is shape-only: every record has the same made-up activity (half the
  inputs non-zero).

A figure "per inference" is the difference between runs of two sample counts divided by the
difference in samples, so that start-up is not counted in it; start-up is printed apart.

Usage: python scripts/bench_scale.py [--packet] [--skip bert]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "hw_configs"

#: BERT-base: hidden size, feed-forward size, layers; the sequence length.
HIDDEN, FFN, LAYERS, TOKENS = 768, 3072, 12, 128

_CHILD = r"""
import json, sys, time, resource
from archsim import api
config, overrides, traces = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
loaded = api.load(config, overrides)
out = []
for trace in traces:
    start = time.perf_counter()
    report = api.run(loaded, trace)
    out.append({"seconds": time.perf_counter() - start, "samples": report["samples"],
                "latency_s": report["latency_s"]["mean"],
                "packets": report.get("noc", {}).get("packets_injected", 0)})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"runs": out, "peak_bytes": peak}))
"""


def child(config: Path, overrides: list[str], traces: list[Path]) -> dict:
    """Run ``traces`` on ``config`` in a fresh interpreter; its timings and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(config), json.dumps(overrides),
         json.dumps([str(t) for t in traces])],
        check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(done.stdout)


def per_inference(result: dict) -> tuple[float, float]:
    """Seconds per inference (between the two runs) and the first run's seconds."""
    small, large = result["runs"]
    seconds = (large["seconds"] - small["seconds"]) / (large["samples"] - small["samples"])
    return seconds, small["seconds"]


def export(model: str, path: Path, samples: int) -> Path:
    subprocess.run(
        [sys.executable, "-m", "archsim", "trace", "export", model, "--samples", str(samples),
         "--out", str(path)], check=True, capture_output=True,
    )
    return path


def bert_trace(
    path: Path, samples: int, layers: int = LAYERS, tokens: int = TOKENS
) -> Path:
    """A shape-only trace of the BERT-base-sized encoder (module docstring), of ``layers``
    layers over ``tokens`` tokens."""
    from archsim.workload.trace import TraceWriter

    specs: list[dict] = []
    shape = [tokens, 1, HIDDEN]

    def conv(name: str, source: str, cin: int, cout: int) -> None:
        specs.append({"name": name, "kind": "conv", "inputs": [source],
                      "in_shape": [tokens, 1, cin], "out_shape": [tokens, 1, cout],
                      "kernel": [1, 1], "stride": 1, "padding": 0, "rows": cin, "cols": cout})

    def digital(name: str, kind: str, sources: list[str], width: int) -> None:
        specs.append({"name": name, "kind": kind, "inputs": sources,
                      "in_shape": [tokens, 1, width], "out_shape": [tokens, 1, width]})

    x = "input"
    for n in range(layers):
        conv(f"qkv{n}", x, HIDDEN, 3 * HIDDEN)
        conv(f"wo{n}", x, HIDDEN, HIDDEN)
        digital(f"add{n}a", "add", [f"wo{n}", x], HIDDEN)
        conv(f"ffn{n}a", f"add{n}a", HIDDEN, FFN)
        digital(f"gelu{n}", "relu", [f"ffn{n}a"], FFN)
        conv(f"ffn{n}b", f"gelu{n}", FFN, HIDDEN)
        digital(f"add{n}b", "add", [f"ffn{n}b", f"add{n}a"], HIDDEN)
        x = f"add{n}b"
    header = {"model": "bert-base-1x1", "samples": samples, "seed": 0,
              "network": {"input_shape": shape, "weight_bits": 8, "act_bits": 8,
                          "layers": specs}}
    activity = {"input_bits": 8, "input_nz": 0.5, "bitplane_nz": [0.25] * 8,
                "bitplane_allzero": [0.0] * 8}
    with TraceWriter(path, header) as writer:
        for sample in range(samples):
            for layer in specs:
                record = {"sample": sample, "phase": "forward",
                          "layer": layer["name"]}
                if layer["kind"] == "conv":
                    record |= {"kind": "mvm", "vectors": tokens, "rows": layer["rows"],
                               "cols": layer["cols"], **activity}
                else:
                    record |= {"kind": layer["kind"], "elements": tokens * layer["in_shape"][2]}
                writer.write(record)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packet", action="store_true",
                        help="also run ResNet-18 and a small BERT on the packet model "
                        "(about two minutes)")
    parser.add_argument("--skip", action="append", default=[], choices=("bert", "resnet18"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        startup(folder)
        vgg8(folder)
        if "resnet18" not in args.skip:
            resnet18(folder, args.packet)
        if "bert" not in args.skip:
            bert(folder, args.packet)


def startup(folder: Path) -> None:
    command = [sys.executable, "-m", "archsim", "run", str(CONFIGS / "wu2023_64x64.yaml"),
               str(ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"), "--out", str(folder / "o")]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    imports = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import archsim.cli"], check=True)
        imports.append(time.perf_counter() - start)
    print(f"LeNet, no NoC (wu2023_64x64, 16 images), whole `archsim run`: median "
          f"{sorted(times)[2]:.3f} s (goal < 0.25 s); `import archsim.cli` alone "
          f"{sorted(imports)[2]:.3f} s")


def vgg8(folder: Path) -> None:
    config = CONFIGS / "wu2023_256x64_noc.yaml"
    traces = [export("vgg8-wu", folder / f"vgg{n}.jsonl.gz", n) for n in (1, 11)]
    train = child(config, ["noc.model=train"], traces)
    packet = child(config, ["noc.model=packet"], [traces[0], export(
        "vgg8-wu", folder / "vgg3.jsonl.gz", 3)])
    t_each, t_first = per_inference(train)
    p_each, _ = per_inference(packet)
    error = train["runs"][0]["latency_s"] / packet["runs"][0]["latency_s"] - 1
    print(f"VGG-8 on wu2023_256x64_noc ({train['runs'][0]['packets']:,} packets per inference): "
          f"train model {t_each * 1e3:.1f} ms per inference (goal < 20 ms; first inference "
          f"with start-up {t_first:.2f} s), packet model {p_each * 1e3:.0f} ms; speed-up "
          f"{p_each / t_each:.0f}x; latency {train['runs'][0]['latency_s'] * 1e3:.4f} ms against "
          f"{packet['runs'][0]['latency_s'] * 1e3:.4f} ms ({error:+.2%}, goal within 2 %)")


def resnet18(folder: Path, with_packets: bool) -> None:
    config = CONFIGS / "wu2023_256x64_noc.yaml"
    mesh = ["chip.tiles=1444", "noc.dims=[38, 38]"]
    traces = [export("resnet18", folder / f"r18_{n}.jsonl.gz", n) for n in (1, 2)]
    train = child(config, mesh + ["noc.model=train"], traces)
    each, first = per_inference(train)
    line = (f"ResNet-18 on a 38x38 mesh ({train['runs'][0]['packets']:,} packets per "
            f"inference): train model {each:.2f} s per inference (goal < 1 s; first inference "
            f"with start-up {first:.2f} s), peak {train['peak_bytes'] / 2**20:.0f} MiB")
    if with_packets:
        packet = child(config, mesh + ["noc.model=packet"], traces[:1])
        error = train["runs"][0]["latency_s"] / packet["runs"][0]["latency_s"] - 1
        line += (f"; packet model {packet['runs'][0]['seconds']:.1f} s for the first inference, "
                 f"latency error {error:+.2%}")
    print(line)


def bert(folder: Path, with_packets: bool) -> None:
    config = CONFIGS / "wu2023_256x64_noc.yaml"
    trains = ["noc.model=train", "noc.train_packets=128"]
    mesh = ["chip.tiles=10404", "noc.dims=[102, 102]"]
    traces = [bert_trace(folder / f"bert{n}.jsonl.gz", n) for n in (1, 2)]
    train = child(config, mesh + trains, traces)
    each, first = per_inference(train)
    print(f"BERT-base-sized encoder, 12 layers x 128 tokens on a 102x102 mesh "
          f"({train['runs'][0]['packets']:,} packets per sequence): train model (128-packet "
          f"trains) {each:.1f} s per sequence (goal < 60 s; first with start-up {first:.1f} s), "
          f"peak {train['peak_bytes'] / 2**30:.2f} GiB (goal < 2 GiB)")
    if with_packets:
        small = bert_trace(folder / "bert_small.jsonl.gz", 1, layers=2, tokens=32)
        mesh = ["chip.tiles=1764", "noc.dims=[42, 42]"]
        train = child(config, mesh + trains, [small])
        packet = child(config, mesh + ["noc.model=packet"], [small])
        error = train["runs"][0]["latency_s"] / packet["runs"][0]["latency_s"] - 1
        print(f"  2 of its layers, 32 tokens, 42x42 mesh: train model "
              f"{train['runs'][0]['seconds']:.1f} s, packet model "
              f"{packet['runs'][0]['seconds']:.1f} s, latency error {error:+.2%}")


if __name__ == "__main__":
    main()
