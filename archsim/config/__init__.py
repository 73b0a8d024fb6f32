"""Configuration stage: strict YAML -> frozen dataclasses with SI units.

Use :func:`load_hardware` to read a ``hw_configs/*.yaml`` file (with ``--set`` style overrides),
or :func:`hardware_from_data` to build many configs from one base already read (a sweep).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from archsim.config.checks import check_hardware
from archsim.config.loader import config_from_data, load_with_bases
from archsim.config.schema import HardwareConfig

__all__ = ["HardwareConfig", "hardware_from_data", "load_hardware"]


def hardware_from_data(
    data: Any, overrides: Sequence[str] = (), source: str = "<config>"
) -> HardwareConfig:
    """Build and check a hardware config from data read with
    :func:`~archsim.config.loader.load_with_bases`, then ``overrides``; ``data`` is unchanged.

    Raises:
        ConfigError: one message naming ``source`` and the bad field.
    """
    config = config_from_data(HardwareConfig, data, overrides, source)
    check_hardware(config, source)
    return config


def load_hardware(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> HardwareConfig:
    """Load, override and check a hardware config; raise ConfigError naming the bad field."""
    return hardware_from_data(
        load_with_bases(path, HardwareConfig), overrides, os.fspath(path)
    )
