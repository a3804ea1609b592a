"""Read one repository into `files` rows (docs/formats.md), with a reason for every file skipped.

Git repositories are read from the committed tree of HEAD (untracked files never enter the corpus);
plain folders from disk, never following a symlink. A file crawl cannot or will not read -- a name
that is not UTF-8 or holds control characters (names.py), a FIFO or device, a file that vanished --
is a rejected row with its reason, never a failure of the shard.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import git
from stages.core.languages import HEADER_CANDIDATES, OBJECTIVE_C, detect_language, header_languages, is_c_family_header
from .config import CrawlConfig
from .license import detect_license, find_license_file
from .names import escape_name, name_problem
from .sources import SKIP_DIRS, RepoSpec


@dataclass
class RepoFiles:
    """The outcome of reading one repository."""

    rows: list[dict] = field(default_factory=list)  # kept files (the files schema)
    skipped: list[dict] = field(default_factory=list)  # repo, path, lang, size, reason
    errors: list[dict] = field(default_factory=list)  # {"item", "error"}


def safe_relpath(path: str) -> str | None:
    """The path if it is a clean repo-relative POSIX path, else None (`..`, absolute, empty parts)."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return None
    parts = PurePosixPath(path).parts
    if any(p in ("..", ".", "") for p in parts) or path.split("/") != list(parts):
        return None
    return path


def blob_sha(data: bytes) -> str:
    """The git blob id of `data`, so plain folders get the same `sha` as a git checkout would."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Collector:
    def __init__(self, repo: RepoSpec, commit: str | None, config: CrawlConfig):
        self.repo, self.commit, self.config = repo, commit, config
        self.out = RepoFiles()
        self.paths: list[str] = []  # every path seen: a skipped .cpp still tells that headers are C++
        # The API gives ISO 8601 with a Z; the files schema stores a UTC timestamp.
        created = repo.created_at
        self.created_at = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None

    def skip(self, path: str, reason: str, lang: str | None = None, size: int | None = None,
             error: str | None = None) -> None:
        path = escape_name(path)  # bytes-safe, one line: Parquet and errors.jsonl can hold it
        self.out.skipped.append({"repo": self.repo.name, "path": path, "lang": lang, "size": size,
                                 "reason": reason})
        if error:
            self.out.errors.append({"item": f"{self.repo.name}/{path}", "error": error})

    def precheck(self, path: str, size: int | None) -> str | None:
        """Decide from the name and size alone; returns the language or None if skipped."""
        problem = name_problem(path)
        if problem:
            what = ("is not valid UTF-8" if problem == "undecodable_name"
                    else "holds control characters (a newline would break the sample's path header)")
            self.skip(path, problem, detect_language(path), size, error=f"file name {what}; not crawled")
            return None
        if safe_relpath(path) is None:
            self.skip(path, "unsafe_path", error="path is absolute or contains '..'")
            return None
        self.paths.append(path)
        lang = detect_language(path)
        if lang is None:
            self.skip(path, "unknown_language", size=size)
            return None
        selected = self.config.languages
        if is_c_family_header(path):
            if selected is not None and not selected & set(HEADER_CANDIDATES):
                self.skip(path, "language_not_selected", lang, size)
                return None
        elif selected is not None and lang not in selected:
            self.skip(path, "language_not_selected", lang, size)
            return None
        if size is not None and size > self.config.max_file_size:
            self.skip(path, "too_large", lang, size)
            return None
        return lang

    def add(self, path: str, lang: str, data: bytes, sha: str) -> None:
        if b"\0" in data:
            self.skip(path, "binary", lang, len(data), error="binary file (NUL bytes)")
            return
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.skip(path, "not_utf8", lang, len(data), error=f"not UTF-8 ({exc.reason} at byte {exc.start})")
            return
        self.out.rows.append({"repo": self.repo.name, "commit": self.commit, "path": path, "lang": lang,
                              "content": content, "size": len(data), "sha": sha, "license": None,
                              "repo_created_at": self.created_at})

    def decide_headers(self) -> None:
        """Each .h is C, C++ or Objective-C by its content and its repository (languages.py)."""
        headers = {row["path"]: row["content"] for row in self.out.rows if is_c_family_header(row["path"])}
        if not headers:
            return
        decided = header_languages(self.paths, headers)
        kept = []
        for row in self.out.rows:
            lang = decided.get(row["path"])
            if lang == OBJECTIVE_C:  # not a kept language: skipped, not mislabelled
                self.skip(row["path"], "objective_c", lang, row["size"])
            elif lang is not None and self.config.languages is not None and lang not in self.config.languages:
                self.skip(row["path"], "language_not_selected", lang, row["size"])
            else:
                row["lang"] = lang or row["lang"]
                kept.append(row)
        self.out.rows = kept

    def finish(self, license_text: str | None) -> RepoFiles:
        self.decide_headers()
        spdx = self.repo.license or (detect_license(license_text) if license_text else None)
        for row in self.out.rows:
            row["license"] = spdx
        return self.out


def _read_git(repo: RepoSpec, path: Path, config: CrawlConfig) -> RepoFiles:
    commit = git.head_commit(path)
    col = _Collector(repo, commit, config)
    wanted: list[tuple[git.TreeEntry, str]] = []
    root_blobs = {}
    for entry in git.ls_tree(path, commit):
        if entry.kind != "blob":
            col.skip(entry.path, "submodule")
            continue
        if "/" not in entry.path:
            root_blobs[entry.path] = entry.sha
        if entry.mode == "120000":
            col.skip(entry.path, "symlink")  # never followed: it may point out of the repository
            continue
        lang = col.precheck(entry.path, entry.size)
        if lang:
            wanted.append((entry, lang))
    license_name = find_license_file(root_blobs)
    shas = [e.sha for e, _ in wanted] + ([root_blobs[license_name]] if license_name else [])
    blobs = git.read_blobs(path, shas)
    for (entry, lang), (_, data) in zip(wanted, blobs):
        col.add(entry.path, lang, data, entry.sha)
    license_text = None
    if license_name:
        license_text = next(blobs)[1].decode("utf-8", "replace")
    return col.finish(license_text)


def _read_folder(repo: RepoSpec, root: Path, config: CrawlConfig) -> RepoFiles:
    col = _Collector(repo, None, config)
    root_real = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):  # followlinks=False: symlinked dirs not entered
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
            try:
                st = os.lstat(full)
            except OSError as exc:  # vanished since the walk listed it
                col.skip(rel, "unreadable", error=f"cannot stat: {exc.strerror}")
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(full)
                if os.path.commonpath([root_real, target]) != root_real:
                    col.skip(rel, "symlink", error=f"symlink escapes the repository (-> {os.readlink(full)})")
                else:
                    col.skip(rel, "symlink")
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                        else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "special file")
                col.skip(rel, "not_a_regular_file", error=f"a {kind}, not read")
                continue
            lang = col.precheck(rel, st.st_size)
            if not lang:
                continue
            try:
                # O_NOFOLLOW: the file cannot be swapped for a symlink between lstat and open.
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as fh:
                    data = fh.read(config.max_file_size + 1)
            except OSError as exc:
                col.skip(rel, "unreadable", lang, st.st_size, error=f"cannot read: {exc.strerror}")
                continue
            if len(data) > config.max_file_size:
                col.skip(rel, "too_large", lang, len(data))
                continue
            col.add(rel, lang, data, blob_sha(data))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    license_text = None
    top = [n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n))
           and not os.path.islink(os.path.join(root, n))]
    license_name = find_license_file(top)
    if license_name:
        license_text = (root / license_name).read_text(encoding="utf-8", errors="replace")
    return col.finish(license_text)


def read_repo(repo: RepoSpec, config: CrawlConfig) -> RepoFiles:
    """Read a repository; raises git.GitError/OSError when the repository itself is unusable."""
    if repo.kind == "folder":
        return _read_folder(repo, Path(repo.location), config)
    if repo.kind == "git":
        return _read_git(repo, Path(repo.location), config)
    tmp = tempfile.mkdtemp(prefix="dscoder-clone-", dir=config.tmp_dir)
    try:
        dest = git.clone(repo.location, Path(tmp) / "repo.git", timeout=config.clone_timeout)
        return _read_git(repo, dest, config)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
