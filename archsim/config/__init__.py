"""Configuration stage: strict YAML -> frozen dataclasses with SI units.

Use :func:`load_hardware` to read a ``hw_configs/*.yaml`` file (with ``--set`` style overrides),
or :func:`hardware_from_data` to build many configs from one base already read (a sweep);
:func:`load_dram` reads a DRAM part on its own (``hw_configs/dram/*.yaml``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from archsim.config.checks import check_hardware
from archsim.config.loader import (
    apply_overrides,
    config_from_data,
    load_config,
    load_with_bases,
    merge_sections,
)
from archsim.config.schema import DramConfig, HardwareConfig, TileConfig
from archsim.errors import ConfigError

__all__ = [
    "FILE_SECTIONS",
    "MAX_TILE_GROUPS",
    "DramConfig",
    "HardwareConfig",
    "hardware_from_data",
    "load_dram",
    "load_hardware",
    "load_part",
]


#: Tile groups a config may declare (each is a kind of tile: a chip has a handful).
MAX_TILE_GROUPS = 256


def _group_tiles(data: Any, source: str) -> Any:
    """``data`` with each ``tile_groups.<name>.tile`` merged over the top-level ``tile``
    (key by key, as a file over its ``base:``; a group without one takes it whole)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tile_groups"), Mapping):
        return data
    if len(data["tile_groups"]) > MAX_TILE_GROUPS:
        raise ConfigError(
            f"{source}: tile_groups: at most {MAX_TILE_GROUPS} groups (each a kind of tile), "
            f"got {len(data['tile_groups']):,}"
        )
    base = data.get("tile")
    if not isinstance(base, Mapping):
        return data
    groups = {}
    for name, group in data["tile_groups"].items():
        if isinstance(group, Mapping):
            own = group.get("tile", {})
            if isinstance(own, Mapping):
                group = {**group, "tile": merge_sections(base, own, TileConfig)}
        groups[name] = group
    return {**data, "tile_groups": groups}


#: Sections whose YAML value may instead name a file holding them (a path relative to the
#: config's folder), by their (section, key) path, with the type the file holds.
FILE_SECTIONS: Mapping[tuple[str, str], type] = MappingProxyType({("fabric", "dram"): DramConfig})


def load_part(path: str, name: str, folder: str) -> Any:
    """The data of the part file ``name`` (relative to ``folder``) for the file-valued
    section ``path`` (``"fabric.dram"``), its ``base:`` chain merged.

    Raises:
        ConfigError: naming ``path`` and the file.
    """
    key = tuple(path.split("."))
    cls = FILE_SECTIONS[key]  # type: ignore[index]
    try:
        return load_with_bases(os.path.join(folder, name), cls)
    except ConfigError as error:
        raise ConfigError(f"{path}: part file {name!r}: {error}") from None


def _resolve_parts(data: Any, folder: str) -> Any:
    """``data`` with each file-valued section given as a path (:data:`FILE_SECTIONS`)
    replaced by that file's contents; anything else is left for the schema to check."""
    if not isinstance(data, Mapping):
        return data
    for section, key in FILE_SECTIONS:
        part = data.get(section)
        if isinstance(part, Mapping) and isinstance(part.get(key), str):
            loaded = load_part(f"{section}.{key}", part[key], folder)
            data = {**data, section: {**part, key: loaded}}
    return data


def _folder(source: str) -> str:
    return os.path.dirname(source) if source and not source.startswith("<") else ""


def hardware_from_data(
    data: Any, overrides: Sequence[str] = (), source: str = "<config>", *,
    folder: str | None = None,
) -> HardwareConfig:
    """Build and check a hardware config from data read with
    :func:`~archsim.config.loader.load_with_bases`, then ``overrides``; ``data`` is unchanged.
    A section given as a file's path (:data:`FILE_SECTIONS`: ``fabric.dram``) loads that
    file, relative to ``folder`` (default ``source``'s folder). Each tile group's ``tile``
    section is merged over the top-level ``tile`` after the overrides, so ``--set
    tile.adc.bits=6`` changes every group that does not set its own.

    Raises:
        ConfigError: one message naming ``source`` and the bad field.
    """
    # A part named by path is read first, so that --set fabric.dram.<field> reaches it, and
    # again after each override, which may name another part.
    where = _folder(source) if folder is None else folder
    try:
        data = _resolve_parts(data, where)
        for override in overrides:  # a part named by one override may be changed by the next
            data = _resolve_parts(apply_overrides(data, [override]), where)
        data = _resolve_parts(_group_tiles(data, source), where)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    config = config_from_data(HardwareConfig, data, (), source)
    check_hardware(config, source)
    return config


def load_hardware(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> HardwareConfig:
    """Load, override and check a hardware config; raise ConfigError naming the bad field."""
    return hardware_from_data(
        load_with_bases(path, HardwareConfig), overrides, os.fspath(path)
    )


def load_dram(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> DramConfig:
    """Load a DRAM part (``hw_configs/dram/*.yaml``, a ``base:`` chain allowed) with
    ``--set`` style overrides; raise ConfigError naming the file and the bad field."""
    return load_config(DramConfig, path, overrides)
