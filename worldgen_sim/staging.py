"""Nothing half-written: outputs are built in a temporary folder beside the target and renamed into place.

A failed or interrupted build leaves an existing target untouched and no
partial one. Missing parent folders of the target are created (``-o out/world``
with no ``out/`` yet) and removed again when the build fails. Only a folder that looks like an earlier worldgen output (or an
empty folder) is ever replaced, so a typo in ``-o`` cannot delete user data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worldgen_sim.errors import WorldgenError

MARKER = "world.json"
"""A folder holding this file is a worldgen output that a rebuild may replace."""


def check_target(target: Path) -> None:
    """Raise unless ``target`` can be (re)placed by a build.

    A missing parent folder is fine (it will be created) as long as its nearest
    existing ancestor is a writable folder.

    Raises:
        WorldgenError: the nearest existing ancestor is a file or unwritable, or the
            target exists and is a file or a non-empty folder that is not a worldgen output.
    """
    parent = target.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WorldgenError(f"output '{target}': '{existing}' is a file, not a folder to create '{parent}' in")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "folder" if existing == parent else "folder (needed to create the missing folders up to it)"
        raise WorldgenError(f"output '{target}': the {what} '{existing}' is not writable")
    if target.exists():
        if not target.is_dir():
            raise WorldgenError(f"output '{target}' exists and is a file; expected a folder to write the world into")
        if any(target.iterdir()) and not (target / MARKER).is_file():
            raise WorldgenError(
                f"output '{target}' exists and is not a worldgen world (no {MARKER}); "
                "choose another path or remove it first"
            )


@contextmanager
def staged_output(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success it replaces ``target``.

    Args:
        target: the output folder to create or replace.

    Yields:
        The temporary folder to write everything into.

    Raises:
        WorldgenError: see :func:`check_target`.
    """
    target = Path(target).absolute()
    check_target(target)
    created = _make_parents(target)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    except OSError as exc:
        _remove_empty(created)
        raise WorldgenError(f"output '{target}': cannot write in '{target.parent}' ({exc.strerror})") from None
    # mkdtemp makes the folder private (0700); a world is an ordinary output, so honour the umask.
    staging.chmod(0o777 & ~_umask())
    try:
        yield staging
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise


def _make_parents(target: Path) -> list[Path]:
    """Create the missing folders above ``target``; returns them, deepest first."""
    missing = []
    folder = target.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to remove
        except OSError as exc:
            _remove_empty(created[::-1])
            raise WorldgenError(f"output '{target}': cannot create the folder '{folder}' ({exc.strerror})") from None
        created.append(folder)
    return created[::-1]


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this build created (deepest first), leaving any that something else filled."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving an existing target aside first and deleting it after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and rename it.

    Readers never see half a file; the file gets ordinary permissions (the umask), not
    mkstemp's private 0600.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask
