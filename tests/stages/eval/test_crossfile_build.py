"""`dscoder build-crossfile`: a CrossCodeEval-layout benchmark from held-out repositories.

Built from the demo corpus's repositories (scripts/demo_sources.py; its standard-library packages, which
are the same on every machine with this Python), every task is checked by a resolver written here with
Python's `ast` -- not tree-sitter, not topo-sort's resolution -- that its ground-truth line uses a name
defined in another file of the repository. Java, TypeScript, JavaScript and C# are checked on small
repositories written in code, by regular expressions over their sources.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from crossfile_fixtures import REPOS, uses_name_from_another_file, write_repos  # noqa: E402
from eval_test_helpers import REPO, read_jsonl, write_jsonl  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Packages of the demo corpus (its standard-library part) with imports between their files.
DEMO_PACKAGES = ("json", "email", "concurrent", "importlib", "logging", "tomllib", "wsgiref", "zoneinfo",
                 "http", "urllib", "xmlrpc", "html")


@pytest.fixture(scope="module")
def demo_list(tmp_path_factory) -> Path:
    """The demo corpus's list (scripts/demo_sources.py), cut to DEMO_PACKAGES."""
    folder = tmp_path_factory.mktemp("demo")
    full = folder / "demo-repos.txt"
    subprocess.run([sys.executable, str(REPO / "scripts" / "demo_sources.py"), str(full)], check=True,
                   cwd=REPO, capture_output=True)
    repos = [line for line in full.read_text().splitlines() if line and not line.startswith("#")]
    chosen = [r for r in repos if Path(r).parent == STDLIB and Path(r).name in DEMO_PACKAGES]
    assert len(chosen) == len(DEMO_PACKAGES), chosen  # they are all in the demo corpus
    listing = folder / "heldout.txt"
    listing.write_text("\n".join(chosen) + "\n")
    return listing


@pytest.fixture(scope="module")
def demo_build(demo_list, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from dscoder_cli.app import app
    out = tmp_path_factory.mktemp("bench") / "out"
    r = CliRunner().invoke(app, ["build-crossfile", str(demo_list), str(out), "--languages", "python",
                                 "--max-per-repo", "25", "--seed", "7", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stdout
    return out


def tasks_of(out: Path, language: str, name: str = "line_completion_rg1_bm25.jsonl") -> list[dict]:
    return read_jsonl(out / language / name)


# ------------------------------------------------------------------------- the independent resolver
class PythonRepo:
    """A standard-library package as Python sees it: module name -> source, parsed with `ast`."""

    def __init__(self, root: Path):
        self.name = root.name
        self.files = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
                      for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}
        self.module_file = {}
        for path in self.files:
            parts = [self.name, *path[:-3].split("/")]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            self.module_file[".".join(parts)] = path
        self.trees = {}

    def tree(self, path: str) -> ast.Module:
        if path not in self.trees:
            self.trees[path] = ast.parse(self.files[path])
        return self.trees[path]

    def module_of(self, path: str) -> str:
        return next(m for m, p in self.module_file.items() if p == path)

    def defined(self, path: str, name: str, hops: int = 3) -> bool:
        """`name` is bound at the top level of the module: def, class, assignment (also inside a
        top-level if/try), or imported there from a module of the repository that defines it."""
        def walk(body):
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                    return True
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(t)):
                            return True
                if isinstance(node, (ast.If, ast.Try)):
                    blocks = [node.body, node.orelse] + ([node.finalbody] + [h.body for h in node.handlers]
                                                         if isinstance(node, ast.Try) else [])
                    if any(walk(b) for b in blocks):
                        return True
            return False
        if walk(self.tree(path).body):
            return True
        if hops == 0:
            return False
        for node in ast.walk(self.tree(path)):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        target = self.resolve_from(path, node.module, node.level)
                        if target is not None and target != path and self.defined(target, alias.name, hops - 1):
                            return True
        return False

    def resolve_from(self, path: str, module: str | None, level: int) -> str | None:
        """The file of the module a from-import names."""
        if level:
            own = self.module_of(path).split(".")
            package = own if path.endswith("__init__.py") else own[:-1]
            base = package[:len(package) - (level - 1)]
            full = ".".join(base + (module.split(".") if module else []))
        else:
            full = module or ""
        return self.module_file.get(full)

    def cross_file_names(self, path: str, line: int) -> set[str]:
        """Names on 1-based `line` of `path` bound by an import to a definition in another file."""
        tree = self.tree(path)
        names: dict[str, tuple[str, str]] = {}  # local -> ("name", file) | ("module", file)
        dotted: dict[str, str] = {}
        for node in ast.walk(tree):
            if getattr(node, "end_lineno", line) >= line:
                continue
            if isinstance(node, ast.ImportFrom):
                target = self.resolve_from(path, node.module, node.level)
                for alias in node.names:
                    local = alias.asname or alias.name
                    base = self.resolve_from(path, node.module, node.level) if target else None
                    sub = None
                    if base is not None:
                        sub = self.module_file.get(self.module_of(base) + "." + alias.name)
                    if target is not None and target != path and self.defined(target, alias.name):
                        names[local] = ("name", target)
                    elif sub is not None and sub != path:
                        names[local] = ("module", sub)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    target = self.module_file.get(alias.name)
                    if target is None or target == path:
                        continue
                    if alias.asname:
                        names[alias.asname] = ("module", target)
                    elif "." in alias.name:
                        dotted[alias.name] = target
                    else:
                        names[alias.name] = ("module", target)
        own_top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        found = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) != line:
                continue
            if isinstance(node, ast.Name) and names.get(node.id, ("", ""))[0] == "name" and node.id not in own_top:
                found.add(node.id)
            if isinstance(node, ast.Attribute):
                chain = ast.unparse(node.value)
                kind, target = names.get(chain, ("", ""))
                target = target if kind == "module" else dotted.get(chain)
                if target is not None and target != path and self.defined(target, node.attr):
                    found.add(f"{chain}.{node.attr}")
        return found


# ---------------------------------------------------------------------------------------- tests
def test_demo_corpus_every_task_uses_a_name_defined_in_another_file(demo_build, demo_list):
    tasks = tasks_of(demo_build, "python")
    summary = json.loads((demo_build / "summary.json").read_text())
    assert summary["languages"]["python"]["tasks"] == len(tasks) >= 80, summary["languages"]
    repos = {Path(p).name: PythonRepo(Path(p)) for p in demo_list.read_text().split()}
    assert len({t["metadata"]["repository"] for t in tasks}) >= 8  # spread over the packages
    unresolved = []
    for t in tasks:
        m = t["metadata"]
        repo = repos[m["repository"]]
        # The task is its file: left context + the line + right context, the line where it says.
        assert t["prompt"] + t["groundtruth"] + t["right_context"] == repo.files[m["file"]]
        assert t["prompt"].count("\n") == m["groundtruth_start_lineno"]
        if not repo.cross_file_names(m["file"], m["groundtruth_start_lineno"] + 1):
            unresolved.append((m["task_id"], t["groundtruth"]))
    assert unresolved == []
    # Both context variants, for the same tasks; the oracle shows the definitions' files.
    oracle = tasks_of(demo_build, "python", "line_completion_oracle.jsonl")
    assert [o["metadata"]["task_id"] for o in oracle] == [t["metadata"]["task_id"] for t in tasks]
    for o in oracle:
        files = {i["file"] for i in o["metadata"]["crossfile_identifiers"]}
        assert o["crossfile_context"]["list"] and {c["filename"] for c in o["crossfile_context"]["list"]} <= files
        assert o["metadata"]["file"] not in files
    for t in tasks:  # BM25 context: other files of the repository, best first
        chunks = t["crossfile_context"]["list"]
        assert chunks and all(c["filename"] != t["metadata"]["file"] for c in chunks)
        scores = [c["score"] for c in chunks]
        assert scores == sorted(scores, reverse=True)
        assert t["crossfile_context"]["text"].startswith("# Here are some relevant code fragments")


def test_demo_corpus_ground_truth_scores_100_and_empty_0(demo_build, tmp_path, cli):
    tasks = tasks_of(demo_build, "python")
    truth = write_jsonl(tmp_path / "truth.jsonl", [
        {"task_id": t["metadata"]["task_id"], "completion": t["groundtruth"] + "\n" + t["right_context"][1:200]}
        for t in tasks])
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"task_id": t["metadata"]["task_id"], "completion": ""}
                                                   for t in tasks])
    s = cli.json("eval", tmp_path / "truth", "--generations", truth, "--benchmarks", "crosscodeeval",
                 "--benchmarks-dir", demo_build)
    b = s["benchmarks"]["crosscodeeval"]
    assert (b["tasks"], b["tasks_executed"]) == (len(tasks), len(tasks))
    assert (b["em"], b["es"], b["id_em"], b["id_f1"]) == (100.0, 100.0, 100.0, 100.0)
    assert b["languages"]["python"]["em"] == 100.0
    s = cli.json("eval", tmp_path / "empty", "--generations", empty, "--benchmarks", "crosscodeeval",
                 "--benchmarks-dir", demo_build)
    b = s["benchmarks"]["crosscodeeval"]
    assert (b["em"], b["es"], b["id_em"], b["id_f1"]) == (0.0, 0.0, 0.0, 0.0)


def test_same_seed_same_tasks_other_seed_others(demo_list, demo_build, tmp_path, cli):
    again = tmp_path / "again"
    cli.json("build-crossfile", demo_list, again, "--languages", "python", "--max-per-repo", "25", "--seed", "7")
    for name in ("line_completion_rg1_bm25.jsonl", "line_completion_oracle.jsonl"):
        assert (again / "python" / name).read_bytes() == (demo_build / "python" / name).read_bytes()
    other = tmp_path / "other"
    cli.json("build-crossfile", demo_list, other, "--languages", "python", "--max-per-repo", "25", "--seed", "8")
    ids = {t["metadata"]["task_id"] for t in tasks_of(demo_build, "python")}
    other_ids = {t["metadata"]["task_id"] for t in tasks_of(other, "python")}
    assert len(other_ids) == len(ids) and other_ids != ids
    # The same options on the same OUT: rebuilt, identical; other options: refused.
    cli.json("build-crossfile", demo_list, again, "--languages", "python", "--max-per-repo", "25", "--seed", "7")
    assert (again / "python/line_completion_rg1_bm25.jsonl").read_bytes() == \
        (demo_build / "python/line_completion_rg1_bm25.jsonl").read_bytes()
    r = cli("build-crossfile", demo_list, again, "--languages", "python", "--max-per-repo", "25", "--seed", "9",
            expect=2)
    assert "options changed (seed)" in r.stderr
    cli.json("build-crossfile", demo_list, again, "--languages", "python", "--seed", "9", "--max-per-repo", "3",
             "--overwrite")
    assert len(tasks_of(again, "python")) <= 3 * len(DEMO_PACKAGES)


def test_other_languages_every_task_uses_a_name_declared_in_another_file(tmp_path, cli):
    repos = write_repos(tmp_path / "repos")
    out = tmp_path / "out"
    s = cli.json("build-crossfile", repos, out, "--languages", "java,ts,c#,js", "--max-per-file", "50")
    expected = {"java": 8, "typescript": 5, "csharp": 7, "javascript": 3}
    assert {k: v["tasks"] for k, v in s["languages"].items()} == expected
    by_repo = {"java": "acme-java", "typescript": "acme-ts", "csharp": "acme-cs", "javascript": "acme-js"}
    for language, repo in by_repo.items():
        files = REPOS[repo]
        for t in tasks_of(out, language):
            assert t["metadata"]["repository"] == repo
            assert t["prompt"] + t["groundtruth"] + t["right_context"] == files[t["metadata"]["file"]]
            assert uses_name_from_another_file(t, files, language), (language, t["groundtruth"])
    # What the lines use, and where it is defined (the oracle shows it).
    app = {t["groundtruth"].strip(): t for t in tasks_of(out, "java", "line_completion_oracle.jsonl")}
    t = app["String shown = capitalize(admin.getName());"]  # a static import
    assert t["metadata"]["crossfile_identifiers"] == [
        {"name": "capitalize", "file": "src/main/java/com/acme/util/Strings.java", "line": 9}]
    assert t["crossfile_context"]["list"][0]["retrieved_chunk"].lstrip().startswith("public static String capitalize")
    assert "System.out.println(\"writer: \" + count);" not in app  # nothing from another file
    ts = {t["groundtruth"].strip(): t["metadata"]["crossfile_identifiers"] for t in tasks_of(out, "typescript")}
    assert ts['store.add(api.makeUser("alan", 41));'] == [  # through `export * from`
        {"name": "api.makeUser", "file": "src/models/user.ts", "line": 8}]
    assert ts['logger.log(api.assist("  done  "));'] == [  # through `export { helper as assist } from`
        {"name": "api.assist", "file": "src/util.ts", "line": 1}]
    cs = {t["groundtruth"].strip(): t["metadata"]["crossfile_identifiers"] for t in tasks_of(out, "csharp")}
    assert cs["int level = Clamp(7, 0, 5);"] == [{"name": "Clamp", "file": "Util/MathUtil.cs", "line": 5}]
    # Official readers see their schema.
    t = tasks_of(out, "csharp")[0]
    assert set(t) == {"prompt", "groundtruth", "right_context", "metadata", "crossfile_context"}
    assert {"task_id", "repository", "file", "context_start_lineno", "groundtruth_start_lineno",
            "right_context_start_lineno"} <= set(t["metadata"])
    assert {"retrieved_chunk", "filename", "score"} == set(t["crossfile_context"]["list"][0])


def test_caps_duplicates_and_the_files_output(tmp_path, cli):
    repos = write_repos(tmp_path / "repos", {"acme-java": REPOS["acme-java"], "copy-java": REPOS["acme-java"]})
    out = tmp_path / "out"
    s = cli.json("build-crossfile", repos, out, "--languages", "java", "--max-per-file", "50")
    java = s["languages"]["java"]
    # The copy's lines are the same lines after the same context: one task each, the first by id.
    assert (java["candidates"], java["duplicates"], java["tasks"]) == (16, 8, 8)
    rejected = read_jsonl(out / "rejected.jsonl")
    assert len(rejected) == 8 and all(r["reason"] == "duplicate" and r["task_id"].startswith("java/copy-java/")
                                      and r["of"].startswith("java/acme-java/") for r in rejected)
    capped = tmp_path / "capped"
    s = cli.json("build-crossfile", repos, capped, "--languages", "java", "--max-per-file", "1",
                 "--max-per-language", "2")
    tasks = tasks_of(capped, "java")
    assert len(tasks) == 2 == s["languages"]["java"]["tasks"]
    assert len({t["metadata"]["file"] for t in tasks}) == 2  # at most one per file
    # A dscoder `files` output (what crawl writes) is read like the SOURCE it came from.
    cli.json("crawl", repos, tmp_path / "files")
    from_files = tmp_path / "from-files"
    cli.json("build-crossfile", tmp_path / "files", from_files, "--languages", "java", "--max-per-file", "50")
    assert (from_files / "java/line_completion_rg1_bm25.jsonl").read_bytes() == \
        (out / "java/line_completion_rg1_bm25.jsonl").read_bytes()


def test_decontamination_against_a_training_corpus(tmp_path, cli):
    held_out = write_repos(tmp_path / "heldout", {"acme-java": REPOS["acme-java"], "acme-ts": REPOS["acme-ts"]})
    # The training corpus holds acme-ts (re-indented: the n-grams ignore layout), not acme-java.
    corpus = write_repos(tmp_path / "corpus-src", {"acme-ts": {p: t.replace("  ", "    ")
                                                               for p, t in REPOS["acme-ts"].items()},
                                                   "other": REPOS["acme-js"]})
    cli.json("crawl", corpus, tmp_path / "corpus")
    out = tmp_path / "out"
    s = cli.json("build-crossfile", held_out, out, "--languages", "java,typescript", "--max-per-file", "50",
                 "--training-corpus", tmp_path / "corpus")
    assert s["languages"]["typescript"] == {"candidates": 5, "duplicates": 0, "contaminated": 5, "tasks": 0}
    assert s["languages"]["java"]["contaminated"] == 0 and s["languages"]["java"]["tasks"] == 8
    rejected = read_jsonl(out / "rejected.jsonl")
    assert {r["reason"] for r in rejected} == {"contaminated"} and len(rejected) == 5
    assert all("acme-ts/src/app.ts" in r["found_in"] for r in rejected)
    # The same corpus as a plain folder of repositories (a crawl SOURCE) finds the same.
    s = cli.json("build-crossfile", held_out, tmp_path / "out2", "--languages", "java,typescript",
                 "--max-per-file", "50", "--training-corpus", tmp_path / "corpus-src")
    assert s["languages"]["typescript"]["contaminated"] == 5 and s["languages"]["java"]["contaminated"] == 0


def test_usage_errors(tmp_path, cli):
    repos = write_repos(tmp_path / "repos")
    r = cli("build-crossfile", repos, tmp_path / "o", "--languages", "cobol", expect=2)
    assert "unknown language 'cobol'" in r.stderr
    r = cli("build-crossfile", repos, tmp_path / "o", "--max-per-file", "0", expect=2)
    assert "--max-per-file" in r.stderr
    r = cli("build-crossfile", repos, tmp_path / "o", "--training-corpus", tmp_path / "nope", expect=2)
    assert "no such file or folder" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    r = cli("build-crossfile", repos, tmp_path / "full", expect=2)
    assert "not empty" in r.stderr and (tmp_path / "full" / "x.txt").read_text() == "mine"
    r = cli("build-crossfile", tmp_path / "missing", tmp_path / "o2", expect=2)
    assert "is not a folder, a list file" in r.stderr
