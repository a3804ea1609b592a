"""Worker processes that never outlive the process that started them.

A `--workers N` pool whose parent is killed alone (SIGKILL, the OOM killer) would otherwise finish
its shards and then wait forever for work that never comes. `die_with_parent` (a pool initializer)
asks the kernel to SIGKILL the worker when its parent dies (Linux `PR_SET_PDEATHSIG`), checks that
the parent did not die before that took effect, and elsewhere falls back to a thread that polls
`getppid()`. A killed worker leaves only temporary files, which the next run removes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0


def _pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while not threading.Event().wait(POLL_SECONDS):
        if os.getppid() != parent_pid:
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this (forked) process exit as soon as `parent_pid`, its parent, is gone."""
    if not _pdeathsig(signal.SIGKILL):
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="dscoder-parent-watch",
                         daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the kernel was told
        os._exit(1)
