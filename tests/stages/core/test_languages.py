"""Tests for stages.core.languages: the kept-language list, path -> language detection, and the
language of `.h` headers (C, C++ or Objective-C) by content and repository."""

import importlib.util
from pathlib import Path

import pytest

from stages.core.languages import (
    EXTENSIONS,
    FILENAMES,
    LANGUAGES,
    OBJECTIVE_C,
    detect_language,
    header_language_by_content,
    header_languages,
    resolve_languages,
)

# The slugs of the official DeepSeek-Coder README ("Supported Programming Languages").
README_SLUGS = (
    "ada agda alloy antlr applescript assembly augeas awk batchfile bluespec c c-sharp "
    "clojure cmake coffeescript common-lisp cpp css cuda dart dockerfile elixir elm emacs-lisp "
    "erlang f-sharp fortran glsl go groovy haskell html idris isabelle java java-server-pages "
    "javascript json julia jupyter-notebook kotlin lean literate-agda literate-coffeescript "
    "literate-haskell lua makefile maple markdown mathematica matlab ocaml pascal perl php "
    "powershell prolog protocol-buffer python r racket restructuredtext rmarkdown ruby rust "
    "sas scala scheme shell smalltalk solidity sparql sql stan standard-ml stata systemverilog "
    "tcl tcsh tex thrift typescript verilog vhdl visual-basic xslt yacc yaml zig"
).split()


def test_language_list_is_the_official_one():
    # The paper's text says 87, but the official list names 89 languages (see module doc).
    assert len(LANGUAGES) == 89
    assert len(set(LANGUAGES)) == len(LANGUAGES)
    assert resolve_languages(README_SLUGS) == frozenset(LANGUAGES)
    assert len(README_SLUGS) == len(LANGUAGES)


def test_every_language_reachable_and_tables_use_canonical_names():
    reachable = set(EXTENSIONS.values()) | set(FILENAMES.values())
    assert reachable == set(LANGUAGES)
    assert all(ext == ext.lower() and ext.startswith(".") for ext in EXTENSIONS)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/a.py", "Python"),
        ("include/x.h", "C"),
        ("lib/x.HPP", "C++"),
        ("Makefile", "Makefile"),
        ("sub/dir/GNUmakefile", "Makefile"),
        ("Dockerfile", "Dockerfile"),
        ("docker/Dockerfile.dev", "Dockerfile"),
        ("app.dockerfile", "Dockerfile"),
        ("CMakeLists.txt", "CMake"),
        ("cmakelists.TXT", "CMake"),
        ("Gemfile", "Ruby"),
        ("foo.tar.gz", None),
        ("README", None),
        ("notes.txt", None),
        (".py", None),  # a hidden file named ".py", not a Python file
        ("start.S", "Assembly"),
        ("kernel.cu", "CUDA"),
        ("nb/analysis.ipynb", "Jupyter Notebook"),
        ("stubs/x.pyi", "Python"),
        ("script.pl", "Perl"),
        ("calc.m", "MATLAB"),
        ("top.v", "Verilog"),
        ("top.sv", "SystemVerilog"),
        ("doc.coffee.md", "Literate CoffeeScript"),  # longest extension wins over .md
        ("README.md", "Markdown"),
        ("Proof.lagda.md", "Literate Agda"),
        ("x.d.ts", "TypeScript"),
        ("jquery.min.js", "JavaScript"),
        ("C:\\code\\Main.java", "Java"),
        ("Theory.thy", "Isabelle"),
        ("Grammar.g4", "ANTLR"),
        ("run.csh", "Tcsh"),
        ("analysis.do", "Stata"),
    ],
)
def test_detect_language(path, expected):
    assert detect_language(path) == expected


def test_resolve_aliases_and_case():
    assert resolve_languages(["cpp", "c++", "C++"]) == {"C++"}
    assert resolve_languages(["csharp", "c#"]) == {"C#"}
    assert resolve_languages(["js", "ts", "py", "golang"]) == {"JavaScript", "TypeScript", "Python", "Go"}
    assert resolve_languages(["shell", "bash", "sh"]) == {"Shell"}
    assert resolve_languages(["PYTHON", "common lisp", "Common_Lisp"]) == {"Python", "Common Lisp"}
    assert resolve_languages("rust") == {"Rust"}  # a bare string is one name
    assert resolve_languages([]) == frozenset()


def test_resolve_unknown_name_gives_helpful_error():
    with pytest.raises(ValueError) as info:
        resolve_languages(["python", "pyhton", "klingon"])
    message = str(info.value)
    assert "'pyhton' (did you mean: Python" in message
    assert "'klingon'" in message
    assert "'python'" not in message  # valid names are not reported


# --- .h: C, C++ or Objective-C (header_languages) --------------------------------------------------

C_HEADER = "#ifndef UTIL_H\n#define UTIL_H\nint util(int x);\n#endif\n"
CPP_ONLY_SYNTAX = [
    "namespace lib {\nint f();\n}\n",
    "namespace {\nint f();\n}\n",
    "template <typename T>\nT twice(T x);\n",
    "class Vec {\n  int n;\n};\n",
    "class Vec;\n",
    "struct Point : public Base {\n};\n",
    "struct S {\n public:\n  int x;\n};\n",
    "using namespace std;\n",
    "#include <vector>\nint f();\n",
    "int f(std::string s);\n",
    "int c10::util(int);\n",
    "constexpr int kSize = 4;\n",
    'extern "C" int f(void);\n',  # unguarded: a C compiler rejects it
]


@pytest.mark.parametrize("content", CPP_ONLY_SYNTAX)
def test_cpp_only_syntax_makes_a_header_cpp(content):
    assert header_language_by_content(C_HEADER + content) == "C++"


@pytest.mark.parametrize("content", [
    C_HEADER,
    # the usual C header made includable from C++: its C++ face is guarded
    '#ifdef __cplusplus\nextern "C" {\n#endif\nint f(void);\n#ifdef __cplusplus\n}\n#endif\n',
    "#if defined(__cplusplus) && __cplusplus >= 201103L\nnamespace lib { template <class T> T g(T); }\n"
    "#else\nint g(int);\n#endif\nint h(void);\n",
    "/* class Vec { public: std::vector<int> v; }; */\n// namespace lib {\nint f(void);\n",
    'static const char *usage = "a::b std::x namespace y {";\nchar quote = \'"\';\n',
    "#include <stdio.h>\n#include <sys/types.h>\nstruct point { int x; };\n",
])
def test_c_headers_stay_undecided(content):
    assert header_language_by_content(content) is None


@pytest.mark.parametrize("content", [
    "#import <Foundation/Foundation.h>\n",
    '#import "View.h"\n',
    "@interface View : NSObject\n- (void)draw;\n@end\n",
    "@protocol Drawing\n@end\n",
])
def test_objective_c_headers(content):
    assert header_language_by_content(C_HEADER + content) == OBJECTIVE_C


def test_repository_decides_headers_without_telling_syntax():
    cpp_repo = ["src/main.cpp", "include/util.h", "include/vec.h"]
    got = header_languages(cpp_repo, {"include/util.h": C_HEADER, "include/vec.h": C_HEADER})
    assert got == {"include/util.h": "C++", "include/vec.h": "C++"}
    c_repo = ["src/main.c", "include/util.h"]
    assert header_languages(c_repo, {"include/util.h": C_HEADER}) == {"include/util.h": "C"}
    # Content first: a C++ wrapper header in a C repository is C++; Objective-C anywhere is Objective-C.
    got = header_languages(c_repo + ["include/wrap.h", "include/ns.h"],
                           {"include/util.h": C_HEADER, "include/wrap.h": CPP_ONLY_SYNTAX[0],
                            "include/ns.h": "@interface V : NSObject\n@end\n"})
    assert got == {"include/util.h": "C", "include/wrap.h": "C++", "include/ns.h": OBJECTIVE_C}
    # Headers alone: C, unless most of the repository's headers are C++ by their syntax.
    assert header_languages(["a.h"], {"a.h": C_HEADER}) == {"a.h": "C"}
    got = header_languages(["x/a.h", "x/b.h", "x/c.h", "y/d.h"],
                           {"x/a.h": C_HEADER, "x/b.h": CPP_ONLY_SYNTAX[0], "x/c.h": CPP_ONLY_SYNTAX[2],
                            "y/d.h": C_HEADER})
    assert got == {"x/a.h": "C", "x/b.h": "C++", "x/c.h": "C++", "y/d.h": "C"}  # 2 of 4: not most
    got = header_languages(["x/a.h", "x/b.h", "x/c.h"],
                           {"x/a.h": C_HEADER, "x/b.h": CPP_ONLY_SYNTAX[0], "x/c.h": CPP_ONLY_SYNTAX[2]})
    assert got == {"x/a.h": "C++", "x/b.h": "C++", "x/c.h": "C++"}
    # A source that was not kept (too large, another --languages) still counts.
    assert header_languages(["big.cc", "a.h"], {"a.h": C_HEADER}) == {"a.h": "C++"}


def test_mixed_repository_decides_folder_by_folder():
    paths = ["core/a.c", "core/b.c", "core/core.h", "bindings/py.cpp", "bindings/bind.h",
             "third_party/zlib/zlib.c", "third_party/zlib/zlib.h", "include/api.h", "tools/x.cpp"]
    headers = {p: C_HEADER for p in paths if p.endswith(".h")}
    assert header_languages(paths, headers) == {
        "core/core.h": "C", "bindings/bind.h": "C++", "third_party/zlib/zlib.h": "C",
        "include/api.h": "C",  # no sources beside it: the repository's majority (3 C, 2 C++)
    }
    # A tie is C.
    assert header_languages(["a.c", "b.cpp", "x/h.h"], {"x/h.h": C_HEADER}) == {"x/h.h": "C"}


def _installed(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # found, not imported (torch takes seconds to import)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _headers(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(errors="replace") for p in sorted(root.rglob("*.h"))}


def test_real_headers_torch_c10_are_cpp_and_numpy_headers_are_c():
    c10 = _installed("torch") / "include" / "c10"
    if not c10.is_dir():
        pytest.skip("torch without its C++ headers")
    headers = _headers(c10)
    by_content = {path: header_language_by_content(text) for path, text in headers.items()}
    assert sum(lang == "C++" for lang in by_content.values()) > 0.8 * len(headers) > 100
    assert by_content["macros/Export.h"] is None  # macros only: the repository decides
    got = header_languages(list(headers), headers)
    assert set(got.values()) == {"C++"}
    numpy_include = _installed("numpy") / "_core" / "include" / "numpy"
    headers = _headers(numpy_include)
    paths = [p.relative_to(numpy_include).as_posix() for p in numpy_include.rglob("*") if p.is_file()]
    assert len(headers) > 10 and any(p.endswith(".c") for p in paths)
    assert set(header_languages(paths, headers).values()) == {"C"}
    # numpy's libdivide.h is C with a C++ face behind `#ifdef __cplusplus` (namespace, templates).
    libdivide = headers.get("random/libdivide.h")
    if libdivide is not None:
        assert "namespace libdivide" in libdivide and header_language_by_content(libdivide) is None
