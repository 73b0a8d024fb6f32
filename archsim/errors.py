"""User-facing errors (all stages).

Every error that a user can cause with a config, a trace or a command-line argument is an
:class:`ArchsimError`. The CLI prints its message on one line and exits with status 2; anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class ArchsimError(Exception):
    """An error caused by user input; the message names the field or record and what was expected."""


class ConfigError(ArchsimError):
    """A hardware config (YAML) is malformed or inconsistent."""


class TraceError(ArchsimError):
    """A trace file is malformed, truncated or inconsistent with its own header."""


class MappingError(ArchsimError):
    """A workload does not fit the hardware it is mapped onto."""


class WorkloadError(ArchsimError):
    """A model name, data set or training option is invalid."""


def shown(text: str, limit: int = 60) -> str:
    """A user's string for a message: itself if short and printable, else escaped and cut to
    ``limit`` characters (a message stays one readable line whatever a file holds)."""
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = repr(text)[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def listed(items: list[str] | tuple[str, ...], limit: int = 8) -> str:
    """Items for a message, comma-separated, each :func:`shown`; past ``limit`` of them the
    rest as ``"... (N more)"``."""
    head = ", ".join(shown(str(item)) for item in items[:limit])
    return head + (f", ... ({len(items) - limit:,} more)" if len(items) > limit else "")
