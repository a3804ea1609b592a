"""Shared by the language modules: cached tree-sitter parsers and queries, and path indexes.

Parsers and compiled queries are cached per process (a tree-sitter ``Parser`` is not thread
safe, so use processes, as the stage executors do, not threads).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from functools import cache

import tree_sitter
from tree_sitter_language_pack import get_parser


@cache
def _parser(grammar: str) -> tree_sitter.Parser:
    return get_parser(grammar)


@cache
def _query(language: tree_sitter.Language, source: str) -> tree_sitter.Query:
    return tree_sitter.Query(language, source)


def parse(grammar: str, content: str) -> tree_sitter.Tree:
    # "surrogatepass": crawled text may hold lone surrogates; a byte more or less cannot matter
    # for import statements, but raising would lose the whole file.
    return _parser(grammar).parse(content.encode("utf-8", "surrogatepass"))


def captures(tree: tree_sitter.Tree, source: str) -> dict[str, list[tree_sitter.Node]]:
    """Nodes captured by the query ``source`` in ``tree``, by capture name, in source order.

    Compiled once per (grammar, query); the grammar is the tree's, so one query text serves
    grammars that share node types (c / cpp / cuda, typescript / tsx).
    """
    found = tree_sitter.QueryCursor(_query(tree.language, source)).captures(tree.root_node)
    return {name: sorted(nodes, key=lambda n: n.start_byte) for name, nodes in found.items()}


def text(node: tree_sitter.Node | None) -> str:
    return "" if node is None else node.text.decode("utf-8", "replace")


def folder(path: str) -> str:
    """The folder of a repo-relative path, ``""`` at the repository root."""
    return posixpath.dirname(path)


def join_inside(base: str, relative: str) -> str | None:
    """``base/relative`` normalised, or None when it leaves the repository."""
    joined = posixpath.normpath(posixpath.join(base, relative))
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return joined


def ancestors(path: str) -> list[str]:
    """Folders above ``path``, nearest first, ending with the repository root ``""``."""
    out = []
    current = folder(path)
    while current:
        out.append(current)
        current = folder(current)
    out.append("")
    return out


def strip_up_levels(path: str) -> str:
    """``../../a/b.h`` -> ``a/b.h``: what is left to match as a path suffix."""
    parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


class SuffixIndex:
    """Every ``/``-boundary suffix of every path -> the best path ending with it.

    The paper's rule for includes (section 2.2) is a path-suffix match; keying a dict by all
    suffixes makes each lookup O(1) and the build O(files x depth) instead of a scan per include.
    Among several files with the same suffix the shortest path wins, then the lexicographically
    smallest, so the choice never depends on input order. ``root_ok(prefix)`` may restrict the
    folders a suffix may start below (Ruby's load path).
    """

    def __init__(self, paths: Iterable[str], root_ok: Callable[[str], bool] | None = None):
        self.paths = set(paths)
        self.best: dict[str, str] = {}
        for path in self.paths:
            parts = path.split("/")
            for start in range(len(parts)):
                if root_ok is not None and not root_ok("/".join(parts[:start])):
                    continue
                suffix = "/".join(parts[start:])
                held = self.best.get(suffix)
                if held is None or (len(path), path) < (len(held), held):
                    self.best[suffix] = path

    def match(self, suffix: str) -> str | None:
        return self.best.get(suffix) if suffix else None
