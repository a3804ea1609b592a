"""PHP ``require`` / ``include`` and ``use`` -> files.

Index: every class, interface, trait and enum under its namespace (``namespace A\\B;`` or
``namespace A\\B { }``), case-insensitively as PHP resolves class names; namespace -> files.

Resolved: ``require``, ``require_once``, ``include``, ``include_once`` with a string literal
(relative to the including file, then to the repository root, then a path-suffix match),
``__DIR__ . '/x.php'`` and ``dirname(__FILE__) . '/x.php'`` (relative to the file), other
concatenations ending in a literal (``ROOT . '/lib/x.php'``: suffix match); ``use A\\B\\C;``,
group uses ``use A\\{B, C as D};`` -> the file declaring ``A\\B\\C`` (or the files of namespace
``A\\B\\C`` when it names a namespace).

Not resolved: ``use function`` / ``use const``, trait ``use`` inside classes, Composer
autoloading of names used without ``use``, paths computed at run time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import tree_sitter

from ._common import SuffixIndex, captures, folder, join_inside, strip_up_levels, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"PHP"})

_QUERY = """
[(require_expression) (require_once_expression) (include_expression) (include_once_expression)] @include
(namespace_use_declaration) @use
[(class_declaration) (interface_declaration) (trait_declaration) (enum_declaration)] @declaration
(namespace_definition) @namespace
"""
_STRINGS = ("string", "encapsed_string")


@dataclass(frozen=True)
class PhpImport:
    target: str  # a path for includes, a qualified name (lower case) for ``use``
    kind: str  # "path": literal path; "beside": relative to the file; "suffix"; "use"


def grammar(file: RepoFile) -> str:
    return "php"


def _literal(node: tree_sitter.Node) -> str | None:
    """The value of a string without interpolation, else None."""
    if node.type not in _STRINGS:
        return None
    parts = [c for c in node.named_children if c.type != "escape_sequence"]
    if len(parts) > 1 or any(c.type != "string_content" for c in parts):
        return None
    return text(parts[0]) if parts else ""


def _is_file_folder(node: tree_sitter.Node) -> bool:
    """``__DIR__`` or ``dirname(__FILE__)``."""
    if node.type == "name":
        return text(node) == "__DIR__"
    return node.type == "function_call_expression" and text(node).replace(" ", "") == "dirname(__FILE__)"


def _include(node: tree_sitter.Node) -> PhpImport | None:
    argument = node.named_children[-1] if node.named_children else None
    while argument is not None and argument.type == "parenthesized_expression":
        argument = argument.named_children[0] if argument.named_children else None
    if argument is None:
        return None
    if (literal := _literal(argument)) is not None:
        return PhpImport(literal, "path")
    if argument.type == "binary_expression":
        left, right = argument.child_by_field_name("left"), argument.child_by_field_name("right")
        literal = _literal(right) if right is not None else None
        if literal and left is not None and _is_file_folder(left):
            return PhpImport(literal.lstrip("/"), "beside")
        if literal:
            return PhpImport(literal, "suffix")
    return None


def _name(node: tree_sitter.Node | None) -> str:
    return "".join(text(node).split()).strip("\\").lower()


def _uses(node: tree_sitter.Node) -> list[PhpImport]:
    if any(c.type in ("function", "const") for c in node.children):
        return []
    group = node.child_by_field_name("body")
    prefix = _name(next((c for c in node.named_children if c.type == "namespace_name"), None)) if group else ""
    clauses = group.named_children if group is not None else node.named_children
    names = []
    for clause in clauses:
        if clause.type != "namespace_use_clause" or any(c.type in ("function", "const") for c in clause.children):
            continue
        target = next((c for c in clause.named_children if c.type in ("qualified_name", "name")), None)
        if target is not None:
            names.append(f"{prefix}\\{_name(target)}" if prefix else _name(target))
    return [PhpImport(name, "use") for name in names]


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[PhpImport]:
    found = captures(tree, _QUERY)
    imports = [imp for node in found.get("include", []) if (imp := _include(node)) is not None]
    return imports + [imp for node in found.get("use", []) for imp in _uses(node)]


def file_info(tree: tree_sitter.Tree) -> list[tuple[str, str]]:
    """What the resolver keeps of a file's tree: its class-like declarations."""
    return _declarations(tree)


def _declarations(tree: tree_sitter.Tree) -> list[tuple[str, str]]:
    """(namespace, qualified name) of every class-like declaration, lower case."""
    found = captures(tree, _QUERY)
    # ``namespace A;`` applies to what follows it; ``namespace A { }`` to its body.
    statement_form = [(n.start_byte, _name(n.child_by_field_name("name")))
                      for n in found.get("namespace", []) if n.child_by_field_name("body") is None]
    starts = [start for start, _ in statement_form]
    declared = []
    for node in found.get("declaration", []):
        parent = node.parent
        while parent is not None and parent.type != "namespace_definition":
            parent = parent.parent
        if parent is not None:
            namespace = _name(parent.child_by_field_name("name"))
        else:
            at = bisect.bisect_right(starts, node.start_byte) - 1
            namespace = statement_form[at][1] if at >= 0 else ""
        name = _name(node.child_by_field_name("name"))
        declared.append((namespace, f"{namespace}\\{name}" if namespace else name))
    return declared


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.index = SuffixIndex(file.path for file in files if file.lang in LANGUAGES)
        self.by_class: dict[str, str] = {}
        self.by_namespace: dict[str, set[str]] = {}
        for path, file in parsed.items():
            for namespace, qualified in file.info:
                self.by_namespace.setdefault(namespace, set()).add(path)
                held = self.by_class.get(qualified)
                if held is None or (len(path), path) < (len(held), held):
                    self.by_class[qualified] = path

    def resolve(self, path: str, imp: PhpImport) -> set[str]:
        if imp.kind == "use":
            if imp.target in self.by_class:
                return {self.by_class[imp.target]}
            return set(self.by_namespace.get(imp.target, ()))
        candidates = []
        if imp.kind in ("path", "beside"):
            candidates.append(join_inside(folder(path), imp.target))
        if imp.kind == "path":
            candidates.append(join_inside("", imp.target.lstrip("/")))
        for candidate in candidates:
            if candidate in self.index.paths:
                return {candidate}
        best = self.index.match(strip_up_levels(imp.target)) if imp.kind != "beside" else None
        return {best} if best else set()
