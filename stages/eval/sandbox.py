"""Run one untrusted program: its own uid, process group, network namespace, rlimits and Landlock.

The recipe was measured on the CI machine kind (docs/eval.md, Sandbox); in short, per run:

* a fresh work directory (0700, owned by the worker's uid) under a root-owned 0711 parent;
* ``Popen(start_new_session=True, stdin=DEVNULL)`` whose ``preexec_fn``, in the child, does
  ``unshare(CLONE_NEWNET)`` (no network: ``lo`` is down), ``setrlimit`` (CPU, DATA, AS, NPROC, FSIZE,
  NOFILE, CORE, soft = hard), drops to the worker's uid, sets ``no_new_privs`` and restricts itself
  with Landlock (writes only under the work directory and ``/dev/null``, no TCP bind/connect, no
  signals out of the sandbox);
* stdout and stderr read with ``select`` up to an output cap and a wall-clock deadline;
* then, always: kill the process group, kill every process of the uid (a child that called
  ``setsid()`` escapes ``killpg``), wait, reap re-parented orphans (the worker is a child subreaper)
  and delete the work directory.

Each worker process owns one uid (``RLIMIT_NPROC`` counts per uid, and "kill the uid" must not reach
another worker's programs). Uids are drawn at random from a range no account uses, so two
evaluations on one machine never share one.

Without root the uid switch and kill-by-uid are impossible: the child then unshares a user namespace
together with the network namespace (unprivileged), and the cleanup kills every descendant the
subreaper inherited instead. Every missing protection is reported by :func:`capabilities` and ends up
in the run's summary.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import resource
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

GiB = 1 << 30
MiB = 1 << 20

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

# Landlock (linux/landlock.h). The syscall numbers are the same on x86_64 and arm64.
SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH, LANDLOCK_RULE_NET_PORT = 1, 2
FS_WRITE_FILE = 1 << 1
FS_REMOVE_DIR, FS_REMOVE_FILE = 1 << 4, 1 << 5
FS_MAKE = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: unavailable)."""
    abi = _libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(abi), 0)


def _landlock_restrict(abi: int, writable: str) -> None:
    """Allow filesystem writes only beneath `writable` (and to /dev/null); deny TCP; scope signals."""
    write = FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE
    if abi >= 2:
        write |= FS_REFER
    if abi >= 3:
        write |= FS_TRUNCATE
    attr = _RulesetAttr(write, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = _libc.syscall(SYS_landlock_create_ruleset, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        for path, access in ((writable, write), ("/dev/null", FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0))):
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(access, pfd)
                if _libc.syscall(SYS_landlock_add_rule, ctypes.c_int(fd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                 ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
            finally:
                os.close(pfd)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
        if _libc.syscall(SYS_landlock_restrict_self, ctypes.c_int(fd), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(fd)


def _probe_unshare(flags: int) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(0 if _libc.unshare(ctypes.c_int(flags)) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


_CAPS: Optional[dict] = None


def capabilities() -> dict:
    """What this machine allows; computed once per process."""
    global _CAPS
    if _CAPS is None:
        root = os.geteuid() == 0
        netns = _probe_unshare(CLONE_NEWNET if root else CLONE_NEWUSER | CLONE_NEWNET)
        abi = landlock_abi()
        notes = []
        if not netns:
            notes.append("no network isolation: the kernel refused a new network namespace (unshare -n)")
        if not root:
            notes.append("not root: programs run under the caller's uid (no per-worker uid; "
                         "cleanup kills descendants instead of the uid)")
        if abi == 0:
            notes.append("no Landlock: programs can write to world-writable folders (/tmp, /dev/shm)")
        elif abi < 4:
            notes.append(f"Landlock ABI {abi} < 4: TCP is not blocked by Landlock")
        _CAPS = {"root": root, "network_isolated": netns, "landlock_abi": abi, "uid_per_worker": root,
                 "notes": notes}
    return _CAPS


@dataclass(frozen=True)
class Limits:
    """Per-run limits (docs/eval.md, Sandbox: DATA stops every runtime's allocations; AS only as a
    backstop because JITs reserve address space; NPROC counts threads, the JVM needs > 16)."""

    timeout: float  # wall clock, seconds: EvalConfig.timeout (a compiler: max(config.COMPILE_TIMEOUT, it))
    cpu_seconds: Optional[int] = None  # default: timeout + 1
    data_bytes: int = 2 * GiB
    address_space_bytes: int = 8 * GiB
    processes: int = 64
    file_bytes: int = 64 * MiB
    open_files: int = 256
    output_bytes: int = 1 * MiB


@dataclass
class RunResult:
    exit_code: Optional[int]  # None when killed by a signal
    signal: Optional[int]
    timed_out: bool
    output_capped: bool
    stdout: str
    stderr: str
    seconds: float
    setup_error: Optional[str] = None  # the harness could not start the program

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.output_capped


@dataclass
class Sandbox:
    """One worker's sandbox: a uid (when root), a root for work dirs, and the machine's capabilities."""

    root: Path
    uid: Optional[int] = None
    caps: dict = field(default_factory=capabilities)

    def __post_init__(self):
        self.root = Path(self.root)
        if self.caps["root"] and self.uid is None:
            self.uid = random_uid_block(1)
        # Orphans of a run (a killed program's children) are re-parented to us, not to PID 1, so we
        # can reap them at once: zombies of PID 1 linger ~2 s and count against RLIMIT_NPROC.
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    # -- work directories -------------------------------------------------------------------
    def make_workdir(self) -> Path:
        wd = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        if self.caps["root"]:
            os.chown(wd, self.uid, self.uid)
        os.chmod(wd, 0o700)
        return wd

    def write_files(self, wd: Path, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = wd / name
            path.write_text(text, encoding="utf-8")
            if self.caps["root"]:
                os.chown(path, self.uid, self.uid)

    def remove_workdir(self, wd: Path) -> None:
        shutil.rmtree(wd, ignore_errors=True)
        if wd.exists():  # a program made something root cannot delete at once (e.g. a 0 mode dir)
            for dirpath, dirnames, _ in os.walk(wd):
                for d in dirnames:
                    try:
                        os.chmod(os.path.join(dirpath, d), stat.S_IRWXU)
                    except OSError:
                        pass
            shutil.rmtree(wd, ignore_errors=True)

    # -- one run ------------------------------------------------------------------------------
    def _preexec(self, wd: str, limits: Limits):
        caps, uid = self.caps, self.uid
        cpu = limits.cpu_seconds or int(limits.timeout) + 1

        def pre():  # runs in the child between fork and exec: no allocation-heavy work, no locks
            flags = CLONE_NEWNET if caps["root"] else CLONE_NEWUSER | CLONE_NEWNET
            if caps["network_isolated"] and _libc.unshare(ctypes.c_int(flags)) != 0:
                os._exit(125)
            for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_DATA, limits.data_bytes),
                               (resource.RLIMIT_AS, limits.address_space_bytes),
                               (resource.RLIMIT_FSIZE, limits.file_bytes),
                               (resource.RLIMIT_NOFILE, limits.open_files), (resource.RLIMIT_CORE, 0)):
                resource.setrlimit(res, (value, value))
            if caps["root"]:
                resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            if caps["landlock_abi"] > 0:
                _landlock_restrict(caps["landlock_abi"], wd)
            else:
                _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        return pre

    def run(self, argv: list[str], wd: Path, limits: Limits, env: Optional[dict] = None) -> RunResult:
        """Run `argv` in `wd` under the limits; never raises for anything the program does."""
        full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(wd), "TMPDIR": str(wd),
                    "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=wd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    preexec_fn=self._preexec(str(wd), limits), close_fds=True)
        except (OSError, subprocess.SubprocessError) as exc:
            return RunResult(None, None, False, False, "", "", 0.0, setup_error=f"{type(exc).__name__}: {exc}")
        out, err = bytearray(), bytearray()
        timed_out = capped = False
        streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        deadline = t0 + limits.timeout
        exited_at = None
        try:
            while streams:
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                # A background child may hold the pipes open after the program exits: 0.2 s grace.
                if exited_at is not None and now > exited_at + 0.2:
                    break
                if now >= deadline:
                    timed_out = proc.poll() is None
                    break
                ready, _, _ = select.select(list(streams), [], [], min(deadline - now, 0.05))
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        del streams[fd]
                        continue
                    buf = streams[fd]
                    room = limits.output_bytes - len(out) - len(err)
                    buf += chunk[:max(room, 0)]
                    if len(chunk) > room:
                        capped = True
                if capped:
                    break
            if not streams and not capped:  # both pipes closed: the program may still be running
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            self._kill_all(proc)
            proc.stdout.close()
            proc.stderr.close()
        seconds = time.monotonic() - t0
        code = proc.returncode
        sig = -code if code is not None and code < 0 else None
        return RunResult(exit_code=None if sig else code, signal=sig, timed_out=timed_out, output_capped=capped,
                         stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
                         seconds=seconds)

    def _kill_all(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if self.caps["root"] and _uid_has_processes(self.uid):
            kill_uid(self.uid)
        if not self.caps["root"]:
            kill_descendants()
        reap_orphans()


def kill_uid(uid: int) -> None:
    """Kill every process of `uid` (also those that left the process group with setsid())."""
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not _uid_has_processes(uid):
            return


def _uid_has_processes(uid: int) -> bool:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                            return True
            except (OSError, IndexError):
                continue
    return False


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != b"Z":
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def kill_descendants() -> None:
    """Without root: kill every live child of this (subreaper) process until none is left."""
    me = os.getpid()
    for _ in range(50):
        kids = _children(me)
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_orphans()
        time.sleep(0.01)


def reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def random_uid_block(n: int) -> int:
    """First of `n` consecutive unused uids, drawn at random above every account range."""
    rng = random.SystemRandom()
    while True:
        base = rng.randrange(1_000_000, 2_000_000_000 - n)
        if not any(_uid_has_processes(base + i) for i in range(n)):
            return base


def make_sandbox_root() -> Path:
    """A root-owned 0711 folder for work dirs: uids can reach their own dir but not list others."""
    root = Path(tempfile.mkdtemp(prefix="dscoder-eval-"))
    os.chmod(root, 0o711)
    return root
