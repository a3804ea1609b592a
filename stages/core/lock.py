"""One writer per output: an advisory lock file under `OUTPUT/_dscoder/locks/` (docs/architecture.md).

    OUTPUT/_dscoder/locks/rank-R.lock   a data stage's rank R (ranks of an array never block each other)
    OUTPUT/_dscoder/locks/writer.lock   a training run (taken by its rank 0 for all its ranks), an eval run

The lock is `flock` on that file (per open file, so it also works between two runs in one Python
process; on NFS Linux maps it to POSIX locks) and the file records the holder: pid, host, start
time, command. A second writer is refused with the holder named (`OutputLocked`, exit 2).

The kernel drops a lock when its holder dies, so a killed run's lock is simply taken by the next
run (its record, naming a dead pid, is reported as taken over). A lock still *held* is stale only
when its record says so: a pid that is dead on this host, or a record on another host whose
heartbeat (the holder touches the file every HEARTBEAT_SECONDS) is older than STALE_SECONDS -- a
crashed node whose NFS lock outlived it. Such a lock file is moved aside and a new one taken.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .atomic import hostname, pid_alive
from .errors import OutputLocked, output_write_error

LOCKS = "locks"  # under OUTPUT/_dscoder/
HEARTBEAT_SECONDS = 60.0
STALE_SECONDS = 600.0  # a lock held from another host with no heartbeat for this long is stale


def lock_path(root: Path, name: str) -> Path:
    return Path(root) / "_dscoder" / LOCKS / f"{name}.lock"


def read_record(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def _describe(record: dict) -> str:
    if not record:
        return "another process (its record is not written yet)"
    since = record.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    return f"pid {record.get('pid')} on host {record.get('host')} (since {when})"


def _stale(record: dict, path: Path) -> str | None:
    """Why a lock that is held is nevertheless stale, or None."""
    if not record:
        return None
    if record.get("host") == hostname():
        pid = int(record.get("pid") or 0)
        return None if pid_alive(pid) else f"pid {pid} is no longer running on this host"
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return None
    if age > STALE_SECONDS:
        return f"no heartbeat from host {record.get('host')} for {age:.0f}s (> {STALE_SECONDS:.0f}s)"
    return None


class OutputLock:
    """An acquired lock; `release()` (or the end of a `with` block) lets the next writer in."""

    def __init__(self, path: Path, fd: int, record: dict):
        self.path, self.fd, self.record = path, fd, record
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="dscoder-lock-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.fd)
            except OSError:
                pass

    def release(self) -> None:
        if self.fd < 0:
            return
        self._stop.set()
        try:
            os.ftruncate(self.fd, 0)  # the record says: nobody holds it
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try_flock(fd: int, path: Path) -> bool:
    """Whether this process now holds the lock of `fd`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            # A file system without locks: the record alone decides (empty: released; else its
            # holder must be gone by the stale rules).
            record = read_record(path)
            return not record or _stale(record, path) is not None
        raise


def acquire(root: Path, name: str, what: str = "OUTPUT", log: Callable[[str], None] | None = None,
            command: str | None = None) -> OutputLock:
    """Take `name`'s lock of OUTPUT `root`, or raise OutputLocked naming the holder."""
    path = lock_path(root, name)
    for attempt in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides (files a team shares)
        except OSError as exc:
            raise output_write_error(path, exc) from exc
        if not _try_flock(fd, path):
            record = read_record(path)
            why = _stale(record, path)
            os.close(fd)
            if why is None or attempt == 2:
                raise OutputLocked(f"{root} is being written by {_describe(record)} ({what}, lock {path}); "
                                   "wait for it to finish, or stop it; a second writer would corrupt its work")
            if log:
                log(f"taking over the stale lock {path} of {_describe(record)}: {why}")
            # Move the held-but-dead lock aside: its holder keeps a lock on an inode nobody opens again.
            try:
                os.replace(path, path.with_name(f".{path.name}.stale-{hostname()}-{os.getpid()}"))
            except FileNotFoundError:
                pass
            continue
        # The file may have been moved aside (a stale lock taken over) between open() and flock():
        # then this lock protects nothing; start again on the file that is there now.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = read_record(path)
        if previous and log:
            log(f"taking over the lock {path} of {_describe(previous)}, which is gone")
        record = {"pid": os.getpid(), "host": hostname(), "since": time.time(), "lock": name,
                  "command": command if command is not None else " ".join(sys.argv)}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise output_write_error(path, exc) from exc
        return OutputLock(path, fd, record)
    raise OutputLocked(f"{root}: could not take the lock {path}")  # pragma: no cover


def held_by_others(root: Path, mine: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """Every lock under `root` (its own and those of nested outputs, e.g. dedup's phases) that some
    other writer holds now (`mine`: the locks this process holds): what `--overwrite` must not delete."""
    held = []
    mine = {Path(p).resolve() for p in mine}
    for path in sorted(Path(root).rglob(f"_dscoder/{LOCKS}/*.lock")):
        if path.resolve() in mine:
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            if not _try_flock(fd, path):
                record = read_record(path)
                if _stale(record, path) is None:
                    held.append((path, record))
        finally:
            os.close(fd)  # closing drops a lock this probe took
    return held


def describe_holder(record: dict) -> str:
    return _describe(record)
