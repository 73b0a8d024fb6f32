"""Cross-field checks on a hardware config (stage: config).

Field-level types, units and ranges are checked while loading; this module checks the relations
between fields that no single field can express: how the tiles are given (one ``tile:`` with
the chip's sizes, or ``tile_groups:``), each tile design's converters, and the names a mapping
refers to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from archsim.config.loader import describe_key, describe_value
from archsim.config.schema import HardwareConfig, TileConfig
from archsim.errors import ConfigError

# A config name becomes part of output paths (runs/<name>_<model>): keep it a plain file name.
_NAME = re.compile(r"[A-Za-z0-9_.-]+")

#: A tile group's name: addressable in ``--set`` paths, sweep axes and report metrics (no dots).
_GROUP_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: Names a tile group may not take: the reports use ``chip`` for chip-level units.
_RESERVED_GROUPS = ("chip",)


def check_hardware(config: HardwareConfig, source: str = "") -> None:
    """Raise :class:`ConfigError` for the first inconsistent relation between fields."""
    prefix = f"{source}: " if source else ""
    if not _NAME.fullmatch(config.name) or config.name in (".", ".."):
        raise ConfigError(
            f"{prefix}name: expected letters, digits, '_', '.' or '-', got {config.name!r}"
        )
    _check_tiles(config, prefix)
    names = [group.name for group in config.groups]
    for layer, entry in config.mapping.layers.items():
        if entry.group not in names:
            shown = ", ".join(names[:8])
            if len(names) > 8:
                shown += f", ... ({len(names) - 8} more)"
            raise ConfigError(
                f"{prefix}mapping.layers.{describe_key(layer)}.group: expected a tile group "
                f"({shown}), got {describe_value(entry.group)}"
            )
    for pattern, group in config.mapping.layer_groups.items():
        if group not in names:
            raise ConfigError(
                f"{prefix}mapping.layer_groups.{describe_key(pattern)}: expected a tile group "
                f"({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}), got "
                f"{describe_value(group)}"
            )
    if config.noc is not None and any(g.tile.kind == "hybrid" for g in config.groups):
        raise ConfigError(
            f"{prefix}noc: hybrid tiles pass a layer's results between its SVD passes and "
            "SLC/MLC parts without packets, which a NoC would have to carry; remove the noc "
            "section (a hybrid chip's data moves through its buffers)"
        )
    hybrid = config.mapping.hybrid
    if not hybrid.svd and hybrid.slc_fraction not in (0.0, 1.0):
        raise ConfigError(
            f"{prefix}mapping.hybrid.slc_fraction: without svd a layer sits in one mode; "
            f"expected 0 (all MLC) or 1 (all SLC), got {hybrid.slc_fraction:g}"
        )
    if config.mapping.fill_groups and config.mapping.copies:
        raise ConfigError(
            f"{prefix}mapping.copies: fill_groups sets every layer's copies; remove one of "
            "the two"
        )
    if config.mapping.samples_in_flight is not None and not config.mapping.pipeline:
        raise ConfigError(
            f"{prefix}mapping.samples_in_flight: bounds the samples in a pipeline; it only "
            "applies with mapping.pipeline: true"
        )
    fabric = config.fabric
    if fabric is not None and fabric.interconnect == "noc" and config.noc is None:
        raise ConfigError(
            f"{prefix}fabric.interconnect: 'noc' carries the blocks over the noc section, "
            "which the config lacks; add one or set 'ideal'"
        )
    if (
        fabric is not None and fabric.interconnect == "noc" and config.noc is not None
        and config.noc.model == "train"
    ):
        raise ConfigError(
            f"{prefix}noc.model: the fabric's blocks travel as single packets, which the train "
            "model's trains do not see; use 'packet' with fabric.interconnect: noc"
        )
    device = config.device
    if device is not None and not device.g_min < device.g_max:
        raise ConfigError(
            f"{prefix}device.g_max: must be above device.g_min ({device.g_min:g} S), got "
            f"{device.g_max:g} S"
        )


def _check_tiles(config: HardwareConfig, prefix: str) -> None:
    chip = config.chip
    if not config.tile_groups:
        if config.tile is None and config.fabric is not None:
            if config.controller.scope != "chip":
                raise ConfigError(
                    f"{prefix}controller.scope: a fabric without crossbar tiles has one "
                    "controller for the chip; expected 'chip'"
                )
            for field in ("tiles", "crossbars_per_tile"):
                if getattr(chip, field) is not None:
                    raise ConfigError(
                        f"{prefix}chip.{field}: a fabric without a tile: section has no "
                        "crossbar tiles; remove it (or give the tile design)"
                    )
            return
        if config.tile is None:
            raise ConfigError(f"{prefix}tile: required field is missing (or give tile_groups)")
        for field in ("tiles", "crossbars_per_tile"):
            if getattr(chip, field) is None:
                raise ConfigError(
                    f"{prefix}chip.{field}: required field is missing (or give tile_groups)"
                )
        _check_tile(config.tile, "tile", prefix)
        return
    for field in ("tiles", "crossbars_per_tile"):
        if getattr(chip, field) is not None:
            raise ConfigError(
                f"{prefix}chip.{field}: each of tile_groups gives its own {field}; remove it here"
            )
    for name, group in config.tile_groups.items():
        if not _GROUP_NAME.fullmatch(name) or name in _RESERVED_GROUPS:
            raise ConfigError(
                f"{prefix}tile_groups.{describe_key(name)}: a group name is 1 to 64 letters, "
                f"digits, '_' or '-', and not {', '.join(_RESERVED_GROUPS)}"
            )
        _check_tile(group.tile, f"tile_groups.{name}.tile", prefix)


def _check_tile(tile: TileConfig, where: str, prefix: str) -> None:
    """The relations inside one tile design (those of its kind, :data:`TILE_CHECKS`);
    ``where`` is its config path."""
    TILE_CHECKS[tile.kind](tile, where, prefix)


def _check_crossbar_tile(tile: TileConfig, where: str, prefix: str) -> None:
    """The relations inside an analog crossbar tile: its ADCs share the columns evenly, the
    accumulation mode and the ADC energy table agree."""
    if tile.crossbar.cols % tile.adc.columns_per_adc:
        raise ConfigError(
            f"{prefix}{where}.adc.columns_per_adc: must divide {where}.crossbar.cols "
            f"({tile.crossbar.cols}), got {tile.adc.columns_per_adc}"
        )
    if tile.adc.accumulate == "analog" and tile.adc.overlap_with_read:
        raise ConfigError(
            f"{prefix}{where}.adc.overlap_with_read: only applies to accumulate: digital "
            "(analog accumulation converts after the last slice)"
        )
    adc = tile.adc
    if adc.energy_scaling == "table":
        if adc.bits not in adc.energy_by_bits:
            have = ", ".join(str(b) for b in sorted(adc.energy_by_bits)) or "none"
            raise ConfigError(
                f"{prefix}{where}.adc.energy_by_bits: energy_scaling: table needs the energy at "
                f"{where}.adc.bits ({adc.bits}); it gives bits {have}"
            )
    elif adc.energy_by_bits:
        raise ConfigError(
            f"{prefix}{where}.adc.energy_by_bits: only used with energy_scaling: table, got "
            f"energy_scaling: {adc.energy_scaling}"
        )


def _check_plain_tile(tile: TileConfig, where: str, prefix: str) -> None:
    """A crossbar tile: the crossbar checks, and no array modes."""
    if tile.modes is not None:
        raise ConfigError(
            f"{prefix}{where}.modes: only hybrid tiles have array modes; set {where}.kind: "
            "hybrid or remove it"
        )
    _check_crossbar_tile(tile, where, prefix)


def _check_hybrid_tile(tile: TileConfig, where: str, prefix: str) -> None:
    """A hybrid tile: the crossbar checks; both modes given, the SLC mode storing fewer bits
    per cell than the MLC mode, neither more than the cells hold (``crossbar.cell_bits``), and
    the ADC's energy known at both modes' resolutions."""
    if tile.modes is None:
        raise ConfigError(
            f"{prefix}{where}.modes: required field is missing (a hybrid tile's slc and mlc "
            "modes)"
        )
    _check_crossbar_tile(tile, where, prefix)
    slc, mlc = tile.modes.slc, tile.modes.mlc
    if not slc.cell_bits < mlc.cell_bits:
        raise ConfigError(
            f"{prefix}{where}.modes: slc.cell_bits ({slc.cell_bits}) must be below "
            f"mlc.cell_bits ({mlc.cell_bits}): the SLC mode stores fewer bits per cell"
        )
    if mlc.cell_bits > tile.crossbar.cell_bits:
        raise ConfigError(
            f"{prefix}{where}.modes.mlc.cell_bits: the cells store at most "
            f"{where}.crossbar.cell_bits ({tile.crossbar.cell_bits}) bits, got {mlc.cell_bits}"
        )
    adc = tile.adc
    for name, mode in (("slc", slc), ("mlc", mlc)):
        if mode.adc_bits > adc.bits:
            raise ConfigError(
                f"{prefix}{where}.modes.{name}.adc_bits: the ADCs resolve at most "
                f"{where}.adc.bits ({adc.bits}) bits, got {mode.adc_bits}"
            )
    if adc.energy_scaling == "table":
        for name, mode in (("slc", slc), ("mlc", mlc)):
            if mode.adc_bits not in adc.energy_by_bits:
                raise ConfigError(
                    f"{prefix}{where}.adc.energy_by_bits: energy_scaling: table needs the "
                    f"energy at modes.{name}.adc_bits ({mode.adc_bits})"
                )


#: The checks of each kind of tile (``tile.kind``): a new kind adds its entry.
TILE_CHECKS: Mapping[str, Callable[[TileConfig, str, str], None]] = MappingProxyType({
    "crossbar": _check_plain_tile,
    "hybrid": _check_hybrid_tile,
})
