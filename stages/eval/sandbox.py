"""Run untrusted programs: namespaces, a mount view, a scratch tmpfs, a uid, limits and Landlock.

Per worker (docs/eval.md, Sandbox, has the threat model and the measurements):

* the worker forks **A**, which unshares a new mount, PID and IPC namespace (the worker itself sits
  in an empty network namespace) and forks **B**, PID 1 of the new PID namespace: the supervisor of
  all the worker's jobs, one after the other. A dies with the worker and B with A
  (``PR_SET_PDEATHSIG``; B also watches a pipe only the worker holds), and when B dies the kernel
  kills every process of its namespace, so nothing a program starts -- grandchildren, ``setsid()``
  escapees, daemons -- outlives the worker or the evaluator;
* B builds the **mount view** once: a tmpfs root mounted over the evaluator's scratch folder under
  OUTPUT (in B's private mount namespace: nothing of it is on a disk or visible on the host), holding
  ``/usr`` and the toolchains' few ``/etc`` entries bound read-only, ``/dev/{null,zero,full,random,
  urandom}``, a ``/proc`` of the new PID namespace; then ``pivot_root`` into it and the root made
  read-only. Per job, a fresh size- and inode-limited tmpfs for ``/work`` (the program's folder) and
  ``/tmp``, and a fresh SysV IPC namespace;
* for each step of a job (compile, then run) B forks **C**, which starts a new session, takes stdin
  from ``/dev/null``, stdout and stderr from pipes and (run step) the end-of-tests token on fd 3, sets
  its rlimits, drops to the worker's uid, sets ``no_new_privs``, restricts itself with Landlock
  (writes only beneath ``/work`` and ``/tmp``, no TCP bind/connect, no signals or abstract sockets
  out of its domain) and execs the command;
* B supervises the step: reads stdout/stderr up to the output cap, enforces the wall-clock
  deadline, polls the memory of **all** processes of the namespace (the memory cap holds for the
  program, not per process), reaps everything (it is init), and when the command exits or a limit is
  hit kills every other process of the namespace; then it reports the step to the worker.

Each worker owns one uid (random, >= 1,000,000, no account uses it), so ``RLIMIT_NPROC`` is the
program's process cap. The per-program caps (memory, processes, disk) times the number of workers
are the eval's totals.

This module needs root (mounts, pivot_root, uid switch); :func:`capabilities` says what the
machine allows and the run's summary reports it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import gc
import glob
import os
import pickle
import platform
import random
import resource
import select
import shutil
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

GiB = 1 << 30
MiB = 1 << 20

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
# Per job: mounts, PIDs and SysV IPC (a shared-memory segment dies with its job). The network
# namespace is the worker's (empty, `lo` down), made once when the worker starts.
NAMESPACES = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 4, 24, 28, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# SECBIT_NOROOT, NO_SETUID_FIXUP, KEEP_CAPS, NO_CAP_AMBIENT_RAISE, each with its _LOCKED bit: uid 0
# gains no capability at exec, ever again (the program of an unprivileged sandbox is uid 0 of its
# user namespace, without any capability).
SECUREBITS_NO_ROOT = 0b11_1111_1111
SYS_capset = {"x86_64": 126, "aarch64": 91}.get(platform.machine(), 126)
ENV_MODE = "DSCODER_EVAL_SANDBOX"  # "userns": the unprivileged sandbox even as root (how the tests run it)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_pivot_root = {"x86_64": 155, "aarch64": 41}.get(platform.machine(), 155)

# Landlock (linux/landlock.h). The syscall numbers are the same on x86_64 and arm64.
SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_WRITE_FILE = 1 << 1
FS_REMOVE_DIR, FS_REMOVE_FILE = 1 << 4, 1 << 5
FS_MAKE = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

# The toolchains' files outside /usr that they read (measured with strace on Debian 12: the
# alternatives symlinks behind /usr/bin/java, the JDK's conf/ links, mono's and PHP's configs,
# the dynamic loader's cache, the time zone). Nothing else of the host's /etc is visible.
ETC_ENTRIES = ("alternatives", "ld.so.cache", "localtime", "java-*", "mono", "php")
DEVICES = ("null", "zero", "full", "random", "urandom")
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # -> usr/... on a merged-/usr system
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
WORK, TMP = "/work", "/tmp"
SCRATCH = "/.scratch"  # where a job's tmpfs is mounted first (root-only, empty between jobs)
END_TOKEN_FD = 3  # the run step reads the end-of-tests token from this inherited pipe
MEMORY_POLL = 0.005  # seconds between two looks at the program's memory


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


def _landlock_restrict(abi: int, writable: tuple[str, ...]) -> None:
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
        rules = [(path, write) for path in writable]
        rules.append(("/dev/null", FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)))
        for path, access in rules:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(access, pfd)
                if _libc.syscall(SYS_landlock_add_rule, ctypes.c_int(fd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                 ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
            finally:
                os.close(pfd)
        if _libc.syscall(SYS_landlock_restrict_self, ctypes.c_int(fd), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(fd)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(text: Optional[str]) -> Optional[bytes]:
    return text.encode() if text is not None else None


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int, data: Optional[str] = None):
    _check(_libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)), f"mount {target}")


def set_pdeathsig(expected_parent: Optional[int]) -> None:
    """Die (SIGKILL) when the parent dies; exit at once when it already has (the race after fork)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def _enter_user_namespace(outer_uid: int, outer_gid: int, flags: int = 0) -> None:
    """Unshare a user namespace (with `flags`) and become its uid/gid 0, mapped to the outer ids:
    the way an unprivileged user can (a process maps only its own ids; root first becomes them)."""
    if os.geteuid() != outer_uid:
        os.setgroups([])
        os.setresgid(outer_gid, outer_gid, outer_gid)
        os.setresuid(outer_uid, outer_uid, outer_uid)
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # a uid change cleared it: /proc/self would be root's
    _check(_libc.unshare(ctypes.c_int(CLONE_NEWUSER | flags)), "unshare(CLONE_NEWUSER)")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {outer_uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {outer_gid} 1")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _probe_namespaces(userns: bool) -> Optional[str]:
    """None when a process can create the namespaces and mounts a job needs, else why not."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        msg = b""
        try:
            if userns:
                uid = os.geteuid() or 1_999_999_999
                _enter_user_namespace(uid, uid, CLONE_NEWNET)
            else:
                _check(_libc.unshare(ctypes.c_int(CLONE_NEWNET)), "unshare")
            _check(_libc.unshare(ctypes.c_int(NAMESPACES)), "unshare")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("probe", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k")
        except OSError as exc:
            msg = str(exc).encode()
        os.write(w, msg)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        msg = f.read().decode()
    os.waitpid(pid, 0)
    return msg or None


_CAPS: Optional[dict] = None


def capabilities() -> dict:
    """What this machine allows; computed once per process."""
    global _CAPS
    if _CAPS is None:
        root = os.geteuid() == 0
        abi = landlock_abi()
        mode, problem = None, None
        if root and os.environ.get(ENV_MODE) != "userns":
            problem = _probe_namespaces(userns=False)
            mode = "root" if problem is None else None
        if mode is None:  # not root: a user namespace gives the same namespaces and mounts
            why = _probe_namespaces(userns=True)
            mode = "userns" if why is None else None
            problem = None if why is None else f"{'' if root else 'not root, and '}no user namespace ({why})"
        notes = []
        if mode == "userns":
            notes.append("unprivileged sandbox (user namespace): programs run as uid 0 of their user namespace "
                         "without capabilities, all workers' under your uid")
        if abi == 0:
            notes.append("no Landlock: the mount view and the uid are the only limits on writes")
        elif abi < 4:
            notes.append(f"Landlock ABI {abi} < 4: TCP is not blocked by Landlock (the network namespace still is)")
        elif abi < 6:
            notes.append(f"Landlock ABI {abi} < 6: signals are not scoped (the PID namespace still hides others)")
        _CAPS = {"root": root, "mode": mode, "namespaces": mode is not None, "problem": problem,
                 "landlock_abi": abi, "network_isolated": mode is not None, "uid_per_worker": mode == "root",
                 "notes": notes}
    return _CAPS


# --------------------------------------------------------------------------------- what a job is
@dataclass(frozen=True)
class Limits:
    """One program's limits; its processes together share memory, processes and disk. The first three
    are EvalConfig.memory / processes / disk (their defaults live there); the rest are fixed."""

    memory_bytes: int  # all processes together (polled) and each one's RLIMIT_DATA
    processes: int  # RLIMIT_NPROC of the worker's uid: threads count (the JVM needs > 16)
    disk_bytes: int  # the scratch tmpfs (/work and /tmp)
    output_bytes: int = 1 * MiB  # stdout + stderr of one step
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE
    open_files: int = 256
    address_space_bytes: int = 16 * GiB  # a backstop only: JITs reserve address space (docs/eval.md)
    inodes: int = 16384  # files and folders on the scratch tmpfs


@dataclass(frozen=True)
class Step:
    name: str  # compile | run
    argv: tuple[str, ...]
    timeout: float  # wall clock, seconds
    env: tuple[tuple[str, str], ...] = ()
    end_token: Optional[str] = None  # given on fd 3 (the run step)


@dataclass
class StepResult:
    name: str
    exit_code: Optional[int] = None  # None when killed by a signal
    signal: Optional[int] = None
    timed_out: bool = False  # the wall-clock deadline
    cpu_limited: bool = False  # killed by RLIMIT_CPU (SIGXCPU/SIGKILL after its CPU time reached the limit)
    output_capped: bool = False
    memory_capped: bool = False  # the harness killed it: all its processes held more than the memory cap
    disk_full: bool = False  # the scratch tmpfs (bytes or inodes) was full when it ended
    peak_memory: int = 0  # the most its processes held together, as polled (bytes)
    cpu_seconds: float = 0.0
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    setup_error: Optional[str] = None  # the harness could not start it

    @property
    def ok(self) -> bool:
        return (self.exit_code == 0 and self.setup_error is None and not self.timed_out and not self.output_capped
                and not self.memory_capped)


@dataclass
class SandboxConfig:
    """A worker's sandbox: where scratch tmpfs are mounted, its uid, what else the view shows."""

    scratch: str  # a folder under OUTPUT: the mount point of every job's tmpfs (in its own namespace)
    uid: int
    limits: Limits
    ro_paths: tuple[str, ...] = ()  # more host paths shown read-only (toolchains outside /usr)
    # (host folder, where the programs see it): read-only at another path (the DS-1000 environment, whose
    # host path may lie under /work, the programs' own folder)
    ro_binds: tuple[tuple[str, str], ...] = ()
    path: str = SANDBOX_PATH  # the programs' PATH
    landlock_abi: int = field(default_factory=landlock_abi)
    userns: bool = False  # the unprivileged way: `uid` is the outer uid of the worker's user namespace


# ----------------------------------------------------------------------------- the job, in B
# statvfs flags a bind remount must keep (in a user namespace they are locked: dropping one is EPERM)
_KEPT_FLAGS = {os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: 1024, os.ST_NODIRATIME: 2048, os.ST_RELATIME: 1 << 21}


def _bind_ro(src: str, dst: str) -> None:
    _mount(src, dst, None, MS_BIND | MS_REC)
    have = os.statvfs(src).f_flag
    kept = sum(ms for st, ms in _KEPT_FLAGS.items() if have & st)
    _mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _mount_point(path: str, is_dir: bool) -> None:
    os.makedirs(path if is_dir else os.path.dirname(path), exist_ok=True)
    if not is_dir and not os.path.exists(path):
        open(path, "wb").close()


def view_plan(cfg: SandboxConfig) -> list[tuple]:
    """What the program's root holds besides /work, /tmp, /dev and /proc: ("link", path, target) and
    ("bind", host path, is a folder), decided once per worker (B only replays it)."""
    plan: list[tuple] = []
    for name in ROOT_LINKS:
        host = "/" + name
        if os.path.islink(host):
            plan.append(("link", host, os.readlink(host)))
        elif os.path.isdir(host):
            plan.append(("bind", host, True))
    plan.append(("bind", "/usr", True))
    plan.append(("dir", "/etc"))
    for pattern in ETC_ENTRIES:
        for host in sorted(glob.glob("/etc/" + pattern)):
            if os.path.islink(host):  # kept a symlink (its target is visible itself: /usr/...)
                plan.append(("link", host, os.readlink(host)))
            else:
                plan.append(("bind", host, os.path.isdir(host)))
    bound = {p[1] for p in plan}
    for host in cfg.ro_paths:
        if os.path.exists(host) and host not in bound and not any(host.startswith(b + "/") for b in bound):
            plan.append(("bind", host, os.path.isdir(host)))
    for host, seen_at in cfg.ro_binds:
        if os.path.isdir(host):
            plan.append(("bind_at", host, seen_at))
    return plan


def _program_uid(cfg: SandboxConfig) -> int:
    """The program's uid as seen where it runs: the worker's uid, or 0 of the user namespace."""
    return 0 if cfg.userns else cfg.uid


def _drop_capabilities() -> None:
    """Give up every capability for good (the unprivileged sandbox's program is uid 0 of its user
    namespace): bounding set, ambient set, securebits so exec grants none, then capset to nothing."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"prctl(PR_CAPBSET_DROP, {cap})")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    _check(_libc.prctl(PR_SET_SECUREBITS, SECUREBITS_NO_ROOT, 0, 0, 0), "prctl(PR_SET_SECUREBITS)")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: nothing, in both 32-bit words
    _check(_libc.syscall(SYS_capset, header, data), "capset")


def _build_view(cfg: SandboxConfig, plan: list[tuple]) -> None:
    """Mount the program's view on the scratch tmpfs and pivot_root into it (in B)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    root = cfg.scratch
    _mount("dscoder-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    for op in plan:
        if op[0] == "link":
            os.makedirs(os.path.dirname(root + op[1]), exist_ok=True)
            os.symlink(op[2], root + op[1])
        elif op[0] == "dir":
            os.makedirs(root + op[1], exist_ok=True)
        elif op[0] == "bind_at":
            _mount_point(root + op[2], True)
            _bind_ro(op[1], root + op[2])
        else:
            _mount_point(root + op[1], op[2])
            _bind_ro(op[1], root + op[1])
    os.mkdir(root + "/dev")
    for name in DEVICES:
        _mount_point(f"{root}/dev/{name}", False)
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for d in (WORK, TMP, SCRATCH):
        os.mkdir(root + d, 0o700)
    os.chdir(root)
    _check(_libc.syscall(SYS_pivot_root, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # the root itself: read-only


def _fresh_scratch(cfg: SandboxConfig, first: bool) -> None:
    """Before each job (in B): a new size-limited tmpfs for /work and /tmp (the last job's is gone
    with everything in it) and a new SysV IPC namespace (no segment or queue survives a job)."""
    if not first:
        _check(_libc.unshare(ctypes.c_int(CLONE_NEWIPC)), "unshare(CLONE_NEWIPC)")
        for d in (WORK, TMP):
            _check(_libc.umount2(d.encode(), MNT_DETACH), f"umount {d}")
    lim = cfg.limits
    _mount("dscoder-scratch", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={lim.disk_bytes},nr_inodes={lim.inodes},mode=0700")
    for d in (WORK, TMP):
        inner = SCRATCH + d
        os.mkdir(inner, 0o700)
        os.chown(inner, _program_uid(cfg), _program_uid(cfg))
        _mount(inner, d, None, MS_BIND)
    _check(_libc.umount2(SCRATCH.encode(), MNT_DETACH), "umount the scratch's first mount")  # /work, /tmp keep it


def _write_files(cfg: SandboxConfig, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        fd = os.open(f"{WORK}/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
            os.fchown(fd, _program_uid(cfg), _program_uid(cfg))
        finally:
            os.close(fd)


def _which(name: str, path: str) -> Optional[str]:
    if "/" in name:
        return name if os.path.isabs(name) else os.path.join(WORK, name)  # compiled in the job: not yet there
    return shutil.which(name, path=path)


def _exec_child(step: Step, cfg: SandboxConfig, path: str, fds: dict) -> None:
    """In C: become the program (never returns; a failure raises, and C reports it and exits 127)."""
    lim = cfg.limits
    os.setsid()
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # B runs at a higher priority; the program at the normal one
    except OSError:
        pass
    devnull = os.open("/dev/null", os.O_RDONLY)
    wanted = {0: devnull, 1: fds["out"], 2: fds["err"]}
    if fds.get("tok") is not None:
        wanted[END_TOKEN_FD] = fds["tok"]
    moved = {n: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for n, fd in wanted.items()}  # out of the way
    moved[4] = fcntl.fcntl(fds["report"], fcntl.F_DUPFD_CLOEXEC, 100)
    for n, fd in moved.items():
        os.dup2(fd, n, inheritable=n != 4)  # the report pipe closes on exec: EOF tells B it worked
    fds["report"] = 4
    if END_TOKEN_FD not in wanted:
        os.closerange(END_TOKEN_FD, 4)
    os.closerange(5, 1 << 16)  # close_range(2): one call
    cpu = int(step.timeout) + 1
    nproc = lim.processes + (3 if cfg.userns else 0)
    for res, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1),
                            (resource.RLIMIT_DATA, lim.memory_bytes, lim.memory_bytes),
                            (resource.RLIMIT_AS, lim.address_space_bytes, lim.address_space_bytes),
                            (resource.RLIMIT_FSIZE, lim.file_bytes, lim.file_bytes),
                            (resource.RLIMIT_NOFILE, lim.open_files, lim.open_files),
                            # in a user namespace the worker, A and B share the program's uid
                            (resource.RLIMIT_NPROC, nproc, nproc),
                            (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(res, (soft, hard))
    if cfg.userns:
        _drop_capabilities()
    else:
        os.setgroups([])
        os.setresgid(cfg.uid, cfg.uid, cfg.uid)
        os.setresuid(cfg.uid, cfg.uid, cfg.uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if cfg.landlock_abi > 0:
        _landlock_restrict(cfg.landlock_abi, (WORK, TMP))
    os.chdir(WORK)
    env = {"PATH": cfg.path, "HOME": WORK, "TMPDIR": TMP, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           **dict(step.env)}
    os.execve(path, list(step.argv), env)


def _status_memory(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    total = 0
    for key in (b"RssAnon:", b"RssShmem:"):
        i = data.find(key)
        if i >= 0:
            total += int(data[i + len(key):data.index(b"kB", i)]) * 1024
    return total


def _proc_memory(command: int) -> int:
    """Bytes held by every process of this PID namespace but init: resident anonymous + shmem.
    While the command has started no process (the namespace's last PID is its own), only its own."""
    try:
        with open("/proc/loadavg", "rb") as f:
            last_pid = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        last_pid = -1
    if last_pid == command:
        return _status_memory(str(command))
    return sum(_status_memory(name) for name in os.listdir("/proc") if name.isdigit() and name != "1")


def _proc_pss() -> int:
    """The same, proportional (pages shared after fork counted once): slower, used to confirm."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1":
            continue
        try:
            with open(f"/proc/{name}/smaps_rollup", "rb") as f:
                data = f.read()
        except OSError:
            continue
        for key in (b"Pss_Anon:", b"Pss_Shmem:"):
            i = data.find(key)
            if i >= 0:
                total += int(data[i + len(key):data.index(b"kB", i)]) * 1024
    return total


def _kill_namespace() -> dict[int, tuple]:
    """Kill every process of this PID namespace but init (us) and reap them all: {pid: (status, rusage)}."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reaped = {}
    while True:
        try:
            pid, status, ru = os.wait4(-1, 0)
        except ChildProcessError:
            return reaped
        except InterruptedError:
            continue
        reaped[pid] = (status, ru)


def _run_step(step: Step, cfg: SandboxConfig, life_r: int) -> StepResult:
    """In B (PID 1): run one command to its end or a limit; everything it started is dead after."""
    res = StepResult(step.name)
    lim = cfg.limits
    path = _which(step.argv[0], cfg.path)
    if path is None:
        res.setup_error = f"{step.argv[0]}: not found in the sandbox (PATH {cfg.path})"
        return res
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe()
    fds = {"out": out_w, "err": err_w, "report": rep_w, "tok": None}
    if step.end_token is not None:  # written before the program starts: it only has to read it
        tok_r, tok_w = os.pipe()
        os.write(tok_w, step.end_token.encode() + b"\n")
        os.close(tok_w)
        # the program's own: runtimes that can only open a path reopen it as /dev/fd/3
        os.fchown(tok_r, _program_uid(cfg), _program_uid(cfg))
        fds["tok"] = tok_r
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - C
        try:
            _exec_child(step, cfg, path, fds)
        except BaseException as exc:  # noqa: BLE001 - reported to B, then exit
            try:
                os.write(fds["report"], f"{type(exc).__name__}: {exc}".encode()[:2000])
            finally:
                os._exit(127)
    for fd in (out_w, err_w, rep_w) + ((fds["tok"],) if fds["tok"] is not None else ()):
        os.close(fd)
    try:
        exit_fd = os.pidfd_open(pid)  # readable when the command exits: no poll delay
    except (AttributeError, OSError):
        exit_fd = None
    with os.fdopen(rep_r, "rb") as f:  # EOF when exec succeeded (close-on-exec), else the error
        setup = f.read().decode("utf-8", "replace")
    bufs = {out_r: bytearray(), err_r: bytearray()}
    open_fds = [out_r, err_r]
    deadline = t0 + step.timeout
    next_poll = 0.0
    status = rusage = None
    try:
        while True:
            now = time.monotonic()
            while True:  # reap: the command itself, or any orphan (we are init)
                try:
                    wpid, wstatus, wru = os.wait4(-1, os.WNOHANG)
                except ChildProcessError:
                    wpid = 0
                if wpid == 0:
                    break
                if wpid == pid:
                    status, rusage = wstatus, wru
            if status is not None:
                break
            if now >= deadline:
                res.timed_out = True
                break
            if now >= next_poll:
                held = _proc_memory(pid)
                if held > lim.memory_bytes:  # confirm with shared pages counted once
                    held = _proc_pss()
                res.peak_memory = max(res.peak_memory, held)
                if held > lim.memory_bytes:
                    res.memory_capped = True
                    break
                next_poll = now + MEMORY_POLL
            wait = max(0.0, min(deadline - now, next_poll - now, 0.02))
            try:
                ready, _, _ = select.select(open_fds + [life_r] + ([exit_fd] if exit_fd is not None else []), [],
                                            [], wait)
            except InterruptedError:
                continue
            if life_r in ready:  # the worker is gone: so are we, and with us the namespace
                os._exit(1)
            for fd in ready:
                if fd in bufs and not _read_into(fd, bufs, open_fds, res, lim):
                    break
            if res.output_capped:
                break
    finally:
        reaped = _kill_namespace()  # everything else the program started (a killed one's children too)
        if exit_fd is not None:
            os.close(exit_fd)
    if status is None and pid in reaped:  # the command itself was killed just now
        status, rusage = reaped[pid]
    while open_fds and not res.output_capped:  # every writer is dead: what is left in the pipes, then EOF
        ready, _, _ = select.select(open_fds, [], [], 1.0)
        if not ready:
            break
        for fd in ready:
            _read_into(fd, bufs, open_fds, res, lim)
    for fd in (out_r, err_r):
        os.close(fd)
    res.seconds = time.monotonic() - t0
    if status is not None:
        if os.WIFSIGNALED(status):
            res.signal = os.WTERMSIG(status)
        else:
            res.exit_code = os.WEXITSTATUS(status)
    if rusage is not None:
        res.cpu_seconds = rusage.ru_utime + rusage.ru_stime
        soft = int(step.timeout) + 1
        res.cpu_limited = ((res.signal == signal.SIGXCPU and res.cpu_seconds >= soft - 0.05)
                           or (res.signal == signal.SIGKILL and res.cpu_seconds >= soft + 1 - 0.05))
    if setup and res.exit_code == 127:
        res.setup_error = setup
    res.disk_full = _disk_full()
    res.stdout = bufs[out_r].decode("utf-8", "replace")
    res.stderr = bufs[err_r].decode("utf-8", "replace")
    return res


def _read_into(fd: int, bufs: dict, open_fds: list, res: StepResult, lim: Limits) -> bool:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        chunk = b""
    if not chunk:
        open_fds.remove(fd)
        return True
    room = lim.output_bytes - sum(len(b) for b in bufs.values())
    bufs[fd] += chunk[:max(room, 0)]
    if len(chunk) > room:
        res.output_capped = True
        return False
    return True


def _disk_full() -> bool:
    try:
        st = os.statvfs(WORK)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024 or st.f_favail == 0


def _read_message(fd: int, life_r: int) -> Optional[bytes]:
    """A length-prefixed message from `fd`; None at EOF, or when the worker (life_r) is gone."""
    data = bytearray()
    while len(data) < 8 or len(data) < 8 + struct.unpack("<Q", data[:8])[0]:
        try:
            ready, _, _ = select.select([fd, life_r], [], [])
        except InterruptedError:
            continue
        if life_r in ready:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        data += chunk
    return bytes(data[8:])


def _supervisor(cfg: SandboxConfig, plan: list[tuple], job_r: int, life_r: int, report_w: int) -> None:
    """B: PID 1 of the worker's sandbox namespaces, for all of its jobs one after the other: builds
    the view once, then for each job gets a fresh scratch tmpfs and IPC namespace, writes the files,
    runs the steps (a failed one ends the job; after each, every process but B is dead) and reports.
    Exits when the worker closes the job pipe or is gone."""
    setup_error = None
    try:
        _build_view(cfg, plan)
    except Exception as exc:  # noqa: BLE001 - reported with the job
        setup_error = f"{type(exc).__name__}: {exc}"
    first = True
    while True:
        message = _read_message(job_r, life_r)
        if message is None:  # the worker closed the pipe, or is gone
            os._exit(0)
        files, steps = pickle.loads(message)
        results: list[StepResult] = []
        try:
            if setup_error:
                raise RuntimeError(setup_error)
            _fresh_scratch(cfg, first)
            first = False
            _write_files(cfg, files)
            for step in steps:
                r = _run_step(step, cfg, life_r)
                results.append(r)
                if not r.ok:
                    break
        except Exception as exc:  # noqa: BLE001 - the harness itself failed: say so, and start over
            results.append(StepResult("setup", setup_error=f"{type(exc).__name__}: {exc}"))
            setup_error = setup_error or results[-1].setup_error
        data = pickle.dumps(results)
        try:
            _write_all(report_w, struct.pack("<Q", len(data)) + data)
        except OSError:
            os._exit(1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Aborted(Exception):
    """The job was killed from outside (Ctrl-C, the evaluator's shutdown): it has no result."""


class Sandbox:
    """A worker's side of the jobs: fork A/B per job, wait for their report."""

    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        self.current: Optional[int] = None  # A of the job in flight
        self.exiting: list[int] = []  # A of finished supervisors, not reaped yet
        self.supervisor: Optional[tuple[int, int, int]] = None  # (A, job pipe, report pipe) while it lives
        self.aborted = False
        # A job's processes die with it; the worker subreaps, so a killed A is reaped here at once.
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.netns_flag = CLONE_NEWNET  # each job unshares its own, unless the worker already has one
        self.plan = view_plan(cfg)
        self._life_r, self._life_w = os.pipe()  # B sees EOF when this worker is gone

    def isolate_network(self) -> None:
        """Move this (worker) process into an empty network namespace once, for all its jobs: cheaper
        than one per job, and the same isolation (`lo` is down, no other interface). Unprivileged:
        into a user namespace with it, whose uid 0 is `cfg.uid` outside."""
        if self.cfg.userns:
            _enter_user_namespace(self.cfg.uid, self.cfg.uid, CLONE_NEWNET)
        else:
            _check(_libc.unshare(ctypes.c_int(CLONE_NEWNET)), "unshare(CLONE_NEWNET)")
        self.netns_flag = 0

    def abort(self) -> None:
        """Kill the job in flight (from a signal handler): its namespace goes with it."""
        self.aborted = True
        if self.current is not None:
            try:
                os.kill(self.current, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _start(self) -> tuple[int, int, int]:
        """Fork A (and so B, the supervisor of this worker's jobs): (A's pid, the job pipe's write end,
        the report pipe's read end)."""
        job_r, job_w = os.pipe()
        rep_r, rep_w = os.pipe()
        me = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - A
            gc.disable()  # a collection would only copy the worker's pages
            try:
                set_pdeathsig(me)
                devnull = os.open("/dev/null", os.O_RDWR)
                os.dup2(devnull, 0)  # the worker's stdin/stdout are its channel to the evaluator
                os.dup2(devnull, 1)
                keep = {0, 1, 2, job_r, rep_w, self._life_r}
                for fd in range(3, max(keep) + 1):
                    if fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                os.closerange(max(keep) + 1, 1 << 16)
                os.setsid()
                _check(_libc.unshare(ctypes.c_int(NAMESPACES | self.netns_flag)), "unshare")
                b = os.fork()
                if b == 0:  # B
                    set_pdeathsig(None)
                    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no program reads its /proc or ptraces it
                    try:
                        os.setpriority(os.PRIO_PROCESS, 0, -5)  # its polls must keep up with the programs
                    except OSError:
                        pass  # unprivileged: the normal priority
                    _supervisor(self.cfg, self.plan, job_r, self._life_r, rep_w)
                os.close(rep_w)
                os.close(job_r)
                while True:
                    try:
                        os.waitpid(b, 0)
                        break
                    except InterruptedError:
                        continue
            except BaseException:  # noqa: BLE001 - the worker sees the report pipe close
                os._exit(1)
            os._exit(0)
        os.close(job_r)
        os.close(rep_w)
        return pid, job_w, rep_r

    def _stop(self) -> None:
        if self.supervisor is not None:
            pid, job_w, rep_r = self.supervisor
            self.supervisor = None
            for fd in (job_w, rep_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.exiting.append(pid)

    def close(self) -> None:
        """Let the supervisor go (B exits when its job pipe closes)."""
        self._stop()
        self.reap_exited(block=True)

    def run(self, files: dict[str, bytes], steps: list[Step]) -> list[StepResult]:
        """Run the steps of one job; the last result is the one that decided (a failed step ends it)."""
        self.aborted = False
        if self.supervisor is None:
            self.supervisor = self._start()
        pid, job_w, rep_r = self.supervisor
        self.current = pid
        message = pickle.dumps((files, steps))
        try:
            _write_all(job_w, struct.pack("<Q", len(message)) + message)
        except OSError:
            pass  # B is gone: no report comes, and the job is a harness error
        total = sum(s.timeout for s in steps) + 30.0  # B enforces each step's deadline; this is a backstop
        deadline = time.monotonic() + total
        data = bytearray()
        try:
            while len(data) < 8 or len(data) < 8 + struct.unpack("<Q", data[:8])[0]:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.abort()
                    break
                try:
                    ready, _, _ = select.select([rep_r], [], [], min(left, 1.0))
                except InterruptedError:
                    continue
                if ready:
                    chunk = os.read(rep_r, 1 << 20)
                    if not chunk:
                        break
                    data += chunk
        finally:
            self.current = None
        complete = len(data) >= 8 and len(data) == 8 + struct.unpack("<Q", data[:8])[0]
        if not complete or self.aborted:  # B is dead or was killed: the next job starts a new one
            if self.aborted and self.supervisor is not None:
                try:
                    os.kill(self.supervisor[0], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._stop()
            self.reap_exited(block=True)
        else:
            self.reap_exited()
        if self.aborted:
            raise Aborted()
        if complete:
            return pickle.loads(bytes(data[8:]))
        return [StepResult("setup", setup_error="the sandbox's supervisor died without a report")]

    def reap_exited(self, block: bool = False) -> None:
        """Reap the finished jobs' A processes (and anything else re-parented to this worker)."""
        for pid in list(self.exiting):
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                done = pid
            except InterruptedError:
                continue
            if done:
                self.exiting.remove(pid)
        while True:
            try:
                wpid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if wpid == 0:
                return
            if wpid in self.exiting:
                self.exiting.remove(wpid)


# ----------------------------------------------------------------------- uids and cleanup helpers
def uid_has_processes(uid: int) -> bool:
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


def kill_uid(uid: int) -> None:
    """Kill every process of `uid` (a forked helper that becomes the uid and kills -1)."""
    for _ in range(3):
        if not uid_has_processes(uid):
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)


def random_uid_block(n: int) -> int:
    """First of `n` consecutive unused uids, drawn at random above every account range."""
    rng = random.SystemRandom()
    while True:
        base = rng.randrange(1_000_000, 2_000_000_000 - n)
        if not any(uid_has_processes(base + i) for i in range(n)):
            return base


def remove_tree(path: Path) -> None:
    """Remove a scratch folder (only empty mount points in practice); never raises."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        try:
            os.rmdir(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT,):
                pass
