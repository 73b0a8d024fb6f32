"""Cross-field checks on a hardware config (stage: config).

Field-level types, units and ranges are checked while loading; this module checks the relations
between fields that no single field can express.
"""

from __future__ import annotations

import re

from archsim.config.schema import HardwareConfig
from archsim.errors import ConfigError

# A config name becomes part of output paths (runs/<name>_<model>): keep it a plain file name.
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_hardware(config: HardwareConfig, source: str = "") -> None:
    """Raise :class:`ConfigError` for the first inconsistent relation between fields."""
    prefix = f"{source}: " if source else ""
    if not _NAME.fullmatch(config.name) or config.name in (".", ".."):
        raise ConfigError(
            f"{prefix}name: expected letters, digits, '_', '.' or '-', got {config.name!r}"
        )
    tile = config.tile
    if tile.crossbar.cols % tile.adc.columns_per_adc:
        raise ConfigError(
            f"{prefix}tile.adc.columns_per_adc: must divide tile.crossbar.cols "
            f"({tile.crossbar.cols}), got {tile.adc.columns_per_adc}"
        )
    if tile.adc.accumulate == "analog" and tile.adc.overlap_with_read:
        raise ConfigError(
            f"{prefix}tile.adc.overlap_with_read: only applies to accumulate: digital "
            "(analog accumulation converts after the last slice)"
        )
    adc = tile.adc
    if adc.energy_scaling == "table":
        if adc.bits not in adc.energy_by_bits:
            have = ", ".join(str(b) for b in sorted(adc.energy_by_bits)) or "none"
            raise ConfigError(
                f"{prefix}tile.adc.energy_by_bits: energy_scaling: table needs the energy at "
                f"tile.adc.bits ({adc.bits}); it gives bits {have}"
            )
    elif adc.energy_by_bits:
        raise ConfigError(
            f"{prefix}tile.adc.energy_by_bits: only used with energy_scaling: table, got "
            f"energy_scaling: {adc.energy_scaling}"
        )
