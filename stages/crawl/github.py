"""List repositories through the GitHub REST search API (the first half of `dscoder crawl github:QUERY`).

Endpoint: ``GET {api_url}/search/repositories?q=QUERY&per_page=N&page=P``
(https://docs.github.com/en/rest/search/search#search-repositories).

Headers sent on every request:
  ``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version: 2022-11-28``, ``User-Agent: dscoder``
  and ``Authorization: Bearer <token>`` when a token is given or ``GITHUB_TOKEN`` is set.

API rules followed:
  * Search returns at most 1000 results per query, at most 100 per page. We follow the ``Link`` header's
    ``rel="next"`` URL; a ``Link`` without one marks the last page, and with no ``Link`` at all we
    stop on a short page (or at the 1000-result cap).
  * Primary rate limit: a 403/429 with ``X-RateLimit-Remaining: 0`` means "wait until the epoch in
    ``X-RateLimit-Reset``". Secondary rate limit: a 403/429 with ``Retry-After: S`` means "wait S seconds".
    We sleep, then retry the same request (at most 5 times).
  * 5xx answers are retried 3 times with 1, 2, 4 s back-off; any other error raises ``GitHubError``.
  * The paper crawls repositories created before February 2023: ``created_before="2023-02-01"`` appends
    the search qualifier ``created:<2023-02-01``.

Security: the token never appears in an exception, log line or repr (messages are built from status, a
credential-free URL and the API's ``message``, then passed through ``_redact``); redirects are refused so
the Authorization header cannot be forwarded to another host, and ``Link`` URLs must stay on the API host.
Each hit's ``full_name`` becomes a directory name and its ``clone_url`` a ``git clone`` argument, so
both are validated and offending items are returned in ``SearchResult.rejected`` instead of ``hits``.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

from .config import GitHubConfig

SEARCH_CAP = 1000  # GitHub never returns more than 1000 results for one search query
MAX_RETRIES = 5  # rate-limit waits per request
MAX_5XX_RETRIES = 3

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(RuntimeError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RepoHit:
    full_name: str
    clone_url: str
    created_at: str | None
    license: str | None  # SPDX id; None when GitHub has none or says NOASSERTION
    size_kb: int | None
    default_branch: str | None


@dataclass
class SearchResult:
    hits: list[RepoHit] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (full_name or clone_url, reason)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _safe_url(url: str) -> str:
    """The URL without any user:password@ part."""
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(p._replace(netloc=p.netloc.rpartition("@")[2]))


def check_full_name(name: object) -> str | None:
    """Why `name` is unsafe to use as an owner/repo directory, or None when it is fine."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return "full_name is not owner/repo of [A-Za-z0-9_.-]"
    for part in name.split("/"):
        if part in (".", ".."):
            return "full_name has a '.' or '..' component"
        if part[0] in ".-":
            return "full_name component starts with '.' or '-'"
    return None


def check_clone_url(url: object) -> str | None:
    """Why `url` is unsafe to hand to `git clone`, or None when it is fine."""
    if not isinstance(url, str) or not url:
        return "clone_url missing"
    if url.startswith("-"):
        return "clone_url starts with '-' (would be read as a git option)"
    low = url.lower()
    if low.startswith("ext::") or low.startswith("fd::"):
        return f"clone_url uses the {low.split('::')[0]}:: transport (runs commands)"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would forward the Authorization header to wherever a redirect points; the search API
    # does not redirect, so any 3xx is treated as an error.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _to_hit(item: dict) -> RepoHit:
    lic = item.get("license") or {}
    spdx = lic.get("spdx_id") if isinstance(lic, dict) else None
    size = item.get("size")
    return RepoHit(
        full_name=item["full_name"],
        clone_url=item["clone_url"],
        created_at=item.get("created_at"),
        license=None if spdx in (None, "", "NOASSERTION") else spdx,
        size_kb=size if isinstance(size, int) else None,
        default_branch=item.get("default_branch"),
    )


def search_repositories(
    query: str,
    *,
    api_url: str = GitHubConfig.api_url,
    token: str | None = None,
    max_results: int = GitHubConfig.max_results,
    per_page: int = 100,
    created_before: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    timeout: float = 30,
    log: Callable[[str], None] | None = None,
) -> SearchResult:
    token = token if token is not None else os.environ.get("GITHUB_TOKEN")
    per_page = max(1, min(per_page, 100))
    max_results = min(max_results, SEARCH_CAP)
    if created_before:
        query = f"{query} created:<{created_before}"
    api_url = api_url.rstrip("/")
    api_host = urllib.parse.urlsplit(api_url)[:2]
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "dscoder",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def say(msg: str) -> None:
        if log:
            log(_redact(msg, token))

    def fail(msg: str, status: int | None = None) -> GitHubError:
        return GitHubError(_redact(msg, token), status)

    def get(url: str) -> tuple[dict, str | None]:
        """One page as (json body, Link header), with rate-limit waits and 5xx retries."""
        waits = errors = 0
        while True:
            try:
                with _opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
                    return json.loads(r.read().decode("utf-8")), r.headers.get("Link")
            except urllib.error.HTTPError as e:
                status, h = e.code, e.headers
                try:
                    message = json.loads(e.read().decode("utf-8")).get("message", "")
                except (ValueError, AttributeError, OSError):
                    message = ""
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                status, h, message = None, {}, f"network error: {getattr(e, 'reason', e)}"

            where = _safe_url(url)
            if status == 401:
                raise fail(
                    "GitHub rejected the token (401 Bad credentials); set GITHUB_TOKEN to a valid token "
                    "or unset it to search anonymously",
                    401,
                )
            retry_after = h.get("Retry-After")
            if status in (403, 429) and (retry_after is not None or h.get("X-RateLimit-Remaining") == "0"):
                if waits >= MAX_RETRIES:
                    raise fail(f"GitHub rate limit still exceeded after {MAX_RETRIES} waits ({status}) "
                               f"for {where}: {message}", status)
                waits += 1
                try:
                    delay = float(retry_after) if retry_after is not None else (
                        float(h["X-RateLimit-Reset"]) - now() + 1)
                except (KeyError, TypeError, ValueError):
                    delay = 60.0  # missing/unparsable header: GitHub's advice is to wait at least a minute
                delay = max(0.0, delay)
                say(f"GitHub rate limit ({status}): waiting {delay:.0f} s before retry {waits}/{MAX_RETRIES}")
                sleep(delay)
                continue
            if status is None or status >= 500:
                if errors < MAX_5XX_RETRIES:
                    delay = 2**errors  # 1, 2, 4 s
                    errors += 1
                    say(f"GitHub {status or 'network'} error for {where}; retrying in {delay} s")
                    sleep(delay)
                    continue
            raise fail(f"GitHub search failed ({status}) for {where}: {message}", status)

    result = SearchResult()
    seen: set[str] = set()
    page = 1
    url: str | None = f"{api_url}/search/repositories?" + urllib.parse.urlencode(
        {"q": query, "per_page": per_page, "page": page})
    while url and len(result.hits) < max_results:
        body, link = get(url)
        items = body.get("items") or []
        for item in items:
            name = item.get("full_name") if isinstance(item, dict) else None
            reason = check_full_name(name) or check_clone_url(item.get("clone_url"))
            if reason:
                result.rejected.append((str(name), reason))
                say(f"skipping {name!r}: {reason}")
                continue
            if name in seen:
                continue
            seen.add(name)
            result.hits.append(_to_hit(item))
            if len(result.hits) >= max_results:
                break

        m = _NEXT_RE.search(link or "")
        if m:
            url = m.group(1)
            # A Link to another host would receive our token; refuse rather than follow.
            if urllib.parse.urlsplit(url)[:2] != api_host:
                raise fail(f"GitHub Link header points off the API host: {_safe_url(url)}")
        elif link or len(items) < per_page or page * per_page >= SEARCH_CAP:
            # A Link header without rel="next" marks the last page; with no Link header at all,
            # a short page (or the 1000-result cap) does.
            url = None
        else:
            page += 1
            url = f"{api_url}/search/repositories?" + urllib.parse.urlencode(
                {"q": query, "per_page": per_page, "page": page})
    return result
