"""The report of a ScRRAMBLe run: JSON-ready dict and console summary (stage: report).

:func:`scrramble_report` gathers what :func:`archsim.sim.scrramble.run_scrramble` counted, its
energy (:func:`archsim.energy.energy_by_component`), the trained network's accuracy and the
offset-cancellation check into one dict, which :func:`archsim.report.write_report` writes as
JSON and CSV; :func:`scrramble_summary` renders it for the console.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from archsim import __version__
from archsim.energy.accounting import EnergyResult
from archsim.mapping.scrramble import OffsetCheck
from archsim.sim.scrramble import ScrrambleResult

SCRRAMBLE_SCHEMA_VERSION = 1


def scrramble_report(
    result: ScrrambleResult,
    energy: EnergyResult,
    check: OffsetCheck,
    *,
    accuracy: float,
    epochs: int,
    test_images: int,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The report of one ScRRAMBLe run (``accuracy`` on ``test_images`` digits after
    ``epochs`` epochs of training; energies in J, times as in ``result``)."""
    return {
        "schema": "archsim-scrramble-report",
        "schema_version": SCRRAMBLE_SCHEMA_VERSION,
        "archsim_version": __version__,
        "overrides": list(overrides),
        "test_accuracy": accuracy,
        "test_images": test_images,
        "epochs": epochs,
        "offset_check": {
            "max_error": check.max_error,
            "relative_error": check.relative_error,
            "max_input_sum": check.max_input_sum,
        },
        "energy_j": energy.total_j,
        "energy_by_component_j": dict(energy.by_component_j),
        **result.to_dict(),
    }


def scrramble_summary(report: Mapping[str, Any]) -> str:
    """A readable multi-line summary of a :func:`scrramble_report`."""
    spec, check = report["spec"], report["offset_check"]
    samples = max(1, report["samples"])
    total = report["energy_j"] or 1.0
    trained = f" after {report['epochs']} epochs" if report["epochs"] else " (untrained)"
    parts = sorted(report["energy_by_component_j"].items(), key=lambda kv: -kv[1])
    return "\n".join([
        f"archsim {report['archsim_version']}: ScRRAMBLe on {report['config_name']}: cores of "
        f"{spec['core_inputs']} inputs {tuple(spec['cores'])}, blocks of {spec['slot_size']}, "
        f"density {spec['density']:g}, seed {report['seed']}",
        f"  accuracy     {100 * report['test_accuracy']:.2f} % on {report['test_images']} test "
        f"digits{trained}",
        f"  offset       G = a (W + b): max |(x.G)/a - x.W| = {check['max_error']:.3g} "
        f"({check['relative_error']:.3g} of the largest output), max |sum x| = "
        f"{check['max_input_sum']:.3g}",
        f"  packets      {report['packets'] / samples:.6g} per sample: A = "
        f"{report['header_bits']} ({report['destination_bits']} router + "
        f"{report['chunk_index_bits']} chunk bits), D = {report['data_bits']}; overhead "
        f"measured {report['measured_overhead']:.6f}, A/(A+D) = "
        f"{report['analytic_overhead']:.6f}",
        f"  latency      {report['latency_cycles']['mean']:.1f} cycles = "
        f"{1e6 * report['latency_s']:.4g} us per sample ({report['op_cycles']} cycles per core "
        "MVM)",
        f"  energy       {1e9 * report['energy_j'] / samples:.4g} nJ per sample: "
        + ", ".join(f"{kind} {100 * joules / total:.1f} %" for kind, joules in parts if joules),
    ])
