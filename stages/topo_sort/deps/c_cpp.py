"""C, C++ and CUDA ``#include`` -> files (paper section 2.2 applies its sort to C and C++).

The paper's rule is a path-suffix match: ``#include "x/y.h"`` depends on a file whose path is
``x/y.h`` or ends with ``/x/y.h``. Several files can match (one ``config.h`` per sub-project);
we add ONE edge, to the best match, chosen deterministically:

1. for ``"quoted"`` includes, the file relative to the including file's folder (where the
   preprocessor looks first), ``..`` allowed;
2. the file at ``<folder>/x/y.h`` for the nearest folder above the including file (a
   sub-project's own header before another's);
3. any file ending with ``/x/y.h``: shortest path, then lexicographically first.

One edge rather than all matches: an edge to every same-named header would chain unrelated
sub-projects into one sample. Includes built from macros (``#include HEADER``) are not resolved;
system headers (``<stdio.h>``) resolve only when the repository holds such a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from ._common import SuffixIndex, ancestors, captures, folder, join_inside, strip_up_levels, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"C", "C++", "CUDA"})

_GRAMMARS = {"C": "c", "C++": "cpp", "CUDA": "cuda"}

_QUERY = """
(preproc_include path: (string_literal (string_content) @quoted))
(preproc_include path: (system_lib_string) @system)
"""


@dataclass(frozen=True)
class Include:
    path: str
    quoted: bool


def grammar(file: RepoFile) -> str:
    return _GRAMMARS[file.lang]


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[Include]:
    found = captures(tree, _QUERY)  # the node types are shared: cpp and cuda extend c
    includes = [Include(text(n), True) for n in found.get("quoted", [])]
    includes += [Include(text(n).strip("<> \t"), False) for n in found.get("system", [])]
    return [inc for inc in includes if inc.path]


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.index = SuffixIndex(file.path for file in files if file.lang in LANGUAGES)

    def resolve(self, path: str, include: Include) -> set[str]:
        if include.quoted and (beside := join_inside(folder(path), include.path)) in self.index.paths:
            return {beside}
        suffix = strip_up_levels(include.path)
        for directory in ancestors(path):
            candidate = f"{directory}/{suffix}" if directory else suffix
            if candidate in self.index.paths:
                return {candidate}
        best = self.index.match(suffix)
        return {best} if best else set()
