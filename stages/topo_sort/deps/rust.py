"""Rust ``mod`` and ``use`` -> files, through each crate's module tree.

The module tree is read from the file layout, as rustc finds files for ``mod`` declarations: a
crate root is a folder holding ``lib.rs`` or ``main.rs`` (``src/``, a workspace member's
``crates/x/src/``, ``src/bin/tool/``); below it ``a/b.rs`` and ``a/b/mod.rs`` are module
``crate::a::b``. Every ``.rs`` file belongs to the nearest crate root above it.

Resolved: ``mod x;`` -> ``x.rs`` or ``x/mod.rs`` beside ``lib.rs`` / ``main.rs`` / ``mod.rs``, or in
folder ``foo/`` for ``foo.rs`` (inline ``mod a { mod b; }`` goes one folder deeper);
``use crate::a::b::C`` -> the file of the longest module prefix (``crate::a::b``, or ``crate::a``
when ``b`` is an item), ``use self::`` / ``use super::``, use-lists (``use a::{b, c::D}``), paths
relative to the current module (2018 uniform paths), paths from the crate root (2015 style) and
``use other_crate::x`` for a workspace crate whose folder is named ``other_crate`` (``-`` read as
``_``).

Not resolved: ``#[path = "..."]`` attributes, macro-generated modules, ``src/bin/*.rs``
single-file binaries as separate crates, names used with a full path but no ``use``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import tree_sitter

from ._common import ancestors, captures, folder, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"Rust"})

_ROOT_FILES = ("lib.rs", "main.rs")  # lib.rs first: it owns the tree when both exist
_QUERY = "(use_declaration argument: (_) @use) (mod_item) @mod"


@dataclass(frozen=True)
class RustImport:
    segments: tuple[str, ...]  # ``use``: the path; ``mod x;``: the enclosing inline modules + x
    inline: tuple[str, ...]  # inline ``mod a { }`` blocks around the statement
    is_mod: bool


def grammar(file: RepoFile) -> str:
    return "rust"


def _inline_modules(node: tree_sitter.Node) -> tuple[str, ...]:
    names = []
    parent = node.parent
    while parent is not None:
        if parent.type == "mod_item":
            names.append(text(parent.child_by_field_name("name")))
        parent = parent.parent
    return tuple(reversed(names))


def _segments(node: tree_sitter.Node | None) -> list[str]:
    if node is None:  # ``::a`` (2015 global path) or ``{a, b}`` without a prefix
        return []
    if node.type == "scoped_identifier":
        return _segments(node.child_by_field_name("path")) + [text(node.child_by_field_name("name"))]
    return [text(node)]


def _flatten(node: tree_sitter.Node, prefix: list[str]) -> list[list[str]]:
    """A use tree -> its paths: ``a::{b, c::{d, self}}`` -> a::b, a::c::d, a::c."""
    if node.type == "use_as_clause":
        return _flatten(node.child_by_field_name("path"), prefix)
    if node.type == "use_wildcard":
        return [prefix + _segments(node.named_children[0] if node.named_children else None)]
    if node.type == "scoped_use_list":
        prefix = prefix + _segments(node.child_by_field_name("path"))
        return _flatten(node.child_by_field_name("list"), prefix)
    if node.type == "use_list":
        return [path for child in node.named_children for path in _flatten(child, prefix)]
    segments = prefix + _segments(node)
    return [segments[:-1] if segments and segments[-1] == "self" and len(segments) > 1 else segments]


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[RustImport]:
    found = captures(tree, _QUERY)
    imports = []
    for node in found.get("use", []):
        inline = _inline_modules(node)
        imports += [RustImport(tuple(p), inline, False) for p in _flatten(node, []) if p]
    for node in found.get("mod", []):
        if node.child_by_field_name("body") is None:  # ``mod x;`` names a file
            inline = _inline_modules(node)
            imports.append(RustImport(inline + (text(node.child_by_field_name("name")),), inline, True))
    return imports


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.paths = {file.path for file in files if file.lang in LANGUAGES}
        roots = {folder(p) for p in self.paths if posixpath.basename(p) in _ROOT_FILES}
        self.crate_by_name = {}  # workspace crate name (folder above src/, or the root folder)
        for root in sorted(roots, key=lambda r: (len(r), r)):
            crate_folder = folder(root) if posixpath.basename(root) == "src" else root
            name = posixpath.basename(crate_folder).replace("-", "_")
            self.crate_by_name.setdefault(name, root)
        self.module_of: dict[str, tuple[str, tuple[str, ...]]] = {}  # file -> (crate, module)
        self.files: dict[tuple[str, tuple[str, ...]], str] = {}
        for path in sorted(self.paths, key=lambda p: (posixpath.basename(p) != "lib.rs", p)):
            crate = next((d for d in ancestors(path) if d in roots), None)
            if crate is None:
                continue
            relative = path[len(crate) + 1:] if crate else path
            parts = relative[: -len(".rs")].split("/")
            if parts[-1] == "mod" or (len(parts) == 1 and relative in _ROOT_FILES):
                parts = parts[:-1]
            key = (crate, tuple(parts))
            self.module_of[path] = key
            self.files.setdefault(key, path)

    def resolve(self, path: str, imp: RustImport) -> set[str]:
        if imp.is_mod:
            return self._resolve_mod(path, imp.segments)
        if path not in self.module_of:
            return set()
        crate, module = self.module_of[path]
        current = module + imp.inline
        first, rest = imp.segments[0], list(imp.segments[1:])
        if first == "crate":
            return self._longest(crate, rest, 0)
        if first in ("self", "super"):
            absolute, segments = list(current), list(imp.segments)
            while segments and segments[0] in ("self", "super"):
                if segments.pop(0) == "super":
                    if not absolute:
                        return set()
                    absolute.pop()
            return self._longest(crate, absolute + segments, 0)
        # A plain first segment: a module in scope (2018), a workspace crate, or 2015's crate root.
        found = self._longest(crate, [*current, *imp.segments], len(current) + 1)
        if not found and first in self.crate_by_name:
            found = self._longest(self.crate_by_name[first], rest, 0)
        return found or self._longest(crate, list(imp.segments), 1)

    def _longest(self, crate: str, segments: list[str], shortest: int) -> set[str]:
        for end in range(len(segments), shortest - 1, -1):
            if (target := self.files.get((crate, tuple(segments[:end])))) is not None:
                return {target}
        return set()

    def _resolve_mod(self, path: str, segments: tuple[str, ...]) -> set[str]:
        # lib.rs, main.rs and mod.rs own their folder; foo.rs owns folder foo/ (Rust 2018).
        stem = posixpath.basename(path)[: -len(".rs")]
        base = folder(path) if stem in ("lib", "main", "mod") else path[: -len(".rs")]
        target = posixpath.join(base, *segments)
        return next(({c} for c in (target + ".rs", target + "/mod.rs") if c in self.paths), set())
