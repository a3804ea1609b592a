"""Repository-level samples (paper §2.2): files concatenated in dependency order, each preceded by
a comment in its own language naming its repo-relative path.

    # pkg/util.py
    def answer(): ...

    # pkg/main.py
    from pkg.util import answer

`split_sample` undoes it, so later stages (quality filtering per file) can see the files again.
"""

from __future__ import annotations

from stages.core.schemas import file_languages

# Line-comment prefix, or (open, close) for block comments, per language of the paper's Table 1 (the
# one table: the quality filter's comment-line rule reads it too).
_HASH = ("AWK", "CMake", "Dockerfile", "Elixir", "Julia", "Makefile", "Maple", "Nix", "Perl", "PowerShell",
         "Python", "R", "Ruby", "SPARQL", "Shell", "TOML", "Tcl", "Tcsh", "YAML")
_SLASH = ("Alloy", "Bluespec", "C", "C#", "C++", "CUDA", "Dart", "F#", "GLSL", "Go", "Groovy", "Java",
          "JavaScript", "Kotlin", "PHP", "Protocol Buffer", "Rust", "Scala", "Solidity", "Stan", "Stata",
          "Swift", "SystemVerilog", "Thrift", "TypeScript", "Verilog", "Zig", "ANTLR")
_DASH = ("Ada", "Agda", "AppleScript", "Elm", "Haskell", "Idris", "Lean", "Lua", "SQL", "VHDL")
_SEMI = ("Assembly", "Clojure", "Common Lisp", "Emacs Lisp", "Racket", "Scheme")
_PERCENT = ("Erlang", "MATLAB", "Prolog", "TeX")
BLOCK_COMMENT = {
    **{lang: ("<!--", "-->") for lang in ("HTML", "XSLT", "Markdown", "RMarkdown", "Literate Agda",
                                           "Literate CoffeeScript", "Literate Haskell")},
    **{lang: ("(*", "*)") for lang in ("OCaml", "Standard ML", "Mathematica", "Isabelle", "Augeas", "Pascal")},
    "CSS": ("/*", "*/"), "SAS": ("/*", "*/"), "Yacc": ("/*", "*/"), "Java Server Pages": ("<%--", "--%>"),
    "Smalltalk": ('"', '"'),
}
LINE_COMMENT = {**{lang: "#" for lang in _HASH}, **{lang: "//" for lang in _SLASH},
         **{lang: "--" for lang in _DASH}, **{lang: ";" for lang in _SEMI},
         **{lang: "%" for lang in _PERCENT}, "Batchfile": "REM", "Visual Basic": "'", "Fortran": "!",
         "CoffeeScript": "#", "reStructuredText": ".."}
# JSON has no comment syntax (and Jupyter notebooks are JSON): their files get no header.
_NO_COMMENT = {"JSON", "Jupyter Notebook"}


def path_comment(path: str, lang: str | None) -> str | None:
    """The header line for `path`, or None for languages without comments."""
    if lang in _NO_COMMENT:
        return None
    if lang in BLOCK_COMMENT:
        open_, close = BLOCK_COMMENT[lang]
        return f"{open_} {path} {close}"
    return f"{LINE_COMMENT.get(lang, '#')} {path}"


def _with_newline(text: str) -> str:
    # Every file ends with a newline, so the blank line between files is unambiguous.
    return text if text.endswith("\n") else text + "\n"


def build_sample_text(files: list[tuple[str, str | None, str]]) -> str:
    """Concatenate (path, lang, content) in order: header line, content, a blank line between files."""
    parts = []
    for path, lang, content in files:
        header = path_comment(path, lang)
        parts.append((f"{header}\n" if header else "") + _with_newline(content))
    return "\n".join(parts)


def split_sample(text: str, paths: list[str], langs: list[str | None] | None = None) -> list[str]:
    """The files of a sample built by build_sample_text, headers removed (contents end with '\\n').

    `langs`: the sample's per-file languages (its `langs` column), else each path's by its name.
    A single-path sample is returned whole when it has no header (a file outside topo-sort's scope).
    """
    headers = [path_comment(p, lang) for p, lang in zip(paths, file_languages(paths, langs))]
    if len(paths) == 1 and not (headers[0] and text.startswith(headers[0] + "\n")):
        return [text]
    out = []
    pos = 0
    for i, header in enumerate(headers):
        if header:
            start_marker = header + "\n"
            if not text.startswith(start_marker, pos):
                raise ValueError(f"sample text does not start file {paths[i]!r} with its header")
            pos += len(start_marker)
        if i + 1 < len(headers):
            nxt = headers[i + 1]
            end = text.find("\n\n" + nxt + "\n", pos) if nxt else -1
            if end < 0:
                raise ValueError(f"cannot find where file {paths[i]!r} ends")
            out.append(text[pos:end + 1])
            pos = end + 2
        else:
            out.append(text[pos:])
    return out
