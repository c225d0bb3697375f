"""Nothing lost, nothing half-written: outputs are built beside the target and swapped into place.

A build writes into ``.OUT.building-<pid>-<random>`` beside ``OUT``; when it is
complete, ``OUT`` (if any) is renamed to ``.OUT.old-<pid>-<random>``, the new
folder renamed to ``OUT`` and the old one deleted. The promises:

* **Never delete what worldgen did not write.** An existing ``OUT`` is replaced
  only if every entry in it is one a build writes: the files its
  ``manifest.json`` lists (folders written before manifests existed: the
  pipeline's file names), ``verify.json`` and Kit's ``.thumbs`` cache. Anything
  else (the user's notes, an input, a config) makes the build refuse, naming the
  files; they are never moved or deleted. A build whose input (or config) lies
  inside ``OUT`` is refused for the same reason.
* **One build per OUT.** A lock file ``.OUT.lock`` beside ``OUT`` (``flock``,
  released by the kernel even on SIGKILL) makes a second build into the same
  ``OUT`` refuse at once, naming the pid that holds it.
* **Recoverable.** Under the lock, staging folders of dead builds (their pid no
  longer runs, or older than a day) are deleted, and an ``OUT`` found missing
  next to a dead build's intact ``.OUT.old-*`` (a kill between the two renames)
  is restored from it (:func:`recover_output`, also run by every CLI command that
  names an OUT).
* **Clear failures.** A full disk becomes one :class:`WorldgenError` line; signals
  are held back between the two renames (:func:`~worldgen_sim.interrupts.uninterruptible`).
"""

from __future__ import annotations

import errno
import glob
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from worldgen_sim.errors import WorldgenError
from worldgen_sim.interrupts import pause_point, uninterruptible

logger = logging.getLogger(__name__)

__all__ = [
    "MANIFEST",
    "MARKER",
    "check_target",
    "foreign_entries",
    "recover_output",
    "staged_output",
    "write_atomic",
    "write_text_atomic",
]

MARKER = "world.json"
"""A folder holding this file is a worldgen output that a rebuild may replace."""
MANIFEST = "manifest.json"
"""The list of files a build wrote, written last into every staged output."""
WRITTEN_LATER = frozenset({"verify.json", "preview.png", ".thumbs"})
"""Entries written into a finished world by worldgen verify (``--preview``) and Kit's thumbnail cache."""
LEGACY_OUTPUTS = frozenset({
    "world.usda", "world.json", "config.yaml", "splats.usdc", "splats.usda", "splats.usd",
    "visual.usdc", "collision.usdc", "navigation.usdc", "navigation.json", "navigation.npz",
})  # fmt: skip
"""What builds wrote before the manifest existed (worlds without ``manifest.json``)."""
STALE_AFTER_S = 24 * 3600.0
"""A staging folder without a readable pid, or this old, belongs to a dead build [s]."""
_LOW_SPACE_BYTES = 1 << 20


def check_target(target: str | Path, *, inputs: Iterable[str | Path] = ()) -> Path:
    """Raise unless ``target`` can be (re)placed by a build; return it as an absolute path.

    A symbolic link to a folder stands for that folder. Missing parent folders are
    fine (the build creates them) as long as the nearest existing one is writable.

    Args:
        target: the output folder.
        inputs: files or folders the build reads; none may lie inside ``target``.

    Raises:
        WorldgenError: the target is a dangling link, a file, or a folder holding
            entries a build does not write; an input lies inside it; the nearest
            existing parent is not a writable folder.
    """
    target = _resolve_target(Path(target))
    _check_parent(target)
    for item in inputs:
        item = Path(item)
        if _inside(item.resolve(), target.resolve()):
            raise WorldgenError(
                f"input '{item}' lies inside the output folder '{target}', which a build replaces; "
                "move the input out or choose another -o"
            )
    if target.exists():
        if not target.is_dir():
            raise WorldgenError(f"output '{target}' exists and is a file; expected a folder to write the world into")
        foreign = foreign_entries(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            what = "is not a worldgen world" if not (target / MARKER).is_file() else "holds files a build did not write"
            raise WorldgenError(
                f"output '{target}' {what} ({shown}); a build replaces the whole folder, so move those out "
                "or choose another -o"
            )
    return target


def foreign_entries(folder: Path) -> list[str]:
    """Sorted names in ``folder`` that no build (or worldgen verify) writes; see the module docstring."""
    names = {entry.name for entry in folder.iterdir()}
    if not (folder / MARKER).is_file():
        return sorted(names)
    known = set(WRITTEN_LATER) | {MARKER, MANIFEST}
    try:
        listed = json.loads((folder / MANIFEST).read_text())["files"]
        known |= {Path(name).parts[0] for name in listed}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        known |= LEGACY_OUTPUTS  # a world from before manifests, or a damaged manifest
    # Temporary files of an interrupted write_atomic (".verify.json.tmpabc123.json") are ours too.
    ours = {name for name in names if name.startswith(".") and name[1:].split(".tmp")[0] in known}
    return sorted(names - known - ours)


@contextmanager
def staged_output(target: str | Path, *, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success it replaces ``target``.

    Args:
        target: the output folder to create or replace.
        inputs: what the build reads (see :func:`check_target`).

    Yields:
        The temporary folder to write everything into.

    Raises:
        WorldgenError: see :func:`check_target`; another build holds the lock; the disk
            filled up (the partial output is removed).
    """
    inputs = list(inputs)
    target = check_target(target, inputs=inputs)
    created = _make_parents(target.parent)
    try:
        with _locked(target):
            _clean_stale(target)
            check_target(target, inputs=inputs)  # again: a restored world or a racing build may have changed it
            staging = _make_staging(target)
            try:
                pause_point("staged")
                yield staging
                _write_manifest(staging)
                _swap_into_place(staging, target)
            except BaseException as exc:
                full = isinstance(exc, Exception) and _disk_full(exc, target.parent)
                free = _free_text(target.parent)
                shutil.rmtree(staging, ignore_errors=True)
                if full:
                    raise WorldgenError(
                        f"output '{target}': no space left on the device holding '{target.parent}' ({free} free); "
                        "the partial build was removed; free some space or choose another -o"
                    ) from None
                raise
    except BaseException:
        for folder in reversed(created):  # parents this build made, now empty again
            _rmdir_quietly(folder)
        raise


def recover_output(target: str | Path) -> str | None:
    """Restore ``target`` from a dead build's ``.old`` folder when ``target`` is missing.

    A build killed between its two renames leaves ``OUT`` missing and the previous
    world intact in ``.OUT.old-<pid>-*``. Nothing happens while another build holds
    the lock (it may be mid-swap) or when ``target`` exists.

    Returns:
        A one-line note saying what was restored, or None.
    """
    target = Path(target).absolute()
    if target.exists() or target.is_symlink() or not target.parent.is_dir():
        return None
    if not _old_folders(target):
        return None
    try:
        with _locked(target):
            return _restore_missing(target)
    except (WorldgenError, OSError):
        return None  # a live build holds the lock, or the parent is read-only: leave it to that build


# ----------------------------------------------------------------------------- checks


def _resolve_target(target: Path) -> Path:
    target = target.absolute()
    if target.is_symlink():
        if not target.exists():
            raise WorldgenError(
                f"output '{target}' is a symbolic link to '{os.readlink(target)}', which does not exist; "
                "create that folder or choose another -o"
            )
        return target.resolve()
    return target


def _check_parent(target: Path) -> None:
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WorldgenError(f"output '{target}': '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WorldgenError(f"output '{target}': the folder '{existing}' is not writable")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# ----------------------------------------------------------------------------- folders


def _make_parents(parent: Path) -> list[Path]:
    """Create missing parents (outermost first); return the ones created."""
    missing = []
    folder = parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            for made in reversed(created):
                _rmdir_quietly(made)
            raise WorldgenError(f"output folder '{folder}': cannot create it ({exc.strerror})") from None
        created.append(folder)
    return created


def _make_staging(target: Path) -> Path:
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-{os.getpid()}-", dir=target.parent))
    except OSError as exc:
        raise WorldgenError(f"output '{target}': cannot write in '{target.parent}' ({exc.strerror})") from None
    # mkdtemp makes the folder private (0700); a world is an ordinary output, so honour the umask.
    staging.chmod(0o777 & ~_umask())
    return staging


def _write_manifest(staging: Path) -> None:
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    manifest = {"generator": "worldgen_sim", "files": [*files, MANIFEST]}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving an existing target aside first and deleting it after."""
    old = None
    swapped = False
    try:
        with uninterruptible():  # a signal that arrives now is raised once the world is in place
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
                os.rmdir(old)
                os.replace(target, old)
                pause_point("swap")  # a SIGKILL here leaves OUT missing: recover_output restores it
            try:
                os.replace(staging, target)
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                raise
            swapped = True
    finally:
        if swapped and old is not None:
            pause_point("swapped")
            shutil.rmtree(old, ignore_errors=True)


def _rmdir_quietly(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


# ----------------------------------------------------------------------------- lock and leftovers


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold ``.OUT.lock`` beside ``target``; refuse at once if another process holds it.

    The lock file is unlinked before it is released; a process that opened it just
    before then finds, after locking, that the path names another file (or none) and
    opens it again, so two processes never hold locks on different files.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the rest of the protocol still holds
        yield
        return
    path = target.parent / f".{target.name}.lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as exc:
            raise WorldgenError(f"output '{target}': cannot write in '{target.parent}' ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WorldgenError(
                f"output '{target}': another worldgen build (pid {holder}) is writing it; "
                "wait for it to finish or choose another -o"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(fd)


def _pid_of(folder: Path, prefix: str) -> int | None:
    """The pid in ``.OUT.building-<pid>-<random>`` (None for names without one)."""
    head, dash, _ = folder.name[len(prefix) :].partition("-")
    return int(head) if dash and head.isdigit() else None


def _dead(folder: Path, prefix: str) -> bool:
    """True when the build that made ``folder`` no longer runs (or the folder is over a day old)."""
    try:
        if time.time() - folder.lstat().st_mtime > STALE_AFTER_S:
            return True
    except FileNotFoundError:
        return False
    pid = _pid_of(folder, prefix)
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def _leftovers(target: Path, kind: str) -> list[Path]:
    prefix = f".{target.name}.{kind}-"
    return sorted(p for p in target.parent.glob(f"{glob.escape(prefix)}*") if _dead(p, prefix))


def _old_folders(target: Path) -> list[Path]:
    return [p for p in _leftovers(target, "old") if (p / MARKER).is_file()]


def _restore_missing(target: Path) -> str | None:
    if target.exists() or target.is_symlink():
        return None
    olds = _old_folders(target)
    if not olds:
        return None
    newest = max(olds, key=lambda p: p.stat().st_mtime)
    os.replace(newest, target)
    return f"restored '{target}' from '{newest.name}', left by a build that was stopped while replacing it"


def _clean_stale(target: Path) -> None:
    """Under the lock: restore a missing OUT, then delete the leftovers of dead builds."""
    note = _restore_missing(target)
    if note:
        logger.warning(note)
    for kind in ("building", "old"):
        for folder in _leftovers(target, kind):
            shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- disk space


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """True when ``exc`` (or its cause) is a full disk, or the disk holding ``folder`` is now full."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "Disk quota exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, WorldgenError):
        return False
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _LOW_SPACE_BYTES


def _free_text(folder: Path) -> str:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return "unknown"
    free = stats.f_bavail * stats.f_frsize
    return f"{free / 2**20:.1f} MiB" if free < 2**30 else f"{free / 2**30:.1f} GiB"


# ----------------------------------------------------------------------------- single files


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> None:
    """Have ``write(temporary)`` write a file beside ``path``, then rename it onto ``path``.

    Readers never see half a file, and a failed write leaves nothing behind; the file
    gets ordinary permissions (the umask), not mkstemp's private 0600. The temporary
    keeps ``path``'s suffix, for writers that choose a format by it (USD, ``np.savez``).
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.tmp", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`write_atomic`."""
    write_atomic(path, lambda temporary: temporary.write_text(text))


def _umask() -> int:
    """The process umask, read without changing it (see :func:`worldgen_sim.runtime.process_umask`)."""
    from worldgen_sim.runtime import process_umask

    return process_umask()
