"""`dscoder crawl` writes the language it decides for each `.h` (stages/core/languages.py):
C++ in a C++ repository, C in a C one, by content in a mixed one, Objective-C skipped."""

from __future__ import annotations

from pathlib import Path

from conftest import read_output

PLAIN_HEADER = "#pragma once\nint util(int x);\n"
CPP_HEADER = "#pragma once\nnamespace lib {\ntemplate <typename T>\nclass Vec {\n public:\n  T x;\n};\n}\n"
OBJC_HEADER = "#import <Foundation/Foundation.h>\n@interface View : NSObject\n- (void)draw;\n@end\n"


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def crawl(cli, tmp_path: Path, repos: dict[str, dict[str, str]], *options) -> tuple[dict, dict, dict]:
    for name, files in repos.items():
        write_repo(tmp_path / "repos" / name, files)
    summary = cli.json("crawl", tmp_path / "repos", tmp_path / "files", *options)
    kept = {(r["repo"], r["path"]): r["lang"] for r in read_output(tmp_path / "files").to_pylist()}
    rejected = read_output(tmp_path / "files" / "_rejected")
    skipped = {(r["repo"], r["path"]): (r["reason"], r["lang"]) for r in rejected.to_pylist()} if rejected else {}
    return summary, kept, skipped


def test_headers_by_repository_and_content(cli, tmp_path):
    s, kept, skipped = crawl(cli, tmp_path, {
        "cpp": {"src/main.cpp": '#include "util.h"\nint main() { return util(1); }\n',
                "src/util.h": PLAIN_HEADER, "include/lib/vec.h": CPP_HEADER},
        "c": {"main.c": '#include "util.h"\nint main(void) { return util(1); }\n', "util.h": PLAIN_HEADER},
        "mixed": {"core/a.c": "int a(void) { return 0; }\n", "core/a.h": PLAIN_HEADER,
                  "core/wrap.h": CPP_HEADER, "bind/b.cpp": "int b() { return 0; }\n", "bind/b.h": PLAIN_HEADER},
        "ios": {"View.h": OBJC_HEADER, "util.h": PLAIN_HEADER, "View.c": "int v(void) { return 0; }\n"},
    })
    assert kept[("cpp", "src/util.h")] == "C++"  # no C++ syntax, but a C++ repository
    assert kept[("cpp", "include/lib/vec.h")] == "C++"
    assert kept[("c", "util.h")] == "C"
    assert kept[("mixed", "core/a.h")] == "C" and kept[("mixed", "core/wrap.h")] == "C++"
    assert kept[("mixed", "bind/b.h")] == "C++"
    assert kept[("ios", "util.h")] == "C"
    # Objective-C is not a kept language: skipped with its reason, not labelled C.
    assert ("ios", "View.h") not in kept
    assert skipped[("ios", "View.h")] == ("objective_c", "Objective-C")
    assert s["counters"]["skipped:objective_c"] == 1
    assert s["rows_in"] == s["rows_kept"] + s["rows_rejected"] == len(kept) + len(skipped)
    assert s["counters"]["files:C++"] == 6 and s["counters"]["files:C"] == 6


def test_language_selection_applies_to_the_decided_language(cli, tmp_path):
    repos = {"cpp": {"a.cpp": "int a() { return 0; }\n", "a.h": PLAIN_HEADER},
             "c": {"b.c": "int b(void) { return 0; }\n", "b.h": PLAIN_HEADER}}
    s, kept, skipped = crawl(cli, tmp_path, repos, "--languages", "cpp")
    assert kept == {("cpp", "a.cpp"): "C++", ("cpp", "a.h"): "C++"}
    assert skipped[("c", "b.h")] == ("language_not_selected", "C")
    assert skipped[("c", "b.c")] == ("language_not_selected", "C")
    s, kept, skipped = crawl(cli, tmp_path / "2", repos, "--languages", "python")
    assert kept == {} and skipped[("cpp", "a.h")][0] == "language_not_selected"


def test_a_header_of_a_cpp_repository_is_cpp_when_its_sources_are_too_large(cli, tmp_path):
    s, kept, skipped = crawl(cli, tmp_path, {"r": {"big.cc": "int x;\n" * 200, "r.h": PLAIN_HEADER}},
                             "--max-file-size", 1000)
    assert skipped[("r", "big.cc")][0] == "too_large" and kept == {("r", "r.h"): "C++"}
