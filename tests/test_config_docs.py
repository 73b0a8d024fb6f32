"""The config format documentation matches the schema, row for row.

The field table in hw_configs/README.md is generated from the schema's annotations and field
metadata (type, unit, bounds, doc); regenerate it with ``python tests/test_config_docs.py``.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from archsim.config.schema import HardwareConfig

README = Path(__file__).resolve().parents[1] / "hw_configs" / "README.md"
HEADER = "| path | type [unit] | range | meaning |\n|---|---|---|---|\n"


def _bound(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0e}" if value >= 1e6 else f"{value:g}"
    return str(value)


def _type_name(hint: object) -> str:
    args = typing.get_args(hint)
    if type(None) in args:  # X | None: the field may be null (markdown tables reserve "|")
        (inner,) = (arg for arg in args if arg is not type(None))
        return f"{_type_name(inner)} or null"
    if typing.get_origin(hint) is typing.Literal:
        return " \\| ".join(str(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is dict:
        key, value = typing.get_args(hint)
        return f"dict of {key.__name__}: {value.__name__}"
    return getattr(hint, "__name__", str(hint))


def _section(hint: object) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), or None for a plain value."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if type(None) in typing.get_args(hint) and len(args) == 1:
        hint = args[0]
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _keyed_section(hint: object) -> type | None:
    """The dataclass of a ``dict[str, X]`` field's values (named sections), or None."""
    if typing.get_origin(hint) is dict:
        return _section(typing.get_args(hint)[1])
    return None


def _optional(f: dataclasses.Field) -> str:
    missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    return "" if missing else " (optional)"


def field_rows(cls: type = HardwareConfig, prefix: str = "") -> list[str]:
    """One markdown row per schema field, depth first in declaration order; optional sections
    and named sections (``tile_groups.<name>``) are expanded like the others."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path, hint = f"{prefix}{f.name}", hints[f.name]
        section = _section(hint)
        if section is not None:
            summary = (section.__doc__ or "").strip().splitlines()[0]
            rows.append(f"| `{path}` | section{_optional(f)} |  | {summary} |")
            rows.extend(field_rows(section, path + "."))
            continue
        keyed = _keyed_section(hint)
        if keyed is not None:
            doc = f.metadata.get("doc", "")
            rows.append(f"| `{path}` | named sections{_optional(f)} |  | {doc} |")
            rows.extend(field_rows(keyed, path + ".<name>."))
            continue
        meta = f.metadata
        unit = f" [{meta['unit']}]" if meta.get("unit") else ""
        low, high = meta.get("min"), meta.get("max")
        bounds = "" if low is None and high is None else (
            f"{'' if low is None else _bound(low)}..{'' if high is None else _bound(high)}"
        )
        rows.append(
            f"| `{path}` | {_type_name(hint)}{unit}{_optional(f)} | {bounds} | "
            f"{meta.get('doc', '')} |"
        )
    return rows


def documented_rows(text: str) -> list[str]:
    start = text.index(HEADER) + len(HEADER)
    end = text.find("\n\n", start)
    return text[start:end].splitlines()


def test_field_table_matches_the_schema():
    assert documented_rows(README.read_text(encoding="utf-8")) == field_rows()


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADER) + len(HEADER)
    end = text.find("\n\n", start)
    README.write_text(text[:start] + "\n".join(field_rows()) + text[end:], encoding="utf-8")
