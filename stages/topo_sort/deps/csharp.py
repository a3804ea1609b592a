"""C# ``using`` directives -> files (paper section 2.2 applies its dependency sort to C#).

Index: every type declaration (class, struct, interface, enum, record, delegate) under its
namespace -- block ``namespace A.B { }``, nested blocks, or file-scoped ``namespace A.B;`` -- so
namespace -> files declaring a type in it, and qualified type name -> file.

Resolved: ``using A.B;`` -> every file declaring a type in namespace ``A.B`` (the file itself
excluded); ``using static A.B.C;`` and ``using X = A.B.C;`` -> the file of type ``A.B.C`` (or
namespace ``A.B.C`` for a namespace alias); ``global using`` likewise.

Not resolved: the implicit visibility of a file's own and enclosing namespaces (that would make
every file of a namespace depend on every other), fully qualified names in code, and anything
outside the repository (``System.*``, NuGet packages).
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from ._common import captures, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"C#"})

_TYPES = """
[(class_declaration) (struct_declaration) (interface_declaration) (enum_declaration)
 (record_declaration) (delegate_declaration)] @type
"""
_NAMESPACES = ("namespace_declaration", "file_scoped_namespace_declaration")


@dataclass(frozen=True)
class CSharpUsing:
    name: str
    names_type: bool  # ``using static`` / alias: the name is rather a type than a namespace


def grammar(file: RepoFile) -> str:
    return "csharp"


def clean_name(name: str) -> str:
    """``global::A.List<int>`` -> ``A.List``."""
    name = "".join(name.split()).removeprefix("global::")
    depth, kept = 0, []
    for char in name:
        depth += (char == "<") - (char == ">")
        if depth == 0 and char != ">":
            kept.append(char)
    return "".join(kept)


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[CSharpUsing]:
    usings = []
    for node in captures(tree, "(using_directive) @using").get("using", []):
        alias = node.child_by_field_name("name")
        targets = [c for c in node.named_children if c != alias and c.type != "comment"]
        if not targets:
            continue
        static = any(child.type == "static" for child in node.children)
        usings.append(CSharpUsing(clean_name(text(targets[-1])), static or alias is not None))
    return usings


def file_info(tree: tree_sitter.Tree) -> list[tuple[str, str]]:
    """What the resolver keeps of a file's tree: its declared types."""
    return _declared_types(tree)


def _declared_types(tree: tree_sitter.Tree) -> list[tuple[str, str]]:
    """(namespace, qualified type name) of every type declared in the file."""
    file_scoped = next((n for n in tree.root_node.children if n.type == "file_scoped_namespace_declaration"), None)
    outer = clean_name(text(file_scoped.child_by_field_name("name"))) if file_scoped else ""
    declared = []
    for node in captures(tree, _TYPES).get("type", []):
        namespace, enclosing = [], []
        parent = node.parent
        while parent is not None:
            if parent.type == "namespace_declaration":
                namespace.append(clean_name(text(parent.child_by_field_name("name"))))
            elif parent.type in ("class_declaration", "struct_declaration", "interface_declaration", "record_declaration"):
                enclosing.append(text(parent.child_by_field_name("name")))
            parent = parent.parent
        full_namespace = ".".join(p for p in [outer, *reversed(namespace)] if p)
        name = ".".join([*reversed(enclosing), text(node.child_by_field_name("name"))])
        declared.append((full_namespace, f"{full_namespace}.{name}" if full_namespace else name))
    return declared


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.by_namespace: dict[str, set[str]] = {}
        self.by_type: dict[str, str] = {}
        for path, file in parsed.items():
            for namespace, qualified in file.info:
                self.by_namespace.setdefault(namespace, set()).add(path)
                held = self.by_type.get(qualified)
                if held is None or (len(path), path) < (len(held), held):
                    self.by_type[qualified] = path

    def resolve(self, path: str, using: CSharpUsing) -> set[str]:
        in_namespace = self.by_namespace.get(using.name, set()) - {path}
        as_type = {self.by_type[using.name]} if using.name in self.by_type else set()
        if using.names_type:
            return as_type or in_namespace
        return in_namespace or as_type
