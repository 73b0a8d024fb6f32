"""The config format documentation lists every field of the schema."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from archsim.config.schema import HardwareConfig

README = Path(__file__).resolve().parents[1] / "hw_configs" / "README.md"


def schema_paths(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    paths = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        paths.append(path)
        if dataclasses.is_dataclass(hints[f.name]):
            paths.extend(schema_paths(hints[f.name], path + "."))
    return paths


def test_every_config_field_is_documented():
    text = README.read_text(encoding="utf-8")
    missing = [p for p in schema_paths(HardwareConfig) if f"| `{p}` |" not in text]
    assert not missing, f"hw_configs/README.md lacks rows for {missing}"
