"""A fake GitHub search API on 127.0.0.1 for crawl tests (no network needed).

    with FakeGitHub([[make_item("a/b", ...)], [...]]) as gh:
        search_repositories("q", api_url=gh.url)

Page N of the answer (1-based ``page`` query parameter) is ``pages[N-1]``; a ``Link: <...>; rel="next"``
header is sent while more pages exist (and ``prev``/``first`` after page 1), as GitHub does. Responses follow the documented shapes of
https://docs.github.com/en/rest/search/search#search-repositories and the rate-limit docs.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_item(full_name: str, clone_url: str | None = None, created_at: str = "2022-05-01T00:00:00Z",
              spdx: str | None = "MIT", size: int = 10) -> dict:
    owner, _, name = full_name.partition("/")
    return {
        "full_name": full_name,
        "name": name,
        "owner": {"login": owner},
        "clone_url": clone_url if clone_url is not None else f"https://github.com/{full_name}.git",
        "html_url": f"https://github.com/{full_name}",
        "created_at": created_at,
        "size": size,
        "default_branch": "main",
        "license": {"spdx_id": spdx} if spdx is not None else None,
    }


class FakeGitHub:
    def __init__(self, pages: list[list[dict]], *, rate_limit_first: bool = False,
                 require_token: str | None = None):
        self.pages = pages
        self.rate_limit_first = rate_limit_first
        self.require_token = require_token
        self.rate_limit_reset = int(time.time()) + 2  # the epoch sent in X-RateLimit-Reset
        self.requests: list[tuple[str, Message]] = []
        self._lock = threading.Lock()
        self.url = ""

    def __enter__(self) -> "FakeGitHub":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with fake._lock:
                    first = not fake.requests
                    fake.requests.append((self.path, self.headers))  # case-insensitive, like HTTP
                split = urllib.parse.urlsplit(self.path)
                if split.path != "/search/repositories":
                    return self._send(404, {"message": "Not Found"})
                if fake.require_token and self.headers.get("Authorization") != f"Bearer {fake.require_token}":
                    return self._send(401, {"message": "Bad credentials",
                                            "documentation_url": "https://docs.github.com/rest"})
                if fake.rate_limit_first and first:
                    return self._send(403, {
                        "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                                   "Authenticated requests get a higher rate limit.)",
                        "documentation_url": "https://docs.github.com/rest/overview/"
                                             "resources-in-the-rest-api#rate-limiting",
                    }, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Used": "10", "X-RateLimit-Reset": str(fake.rate_limit_reset)})
                params = urllib.parse.parse_qs(split.query)
                page = int(params.get("page", ["1"])[0])
                items = fake.pages[page - 1] if 1 <= page <= len(fake.pages) else []
                headers = {"X-RateLimit-Remaining": "9", "X-RateLimit-Reset": str(fake.rate_limit_reset)}
                # Like GitHub: next/last while more pages exist, prev/first after page 1, and no
                # Link header at all when everything fits on one page.
                def link(n: int, rel: str) -> str:
                    q = urllib.parse.urlencode({**params, "page": [str(n)]}, doseq=True)
                    return f'<{fake.url}/search/repositories?{q}>; rel="{rel}"'

                rels = []
                if page > 1:
                    rels += [link(page - 1, "prev"), link(1, "first")]
                if page < len(fake.pages):
                    rels += [link(page + 1, "next"), link(len(fake.pages), "last")]
                if rels:
                    headers["Link"] = ", ".join(rels)
                self._send(200, {"total_count": sum(map(len, fake.pages)), "incomplete_results": False,
                                 "items": items}, headers)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)  # fast shutdown
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def queries(self) -> list[dict[str, list[str]]]:
        """The parsed query strings of the requests seen so far."""
        return [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query) for p, _ in self.requests]
