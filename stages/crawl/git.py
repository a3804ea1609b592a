"""Git access for crawl, through the `git` command: safe clones and reads of a committed tree.

Clones are `--bare --depth 1`: only objects are fetched, nothing is checked out, so no hook, no
symlink and no `.gitattributes` filter of the repository ever runs or lands on disk.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# `transport::address` is git's remote-helper syntax (`ext::sh -c ...` runs a command).
_HELPER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_URL_RE = re.compile(r"^(https?|git|ssh|file)://[^\s]+$")
_SCP_RE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^\s]+$")  # git@host:owner/name.git


class GitError(Exception):
    pass


def looks_like_url(text: str) -> bool:
    return "://" in text or "::" in text or bool(_SCP_RE.match(text)) or text.startswith("-")


def check_clone_url(url: str) -> None:
    """Raise ValueError for a URL git must never be given (docs/crawl.md)."""
    if url.startswith("-"):
        raise ValueError(f"refusing URL {url!r}: it looks like a command-line option")
    if _HELPER_RE.match(url):
        raise ValueError(f"refusing URL {url!r}: the {url.split('::')[0]}:: transport can run commands")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"refusing URL {url!r}: it contains whitespace or control characters")
    if not (_URL_RE.match(url) or _SCP_RE.match(url)):
        raise ValueError(f"refusing URL {url!r}: not an http(s), git, ssh or file URL")


# GIT_* variables a git call may inherit: only those that say how to reach a remote (ssh, proxies,
# certificates). Every other one -- GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY,
# GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_COMMON_DIR, GIT_NAMESPACE, GIT_CONFIG*, GIT_CEILING_*,
# GIT_REPLACE_REF_BASE, GIT_SHALLOW_FILE, ... -- would make git read another repository or another
# configuration than the one crawl names (an inherited GIT_DIR, e.g. from a hook or an editor, made
# every local repository read as that one), so each git call starts without them.
_INHERITED_GIT_VARS = frozenset({"GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_PROXY_COMMAND",
                                 "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_SSL_CERT", "GIT_SSL_KEY",
                                 "GIT_HTTP_USER_AGENT", "GIT_HTTP_LOW_SPEED_LIMIT", "GIT_HTTP_LOW_SPEED_TIME"})


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _INHERITED_GIT_VARS}
    env.update({
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a private or missing repo
        "GIT_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    })
    return env


# An allow-list of transports: everything else (ext::, fd::, remote helpers) is refused by git itself
# too, as a second line behind check_clone_url.
_SAFE_CONFIG = ["-c", "protocol.allow=never"]
for _proto in ("https", "http", "git", "ssh", "file"):
    _SAFE_CONFIG += ["-c", f"protocol.{_proto}.allow=always"]
_SAFE_CONFIG += ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]


def _git(args: list[str], *, timeout: float = 120, input: bytes | None = None) -> bytes:
    command = args[2] if args[0] == "-C" else args[0]
    try:
        proc = subprocess.run(["git", *_SAFE_CONFIG, *args], input=input, capture_output=True,
                              timeout=timeout, env=git_env(), check=False)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {command} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {command} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def clone(url: str, dest: Path, *, timeout: float) -> Path:
    check_clone_url(url)
    _git(["clone", "--bare", "--depth", "1", "--no-tags", "--single-branch", "--template=", "--quiet",
          "--", url, str(dest)], timeout=timeout)
    return dest


def is_git_repo(path: Path) -> bool:
    """A work tree (has .git) or a bare repository (HEAD + objects + refs)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir()
                                        and (path / "refs").is_dir())


def head_commit(repo: Path) -> str:
    return _git(["-C", str(repo), "rev-parse", "--verify", "HEAD^{commit}"]).decode().strip()


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str  # blob | commit (submodule)
    sha: str
    size: int | None
    path: str


def ls_tree(repo: Path, commit: str) -> list[TreeEntry]:
    """Every entry of the committed tree, recursively, sorted by path (git's order)."""
    out = _git(["-C", str(repo), "ls-tree", "-r", "-z", "-l", "--full-tree", commit])
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        entries.append(TreeEntry(mode, kind, sha, None if size == "-" else int(size),
                                 path.decode("utf-8", "surrogateescape")))
    return entries


def read_blobs(repo: Path, shas: list[str], timeout: float = 600) -> Iterator[tuple[str, bytes]]:
    """Contents of blobs, in the order given, through one `git cat-file --batch`."""
    if not shas:
        return
    out = _git(["-C", str(repo), "cat-file", "--batch"], input="".join(s + "\n" for s in shas).encode(),
               timeout=timeout)
    pos = 0
    for sha in shas:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        if len(header) != 3:
            raise GitError(f"object {sha} missing from the repository")
        size = int(header[2])
        yield sha, out[nl + 1: nl + 1 + size]
        pos = nl + 1 + size + 1
