"""Syntax errors per file (paper §2.4: "drop code with syntax errors"), for the quality rules.

* Python: ``ast.parse`` with the running interpreter's grammar (3.11 here), warnings
  suppressed (``SyntaxWarning`` on invalid escapes in valid files). Stricter than
  tree-sitter, which accepts Python 2 and does not check e.g. ``return`` outside a function.
  A file that fails gets at least one error; its count and error bytes come from
  tree-sitter's error nodes when it sees them, else 1 error over the rest of the file from
  the reported line.
* The languages in ``GRAMMARS``: tree-sitter (``tree-sitter-language-pack``, grammars
  compiled in, no download): errors are the ``ERROR`` and ``MISSING`` nodes, error bytes the
  bytes the ``ERROR`` nodes span (outermost ones only).
* Any other language (prose such as Markdown and reStructuredText, and languages without a
  grammar here): not checked, score NaN.

Parsing is not judging: which languages' verdicts the ``syntax`` rule uses, strictly or by the
share of error bytes, is measured on known-good code (benchmarks/syntax_false_rejections.py,
docs/filter.md) and set in ``QualityConfig``; C-family grammars, for one, flag most headers
that compile. Samples hold several files (topo-sort, paper §2.2): ``split_files`` cuts them
back into files, each checked in its own language (from its path).

Parse once: topo-sort parses every file of its scope with tree-sitter already. It records each
such file's ``SyntaxScore`` (``syntax_record``: computed by ``file_syntax`` itself, on the file's
text as the sample holds it, reusing topo-sort's tree where it is the tree of the same bytes) in
the samples' ``syntax_scores`` column, under ``syntax_key()``; the quality rule takes a recorded
score instead of parsing only when the key is this code's, the language is the file's and the
digest is its text's (``recorded_score``), so its verdicts are those of parsing (docs/filter.md).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import platform
import re
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from stages.core.languages import detect_language
from stages.core.sample_text import split_sample

# dscoder language (crawl's names, paper Table 1) -> tree-sitter-language-pack grammar.
GRAMMARS: dict[str, str] = {
    "Ada": "ada", "Agda": "agda", "C": "c", "C#": "csharp", "C++": "cpp", "CUDA": "cuda",
    "Clojure": "clojure", "CMake": "cmake", "Common Lisp": "commonlisp", "CSS": "css", "Dart": "dart",
    "Dockerfile": "dockerfile", "Elixir": "elixir", "Elm": "elm", "Emacs Lisp": "elisp", "Erlang": "erlang",
    "F#": "fsharp", "Fortran": "fortran", "GLSL": "glsl", "Go": "go", "Groovy": "groovy", "Haskell": "haskell",
    "HTML": "html", "Java": "java", "JavaScript": "javascript", "JSON": "json", "Julia": "julia",
    "Kotlin": "kotlin", "Lua": "lua", "Makefile": "make", "MATLAB": "matlab", "OCaml": "ocaml",
    "Pascal": "pascal", "Perl": "perl", "PHP": "php", "PowerShell": "powershell", "Protocol Buffer": "proto",
    "R": "r", "Racket": "racket", "Ruby": "ruby", "Rust": "rust", "Scala": "scala", "Scheme": "scheme",
    "Shell": "bash", "Solidity": "solidity", "SPARQL": "sparql", "SQL": "sql", "SystemVerilog": "verilog",
    "Tcl": "tcl", "Thrift": "thrift", "TypeScript": "typescript", "Verilog": "verilog", "VHDL": "vhdl",
    "XSLT": "xml", "YAML": "yaml", "Zig": "zig",
}


@dataclass(frozen=True)
class SyntaxScore:
    errors: int  # error + missing nodes (Python: >= 1 when ast.parse fails)
    error_bytes: int
    total_bytes: int
    first_error_line: int | None = None  # 1-based line of the first error (reason_detail)
    message: str | None = None  # Python: the SyntaxError's message

    @property
    def error_fraction(self) -> float:
        return self.error_bytes / self.total_bytes if self.total_bytes else 0.0


class ParsedSource(NamedTuple):
    """A tree-sitter tree that a caller parsed already (topo-sort): ``tree`` of ``data`` by ``grammar``.
    ``file_syntax`` uses it where it would parse exactly these bytes with this grammar."""

    grammar: str
    data: bytes
    tree: object


@functools.cache
def _parser(grammar: str):
    from tree_sitter_language_pack import get_parser

    return get_parser(grammar)


def _tree_sitter_errors(data: bytes, grammar: str, parsed: ParsedSource | None = None) -> tuple[int, int, int | None]:
    """(ERROR + MISSING nodes, bytes of the outermost ERROR nodes, 1-based line of the first)."""
    if parsed is not None and parsed.grammar == grammar and parsed.data == data:
        root = parsed.tree.root_node  # the same parser on the same bytes: the same tree
    else:
        root = _parser(grammar).parse(data).root_node
    if not root.has_error:
        return 0, 0, None
    errors, error_bytes, first = 0, 0, None
    stack = [(root, False)]
    while stack:  # descend only into subtrees that contain an error
        node, in_error = stack.pop()
        if node.is_missing or node.is_error:
            first = node.start_point if first is None else min(first, node.start_point)
        if node.is_missing:
            errors += 1
            continue
        if node.is_error:
            errors += 1
            if not in_error:  # bytes of the outermost ERROR nodes only
                error_bytes += node.end_byte - node.start_byte
        stack.extend((c, in_error or node.is_error) for c in node.children if c.has_error or c.is_missing)
    return max(errors, 1), error_bytes, (first[0] + 1 if first is not None else 1)


def python_syntax(text: str, parsed: ParsedSource | None = None) -> SyntaxScore:
    text = text.removeprefix("\ufeff")  # a UTF-8 BOM is valid in a source file
    data = text.encode("utf-8", "surrogatepass")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return SyntaxScore(0, 0, len(data))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # ValueError: NUL bytes
        errors, error_bytes, _ = _tree_sitter_errors(data, "python", parsed)
        lineno = getattr(exc, "lineno", None) or 1
        if error_bytes == 0:
            start = sum(len(line) for line in data.splitlines(keepends=True)[: lineno - 1])
            error_bytes = max(len(data) - start, 1)
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        return SyntaxScore(max(errors, 1), min(error_bytes, len(data)), len(data), lineno, message)


PREPROCESSED = frozenset({"C", "C++", "CUDA", "GLSL"})
_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(\w*)")


def blank_preprocessor(data: bytes) -> bytes:
    """C-family source with directive lines, and the ``#elif``/``#else`` branches of every
    conditional, replaced by spaces (newlines and byte offsets kept).

    tree-sitter parses code inside conditionals as if every branch were compiled, so the
    common ``#ifdef __cplusplus / extern "C" { / #endif`` and ``#if A / f(a, / #else / f(b, /
    #endif`` shapes read as unbalanced braces: a grammar limit, not a syntax error. Keeping
    only each conditional's first branch is one of the configurations a compiler could see.
    """
    lines = data.split(b"\n")
    out = []
    skip_depth = []  # per open conditional: True while inside a later (#elif/#else) branch
    continued = False
    for line in lines:
        m = None if continued else _DIRECTIVE.match(line)
        blank = continued or m is not None or any(skip_depth)
        if m is not None:
            word = m.group(1)
            if word in (b"if", b"ifdef", b"ifndef"):
                skip_depth.append(False)
            elif word in (b"elif", b"else", b"elifdef", b"elifndef") and skip_depth:
                skip_depth[-1] = True
            elif word == b"endif" and skip_depth:
                skip_depth.pop()
        if m is not None or continued:
            continued = line.rstrip(b"\r").endswith(b"\\")
        out.append(b" " * len(line) if blank else line)
    return b"\n".join(out)


def file_syntax(text: str, lang: str | None, parsed: ParsedSource | None = None) -> SyntaxScore | None:
    """Syntax score of one file, None when its language is not checked. ``parsed``: a tree the
    caller has, used where this would parse the same bytes with the same grammar."""
    if lang == "Python":
        return python_syntax(text, parsed)
    grammar = GRAMMARS.get(lang or "")
    if grammar is None:
        return None
    if lang == "TypeScript" and "</" in text:  # .tsx: JSX needs its own grammar
        grammar = "tsx"
    data = text.encode("utf-8", "surrogatepass")
    source = blank_preprocessor(data) if lang in PREPROCESSED else data
    errors, error_bytes, line = _tree_sitter_errors(source, grammar, parsed)
    if errors and lang == "C":
        # crawl labels every .h file C; C++ headers are common, and C++ parses most C.
        errors, error_bytes, line = min((errors, error_bytes, line), _tree_sitter_errors(source, "cpp", parsed))
    return SyntaxScore(errors, error_bytes, len(data), line)


def split_files(text: str, lang: str | None, paths: list[str] | None) -> list[tuple[str, str | None]]:
    """(file text, language) of each file of a row: a `files` row or a one-path sample is one
    file in ``lang``; a multi-file sample is split by ``sample_text.split_sample`` (each file
    in the language of its path, else ``lang``). If a sample cannot be split, it is checked
    whole in ``lang`` (a header comment is valid code in the file's language)."""
    if not paths or len(paths) == 1:
        return [(text, lang)]
    try:
        files = split_sample(text, list(paths))
    except ValueError:
        files = None
    if files is not None and len(files) == len(paths):
        return [(f, detect_language(p) or lang) for f, p in zip(files, paths)]
    return [(text, lang)]


def row_syntax(text: str, lang: str | None, paths: list[str] | None = None) -> SyntaxScore | None:
    """Summed syntax score of the checked files of a row; None when no file was checked."""
    scores = [s for f, file_lang in split_files(text, lang, paths) if (s := file_syntax(f, file_lang))]
    if not scores:
        return None
    return SyntaxScore(sum(s.errors for s in scores), sum(s.error_bytes for s in scores),
                       sum(s.total_bytes for s in scores))


# -- Parse once: scores recorded by topo-sort ------------------------------------------------------

# Bump when file_syntax's scores change. The key also holds a digest of this module's source, so an
# edit that forgets the bump still never reuses an old score.
FILE_SYNTAX_VERSION = 1


@functools.cache
def syntax_key() -> str:
    """What a recorded score was computed with: this module (version and source digest), the
    interpreter whose ``ast`` judges Python, tree-sitter and its grammars. A recorded score is
    used only under the key of the running code; any other key means parsing again."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    versions = " ".join(f"{name}={_version(name)}" for name in ("tree-sitter", "tree-sitter-language-pack"))
    return f"file_syntax/v{FILE_SYNTAX_VERSION}+{source} python={platform.python_version()} {versions}"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "none"


def text_digest(data: bytes | memoryview) -> bytes:
    """The digest that ties a recorded score to the exact UTF-8 bytes it was computed on."""
    return hashlib.blake2b(data, digest_size=16).digest()


def syntax_record(text: str, lang: str, parsed: ParsedSource | None = None) -> dict | None:
    """``file_syntax(text, lang)`` as one entry of a ``syntax_scores`` column
    (``stages.core.schemas.SYNTAX_SCORE_TYPE``), or None when the language is not checked."""
    score = file_syntax(text, lang, parsed)
    if score is None:
        return None
    return {"lang": lang, "digest": text_digest(text.encode("utf-8", "surrogatepass")), "errors": score.errors,
            "error_bytes": score.error_bytes, "total_bytes": score.total_bytes,
            "first_error_line": score.first_error_line, "message": score.message}


def recorded_score(record: dict | None, lang: str | None, data: bytes | memoryview) -> SyntaxScore | None:
    """The recorded score, if it is the score of ``data`` (a file's UTF-8 text) in ``lang``; else None
    (parse). The caller has checked the row's ``syntax_key``."""
    if record is None or record.get("lang") != lang or record.get("digest") != text_digest(data):
        return None
    return SyntaxScore(record["errors"], record["error_bytes"], record["total_bytes"], record["first_error_line"],
                       record["message"])


def recorded_scores(table) -> list[list[dict | None] | None] | None:
    """Per row of a `samples` table: its ``syntax_scores`` entries (one per path) where its
    ``syntax_key`` is this code's, else None; None for a table without the columns."""
    if "syntax_scores" not in table.column_names or "syntax_key" not in table.column_names:
        return None
    key = syntax_key()
    return [entries if k == key else None
            for entries, k in zip(table["syntax_scores"].to_pylist(), table["syntax_key"].to_pylist())]
