"""SOURCE → the list of repositories to crawl (folder, list file, URL, or `github:QUERY`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from stages.core.errors import UsageError

from .git import check_clone_url, is_git_repo, looks_like_url


@dataclass
class RepoSpec:
    """One repository to read. JSON-able: it is recorded in the manifest's units."""

    name: str  # owner/name for remote repositories, the folder name for local ones
    kind: str  # "folder" (plain files), "git" (work tree or bare repo on disk), "url" (clone first)
    location: str  # absolute path or clone URL
    size: int = 0  # estimated bytes, for sizing shards
    created_at: str | None = None
    license: str | None = None  # SPDX id from the host's API, when it gave one

    def to_json(self) -> dict:
        return asdict(self)


# Assumed size of a repository whose size nobody told us (a bare URL): shards still get a few repos.
UNKNOWN_REMOTE_SIZE = 8 << 20


def local_repo(path: Path, max_file_size: int) -> RepoSpec:
    path = path.resolve()
    name = path.name[:-4] if path.name.endswith(".git") and path.name != ".git" else path.name
    if is_git_repo(path):
        return RepoSpec(name, "git", str(path), size=_git_size(path, max_file_size))
    return RepoSpec(name, "folder", str(path), size=_folder_size(path, max_file_size))


def _folder_size(path: Path, max_file_size: int) -> int:
    """Bytes of the files crawl would keep (known language, under the size limit)."""
    from stages.core.languages import detect_language
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".hg", ".svn")]
        for f in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            if st.st_size <= max_file_size and detect_language(f):
                total += st.st_size
    return total


def _git_size(path: Path, max_file_size: int) -> int:
    from .git import GitError, head_commit, ls_tree
    try:
        from stages.core.languages import detect_language
        return sum(e.size or 0 for e in ls_tree(path, head_commit(path))
                   if (e.size or 0) <= max_file_size and detect_language(e.path))
    except GitError:
        return 0  # an unreadable repo is reported when it is crawled, not while planning


def url_repo(url: str) -> RepoSpec:
    check_clone_url(url)
    tail = url.rstrip("/").replace(":", "/").split("/")
    parts = [p for p in tail if p][-2:]
    name = "/".join(p[:-4] if p.endswith(".git") else p for p in parts)
    return RepoSpec(name, "url", url, size=UNKNOWN_REMOTE_SIZE)


def _unique_names(repos: list[RepoSpec]) -> list[RepoSpec]:
    seen: dict[str, int] = {}
    for repo in repos:
        n = seen.get(repo.name, 0)
        seen[repo.name] = n + 1
        if n:
            repo.name = f"{repo.name}~{n + 1}"
    return repos


def repos_from_list(list_file: Path, max_file_size: int) -> tuple[list[RepoSpec], list[dict]]:
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
            repos.append(local_repo(path, max_file_size))
        except ValueError as exc:
            errors.append({"item": f"{list_file}:{lineno}", "error": str(exc)})
    return repos, errors


def repos_from_folder(folder: Path, max_file_size: int) -> list[RepoSpec]:
    """The folder itself if it is a repository, else each immediate sub-folder (sorted)."""
    if is_git_repo(folder):
        return [local_repo(folder, max_file_size)]
    subs = sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    return [local_repo(p, max_file_size) for p in subs]


def resolve_source(source: str, *, max_file_size: int, github: dict | None = None,
                   log=None) -> tuple[list[RepoSpec], list[dict]]:
    """Returns (repositories, planning errors)."""
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
        return _unique_names(repos_from_folder(path, max_file_size)), []
    if path.is_file():
        repos, errors = repos_from_list(path, max_file_size)
        return _unique_names(repos), errors
    if looks_like_url(source):
        try:
            return [url_repo(source)], []
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    raise UsageError(f"SOURCE {source!r} is not a folder, a list file, a git URL or github:QUERY")
