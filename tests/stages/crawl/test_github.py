import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for github_server, which sits next to this file

from github_server import FakeGitHub, make_item  # noqa: E402

from stages.crawl.github import GitHubError, RepoHit, search_repositories  # noqa: E402

TOKEN = "ghp_SECRETsecret1234567890"


def _pages(n_pages: int, per_page: int) -> list[list[dict]]:
    return [[make_item(f"o{p}/r{i}") for i in range(per_page)] for p in range(n_pages)]


def _no_sleep(_):
    raise AssertionError("unexpected sleep")


def test_follows_link_over_three_pages_in_order():
    pages = _pages(3, 2)
    pages[2].append(make_item("o0/r0"))  # a duplicate across pages is dropped
    with FakeGitHub(pages) as gh:
        res = search_repositories("language:python", api_url=gh.url, token="", per_page=2, sleep=_no_sleep)
    assert [h.full_name for h in res.hits] == ["o0/r0", "o0/r1", "o1/r0", "o1/r1", "o2/r0", "o2/r1"]
    assert res.rejected == []
    assert len(gh.requests) == 3
    assert [q["page"] for q in gh.queries()] == [["1"], ["2"], ["3"]]
    assert res.hits[0] == RepoHit("o0/r0", "https://github.com/o0/r0.git", "2022-05-01T00:00:00Z", "MIT", 10, "main")
    headers = gh.requests[0][1]
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["User-Agent"] == "dscoder"
    assert "Authorization" not in headers


def test_license_noassertion_and_missing_become_none():
    with FakeGitHub([[make_item("a/x", spdx="NOASSERTION"), make_item("a/y", spdx=None)]]) as gh:
        res = search_repositories("q", api_url=gh.url, token="")
    assert [h.license for h in res.hits] == [None, None]


def test_max_results_cuts_and_stops_paging():
    with FakeGitHub(_pages(3, 2)) as gh:
        res = search_repositories("q", api_url=gh.url, token="", per_page=2, max_results=3)
    assert [h.full_name for h in res.hits] == ["o0/r0", "o0/r1", "o1/r0"]
    assert len(gh.requests) == 2


def test_created_before_adds_qualifier():
    with FakeGitHub([[make_item("a/b")]]) as gh:
        search_repositories("language:go stars:>10", api_url=gh.url, token="", created_before="2023-02-01")
    assert gh.queries()[0]["q"] == ["language:go stars:>10 created:<2023-02-01"]
    assert gh.queries()[0]["per_page"] == ["100"]


def test_rate_limit_sleeps_until_reset_then_retries():
    slept, lines = [], []
    with FakeGitHub(_pages(2, 2), rate_limit_first=True) as gh:
        res = search_repositories("q", api_url=gh.url, token=TOKEN, per_page=2, sleep=slept.append,
                                  now=lambda: gh.rate_limit_reset - 2, log=lines.append)
    assert slept == [3]  # reset - now + 1
    assert len(gh.requests) == 3 and gh.queries()[0] == gh.queries()[1]  # same request retried
    assert len(res.hits) == 4
    assert any("waiting 3 s" in line for line in lines)
    assert gh.requests[0][1]["Authorization"] == f"Bearer {TOKEN}"
    assert not any(TOKEN in line for line in lines)


def test_rate_limit_wait_is_never_negative():
    slept = []
    with FakeGitHub([[make_item("a/b")]], rate_limit_first=True) as gh:
        search_repositories("q", api_url=gh.url, token="", sleep=slept.append, now=lambda: 1e12)
    assert slept == [0]


def test_bad_token_raises_without_leaking_it(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)  # picked up when token= is not given
    lines = []
    with FakeGitHub([[make_item("a/b")]], require_token="the-right-one") as gh:
        with pytest.raises(GitHubError) as info:
            search_repositories("q", api_url=gh.url, sleep=_no_sleep, log=lines.append)
    assert gh.requests[0][1]["Authorization"] == f"Bearer {TOKEN}"
    err = info.value
    assert err.status == 401 and "401 Bad credentials" in str(err)
    for text in (str(err), repr(err), *map(str, err.args), *lines):
        assert TOKEN not in text


def test_good_token_is_accepted():
    with FakeGitHub([[make_item("a/b")]], require_token=TOKEN) as gh:
        res = search_repositories("q", api_url=gh.url, token=TOKEN)
    assert [h.full_name for h in res.hits] == ["a/b"]


def test_malicious_names_and_clone_urls_are_rejected():
    items = [
        make_item("good/one"),
        make_item("../../etc", clone_url="https://github.com/x/y.git"),
        make_item("evil/..", clone_url="https://github.com/x/y.git"),
        make_item("-o/repo"),
        make_item("bad/url", clone_url="ext::sh -c touch% /tmp/pwned"),
        make_item("bad/fd", clone_url="fd::3"),
        make_item("bad/opt", clone_url="--upload-pack=touch /tmp/pwned"),
        make_item("good/two"),
    ]
    lines = []
    with FakeGitHub([items]) as gh:
        res = search_repositories("q", api_url=gh.url, token="", log=lines.append)
    assert [h.full_name for h in res.hits] == ["good/one", "good/two"]
    reasons = dict(res.rejected)
    assert set(reasons) == {"../../etc", "evil/..", "-o/repo", "bad/url", "bad/fd", "bad/opt"}
    assert "ext::" in reasons["bad/url"] and "fd::" in reasons["bad/fd"]
    assert "'-'" in reasons["bad/opt"]
    assert "'..'" in reasons["evil/.."] or "'.'" in reasons["evil/.."]
    assert len(lines) == 6


def test_unreachable_api_retries_with_backoff_then_raises():
    with FakeGitHub([]) as gh:
        url = gh.url  # the port is closed once the server has stopped
    slept = []
    with pytest.raises(GitHubError) as info:
        search_repositories("q", api_url=url, token=TOKEN, sleep=slept.append, timeout=5)
    assert slept == [1, 2, 4]
    assert TOKEN not in str(info.value)
