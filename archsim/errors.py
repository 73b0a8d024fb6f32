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
