"""`dscoder crawl` on every SOURCE kind, and the bad inputs it must survive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from github_server import FakeGitHub, make_item  # noqa: E402

from conftest import read_output  # noqa: E402
from stages.crawl.reader import safe_relpath  # noqa: E402

MIT = ("MIT License\n\nCopyright (c) 2020 Someone\n\nPermission is hereby granted, free of charge, to any "
       "person obtaining a copy\nof this software and associated documentation files (the \"Software\"), to "
       "deal\nin the Software without restriction, including without limitation the rights\nto use, copy, "
       "modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit "
       "persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above "
       "copyright notice and this permission notice shall be included in all\ncopies or substantial portions "
       "of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
       "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\nFITNESS FOR A PARTICULAR "
       "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\nAUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY "
       "CLAIM, DAMAGES OR OTHER\nLIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
       "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\nSOFTWARE.\n")


def git(*args, cwd=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or ".")}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def hash_object(path: Path) -> str:
    return git("hash-object", str(path), cwd=path.parent)


def make_worktree(path: Path) -> Path:
    (path / "pkg").mkdir(parents=True)
    (path / "main.py").write_text("import pkg.util\n\nprint(pkg.util.answer())\n")
    (path / "pkg/util.py").write_text("def answer():\n    return 42\n")
    (path / "pkg/__init__.py").write_text("")
    (path / "lib.h").write_text("int answer(void);\n")
    (path / "LICENSE").write_text(MIT)
    os.symlink("main.py", path / "alias.py")
    git("init", "-q", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "init", cwd=path)
    (path / "untracked.py").write_text("print('not committed')\n")
    (path / "main.py").write_text("print('uncommitted edit')\n")
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "repos"
    plain = root / "plain"
    (plain / "src/deep").mkdir(parents=True)
    (plain / "src/a.py").write_text("def hello():\n    return 'héllo wörld'\n")
    (plain / "src/deep/b.c").write_text("int main(void) { return 0; }\n")
    (plain / "README").write_text("no extension, no language\n")
    (plain / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (plain / "nul.py").write_bytes(b"x = 1\0\0\n")
    (plain / "big.py").write_text("x = 1\n" * 400)  # 2400 bytes
    secret = tmp_path / "secret.py"
    secret.write_text("PASSWORD = 'hunter2'\n")
    os.symlink(secret, plain / "escape.py")
    os.symlink("src/a.py", plain / "inside.py")
    os.symlink(tmp_path, plain / "escape_dir")
    make_worktree(root / "wt")
    git("clone", "-q", "--bare", str(root / "wt"), str(root / "bare.git"), cwd=tmp_path)
    broken = root / "broken"
    broken.mkdir()
    (broken / ".git").write_text("gitdir: /nonexistent/dscoder-test\n")
    return root


def test_folder_of_repositories(cli, corpus, tmp_path):
    out = tmp_path / "out"
    s = cli.json("crawl", corpus, out, "--max-file-size", 2000)
    t = read_output(out)
    rows = {(r["repo"], r["path"]): r for r in t.to_pylist()}
    assert set(rows) == {("plain", "src/a.py"), ("plain", "src/deep/b.c"),
                         ("wt", "LICENSE"), ("wt", "lib.h"), ("wt", "main.py"), ("wt", "pkg/__init__.py"),
                         ("wt", "pkg/util.py"), ("bare", "LICENSE"), ("bare", "lib.h"), ("bare", "main.py"),
                         ("bare", "pkg/__init__.py"), ("bare", "pkg/util.py")} - {("wt", "LICENSE"), ("bare", "LICENSE")}
    a = rows[("plain", "src/a.py")]
    assert a["lang"] == "Python" and a["content"] == "def hello():\n    return 'héllo wörld'\n"
    assert a["size"] == len(a["content"].encode()) and a["commit"] is None
    assert a["sha"] == hash_object(corpus / "plain/src/a.py")  # the git blob id, computed for plain files
    assert rows[("plain", "src/deep/b.c")]["lang"] == "C" and rows[("wt", "lib.h")]["lang"] == "C"
    # Git: the committed tree of HEAD, not the work tree.
    main = rows[("wt", "main.py")]
    assert main["content"].startswith("import pkg.util") and main["license"] == "MIT"
    assert main["commit"] == git("rev-parse", "HEAD", cwd=corpus / "wt")
    assert main["sha"] == git("rev-parse", "HEAD:main.py", cwd=corpus / "wt")
    assert rows[("bare", "main.py")]["content"] == main["content"]
    # Files of one repository are contiguous.
    repos = t["repo"].to_pylist()
    assert repos == sorted(repos, key=lambda r: ["bare", "plain", "wt"].index(r))
    # Every file seen is kept or rejected with a reason.
    rejected = read_output(out / "_rejected").to_pylist()
    reasons = {(r["repo"], r["path"]): r["reason"] for r in rejected}
    assert reasons[("plain", "README")] == "unknown_language"
    assert reasons[("plain", "latin1.py")] == "not_utf8"
    assert reasons[("plain", "nul.py")] == "binary"
    assert reasons[("plain", "big.py")] == "too_large"
    assert reasons[("plain", "escape.py")] == "symlink" and reasons[("plain", "inside.py")] == "symlink"
    assert reasons[("wt", "alias.py")] == "symlink"
    assert ("wt", "untracked.py") not in reasons
    assert s["rows_in"] == s["rows_kept"] + s["rows_rejected"] == t.num_rows + len(rejected)
    assert s["counters"]["repos"] == 4 and s["counters"]["repos_failed"] == 1
    # The secret behind the escaping symlinks never enters the output.
    assert "hunter2" not in "".join(t["content"].to_pylist())
    errors = [json.loads(x) for x in (out / "_dscoder/errors.jsonl").read_text().splitlines()]
    by_item = {e["item"]: e["error"] for e in errors}
    assert "symlink escapes the repository" in by_item["plain/escape.py"]
    assert "symlink escapes the repository" in by_item["plain/escape_dir"]
    assert "not UTF-8" in by_item["plain/latin1.py"] and "NUL" in by_item["plain/nul.py"]
    assert "git rev-parse failed" in by_item["broken"]
    assert s["errors"] == len(errors) == 5


def test_single_repository_folder_and_languages(cli, corpus, tmp_path):
    s = cli.json("crawl", corpus / "wt", tmp_path / "o", "--languages", "c")
    t = read_output(tmp_path / "o")
    assert t["path"].to_pylist() == ["lib.h"] and t["repo"].to_pylist() == ["wt"]
    assert s["counters"]["skipped:language_not_selected"] == 3
    r = cli("crawl", corpus / "wt", tmp_path / "o2", "--languages", "pyhton", expect=2)
    assert "Python" in r.stderr


def test_list_file_with_paths_urls_and_hostile_lines(cli, corpus, tmp_path):
    pwned = tmp_path / "pwned"
    lst = tmp_path / "list.txt"
    lst.write_text("# repositories\n"
                   f"repos/plain\n"
                   f"file://{corpus / 'bare.git'}\n"
                   f"ext::sh -c touch% {pwned}\n"
                   "--upload-pack=touch /tmp/x\n"
                   f"fd::3\n"
                   "repos/does-not-exist\n")
    s = cli.json("crawl", lst, tmp_path / "o")
    t = read_output(tmp_path / "o")
    assert sorted(set(t["repo"].to_pylist())) == ["plain", "repos/bare"]  # URLs: owner/name
    assert not pwned.exists()
    errors = [json.loads(x)["error"] for x in (tmp_path / "o/_dscoder/errors.jsonl").read_text().splitlines()]
    assert any("ext:: transport" in e for e in errors)
    assert any("fd:: transport" in e for e in errors)
    assert any("looks like a command-line option" in e for e in errors)
    assert any("does-not-exist is not a folder" in e for e in errors)
    assert s["counters"]["repos_failed"] == 0


def test_hostile_url_as_source_is_usage_error(cli, tmp_path):
    r = cli("crawl", "ext::sh -c id", tmp_path / "o", expect=2)
    assert "ext:: transport" in r.stderr


def test_clone_failure_recorded_and_crawl_goes_on(cli, corpus, tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text(f"file://{tmp_path}/no-such-repo.git\nrepos/wt\n")
    s = cli.json("crawl", lst, tmp_path / "o")
    assert s["counters"]["repos_failed"] == 1 and s["rows_kept"] == 4
    errors = (tmp_path / "o/_dscoder/errors.jsonl").read_text()
    assert "git clone failed" in errors


def test_github_search_source(cli, corpus, tmp_path, monkeypatch):
    items = [make_item("acme/widgets", f"file://{corpus / 'bare.git'}", created_at="2021-03-04T05:06:07Z",
                       spdx="Apache-2.0"),
             make_item("../../etc", f"file://{corpus / 'bare.git'}")]
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_sekrit_token_value")
    with FakeGitHub([items]) as api:
        r = cli("crawl", "github:language:python", tmp_path / "o", "--github-api-url", api.url, "--json")
        seen = api.requests
    assert "ghp_sekrit_token_value" not in r.stdout + r.stderr
    assert seen and all(h.get("Authorization") == "Bearer ghp_sekrit_token_value" for _, h in seen)
    t = read_output(tmp_path / "o").to_pylist()
    assert {row["repo"] for row in t} == {"acme/widgets"}
    assert {row["license"] for row in t} == {"Apache-2.0"}  # the API's licence wins over detection
    assert str(t[0]["repo_created_at"]).startswith("2021-03-04 05:06:07")
    errors = (tmp_path / "o/_dscoder/errors.jsonl").read_text()
    assert "../../etc" in errors
    assert "created:<2023-02-01" in seen[0][0].replace("%3C", "<").replace("%3A", ":").replace("+", " ")


def test_deterministic_and_workers(cli, corpus, tmp_path):
    cli("crawl", corpus, tmp_path / "a", "--shard-size", 0.000001)
    cli("crawl", corpus, tmp_path / "b", "--shard-size", 0.000001, "--workers", 2)
    names = sorted(p.name for p in (tmp_path / "a").glob("part-*.parquet"))
    assert len(names) == 3  # a shard closes before the repo that would overflow it; the empty `broken` joins the one before
    for n in names:
        assert pq.read_table(tmp_path / "a" / n).equals(pq.read_table(tmp_path / "b" / n))


@pytest.mark.parametrize("path,ok", [("a/b.py", True), ("b.py", True), ("../x.py", False),
                                     ("a/../../x", False), ("/etc/passwd", False), ("a//b", False),
                                     ("./a", False), ("a\\..\\b", False), ("", False)])
def test_safe_relpath(path, ok):
    assert (safe_relpath(path) is not None) == ok


def test_git_tree_with_dotdot_path_is_not_crawled(cli, tmp_path):
    """A crafted tree object naming `..`: git itself should refuse it; we must never write or emit it."""
    repo = tmp_path / "evil"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="print(1)\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    made = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\t..\n",
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("this git refuses to build a tree entry named '..'")
    commit = git("commit-tree", made.stdout.strip(), "-m", "evil", cwd=repo)
    git("update-ref", "refs/heads/main", commit, cwd=repo)
    cli.json("crawl", repo, tmp_path / "o")
    assert read_output(tmp_path / "o").num_rows == 0
    assert "unsafe_path" in read_output(tmp_path / "o/_rejected")["reason"].to_pylist()
