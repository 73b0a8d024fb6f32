"""Atomic file writes shared by every stage that leaves files behind (no stage of its own).

A report, a timeline, a plot's PNG and SVG, a sweep's tables and cache entries are all written
the same way: each file's content goes to a temporary file beside it, and only when every
temporary file is complete do they replace their targets, one after another, in the order given
(:func:`os.replace`). A reader never sees a half-written file; a failure while writing leaves
the old files (or none) in place and removes the temporary ones. A rename that fails, or a kill
between two renames, leaves the earlier targets new and the later ones old, so writers put the
file describing the others last.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Union

#: Suffix of the temporary files, so that a directory's leftovers from a killed process can be
#: recognised and removed.
TEMP_SUFFIX = ".tmp"

Content = Union[str, bytes, Iterable[str]]


def write_atomically(files: Mapping[Path, Content], *, durable: bool = False) -> None:
    """Write every ``path -> content`` of ``files``, all or none replacing their targets.

    ``content`` is text (UTF-8), bytes, or an iterable of text chunks (streamed, so a large
    file need not be held in memory). The targets' directories must exist. With ``durable``
    each temporary file is fsynced before it replaces its target.

    Raises:
        OSError: a directory is missing or not writable: no target has changed if it came
            while writing, the targets before the failing one are replaced if it came from a
            rename.
    """
    temps: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            fd, temp = _create_temp(path)
            temps.append((temp, path))
            if isinstance(content, bytes):
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                    _sync(handle, durable)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                    for chunk in (content,) if isinstance(content, str) else content:
                        handle.write(chunk)
                    _sync(handle, durable)
        for temp, path in temps:
            os.replace(temp, path)
    finally:
        for temp, _ in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, opened for writing, with the permissions a new
    file gets (0666 less the umask, as ``open`` gives; :func:`tempfile.mkstemp` would make the
    report or plot that replaces ``path`` readable by its owner only)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:  # another writer's name: draw again
            continue


def _sync(handle: object, durable: bool) -> None:
    if durable:
        handle.flush()  # type: ignore[attr-defined]
        os.fsync(handle.fileno())  # type: ignore[attr-defined]


def unwritable_folder(folder: Path) -> str | None:
    """Why files could not be created in ``folder`` (made if missing), or None if they can:
    the nearest folder of its path that exists must be a directory that takes new entries."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"'{existing}' is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write to '{existing}' (permission denied)"
    return None
