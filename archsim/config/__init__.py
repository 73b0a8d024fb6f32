"""Configuration stage: strict YAML -> frozen dataclasses with SI units.

Use :func:`load_hardware` to read a ``hw_configs/*.yaml`` file (with ``--set`` style overrides).
"""

from __future__ import annotations

import os
from typing import Sequence

from archsim.config.checks import check_hardware
from archsim.config.loader import load_config
from archsim.config.schema import HardwareConfig

__all__ = ["HardwareConfig", "load_hardware"]


def load_hardware(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> HardwareConfig:
    """Load, override and check a hardware config; raise ConfigError naming the bad field."""
    config = load_config(HardwareConfig, path, overrides)
    check_hardware(config, str(path))
    return config
