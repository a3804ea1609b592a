"""`dscoder topo-sort` end to end: files shards in, repository-level samples out."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import read_output
from stages.core.schemas import FILES_SCHEMA
from stages.topo_sort.deps import RepoFile, find_dependencies
from stages.core.sample_text import split_sample


def files_shard(folder: Path, repos: dict[str, dict[str, str]], lang_of) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for repo, files in repos.items():
        for path in sorted(files):
            rows.append({"repo": repo, "commit": None, "path": path, "lang": lang_of(path), "content": files[path],
                         "size": len(files[path].encode()), "sha": None, "license": None, "repo_created_at": None})
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), folder / "part-00000.parquet")
    return folder


def lang_of(path: str) -> str:
    from stages.core.languages import detect_language
    return detect_language(path)


PROJECT = {
    "app/main.py": "from app import models\nfrom app.views import render\nprint(render(models.User()))\n",
    "app/__init__.py": "",
    "app/models.py": "from .db import Base\n\nclass User(Base):\n    pass\n",
    "app/db.py": "class Base:\n    pass\n",
    "app/views.py": "from . import models\n\ndef render(x):\n    return str(x)\n",
    "config.json": '{"debug": true, "name": "app", "version": "1.0.0", "port": 8080}\n',
    "native/include/util.h": "int util(void);\n",
    "native/a/one.c": '#include "util.h"\nint one(void) { return util(); }\n',
    "native/b/two.c": '#include <util.h>\nint two(void) { return util(); }\n',
}


def test_samples_of_a_repository(cli, tmp_path):
    src = files_shard(tmp_path / "files", {"acme/app": PROJECT, "other": {"solo.py": "x = 1\n"}}, lang_of)
    out = tmp_path / "samples"
    s = cli.json("topo-sort", src, out)
    assert s["rows_in"] == 10 == s["rows_kept"] and s["rows_rejected"] == 0
    t = read_output(out).to_pylist()
    assert s["rows_out"] == len(t) == 4
    by_first = {r["paths"][0]: r for r in t}
    py = next(r for r in t if "app/main.py" in r["paths"])
    assert py["sample_id"].startswith("acme/app#") and py["lang"] == "Python" and py["n_files"] == 5
    order = py["paths"]
    assert order.index("app/db.py") < order.index("app/models.py") < order.index("app/views.py") < order.index("app/main.py")
    assert py["text"].startswith(f"# {order[0]}\n")
    assert "\n\n# app/models.py\nfrom .db import Base\n" in py["text"]
    assert split_sample(py["text"], order) == [PROJECT[p] or "\n" for p in order]  # files end with \n
    c = next(r for r in t if "native/include/util.h" in r["paths"])
    assert c["paths"][0] == "native/include/util.h" and sorted(c["paths"][1:]) == ["native/a/one.c", "native/b/two.c"]
    assert c["text"].startswith("// native/include/util.h\nint util(void);\n\n// native/")
    cfg = by_first["config.json"]  # outside the scope: one file, unchanged text
    assert cfg["n_files"] == 1 and cfg["text"] == PROJECT["config.json"] and cfg["lang"] == "JSON"
    assert by_first["solo.py"]["sample_id"] == "other#0"
    assert [r["sample_id"] for r in t if r["repo"] == "acme/app"] == ["acme/app#0", "acme/app#1", "acme/app#2"]
    assert s["counters"]["edges"] >= 7 and s["counters"]["samples"] == 4 and s["counters"]["cycles"] == 0


def test_scope_option_and_determinism(cli, tmp_path):
    src = files_shard(tmp_path / "files", {"acme/app": PROJECT}, lang_of)
    cli("topo-sort", src, tmp_path / "a")
    cli("topo-sort", src, tmp_path / "b", "--workers", 2)
    assert read_output(tmp_path / "a").equals(read_output(tmp_path / "b"))
    cli("topo-sort", src, tmp_path / "py", "--scope", "python")
    t = read_output(tmp_path / "py")
    assert sorted(t["n_files"].to_pylist()) == [1, 1, 1, 1, 5]  # C files now one per sample
    assert "unknown" in cli("topo-sort", src, tmp_path / "x", "--scope", "klingon", expect=2).stderr.lower() \
        or "did you mean" in cli("topo-sort", src, tmp_path / "y", "--scope", "klingon", expect=2).stderr


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_standard_library_packages_modules_follow_their_imports(cli, tmp_path):
    """On real packages: each module comes after the modules it imports, unless they form a cycle."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lst = tmp_path / "repos.txt"
    lst.write_text(f"{stdlib / 'json'}\n{stdlib / 'email'}\n{stdlib / 'importlib'}\n")
    cli("crawl", lst, tmp_path / "files")
    cli("topo-sort", tmp_path / "files", tmp_path / "samples")
    files = read_output(tmp_path / "files").to_pylist()
    checked = 0
    for repo in ("json", "email", "importlib"):
        repo_files = [RepoFile(f["path"], f["lang"], f["content"]) for f in files if f["repo"] == repo]
        graph = find_dependencies(repo_files).edges
        samples = [r for r in read_output(tmp_path / "samples").to_pylist() if r["repo"] == repo]
        assert sum(r["n_files"] for r in samples) == len(repo_files)
        for sample in samples:
            pos = {p: i for i, p in enumerate(sample["paths"])}
            for a in sample["paths"]:
                for b in graph.get(a, ()):
                    in_cycle = a in _reachable(graph, b)
                    assert pos[b] < pos[a] or in_cycle, (repo, a, b)
                    checked += 1
    assert checked > 50


# --- languages per file, C++ headers, identical repositories -----------------------------------------

def write_folder(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


CPP_REPO = {
    "include/lib/config.h": "#pragma once\n#define LIB_N 4\n",
    # C++ syntax the C grammar cannot parse: with .h read as C this file was a parse failure.
    "include/lib/vec.h": '#pragma once\n#include "config.h"\nnamespace lib {\ntemplate <typename T>\n'
                         "class Vec {\n public:\n  T data[LIB_N];\n  T& at(int i) { return data[i]; }\n};\n}\n",
    "src/main.cpp": '#include <lib/vec.h>\n#include "lib/config.h"\nint main() { lib::Vec<int> v; return v.at(0); }\n',
}


def test_cpp_headers_of_a_cpp_repository_are_cpp_and_their_includes_resolve(cli, tmp_path):
    cli("crawl", write_folder(tmp_path / "repos" / "cpplib", CPP_REPO).parent, tmp_path / "files")
    assert {r["path"]: r["lang"] for r in read_output(tmp_path / "files").to_pylist()} == {
        p: "C++" for p in CPP_REPO}
    s = cli.json("topo-sort", tmp_path / "files", tmp_path / "samples")
    (sample,) = read_output(tmp_path / "samples").to_pylist()
    assert sample["paths"] == ["include/lib/config.h", "include/lib/vec.h", "src/main.cpp"]
    assert sample["langs"] == ["C++"] * 3 and sample["lang"] == "C++"
    assert s["counters"]["parse_failures"] == 0
    assert s["counters"]["imports"] == s["counters"]["imports_resolved"] == 3
    assert s["counters"]["files:C++"] == 3
    # The same header read as C (what crawl wrote before) does not parse: the test can tell.
    as_c = find_dependencies([RepoFile(p, "C" if p.endswith(".h") else "C++", t) for p, t in CPP_REPO.items()])
    assert "include/lib/vec.h" in as_c.parse_failures


def test_each_file_keeps_its_own_language_in_the_sample(cli, tmp_path):
    repo = {"lib.c": "int twice(int x) { return 2 * x; }\n",
            "app.cpp": '#include "lib.c"\nint main() { return twice(1); }\n'}
    src = files_shard(tmp_path / "files", {"mixed": repo}, lang_of)
    s = cli.json("topo-sort", src, tmp_path / "samples")
    (sample,) = read_output(tmp_path / "samples").to_pylist()
    assert sample["paths"] == ["lib.c", "app.cpp"] and sample["langs"] == ["C", "C++"]
    assert s["counters"]["files:C"] == 1 and s["counters"]["files:C++"] == 1


PACKAGE = {"pkg/__init__.py": "", "pkg/base.py": "class Base:\n    pass\n"}
PACKAGE |= {f"pkg/mod_{i}.py": f"from pkg.base import Base\n\n\nclass Thing{i}(Base):\n    size = {i}\n"
            for i in range(8)}  # eight files of equal in-degree after base.py: the tie-break orders them


def test_identical_repositories_give_identical_samples_and_one_exact_duplicate(cli, tmp_path):
    for name in ("alice/project", "bob/copy"):
        write_folder(tmp_path / "repos" / name.replace("/", "__"), PACKAGE)
    cli("crawl", tmp_path / "repos", tmp_path / "files")
    s = cli.json("topo-sort", tmp_path / "files", tmp_path / "samples")
    a, b = read_output(tmp_path / "samples").to_pylist()
    assert (a["sample_id"], b["sample_id"]) == ("alice__project#0", "bob__copy#0")  # ids stay repo#k
    assert a["n_files"] == 10 and a["paths"] == b["paths"] and a["text"] == b["text"]
    assert s["counters"]["samples"] == 2
    d = cli.json("dedup", tmp_path / "samples", tmp_path / "dedup")
    assert d["counters"]["rejected:exact_duplicate"] == 1 and "rejected:near_duplicate" not in d["counters"]
    (dropped,) = read_output(tmp_path / "dedup" / "_rejected").to_pylist()
    assert dropped["reason"] == "exact_duplicate" and dropped["text"] == a["text"]
    assert read_output(tmp_path / "dedup").num_rows == 1


def test_order_ties_depend_on_seed_paths_and_contents_only(cli, tmp_path):
    def order(repos: dict[str, dict[str, str]], folder: str, *options) -> dict[str, list[str]]:
        src = files_shard(tmp_path / f"{folder}-files", repos, lang_of)
        cli("topo-sort", src, tmp_path / folder, *options)
        return {r["repo"]: r["paths"] for r in read_output(tmp_path / folder).to_pylist()}

    edited = PACKAGE | {"pkg/mod_3.py": PACKAGE["pkg/mod_3.py"] + "# edited\n"}
    got = order({"a": PACKAGE, "b": PACKAGE, "c": edited}, "s0")
    assert got["a"] == got["b"]  # the name of a repository plays no part
    assert sorted(got["a"][:2]) == ["pkg/__init__.py", "pkg/base.py"]  # dependencies first, always
    assert got["c"] != got["a"]  # one file's content changes the ties
    assert order({"a": PACKAGE}, "s1", "--seed", 1)["a"] != got["a"]  # and so does --seed
    assert order({"a": PACKAGE}, "s0-again")["a"] == got["a"]
