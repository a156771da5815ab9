"""Where edgeattn writes: every output folder is checked before any work, locked for the run, written in a
staging folder beside it and renamed into place at the end, so nothing is ever half written or lost.

Rules (checked up front, one clear error each):
- the destination is not `.`, the working folder, an ancestor of it, or a symlink (dangling ones included);
- its parent is a writable folder (created if missing);
- an existing destination must be empty, or an edgeattn bundle (a manifest with edgeattn's format marker)
  and `--force` given: edgeattn never replaces a folder that is not its own;
- one run at a time per destination (a lock file beside it); the final rename checks that the destination
  is still what was checked, so a concurrent writer's result is never deleted;
- staging folders left by killed runs (their process is gone) are removed by the next run in that folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgeattn.bundle_files import BUNDLE_FORMAT, MANIFEST
from edgeattn.errors import EdgeattnError, UsageError

PID_FILE = ".edgeattn-pid"


@dataclass
class Claim:
    """A checked, locked destination; `replaced` says what `--force` will replace."""

    path: Path
    existed: bool
    inode: int | None
    replaced: str | None
    removed_stale: list[str] = field(default_factory=list)
    lock: int | None = None


def is_bundle(folder: Path) -> bool:
    """True when `folder` holds an edgeattn bundle manifest."""
    try:
        return json.loads((folder / MANIFEST).read_text()).get("format") == BUNDLE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_path(out: Path) -> Path:
    if str(out).strip() in ("", "."):
        raise UsageError("the output folder is the current folder", "Pass --out NEW_FOLDER (edgeattn writes a new folder).")
    if out.is_symlink():
        raise UsageError(f"{out} is a symbolic link", "Pass a real folder path for --out; edgeattn does not write through links.")
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UsageError(f"{out} is the working folder or contains it", "Pass --out NEW_FOLDER outside the working folder.")
    return resolved


def _check_parent(parent: Path) -> None:
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{parent} is a file, not a folder", "Pass --out inside an existing folder.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {parent}: {exc.strerror}", "Pass --out in a folder you can write to.") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{parent} is not writable", "Pass --out in a folder you can write to.")


def _existing(out: Path, force: bool, what: str) -> str | None:
    """What an existing destination is, or an error when edgeattn may not replace it."""
    if not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder", "Choose another --out.")
    if not any(out.iterdir()):
        return None
    if not is_bundle(out):
        raise UsageError(f"{out} exists and is not an edgeattn {what} (no edgeattn manifest in it)",
                         "Choose another --out; edgeattn only replaces folders it wrote (with --force).")
    if not force:
        raise UsageError(f"output folder {out} already holds an edgeattn {what}", "Pass --force to replace it, or choose another --out.")
    return f"the edgeattn {what} at {out}"


def claim(out: Path, force: bool, what: str = "bundle") -> Claim:
    """Check `out` and lock it for this run (release with `release`); raise UsageError before any work."""
    path = _check_path(Path(out))
    _check_parent(path.parent)
    replaced = _existing(path, force, what) if path.exists() else None
    lock = os.open(path.parent / f".{path.name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise EdgeattnError(f"another edgeattn run is writing {path}", "Wait for it to finish, or choose another --out.") from None
    stat = path.stat() if path.exists() else None
    return Claim(path, stat is not None, stat.st_ino if stat else None, replaced, _remove_stale(path), lock)


def release(claimed: Claim) -> None:
    """Drop the run's lock (the lock file itself stays: removing it would race with the next run)."""
    if claimed.lock is not None:
        os.close(claimed.lock)
        claimed.lock = None


def _remove_stale(path: Path) -> list[str]:
    """Staging folders of earlier runs into `path` whose process is gone."""
    removed = []
    for staging in path.parent.glob(f".{path.name}.*.partial"):
        try:
            pid = int((staging / PID_FILE).read_text())
        except (OSError, ValueError):
            pid = None
        if pid is None or not _alive(pid):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_folder(claimed: Claim) -> Iterator[Path]:
    """Yield a staging folder beside the destination; on success it replaces the destination, on any error
    (signals included) it is removed and the destination is untouched."""
    path = claimed.path
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    (staging / PID_FILE).write_text(str(os.getpid()))
    try:
        yield staging
        (staging / PID_FILE).unlink()
        staging.chmod(0o755)
        _commit(claimed, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _commit(claimed: Claim, staging: Path) -> None:
    path = claimed.path
    stat = path.stat() if path.exists() or path.is_symlink() else None
    if (stat is not None) != claimed.existed or (stat is not None and stat.st_ino != claimed.inode):
        raise EdgeattnError(f"{path} changed while this run was writing it; nothing was replaced",
                            "Run again; only one edgeattn run may write a folder at a time.")
    if stat is None:
        staging.rename(path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".replaced", dir=path.parent))
    os.rename(path, old / "old")
    staging.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def check_file(path: Path) -> Path:
    """A file destination: not a folder or a link, in a writable folder (created if missing)."""
    path = Path(path)
    if path.is_symlink() or path.is_dir():
        raise UsageError(f"{path} is a {'link' if path.is_symlink() else 'folder'}, not a file",
                         "Pass a file path (e.g. report.html).")
    _check_parent(path.resolve().parent)
    return path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file through a temporary sibling and rename it into place."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    descriptor, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(raw)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
