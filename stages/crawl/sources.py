"""SOURCE → the list of repositories to crawl (folder, list file, URL, or `github:QUERY`).

Each local repository is recorded with a fingerprint of what crawl will read (a git repository's
HEAD commit; a plain folder's names, sizes and modification times), so a re-run can say what
changed on disk since the output was started (`source_changes`, docs/crawl.md#re-runs).
Entries of a SOURCE folder that are not crawled (hidden folders, symlinks, files, FIFOs, names that
are not UTF-8 or hold control characters) are recorded as `skipped` entries: they become rejected
rows with their reason, never a silent omission.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from stages.core.errors import UsageError

from .git import check_clone_url, is_git_repo, looks_like_url
from .names import escape_name, name_problem


@dataclass
class RepoSpec:
    """One repository to read. JSON-able: it is recorded in the manifest's units."""

    name: str  # owner/name for remote repositories, the folder name for local ones
    kind: str  # "folder" (plain files), "git" (work tree or bare repo on disk), "url" (clone first)
    location: str  # absolute path or clone URL
    size: int = 0  # estimated bytes, for sizing shards
    created_at: str | None = None
    license: str | None = None  # SPDX id from the host's API, when it gave one
    # What crawl reads, as found when planning: {"head": commit} (git) or {"tree": digest, "files",
    # "bytes"} (folder); None for remote repositories (not re-checked: that needs the network).
    fingerprint: dict | None = None
    # kind "skipped": why this SOURCE entry is not crawled (a rejected row with this reason).
    reason: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


# Skip reasons of SOURCE entries that are also reported as errors (the user likely meant them).
SKIP_ERRORS = {"symlinked_repository": "a symlink to a folder is not followed; list its target in a list file",
               "not_a_regular_file": "a FIFO, socket or device, not read",
               "undecodable_name": "the name is not valid UTF-8 (shown with \\xNN escapes)",
               "control_character_in_name": "the name holds control characters (shown escaped)"}


def skipped_entry(path: Path, reason: str) -> RepoSpec:
    return RepoSpec(escape_name(path.name), "skipped", escape_name(str(path)), reason=reason)


# Version-control folders: never crawled, never part of a tree fingerprint.
SKIP_DIRS = frozenset({".git", ".hg", ".svn"})

# Assumed size of a repository whose size nobody told us (a bare URL): shards still get a few repos.
UNKNOWN_REMOTE_SIZE = 8 << 20


def local_repo(path: Path, max_file_size: int, sizes: bool = True) -> RepoSpec:
    """A local repository with its fingerprint; `sizes=False` skips what only shard sizing needs
    (a git repository's tree listing), for the re-run check."""
    path = path.resolve()
    name = path.name[:-4] if path.name.endswith(".git") and path.name != ".git" else path.name
    if is_git_repo(path):
        head, size = _git_head_and_size(path, max_file_size, sizes)
        return RepoSpec(name, "git", str(path), size=size, fingerprint={"head": head})
    size, fingerprint = _walk_folder(path, max_file_size)
    return RepoSpec(name, "folder", str(path), size=size, fingerprint=fingerprint)


def _walk_folder(path: Path, max_file_size: int) -> tuple[int, dict]:
    """(bytes of the files crawl would keep, the tree fingerprint) in one walk.

    The fingerprint hashes every entry's name, size and modification time (what `ls -lR` shows,
    no content read), the walk crawl's reader makes (.git/.hg/.svn skipped, symlinks not entered).
    """
    from stages.core.languages import detect_language
    total = files = nbytes = 0
    digest = hashlib.blake2b(digest_size=16)
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, path)
        for f in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            rel = f if rel_dir == "." else os.path.join(rel_dir, f)
            digest.update(b"%s\0%d\0%d\0%o\n" % (os.fsencode(rel), st.st_size, st.st_mtime_ns, st.st_mode))
            files += 1
            nbytes += st.st_size
            if stat.S_ISREG(st.st_mode) and st.st_size <= max_file_size and detect_language(f):
                total += st.st_size
    return total, {"tree": digest.hexdigest(), "files": files, "bytes": nbytes}


def _git_head_and_size(path: Path, max_file_size: int, sizes: bool) -> tuple[str | None, int]:
    from .git import GitError, head_commit, ls_tree
    try:
        head = head_commit(path)
    except GitError:
        return None, 0  # an unreadable repo is reported when it is crawled, not while planning
    if not sizes:
        return head, 0
    from stages.core.languages import detect_language
    try:
        return head, sum(e.size or 0 for e in ls_tree(path, head)
                         if (e.size or 0) <= max_file_size and detect_language(e.path))
    except GitError:
        return head, 0


def url_repo(url: str) -> RepoSpec:
    check_clone_url(url)
    tail = url.rstrip("/").replace(":", "/").split("/")
    parts = [p for p in tail if p][-2:]
    name = "/".join(p[:-4] if p.endswith(".git") else p for p in parts)
    return RepoSpec(name, "url", url, size=UNKNOWN_REMOTE_SIZE)


def _unique_names(repos: list[RepoSpec]) -> list[RepoSpec]:
    seen: dict[str, int] = {}
    for repo in repos:
        if repo.kind == "skipped":
            continue
        n = seen.get(repo.name, 0)
        seen[repo.name] = n + 1
        if n:
            repo.name = f"{repo.name}~{n + 1}"
    return repos


def repos_from_list(list_file: Path, max_file_size: int, sizes: bool = True) -> tuple[list[RepoSpec], list[dict]]:
    """One git URL or path per line; `#` comments; relative paths are relative to the list file."""
    repos, errors = [], []
    for lineno, raw in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if looks_like_url(line):
                repos.append(url_repo(line))
                continue
            path = Path(line) if os.path.isabs(line) else list_file.parent / line
            if not path.is_dir():
                raise ValueError(f"{path} is not a folder")
            repos.append(local_repo(path, max_file_size, sizes))
        except ValueError as exc:
            errors.append({"item": f"{list_file}:{lineno}", "error": str(exc)})
    return repos, errors


def repos_from_folder(folder: Path, max_file_size: int, sizes: bool = True) -> list[RepoSpec]:
    """The folder itself if it is a repository, else each immediate sub-folder (sorted by name).

    Every other entry is a `skipped` entry with its reason: `hidden_folder` (a name starting with
    `.`), `dscoder_output` (a folder holding `_dscoder/` or `_slurm/`), `empty_folder`,
    `symlinked_repository` (never followed),
    `top_level_file` (a file outside any repository),
    `not_a_regular_file` (FIFO, socket, device), `undecodable_name` / `control_character_in_name`.
    """
    if is_git_repo(folder):
        return [local_repo(folder, max_file_size, sizes)]
    out = []
    for p in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        try:
            st = p.lstat()
        except OSError:
            continue  # vanished while listing
        problem = name_problem(p.name)
        if problem:
            out.append(skipped_entry(p, problem))
        elif stat.S_ISLNK(st.st_mode):
            out.append(skipped_entry(p, "symlinked_repository" if p.is_dir() else "symlink"))
        elif stat.S_ISDIR(st.st_mode):
            out.append(skipped_entry(p, "hidden_folder") if p.name.startswith(".")
                       else skipped_entry(p, "dscoder_output") if _is_dscoder_output(p)
                       else skipped_entry(p, "empty_folder") if _is_empty(p)
                       else local_repo(p, max_file_size, sizes))
        elif stat.S_ISREG(st.st_mode):
            out.append(skipped_entry(p, "top_level_file"))
        else:
            out.append(skipped_entry(p, "not_a_regular_file"))
    return out


def _is_dscoder_output(path: Path) -> bool:
    """A folder dscoder writes (OUTPUT inside SOURCE, e.g. this crawl's own): never a repository."""
    from stages.core.manifest import META
    return (path / META).is_dir() or (path / "_slurm").is_dir()


def _is_empty(path: Path) -> bool:
    """No entries: nothing to crawl (and this crawl's own OUTPUT looks so when SOURCE is planned)."""
    try:
        return next(os.scandir(path), None) is None
    except OSError:
        return False  # unreadable: reported when it is crawled


def resolve_source(source: str, *, max_file_size: int, github: dict | None = None,
                   log=None, sizes: bool = True) -> tuple[list[RepoSpec], list[dict]]:
    """Returns (repositories and skipped entries, planning errors)."""
    if source.startswith("github:"):
        from .github import GitHubError, search_repositories
        query = source[len("github:"):].strip()
        if not query:
            raise UsageError("github: needs a query, e.g. github:'language:python stars:>100'")
        try:
            result = search_repositories(query, log=log, **(github or {}))
        except GitHubError as exc:
            raise UsageError(f"GitHub search failed: {exc}") from exc
        repos = [RepoSpec(h.full_name, "url", h.clone_url,
                          size=(h.size_kb * 1024 if h.size_kb else UNKNOWN_REMOTE_SIZE),
                          created_at=h.created_at, license=h.license) for h in result.hits]
        errors = [{"item": name, "error": reason} for name, reason in result.rejected]
        return _unique_names(repos), errors
    path = Path(source)
    if path.is_dir():
        return _unique_names(repos_from_folder(path, max_file_size, sizes)), []
    if path.is_file():
        repos, errors = repos_from_list(path, max_file_size, sizes)
        return _unique_names(repos), errors
    if looks_like_url(source):
        try:
            return [url_repo(source)], []
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    raise UsageError(f"SOURCE {source!r} is not a folder, a list file, a git URL or github:QUERY")


def is_dataset_source(source: str, fmt: str = "auto", columns: dict | None = None) -> bool:
    """SOURCE is a dataset (docs/crawl.md#datasets) rather than repositories: a Parquet, JSONL or
    Arrow file, a folder written by HF `datasets`, or a folder tree holding only data files (and
    documentation); with a dataset `--format`, or `--columns`, any existing file or folder; never
    with `--format repos`."""
    if source.startswith("github:") or looks_like_url(source) or fmt == "repos":
        return False
    path = Path(source)
    if fmt != "auto" or columns:
        return path.exists()
    from .dataset.containers import looks_like_dataset
    return looks_like_dataset(path)


def source_changes(then: list[RepoSpec], now: list[RepoSpec]) -> list[str]:
    """What differs between the recorded SOURCE entries and the current ones, one phrase each."""
    # A dscoder output inside SOURCE (this crawl's own OUTPUT, created empty just before planning)
    # changes as the stages write it: not a change of SOURCE.
    outputs = {r.name for r in now if r.reason == "dscoder_output"}
    old = {r.name: r for r in then if r.name not in outputs}
    new = {r.name: r for r in now if r.name not in outputs}
    changes = []
    for name, r in new.items():
        if name not in old:
            changes.append(f"`{name}` added" + (f" (skipped: {r.reason})" if r.kind == "skipped" else ""))
    for name, r in old.items():
        if name not in new:
            changes.append(f"`{name}` removed")
            continue
        n = new[name]
        if (r.kind, r.location, r.reason) != (n.kind, n.location, n.reason):
            changes.append(f"`{name}` is now {n.location} ({n.reason or n.kind}), was {r.location} ({r.reason or r.kind})")
        elif r.fingerprint is not None and r.fingerprint != n.fingerprint:
            changes.append(f"`{name}`: {_fingerprint_change(r.fingerprint, n.fingerprint or {})}")
    return changes


def _fingerprint_change(a: dict, b: dict) -> str:
    if "head" in a:
        short = (lambda c: c[:12] if c else "unreadable")
        return f"HEAD moved from {short(a['head'])} to {short(b.get('head'))}"
    if "tree" in a:
        return (f"files added, removed or edited ({a['files']:,} files / {a['bytes']:,} bytes then, "
                f"{b.get('files', 0):,} / {b.get('bytes', 0):,} now)")
    return "changed"
