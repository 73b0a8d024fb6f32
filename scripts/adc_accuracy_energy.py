"""What ADC resolution costs in accuracy and buys in energy, on the Wu et al. 2023 tile
(prints figures; not a test).

For each ADC resolution, ``lenet-wu`` trained in software (seed 0) is tested on the tile of
``hw_configs/wu2023_64x64.yaml`` at that resolution (``archsim accuracy``: conductance levels,
bit-serial inputs, analog accumulation, ADC ranges calibrated on training images, the device
section's noise), and the bundled 16-image trace is simulated on the same config for its energy
per inference (the ADC's energy follows its resolution by the config's Walden scaling).

Usage: python scripts/adc_accuracy_energy.py [--model lenet-wu] [--read-noise 0.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "wu2023_64x64.yaml"
TRACE = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-wu", choices=("mlp", "lenet-wu"))
    parser.add_argument("--read-noise", type=float, default=0.0,
                        help="device.read_noise, a fraction of the conductance range")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.model} on {CONFIG.name}, read noise {100 * args.read_noise:g} % of the range;"
          f" energy of {TRACE.name} on the same config")
    print(f"{'ADC bits':>8}{'accuracy':>11}{'software':>10}{'energy/inference':>18}")
    for bits in range(8, 1, -1):
        overrides = [f"tile.adc.bits={bits}", f"device.read_noise={args.read_noise}"]
        result = api.accuracy(CONFIG, args.model, seed=args.seed, overrides=overrides)
        report = api.run(CONFIG, TRACE, overrides=overrides)
        energy = report["per_inference"]["energy_j"]
        print(f"{bits:>8}{100 * result.accuracy:>10.2f}%{100 * result.software_accuracy:>9.2f}%"
              f"{energy * 1e6:>15.3f} uJ")


if __name__ == "__main__":
    main()
