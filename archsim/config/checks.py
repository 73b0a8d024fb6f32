"""Cross-field checks on a hardware config (stage: config).

Field-level types, units and ranges are checked while loading; this module checks the relations
between fields that no single field can express.
"""

from __future__ import annotations

from archsim.config.schema import HardwareConfig
from archsim.errors import ConfigError


def check_hardware(config: HardwareConfig, source: str = "") -> None:
    """Raise :class:`ConfigError` for the first inconsistent relation between fields."""
    prefix = f"{source}: " if source else ""
    tile = config.tile
    if tile.crossbar.cols % tile.adc.columns_per_adc:
        raise ConfigError(
            f"{prefix}tile.adc.columns_per_adc: must divide tile.crossbar.cols "
            f"({tile.crossbar.cols}), got {tile.adc.columns_per_adc}"
        )
    for layer, copies in config.mapping.copies.items():
        if copies < 1:
            raise ConfigError(f"{prefix}mapping.copies.{layer}: must be >= 1, got {copies}")
    if tile.adc.accumulate == "analog" and tile.adc.overlap_with_read:
        raise ConfigError(
            f"{prefix}tile.adc.overlap_with_read: only applies to accumulate: digital "
            "(analog accumulation converts after the last slice)"
        )
