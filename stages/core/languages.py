"""The programming languages kept by DeepSeek-Coder and detection of a file's language.

Where the list comes from
-------------------------
DeepSeek-Coder (arXiv 2401.14196, Sec. 2.1) keeps "87 programming languages, as detailed in
Table 1".  The official repository (deepseek-ai/DeepSeek-Coder, README section "Supported
Programming Languages") lists the languages by name, and that list holds **89** entries, not
87; the two extra entries are not identified anywhere we could check, so we keep all 89 names
of the official list rather than guess which two to drop.  Names use GitHub-linguist spelling
(the README's slugs such as ``c-sharp`` or ``java-server-pages`` resolve via
:func:`resolve_languages`).

Detection
---------
:func:`detect_language` looks only at the file's base name, in this order:

1. exact, unambiguous file names (``Makefile``, ``Dockerfile``, ``CMakeLists.txt``,
   ``Gemfile`` ...), case-insensitive;
2. ``Dockerfile.<anything>`` (``Dockerfile.dev``), the usual per-variant naming;
3. the longest matching extension, case-insensitive, so ``a.coffee.md`` is Literate
   CoffeeScript rather than Markdown and ``x.tar.gz`` matches nothing.

Ambiguous extensions get one language each, the common choice among the kept languages
(Objective-C, OpenCL, Puppet, VBA ... are not kept, so they never compete):

* ``.h`` -> C by its name alone; the crawl decides each ``.h`` of a repository with
  :func:`header_languages` (C, C++ or Objective-C, below);
* ``.m`` -> MATLAB (Objective-C is not kept; Mathematica files use ``.wl``/``.nb``);
* ``.pl`` -> Perl (Prolog only gets ``.prolog``; ``.pro`` is also Qt/IDL, so it is left out);
* ``.v`` -> Verilog (Coq is not kept), ``.sv`` -> SystemVerilog;
* ``.cl`` -> Common Lisp (OpenCL is not kept), ``.cls`` -> TeX (VBA classes are rarer);
* ``.fs`` -> F# (not GLSL fragment shaders, which get ``.frag``);
* ``.s``/``.S`` -> Assembly; ``.sc`` -> Scala; ``.st`` -> Smalltalk; ``.sig`` -> Standard ML;
* ``.pp`` (Puppet/Pascal), ``.t`` (Perl tests/Turing), ``.g`` (ANTLR 3/GAP), ``.inc`` and
  ``.pro`` are left out entirely: a wrong label is worse than none.

C, C++ or Objective-C headers
-----------------------------
A ``.h`` file is a header of C, C++ or Objective-C; the grammar topo-sort parses it with, and the
language every report counts it in, follow that choice. :func:`header_languages` decides per
repository, in the spirit of GitHub linguist's heuristics (``heuristics.yml`` for ``.h``:
Objective-C syntax, else C++ syntax, else C), with the repository as the tie-breaker:

1. by content: Objective-C syntax (``@interface``, ``@protocol``, ``#import <Foundation/...>`` ...)
   makes it Objective-C, which is not a kept language (the crawl skips it with a reason rather
   than mislabel it); C++-only syntax (``namespace``, ``template <``, ``class X {``, ``std::``,
   an ``a::b`` scope, access specifiers, ``#include <vector>`` and other extension-less standard
   headers, an unguarded ``extern "C"``, ``constexpr`` ...) makes it C++. Comments and
   ``#if ... __cplusplus`` blocks are ignored first: a C header's C++ face (``#ifdef __cplusplus``
   / ``extern "C" {``) is not C++ code;
2. else by the repository: the nearest folder above the header whose files include C sources
   (``.c``) or C++ ones (``.cpp``, ``.cc``, ``.hpp``, ``.cu`` ...) decides, by majority (a tie is
   C). A repository with C++ sources and no C ones thus has C++ headers only, a C repository C
   headers, and a mixed one decides folder by folder;
3. else (headers and no sources: a header-only library) C++ when most of the repository's ``.h``
   are C++ by step 1, else C (linguist's default).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# The official list, in its order (alphabetical, as in the paper's Table 1).
LANGUAGES: tuple[str, ...] = (
    "Ada", "Agda", "Alloy", "ANTLR", "AppleScript", "Assembly", "Augeas", "AWK",
    "Batchfile", "Bluespec", "C", "C#", "Clojure", "CMake", "CoffeeScript", "Common Lisp",
    "C++", "CSS", "CUDA", "Dart", "Dockerfile", "Elixir", "Elm", "Emacs Lisp", "Erlang",
    "F#", "Fortran", "GLSL", "Go", "Groovy", "Haskell", "HTML", "Idris", "Isabelle", "Java",
    "Java Server Pages", "JavaScript", "JSON", "Julia", "Jupyter Notebook", "Kotlin", "Lean",
    "Literate Agda", "Literate CoffeeScript", "Literate Haskell", "Lua", "Makefile", "Maple",
    "Markdown", "Mathematica", "MATLAB", "OCaml", "Pascal", "Perl", "PHP", "PowerShell",
    "Prolog", "Protocol Buffer", "Python", "R", "Racket", "reStructuredText", "RMarkdown",
    "Ruby", "Rust", "SAS", "Scala", "Scheme", "Shell", "Smalltalk", "Solidity", "SPARQL",
    "SQL", "Stan", "Standard ML", "Stata", "SystemVerilog", "Tcl", "Tcsh", "TeX", "Thrift",
    "TypeScript", "Verilog", "VHDL", "Visual Basic", "XSLT", "Yacc", "YAML", "Zig",
)

# Language -> extensions (lower case, with the dot).  Kept in this shape because it reads
# per language; EXTENSIONS below is its inversion.
_EXTENSIONS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "Ada": (".adb", ".ads", ".ada"),
    "Agda": (".agda",),
    "Alloy": (".als",),
    "ANTLR": (".g4",),
    "AppleScript": (".applescript",),  # .scpt is compiled (binary)
    "Assembly": (".asm", ".s", ".nasm"),
    "Augeas": (".aug",),
    "AWK": (".awk",),
    "Batchfile": (".bat", ".cmd"),
    "Bluespec": (".bsv",),
    "C": (".c", ".h"),
    "C#": (".cs", ".csx"),
    "Clojure": (".clj", ".cljs", ".cljc", ".edn"),
    "CMake": (".cmake",),
    "CoffeeScript": (".coffee",),
    "Common Lisp": (".lisp", ".lsp", ".cl", ".asd"),
    "C++": (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".tpp", ".inl"),
    "CSS": (".css",),
    "CUDA": (".cu", ".cuh"),
    "Dart": (".dart",),
    "Dockerfile": (".dockerfile",),
    "Elixir": (".ex", ".exs"),
    "Elm": (".elm",),
    "Emacs Lisp": (".el",),
    "Erlang": (".erl", ".hrl"),
    "F#": (".fs", ".fsi", ".fsx"),
    "Fortran": (".f", ".f77", ".for", ".ftn", ".f90", ".f95", ".f03", ".f08"),
    "GLSL": (".glsl", ".vert", ".frag", ".geom", ".comp", ".tesc", ".tese"),
    "Go": (".go",),
    "Groovy": (".groovy", ".gradle", ".gvy"),
    "Haskell": (".hs",),
    "HTML": (".html", ".htm", ".xhtml"),
    "Idris": (".idr", ".lidr"),
    "Isabelle": (".thy",),
    "Java": (".java",),
    "Java Server Pages": (".jsp",),
    "JavaScript": (".js", ".mjs", ".cjs", ".jsx"),
    "JSON": (".json", ".geojson"),  # .jsonl is data, not a source file
    "Julia": (".jl",),
    "Jupyter Notebook": (".ipynb",),
    "Kotlin": (".kt", ".kts"),
    "Lean": (".lean",),
    "Literate Agda": (".lagda", ".lagda.md"),
    "Literate CoffeeScript": (".litcoffee", ".coffee.md"),
    "Literate Haskell": (".lhs",),
    "Lua": (".lua",),
    "Makefile": (".mk", ".mak"),
    "Maple": (".mpl",),
    "Markdown": (".md", ".markdown", ".mkd"),
    "Mathematica": (".wl", ".wls", ".nb", ".mathematica"),
    "MATLAB": (".m",),
    "OCaml": (".ml", ".mli"),
    "Pascal": (".pas", ".dpr", ".lpr"),
    "Perl": (".pl", ".pm"),
    "PHP": (".php", ".phtml"),
    "PowerShell": (".ps1", ".psm1", ".psd1"),
    "Prolog": (".prolog",),
    "Protocol Buffer": (".proto",),
    "Python": (".py", ".pyi", ".pyw"),
    "R": (".r",),
    "Racket": (".rkt",),
    "reStructuredText": (".rst", ".rest"),
    "RMarkdown": (".rmd",),
    "Ruby": (".rb", ".rake", ".gemspec"),
    "Rust": (".rs",),
    "SAS": (".sas",),
    "Scala": (".scala", ".sc"),
    "Scheme": (".scm", ".ss", ".sld"),
    "Shell": (".sh", ".bash", ".zsh", ".ksh"),
    "Smalltalk": (".st",),
    "Solidity": (".sol",),
    "SPARQL": (".sparql", ".rq"),
    "SQL": (".sql",),
    "Stan": (".stan",),
    "Standard ML": (".sml", ".sig"),
    "Stata": (".do", ".ado"),
    "SystemVerilog": (".sv", ".svh"),
    "Tcl": (".tcl",),
    "Tcsh": (".tcsh", ".csh"),
    "TeX": (".tex", ".sty", ".cls", ".ltx"),
    "Thrift": (".thrift",),
    "TypeScript": (".ts", ".tsx", ".mts", ".cts"),
    "Verilog": (".v", ".vh"),
    "VHDL": (".vhd", ".vhdl"),
    "Visual Basic": (".vb", ".vbs", ".bas"),
    "XSLT": (".xsl", ".xslt"),
    "Yacc": (".y", ".yy", ".yacc"),
    "YAML": (".yaml", ".yml"),
    "Zig": (".zig",),
}

# Exact base names that identify a language on their own (matched case-insensitively).
# Only unambiguous ones: e.g. BUILD (Bazel/Starlark) or Kbuild are left out.
FILENAMES: dict[str, str] = {
    "Makefile": "Makefile",
    "makefile": "Makefile",
    "GNUmakefile": "Makefile",
    "BSDmakefile": "Makefile",
    "Makefile.am": "Makefile",
    "Makefile.in": "Makefile",
    "Dockerfile": "Dockerfile",
    "Containerfile": "Dockerfile",
    "CMakeLists.txt": "CMake",
    "Rakefile": "Ruby",
    "Gemfile": "Ruby",
    "Vagrantfile": "Ruby",
    "Podfile": "Ruby",
    "Jenkinsfile": "Groovy",
    "SConstruct": "Python",
    "SConscript": "Python",
    ".bashrc": "Shell",
    ".bash_profile": "Shell",
    ".zshrc": "Shell",
    ".profile": "Shell",
    ".cshrc": "Tcsh",
    ".tcshrc": "Tcsh",
    ".emacs": "Emacs Lisp",
    ".Rprofile": "R",
}


def _invert(by_language: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Extension -> language; an extension claimed twice is a bug in the table above."""
    out: dict[str, str] = {}
    for language, extensions in by_language.items():
        for ext in extensions:
            if ext in out:
                raise AssertionError(f"{ext} claimed by both {out[ext]} and {language}")
            out[ext] = language
    return out


EXTENSIONS: dict[str, str] = _invert(_EXTENSIONS_BY_LANGUAGE)

_FILENAMES_LOWER = {name.lower(): language for name, language in FILENAMES.items()}


def detect_language(path: str) -> str | None:
    """The language of the file at ``path`` (its base name only), or None if not kept."""
    name = re.split(r"[/\\]", path)[-1].lower()
    if name in _FILENAMES_LOWER:
        return _FILENAMES_LOWER[name]
    if name.startswith(("dockerfile.", "containerfile.")):
        return "Dockerfile"
    # The first dot gives the longest suffix.  A leading dot is a hidden file's name, not an
    # extension: ".py" alone is not a Python file.
    for i, char in enumerate(name):
        if char == "." and i > 0 and name[i:] in EXTENSIONS:
            return EXTENSIONS[name[i:]]
    return None


def _key(name: str) -> str:
    # Spaces, dashes and underscores are dropped so "Common Lisp", "common-lisp" and
    # "common_lisp" (the README's slugs) all meet; '+' and '#' stay, they carry meaning.
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


# Common short names and spellings -> canonical name.
_ALIASES: dict[str, str] = {
    "cpp": "C++", "cxx": "C++", "cplusplus": "C++",
    "csharp": "C#", "cs": "C#",
    "fsharp": "F#",
    "js": "JavaScript", "node": "JavaScript", "nodejs": "JavaScript",
    "ts": "TypeScript",
    "py": "Python", "python3": "Python",
    "golang": "Go",
    "sh": "Shell", "bash": "Shell", "zsh": "Shell",
    "rb": "Ruby", "rs": "Rust", "kt": "Kotlin", "hs": "Haskell", "ml": "OCaml",
    "jl": "Julia", "md": "Markdown", "yml": "YAML", "rst": "reStructuredText",
    "rmd": "RMarkdown", "latex": "TeX", "tex": "TeX", "sml": "Standard ML",
    "elisp": "Emacs Lisp", "lisp": "Common Lisp", "asm": "Assembly",
    "docker": "Dockerfile", "make": "Makefile", "bat": "Batchfile", "batch": "Batchfile",
    "pwsh": "PowerShell", "ps1": "PowerShell", "jsp": "Java Server Pages",
    "jupyter": "Jupyter Notebook", "ipynb": "Jupyter Notebook",
    "proto": "Protocol Buffer", "protobuf": "Protocol Buffer",
    "vb": "Visual Basic", "vbnet": "Visual Basic", "sv": "SystemVerilog",
    "csh": "Tcsh", "objectivecaml": "OCaml",
}

_LOOKUP: dict[str, str] = {_key(lang): lang for lang in LANGUAGES} | _ALIASES


def resolve_languages(names: Iterable[str]) -> frozenset[str]:
    """Map user-given names (any case, README slugs, common aliases) to canonical names.

    Raises ValueError naming every unknown entry with its closest matches.
    """
    if isinstance(names, str):  # a bare string would otherwise be read one letter at a time
        names = (names,)
    resolved: set[str] = set()
    problems: list[str] = []
    for name in names:
        language = _LOOKUP.get(_key(name))
        if language is not None:
            resolved.add(language)
            continue
        close = difflib.get_close_matches(_key(name), list(_LOOKUP), n=5, cutoff=0.6)
        suggestions = list(dict.fromkeys(_LOOKUP[c] for c in close))  # dedupe, keep rank
        hint = f" (did you mean: {', '.join(suggestions)}?)" if suggestions else ""
        problems.append(f"{name!r}{hint}")
    if problems:
        raise ValueError(
            f"unknown language(s): {'; '.join(problems)}. "
            f"Known: {', '.join(LANGUAGES)}."
        )
    return frozenset(resolved)


# --- C, C++ or Objective-C headers (module docstring) -------------------------------------------

OBJECTIVE_C = "Objective-C"  # recognised in headers so that they are skipped: not a kept language
HEADER_CANDIDATES = ("C", "C++")  # what a kept .h can become

# Comments and literals in one pass, so that "http://x" is not taken for a comment.
_C_TOKENS = re.compile(r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)
_OBJECTIVE_C_SYNTAX = re.compile(
    r"""^[ \t]*(?:@(?:interface|implementation|protocol|end|property|synthesize|selector|class)\b"""
    r"""|#[ \t]*import[ \t]*[<"][^>"\n]*\.h[>"])""", re.M)
_CPP_SYNTAX = re.compile(
    r"""^[ \t]*(?:template[ \t]*<|namespace(?:[ \t]+[\w:]+)?[ \t]*\{|using[ \t]+namespace[ \t]+\w"""
    r"""|(?:class|struct)[ \t]+\w+[ \t]*(?:final[ \t]*)?:[ \t]*(?:public|private|protected|virtual)\b"""
    r"""|class[ \t]+\w+[ \t]*[{;]|(?:public|private|protected)[ \t]*:(?!:)"""
    r"""|#[ \t]*include[ \t]*<\w+>|extern[ \t]+"C(?:\+\+)?"|try[ \t]*\{|catch[ \t]*\()"""
    r"""|\b\w+::~?\w|\b(?:constexpr|nullptr|noexcept|decltype|static_cast|reinterpret_cast)\b""",
    re.M)
_CONDITIONAL = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)$", re.M)
_CPP_EVIDENCE = frozenset({"C++", "CUDA"})


def is_c_family_header(path: str) -> bool:
    """A ``.h`` file: C, C++ or Objective-C, as :func:`header_languages` decides."""
    return detect_language(path) == "C" and path.lower().endswith(".h")


def _without_cplusplus_blocks(code: str) -> str:
    """``code`` less every ``#if``/``#ifdef``/``#ifndef`` ... ``#endif`` whose condition names
    ``__cplusplus`` (both branches: the other one is C, which says nothing about C++ either)."""
    if "__cplusplus" not in code:
        return code
    kept: list[str] = []
    start = 0
    depth = 0  # nesting inside the block being dropped; 0 while keeping
    for m in _CONDITIONAL.finditer(code):
        directive = m.group(1)
        if depth == 0:
            if directive.startswith("if") and "__cplusplus" in m.group(2):
                kept.append(code[start:m.start()])
                depth = 1
        elif directive.startswith("if"):
            depth += 1
        elif directive == "endif":
            depth -= 1
            if depth == 0:
                start = m.end()
    if depth == 0:
        kept.append(code[start:])
    return "".join(kept)


def _blank_comment_or_literal(m: re.Match) -> str:
    token = m.group(0)
    if token[0] == "/":
        return " "
    # extern "C" and #import "View.h" stay readable
    return token if token in ('"C"', '"C++"') or token.endswith('.h"') else '""'


def header_language_by_content(content: str) -> str | None:
    """``"Objective-C"`` or ``"C++"`` when a header shows syntax only that language has, else None
    (it could be C: :func:`header_languages` lets the repository decide)."""
    code = _C_TOKENS.sub(_blank_comment_or_literal, content)
    if ("@" in code or "import" in code) and _OBJECTIVE_C_SYNTAX.search(code):
        return OBJECTIVE_C
    if _CPP_SYNTAX.search(_without_cplusplus_blocks(code)):
        return "C++"
    return None


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def header_languages(paths: Iterable[str], headers: dict[str, str]) -> dict[str, str]:
    """The language of each ``.h`` header of one repository: ``"C"``, ``"C++"`` or ``"Objective-C"``.

    Args:
        paths: every path of the repository, kept or not (a ``.cpp`` too large to keep still
            says that the folder is C++).
        headers: path -> content of the headers to decide.
    """
    decided = {path: header_language_by_content(content) for path, content in headers.items()}
    # [C, C++] sources per folder, counted in every folder above the file up to the root "".
    evidence: dict[str, list[int]] = {}
    for path in paths:
        lang = None if is_c_family_header(path) else detect_language(path)
        kind = 0 if lang == "C" else 1 if lang in _CPP_EVIDENCE else None
        if kind is None:
            continue
        folder = path
        while True:
            folder = _folder(folder)
            evidence.setdefault(folder, [0, 0])[kind] += 1
            if not folder:
                break
    # A header-only repository: its headers' own majority.
    header_only = "C++" if 2 * sum(lang == "C++" for lang in decided.values()) > len(decided) else "C"
    out: dict[str, str] = {}
    for path, lang in decided.items():
        folder = path
        while lang is None:
            folder = _folder(folder)
            c, cpp = evidence.get(folder, (0, 0))
            if c or cpp:
                lang = "C++" if cpp > c else "C"
            elif not folder:
                lang = header_only
        out[path] = lang
    return out
