"""Issue 16, crawl: SOURCE changes on re-run, per-file records for bad names and special files, and
git calls that ignore an inherited GIT_DIR."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_crawl import git  # noqa: E402

from conftest import read_output  # noqa: E402
from stages.crawl.names import escape_name, name_problem  # noqa: E402


def _repo(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _git_repo(path: Path, files: dict[str, str]) -> Path:
    _repo(path, files)
    git("init", "-q", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "init", cwd=path)
    return path


def _errors(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "_dscoder/errors.jsonl").read_text().splitlines()]


# -- case 1: a re-run reports what changed in SOURCE -----------------------------------------------

def test_rerun_refuses_a_changed_source_folder_naming_the_change(cli, tmp_path):
    src = tmp_path / "src"
    _repo(src / "plain", {"a.py": "x = 1\n", "pkg/b.py": "y = 2\n"})
    _git_repo(src / "gitrepo", {"m.py": "z = 3\n"})
    out = tmp_path / "out"
    cli.json("crawl", src, out)
    again = cli.json("crawl", src, out)  # unchanged: resumes (nothing to do)
    assert again["this_run"]["shards_skipped"] == 1

    _repo(src / "newrepo", {"n.py": "n = 1\n"})  # a new sub-folder
    r = cli("crawl", src, out, expect=2)
    assert "changed since this output was started" in r.stderr and "`newrepo` added" in r.stderr
    assert "--overwrite" in r.stderr
    (src / "newrepo/n.py").unlink()
    (src / "newrepo").rmdir()
    cli.json("crawl", src, out)  # restored: resumes again

    (src / "plain/pkg/b.py").write_text("y = 22\n")  # an edited file
    r = cli("crawl", src, out, expect=2)
    assert "`plain`: files added, removed or edited" in r.stderr
    (src / "gitrepo/m.py").write_text("z = 4\n")
    git("commit", "-q", "-am", "edit", cwd=src / "gitrepo")  # a new commit
    r = cli("crawl", src, out, expect=2)
    assert "`gitrepo`: HEAD moved from" in r.stderr and "`plain`" in r.stderr

    s = cli.json("crawl", src, out, "--overwrite")  # starts over with the new SOURCE
    contents = {(row["repo"], row["path"]): row["content"] for row in read_output(out).to_pylist()}
    assert contents[("plain", "pkg/b.py")] == "y = 22\n" and contents[("gitrepo", "m.py")] == "z = 4\n"
    assert s["this_run"]["shards_done"] == 1


def test_rerun_refuses_a_repository_added_to_the_list_file(cli, tmp_path):
    _repo(tmp_path / "one", {"a.py": "a = 1\n"})
    _repo(tmp_path / "two", {"b.py": "b = 1\n"})
    lst = tmp_path / "repos.txt"
    lst.write_text("one\n")
    out = tmp_path / "out"
    cli.json("crawl", lst, out)
    lst.write_text("# a comment changes no repository\none\n")
    cli.json("crawl", lst, out)
    lst.write_text("one\ntwo\n")
    r = cli("crawl", lst, out, expect=2)
    assert "`two` added" in r.stderr


# -- case 2: one bad name never fails a shard --------------------------------------------------------

def _hostile_folder(root: Path) -> Path:
    repo = _repo(root / "r1", {"ok.py": "x = 1\n"})
    (repo / os.fsdecode(b"bad\xff.py")).write_text("x = 2\n")
    (repo / "new\nline.py").write_text("x = 3\n")
    (repo / os.fsdecode(b"d\xfeir")).mkdir()
    (repo / os.fsdecode(b"d\xfeir") / "inner.py").write_text("x = 4\n")
    os.mkfifo(repo / "pipe.py")
    _repo(root / ".hidden", {"h.py": "h = 1\n"})
    _repo(root / "real", {"r.py": "r = 1\n"})
    os.symlink(root / "real", root / "linked")
    (root / "setup.py").write_text("s = 1\n")
    (root / os.fsdecode(b"repo\xff")).mkdir()
    return root


def test_bad_names_and_special_files_are_rejected_rows_not_a_failed_shard(cli, tmp_path):
    src = _hostile_folder(tmp_path / "src")
    out = tmp_path / "out"
    s = cli.json("crawl", src, out)
    assert s["shards_failed"] == [] and s["shards_done"] == 1
    kept = {(r["repo"], r["path"]) for r in read_output(out).to_pylist()}
    assert kept == {("r1", "ok.py"), ("real", "r.py")}
    rejected = read_output(out / "_rejected").to_pylist()
    reasons = {(r["repo"], r["path"]): r["reason"] for r in rejected}
    assert reasons == {
        ("r1", "bad\\xff.py"): "undecodable_name",
        ("r1", "new\\nline.py"): "control_character_in_name",
        ("r1", "d\\xfeir/inner.py"): "undecodable_name",
        ("r1", "pipe.py"): "not_a_regular_file",
        (".hidden", None): "hidden_folder",
        ("linked", None): "symlinked_repository",
        ("setup.py", None): "top_level_file",
        ("repo\\xff", None): "undecodable_name",
    }
    assert s["rows_in"] == s["rows_kept"] + s["rows_rejected"] == 2 + 8
    errors = {e["item"]: e["error"] for e in _errors(out)}
    assert "not valid UTF-8" in errors["r1/bad\\xff.py"] and "control characters" in errors["r1/new\\nline.py"]
    assert "FIFO" in errors["r1/pipe.py"] and "not followed" in errors[str(src / "linked")]
    assert str(src / "repo\\xff") in errors
    assert s["errors"] == len(errors) == 6  # hidden folders and top-level files are records, not errors
    # Nothing with a newline reaches the shards (and so the samples' path headers).
    assert all("\n" not in (r["path"] or "") for r in rejected)


def test_bad_names_in_a_git_tree(cli, tmp_path):
    repo = _git_repo(tmp_path / "g", {"ok.py": "x = 1\n"})
    (repo / os.fsdecode(b"caf\xe9.py")).write_text("x = 2\n")
    (repo / "two\nlines.py").write_text("x = 3\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "names", cwd=repo)
    out = tmp_path / "out"
    s = cli.json("crawl", repo, out)
    assert s["shards_failed"] == [] and s["rows_kept"] == 1
    reasons = {r["path"]: r["reason"] for r in read_output(out / "_rejected").to_pylist()}
    assert reasons == {"caf\\xe9.py": "undecodable_name", "two\\nlines.py": "control_character_in_name"}
    assert s["errors"] == 2
    # topo-sort of that output: no sample header holds a newline-bearing name
    samples = tmp_path / "samples"
    cli.json("topo-sort", out, samples)
    assert read_output(samples)["paths"].to_pylist() == [["ok.py"]]


@pytest.mark.parametrize("name,problem,shown", [
    ("a.py", None, "a.py"), ("é/ü.py", None, "é/ü.py"), (os.fsdecode(b"x\xff.py"), "undecodable_name", "x\\xff.py"),
    ("a\nb", "control_character_in_name", "a\\nb"), ("a\tb", "control_character_in_name", "a\\tb"),
    ("a\x1b[31m", "control_character_in_name", "a\\x1b[31m"), ("a\u2028b", "control_character_in_name", "a\\u2028b"),
    ("a\x85b", "control_character_in_name", "a\\x85b")])
def test_name_problem_and_escaped_form(name, problem, shown):
    assert name_problem(name) == problem
    assert escape_name(name) == shown
    escape_name(name).encode("utf-8")  # always storable


# -- case 3: an inherited GIT_DIR does not redirect git ----------------------------------------------

def test_inherited_git_environment_is_ignored(cli, tmp_path, monkeypatch):
    src = tmp_path / "src"
    _git_repo(src / "alpha", {"alpha.py": "A = 1\n"})
    _git_repo(src / "beta", {"beta.py": "B = 2\n"})
    other = _git_repo(tmp_path / "other", {"other.py": "OTHER = 3\n"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git/index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(other / ".git/objects"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.bare")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")
    out = tmp_path / "out"
    s = cli.json("crawl", src, out)
    rows = {(r["repo"], r["path"]): r for r in read_output(out).to_pylist()}
    assert set(rows) == {("alpha", "alpha.py"), ("beta", "beta.py")}
    assert s["counters"]["repos_failed"] == 0


def test_output_inside_source_is_not_a_change_of_source(cli, tmp_path):
    src = tmp_path / "src"
    _repo(src / "plain", {"a.py": "x = 1\n"})
    out = src / "out"  # OUTPUT inside SOURCE: it does not exist while the source is planned
    s = cli.json("crawl", src, out)
    assert {r["repo"] for r in read_output(out).to_pylist()} == {"plain"}  # never its own manifest
    assert s["counters"]["repos"] == 1
    again = cli.json("crawl", src, out)
    assert again["this_run"]["shards_skipped"] == 1
    other = cli.json("crawl", src, tmp_path / "elsewhere")  # another crawl sees it as a dscoder output
    assert other["counters"]["skipped:dscoder_output"] == 1
    assert {r["repo"] for r in read_output(tmp_path / "elsewhere").to_pylist()} == {"plain"}
