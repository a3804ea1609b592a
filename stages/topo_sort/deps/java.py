"""Java imports -> files (paper section 2.2 applies its dependency sort to Java).

Index: every class by its fully qualified name, from the file's ``package`` declaration plus the
file's stem (Java's one-public-class-per-file rule) and plus every top-level type the file
declares; every package -> its files.

Resolved: ``import a.b.C;`` (a nested ``a.b.C.Inner`` falls back to ``a.b.C``), ``import a.b.*;``
(every file of package ``a.b``), ``import static a.b.C.m;`` and ``import static a.b.C.*;``
(``a.b.C``), and same-package use without an import: a file depends on another file of its own
package when it names that class as a type (``type_identifier`` nodes), as the receiver of a
static call or field (``Util.f()``), in a method reference or an annotation.

Not resolved: fully qualified names in code (``a.b.C x``) without an import, classes reached
only through inheritance, and anything outside the repository (``java.*``, libraries).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import tree_sitter

from ._common import captures, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"Java"})

_TYPE_DECLARATIONS = frozenset({
    "class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
    "annotation_type_declaration",
})

# Simple names a file may use for a class of its own package without importing it.
_REFERENCES = """
(type_identifier) @name
(method_invocation object: (identifier) @name)
(field_access object: (identifier) @name)
(method_reference . (identifier) @name)
(marker_annotation name: (identifier) @name)
(annotation name: (identifier) @name)
"""


@dataclass(frozen=True)
class JavaImport:
    name: str  # dotted name without ``.*``
    static: bool
    wildcard: bool


def grammar(file: RepoFile) -> str:
    return "java"


def _dotted(node: tree_sitter.Node | None) -> str:
    return "".join(text(node).split())


def _package(tree: tree_sitter.Tree) -> str:
    for node in tree.root_node.children:
        if node.type == "package_declaration":
            name = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
            return _dotted(name)
    return ""


@dataclass(frozen=True)
class JavaFileInfo:
    """What the resolver keeps of a file's tree."""
    package: str
    declared: frozenset[str]  # top-level types
    referenced: frozenset[str]  # simple names it may use from its own package (_REFERENCES)


def file_info(tree: tree_sitter.Tree) -> JavaFileInfo:
    declared = {text(n.child_by_field_name("name")) for n in tree.root_node.children if n.type in _TYPE_DECLARATIONS}
    referenced = {text(n) for n in captures(tree, _REFERENCES).get("name", [])}
    return JavaFileInfo(_package(tree), frozenset(declared), frozenset(referenced))


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[JavaImport]:
    imports = []
    for node in tree.root_node.children:  # imports only appear at the top of a compilation unit
        if node.type != "import_declaration":
            continue
        kinds = {child.type for child in node.children}
        name = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
        if name is not None:
            imports.append(JavaImport(_dotted(name), "static" in kinds, "asterisk" in kinds))
    return imports


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.package_of: dict[str, str] = {}
        self.by_class: dict[str, str] = {}
        by_package: dict[str, set[str]] = {}
        for path, file in parsed.items():
            package = file.info.package
            self.package_of[path] = package
            by_package.setdefault(package, set()).add(path)
            stem = posixpath.splitext(posixpath.basename(path))[0]
            for simple in file.info.declared | {stem}:
                if simple:
                    self._add_class(f"{package}.{simple}" if package else simple, path)
        self.by_package = by_package

    def _add_class(self, qualified: str, path: str) -> None:
        # Two files claiming one class (copies, generated sources): shortest, then first path.
        held = self.by_class.get(qualified)
        if held is None or (len(path), path) < (len(held), held):
            self.by_class[qualified] = path

    def _class_or_outer(self, parts: list[str]) -> set[str]:
        # ``a.b.Outer.Inner`` lives in the file of ``a.b.Outer``: the longest known prefix wins.
        for end in range(len(parts), 0, -1):
            if (path := self.by_class.get(".".join(parts[:end]))) is not None:
                return {path}
        return set()

    def resolve(self, path: str, imp: JavaImport) -> set[str]:
        parts = imp.name.split(".")
        if imp.wildcard and not imp.static and imp.name in self.by_package:
            return set(self.by_package[imp.name])
        if imp.static and not imp.wildcard:
            parts = parts[:-1]  # drop the member name
        return self._class_or_outer(parts)

    def implicit(self, path: str, file: ParsedFile) -> set[str]:
        package = self.package_of[path]
        prefix = f"{package}." if package else ""
        found = set()
        for name in file.info.referenced:
            target = self.by_class.get(prefix + name)
            if target is not None and self.package_of.get(target) == package:
                found.add(target)
        return found
