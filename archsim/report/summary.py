"""Console summaries of reports, with one formatter for every figure (stage: report).

Every command prints through these functions, so a figure reads the same everywhere: physical
quantities with an engineering prefix and the unit (:func:`quantity`: ``1.881 µJ``,
``461.5 µs``), fractions as percentages (:func:`percent`: ``18.4 %``), counts and rates with six
significant digits (:func:`number`), and "utilization" spelled one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archsim.units import format_quantity

__all__ = ["number", "percent", "quantity", "summary"]


def quantity(value: float | None, unit: str) -> str:
    """``value`` (SI) with an engineering prefix and ``unit``: ``"2.66 nJ"``; ``"n/a"`` for None."""
    return "n/a" if value is None else format_quantity(value, unit)


def percent(fraction: float) -> str:
    """A fraction as a percentage with one decimal: ``"18.4 %"``."""
    return f"{100 * fraction:.1f} %"


def number(value: float) -> str:
    """A count or rate with up to six significant digits: ``"641"``, ``"2166.75"``."""
    return f"{value:.6g}"


def summary(report: Mapping[str, Any]) -> str:
    """A readable multi-line summary of a report for the console (a run, or synthetic traffic),
    with the ScRRAMBLe section's lines when the report has one."""
    lines = _traffic(report) if report["mode"] == "traffic" else _inference(report)
    if report.get("training") is not None:
        lines += _training(report)
    if report.get("fabric") is not None:
        lines += _fabric(report)
    if report.get("scrramble") is not None:
        lines += _scrramble(report)
    return "\n".join(lines)


def _training(report: Mapping[str, Any]) -> list[str]:
    """The training section: time and energy per training sample by phase, the update's
    work and each layer's wear (the per-inference lines above are per training sample)."""
    section = report["training"]
    times, energies = section["time_per_sample_s"], section["energy_per_sample_j"]
    phases = [p for p in times if p != "total"]
    lines = [
        "  training (per training sample; the figures above are per sample too):",
        "    time     " + ", ".join(f"{p} {quantity(times[p], 's')}" for p in phases)
        + f"; total {quantity(times['total'], 's')}",
        "    energy   " + ", ".join(
            f"{p} {quantity(energies.get(p, 0.0), 'J')}" for p in phases
        ) + f"; total {quantity(energies['total'], 'J')}",
        "    update   " + ", ".join(
            f"{name} {number(value)}" for name, value in section["work_per_sample"].items()
            if value
        ),
    ]
    for name, wear in section["wear"].items():
        lifetime = wear["lifetime_samples"]
        lines.append(
            f"    {name:<9}pulses per device W {number(wear['pulses_w_per_device'])}, A "
            f"{number(wear['pulses_a_per_device'])}; cells programmed per weight "
            f"{number(wear['programmed_per_weight'])}"
            + ("" if lifetime is None else f"; lifetime {number(lifetime)} samples")
        )
    return lines


def _fabric(report: Mapping[str, Any]) -> list[str]:
    """The fabric section: training throughput, time and energy per step by phase, SCU
    utilisation, DRAM, IMC and DIN figures (the per-inference lines above are per step)."""
    f = report["fabric"]
    times, energies = f["time_per_step_s"], f["energy_per_step_j"]
    phases = [p for p in times if p != "total" and times[p]]
    scu, dram, imc, din = f["scu"], f["dram"], f["imc"], f["din"]
    macs = f["macs_per_step"]
    imbalance = din["imbalance"]
    ideal = f["ideal_speedup"]
    return [
        f"  fabric ({f['execution']}; a sample above is one training step of "
        f"{number(f['train_samples'] / max(1, f['steps']))} samples):",
        f"    training   {number(f['throughput_samples_per_s'])} samples/s, "
        f"{quantity(f['energy_per_sample_j'], 'J')} per sample",
        "    time       " + ", ".join(f"{p} {quantity(times[p], 's')}" for p in phases)
        + f"; total {quantity(times['total'], 's')} per step",
        "    energy     " + ", ".join(
            f"{p} {quantity(energies.get(p, 0.0), 'J')}" for p in phases
        ) + f"; total {quantity(energies['total'], 'J')} per step",
        f"    SCUs       {scu['units']} x {scu['mac_width']} MACs ({scu['zero_handling']}): U "
        f"busy mean {percent(scu['utilisation_busy']['mean'])}, min "
        f"{percent(scu['utilisation_busy']['min'])}; over the products' time mean "
        f"{percent(scu['utilisation_span']['mean'])}, min "
        f"{percent(scu['utilisation_span']['min'])}",
        f"    MACs       per step dense {number(macs['macs_dense'])}: performed "
        f"{number(macs['macs_performed'])}, zero operand {number(macs['macs_skipped_zero'])}, "
        f"pruned blocks {number(macs['macs_skipped_mask'])}; weight sparsity "
        f"{percent(f['weight_sparsity'])}, block sparsity {percent(f['block_sparsity'])}"
        + ("" if ideal is None else f" (ideal speed-up {number(ideal)}x)"),
        f"    DRAM       {dram['part']}: {quantity(dram['bandwidth_bytes_per_s'], 'B')}/s of "
        f"{quantity(dram['peak_bandwidth_bytes_per_s'], 'B')}/s "
        f"({percent(dram['bandwidth_fraction'])}), row hits {percent(dram['row_hit_rate'])}",
        f"    IMC        metadata {percent(imc['metadata_fraction'])} of block-CSR bytes, "
        f"{number(imc['stall_cycles'])} cycles stalled on a full buffer",
        f"    DIN        {din['assignment']}: imbalance "
        + ", ".join(
            f"{rule} mean {number(v['mean'])} max {number(v['max'])}"
            for rule, v in imbalance.items()
        )
        + f"; {din['mask_changes']} of {din['mask_checks']} mask checks changed a mask",
    ]


def _inference(report: Mapping[str, Any]) -> list[str]:
    per = report["per_inference"]
    counters = per["counters"]
    lines = [
        f"archsim {report['archsim_version']}: {report['model']} on {report['config_name']} "
        f"({report['mode']}, {report['samples']} samples, seed {report['seed']})",
        f"  latency      {quantity(per['latency_s'], 's')} per inference",
        f"  throughput   {number(per['throughput_per_s'])} inferences/s "
        f"(interval {quantity(per['interval_s'], 's')})",
        f"  energy       {quantity(per['energy_j'], 'J')} per inference",
    ]
    if report["mapping"]["crossbars_available"] or report.get("fabric") is None:
        lines += [
            f"  crossbars    {counters['crossbars']} "
            f"(of {report['mapping']['crossbars_available']} on the chip)",
            f"  vmm steps    {number(counters['vmm_steps'])} per inference",
            f"  tile ops     {number(counters['tile_ops'])} per inference",
            f"  MACs         {number(counters['macs'])} per inference",
        ]
    lines += [
        "  energy breakdown per inference:",
    ]
    total = per["energy_j"] or 1.0
    for kind, joules in sorted(per["energy_breakdown_j"].items(), key=lambda kv: -kv[1]):
        lines.append(f"    {kind:<11}{quantity(joules, 'J'):>12}  {percent(joules / total):>7}")
    groups = report.get("groups") or {}
    if len(groups) > 1:
        lines.append("  tile groups per inference:")
        for name, group in groups.items():
            parts = "".join(
                f", {part} {quantity(joules, 'J')}"
                for part, joules in group.get("energy_by_part_j", {}).items()
            )
            lines.append(
                f"    {name:<11}{quantity(group['energy_j'], 'J'):>12}  "
                f"{group['crossbars_used']} of {group['crossbars']} arrays, "
                f"{number(group['counters'].get('tile_ops', 0))} tile ops{parts}"
            )
    lines.append("  utilization (of the hardware in use; of the whole chip):")
    for kind, fraction in per["utilization"].items():
        whole = per["utilization_chip"][kind]
        lines.append(f"    {kind:<11}{percent(fraction):>8}  {percent(whole):>8}")
    breakdown = report["latency_breakdown_s"]
    lines.append(
        "  latency by cause (mean per sample): "
        + ", ".join(f"{key} {quantity(value, 's')}" for key, value in breakdown.items())
    )
    ctrl = report["controller"]
    instructions = sum(ctrl["instructions_per_inference"].values())
    if ctrl["enabled"]:
        lines.append(
            f"  controller   {ctrl['cores_used']} {ctrl['scope']} core(s), {number(instructions)} "
            f"instructions per inference, {quantity(ctrl['busy_s'], 's')} busy, "
            f"{quantity(ctrl['stall_s'], 's')} stalled"
        )
    else:
        lines.append(
            f"  controller excluded by the config (controller.enabled: false): "
            f"{number(instructions)} instructions per inference counted, not timed or charged"
        )
    noc = report["noc"]
    if noc is not None:
        lines.append(
            f"  noc          {noc['topology']}, {number(noc['packets_per_inference'])} packets "
            f"per inference, header overhead {percent(noc['header_overhead'])}, packet latency "
            f"mean {quantity(noc['packet_latency_s']['mean'], 's')}, p99 "
            f"{quantity(noc['packet_latency_s']['p99'], 's')}, link utilization max "
            f"{percent(noc['link_utilization']['max'])}"
        )
    digital = report["digital"]
    if not digital["enabled"]:
        lines.append(
            f"  digital work excluded by the config (digital.enabled: false): "
            f"{digital['elements']} elements counted, not timed or charged"
        )
    else:
        lines.append(
            f"  digital work: {quantity(digital['busy_s'], 's')} busy, "
            f"{quantity(digital['energy_j'], 'J')} in total"
        )
    return lines


def _traffic(report: Mapping[str, Any]) -> list[str]:
    traffic, noc, totals = report["traffic"], report["noc"], report["totals"]
    clock = report["clock_hz"]
    shape = "x".join(str(n) for n in noc["dims"]) or f"{noc['routers']} routers"
    data = traffic["data_bits"]
    data_text = "/".join(str(b) for b in data) if isinstance(data, (list, tuple)) else str(data)
    bound = traffic["bisection_bound"]
    latency = report["statistics"]["packet_latency"]
    lines = [
        f"archsim {report['archsim_version']}: {report['config_name']} NoC ({noc['topology']} "
        f"{shape}), {traffic['pattern']} traffic at {traffic['rate']:g} packets/node/cycle, "
        f"{traffic['packets']} packets, seed {report['seed']}",
        f"  packet       {traffic['flits_per_packet']} flits: {traffic['header_bits']} header + "
        f"{data_text} data bits, header overhead A/(A+D) = {percent(traffic['header_overhead'])}",
        f"  delivered    {noc['packets_delivered']} of {noc['packets_injected']} packets, "
        f"{noc['flits_delivered']} of {noc['flits_injected']} flits",
        f"  offered      {traffic['offered_flits']:.4f} flits/node/cycle",
        f"  accepted     {traffic['accepted_flits']:.4f} flits/node/cycle"
        + (f" ({percent(traffic['accepted_flits'] / bound)} of the bisection bound "
           f"{bound:.4f})" if bound else ""),
    ]
    if traffic["saturated"]:
        lines.append(
            "  warning      saturated: the network accepts less than it is offered or its p99 "
            "latency is over 10x the zero-load latency; queues grow with the run, so these "
            "latencies describe this run's length, not the network (lower --rate)"
        )
    if not traffic["long_window"]:
        lines.append(
            f"  note         the measuring window ({traffic['window_cycles']} cycles) is shorter "
            "than the longest zero-load latency: the throughput figures are not a steady "
            "state; send more packets (--packets)"
        )
    lines += [
        f"  latency      mean {latency['mean']:.1f}, p50 {latency['p50']:.0f}, "
        f"p99 {latency['p99']:.0f}, max {latency['max']:.0f} cycles "
        f"(zero-load mean {traffic['zero_load_latency_mean_cycles']:.1f}); mean "
        f"{quantity(latency['mean'] / clock, 's')}",
        f"  links        utilization mean {percent(noc['link_utilization']['mean'])}, "
        f"max {percent(noc['link_utilization']['max'])}",
        f"  energy       {quantity(totals['energy_j'], 'J')} in {totals['cycles']} cycles "
        f"({quantity(totals['time_s'], 's')})",
    ]
    return lines


def _scrramble(report: Mapping[str, Any]) -> list[str]:
    section = report["scrramble"]
    spec = section["spec"]
    lines = [
        f"  ScRRAMBLe    {section['cores']} cores of {spec['core_inputs']} inputs "
        f"{tuple(spec['cores'])}, blocks of {spec['slot_size']}, density {spec['density']:g}, "
        f"{section['connections']} connections",
    ]
    if "test_accuracy" in section:
        check = section["offset_check"]
        trained = f" after {section['epochs']} epochs" if section["epochs"] else " (untrained)"
        lines += [
            f"  accuracy     {100 * section['test_accuracy']:.2f} % on {section['test_images']} "
            f"test digits{trained}",
            f"  offset       G = a (W + b): max |(x.G)/a - x.W| = {check['max_error']:.3g} "
            f"({check['relative_error']:.3g} of the largest output), max |sum x| = "
            f"{check['max_input_sum']:.3g}",
        ]
    lines.append(
        f"  packets      A = {section['header_bits']} ({section['destination_bits']} router + "
        f"{section['chunk_index_bits']} chunk bits), D = {section['data_bits']}; header "
        f"overhead measured {section['measured_overhead']:.6f}, A/(A+D) = "
        f"{section['analytic_overhead']:.6f}"
    )
    return lines
