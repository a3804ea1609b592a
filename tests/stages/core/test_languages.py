"""Tests for stages.core.languages: the kept-language list and path -> language detection."""

import pytest

from stages.core.languages import (
    EXTENSIONS,
    FILENAMES,
    LANGUAGES,
    detect_language,
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
