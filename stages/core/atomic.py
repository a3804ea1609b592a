"""Atomic writes: a temporary name in the same folder, flush + fsync, rename. One helper for files
(`atomic_path`) and one for folders (`atomic_dir`); every write-then-rename of dscoder goes through
them. Both give what they write the user's umask (`share_modes`).

A reader (or a resumed run) therefore sees either the old file, no file, or the whole new file,
never a torn one -- the basis of the resume guarantee (docs/architecture.md). Temporary names carry
the writer's host and pid (`.NAME.tmp-HOST-PID`), so the next run can tell a killed writer's
leftovers (`sweep_stale_tmp`) from those of a writer still at work on another rank.

A failure to write (disk full, read-only, permission denied) becomes `OutputWriteError`, naming
the file: never an error about the input being read at the same time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import DscoderError, is_write_error, output_write_error

TMP_MARK = ".tmp-"
# Leftovers of a writer on another host are removed once untouched this long (a writer's own
# temporary files are rewritten continuously while it works; on this host a dead pid is enough).
TMP_STALE_SECONDS = 6 * 3600


def hostname() -> str:
    return socket.gethostname()


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (`/proc/self/status`,
    kernel 4.7+); elsewhere set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_modes(path: Path) -> None:
    """Give `path` (a file, or a folder and everything in it) the modes a plain `open()`/`mkdir()`
    would have under the user's umask: 0666 & ~umask for files (0777 & ~umask where any execute
    bit was set), 0777 & ~umask for folders. Libraries that write through a private temporary
    file (safetensors: 0600) would otherwise leave files colleagues on a shared file system
    cannot read."""
    mask = current_umask()
    path = Path(path)

    def fix(p: Path, is_dir: bool) -> None:
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            return
        want = (0o777 if is_dir or mode & 0o111 else 0o666) & ~mask
        if mode & 0o7777 != want:
            os.chmod(p, want)

    if path.is_dir():
        for folder, dirs, names in os.walk(path):
            for name in dirs:
                fix(Path(folder) / name, True)
            for name in names:
                fix(Path(folder) / name, False)
        fix(path, True)
    elif path.exists():
        fix(path, False)


def tmp_name(path: Path) -> Path:
    # Hidden, host- and pid-tagged: never matched by the part-*.parquet glob, never shared by two writers.
    return path.with_name(f".{path.name}{TMP_MARK}{hostname()}-{os.getpid()}")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def remove_stale_tmp(path: Path) -> None:
    """Remove leftovers of a killed writer of `path` (any pid): for files only this writer writes."""
    for leftover in path.parent.glob(f".{path.name}{TMP_MARK}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _writer_of(name: str) -> tuple[str | None, int | None]:
    """(host, pid) from `.NAME.tmp-HOST-PID` (or the older `.NAME.tmp-PID`: host unknown)."""
    tag = name.rsplit(TMP_MARK, 1)[1]
    host, _, pid = tag.rpartition("-")
    try:
        return (host or None), int(pid)
    except ValueError:
        return None, None


def is_stale_tmp(path: Path, now: float | None = None) -> bool:
    """A temporary file or folder whose writer is gone: a dead pid on this host, else untouched
    for TMP_STALE_SECONDS."""
    host, pid = _writer_of(path.name)
    if pid is not None and host in (hostname(), None) and not pid_alive(pid):
        return True
    if host == hostname() and pid is not None:
        return False  # its writer is alive here
    try:
        return (now or time.time()) - path.lstat().st_mtime > TMP_STALE_SECONDS
    except OSError:
        return False


def sweep_stale_tmp(folders) -> list[Path]:
    """Remove killed writers' temporary files and folders from `folders`; returns what went."""
    removed = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for p in folder.glob(f".*{TMP_MARK}*"):
            if is_stale_tmp(p):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into OutputWriteError naming it."""
    try:
        yield
    except DscoderError:
        raise
    except OSError as exc:
        raise output_write_error(path, exc) from exc


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it to `path`.

    The temporary file is created before the caller writes, so a folder that cannot be written is
    reported as such; in the caller's own code only errors that can come from nothing but writing
    (disk full, quota, read-only) become OutputWriteError -- a read error of an input stays what it is.
    """
    path = Path(path)
    tmp = tmp_name(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
    try:
        try:
            yield tmp
        except OSError as exc:
            if is_write_error(exc):
                raise output_write_error(path, exc) from exc
            raise
        with writing(path):
            _fsync(tmp)
            share_modes(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_dir(path: Path, exist_ok: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success fsync everything in it and rename it to
    `path`. A killed writer leaves no half folder at `path`, only a hidden temporary one
    (`remove_stale_tmp_dirs`, `sweep_stale_tmp`). With `exist_ok`, a `path` that appeared meanwhile
    (another rank built the same thing) is kept and this copy dropped; otherwise an existing `path`
    is replaced. Everything in it gets the user's umask (`share_modes`), whatever mode its writer chose.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)  # host and pid: ranks on several machines may build the same folder at once
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        for folder, _, names in os.walk(tmp):
            for name in names:
                _fsync(Path(folder) / name)
        share_modes(tmp)
        if path.exists() and not exist_ok:
            shutil.rmtree(path)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (exist_ok and path.exists()):  # not another writer's: a real failure
                raise
        _fsync(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_tmp_dirs(path: Path, older_than: float) -> None:
    """Remove temporary folders of `path` (`atomic_dir`) whose writer is gone (a dead pid on this
    host) or that are untouched for `older_than` seconds: a killed run's leftovers, not those of a
    writer still at work on another rank."""
    for stale in Path(path).parent.glob(f".{Path(path).name}{TMP_MARK}*"):
        try:
            if stale.is_dir() and (is_stale_tmp(stale) or time.time() - stale.stat().st_mtime > older_than):
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def create_json_exclusive(path: Path, obj) -> bool:
    """Create `path` only if it does not exist (atomic across processes and ranks).

    Returns True if this call created it. Used for the manifest, which several Slurm array tasks
    may try to create at the same moment.
    """
    path = Path(path)
    tmp = tmp_name(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        _fsync(tmp)
        try:
            os.link(tmp, path)  # link() fails if the target exists: first writer wins
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
