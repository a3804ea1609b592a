"""Which lines of a repository's files use a name defined in another file of it (the cross-file
benchmark's task lines, docs/eval.md "Cross-file completion").

The imports come from topo-sort's dependency parsers (``stages.topo_sort.deps``: the same
tree-sitter reading and the same resolution of a module, class, namespace or specifier to a file of
the repository); this module adds what a dependency edge does not say -- *which names* an import
binds and where each is defined -- and then finds their uses:

* Python: ``from m import n [as a]`` binds ``a`` to ``n`` when ``m``'s file defines ``n`` at its top
  level (``def``, ``class``, an assignment; a name the file itself imports from another module is
  followed, up to three hops), or binds a module when ``n`` is a submodule;
  ``import a.b [as m]`` binds the module; its uses are ``m.x`` / ``a.b.x`` for an ``x`` defined there.
* Java: ``import a.b.C`` (and ``a.b.*``) binds the classes declared in the resolved file(s), ``import
  static a.b.C.m`` (and ``C.*``) the static members of ``C``; the classes of the other files of the
  file's own package are visible without an import.
* C#: ``using A.B`` makes the types declared in namespace ``A.B`` visible, and so do the file's own
  namespaces and the ones enclosing them; ``using X = A.B.C`` binds ``X``; ``using static A.B.C`` the
  members of ``C``. A simple name declared in two visible namespaces is ambiguous and not used.
* TypeScript / JavaScript: ``import D, {a, b as c} from './x'`` binds what ``./x`` exports under those
  names (``export function/class/const/interface/type/enum``, ``export {x as y}``, ``export default``;
  ``export ... from`` re-exports are followed); ``import * as ns`` binds the module, used as ``ns.x``.

A use is an identifier in code (not in the import itself, not a comment or string, not the name of
a declaration, a keyword argument or a member) whose binding comes from an import that ends on an
earlier line, in a file that does not define the same name itself. Its definition (file, first and
last line) is what the benchmark's oracle context shows.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import tree_sitter

from stages.topo_sort.deps import RepoFile, captures, parse, parsed_file, text
from stages.topo_sort.deps import csharp as csharp_deps
from stages.topo_sort.deps import java as java_deps
from stages.topo_sort.deps import javascript as js_deps
from stages.topo_sort.deps import python as python_deps

# CrossCodeEval's language names -> the crawl's (stages.core.languages).
CROSSFILE_LANGUAGES = {"python": "Python", "java": "Java", "typescript": "TypeScript", "csharp": "C#",
                       "javascript": "JavaScript"}
LANGUAGE_KEYS = {v: k for k, v in CROSSFILE_LANGUAGES.items()}

FOLLOW_HOPS = 3  # re-exports followed at most this deep (``pkg/__init__.py`` importing from a module)


@dataclass(frozen=True)
class Definition:
    path: str
    name: str
    start: int  # 0-based first line
    end: int  # 0-based last line (inclusive)


@dataclass(frozen=True)
class CrossFileUse:
    line: int  # 0-based line of the use
    name: str  # the identifier as the line writes it (``a``, or ``m.x`` for a module's member)
    definition: Definition


def _is_field(node: tree_sitter.Node, field: str) -> bool:
    parent = node.parent
    if parent is None:
        return False
    other = parent.child_by_field_name(field)
    return other is not None and other.id == node.id


def _span(node: tree_sitter.Node) -> tuple[int, int]:
    return node.start_point.row, node.end_point.row


def _inside(node: tree_sitter.Node, types: frozenset[str]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in types:
            return True
        parent = parent.parent
    return False


@dataclass(frozen=True)
class _Binding:
    """A local name bound by an import: a definition (``module`` None) or a module's file."""

    after: int  # the last line of the import: uses must come after it (-1: visible everywhere)
    definition: Definition | None = None
    module: str | None = None  # path of the module's file (Python, TS namespace imports)


class _Family:
    languages: frozenset[str] = frozenset()

    def __init__(self, files: list[RepoFile], trees: dict[str, tree_sitter.Tree], repo: str | None):
        self.file_list = files
        self.files = {f.path: f for f in files}
        self.trees = trees
        self.repo = repo

    def resolver_of(self, deps):
        """topo-sort's resolver of the `deps` family over this repository's trees."""
        return deps.Resolver(self.file_list, {p: parsed_file(deps, t, p) for p, t in self.trees.items()},
                             repo=self.repo)

    def uses(self, path: str) -> list[CrossFileUse]:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------ Python
_PY_DEFS = frozenset({"function_definition", "class_definition"})
_PY_IMPORTS = frozenset({"import_statement", "import_from_statement", "future_import_statement"})


def _python_module(path: str) -> str:
    stem = posixpath.splitext(path)[0]
    return posixpath.dirname(stem) if posixpath.basename(stem) == "__init__" else stem


def python_definitions(tree: tree_sitter.Tree) -> dict[str, tuple[int, int]]:
    """Top-level names a Python module defines: def, class, assignment targets (also inside a
    top-level ``if``/``try``, where modules define fallbacks)."""
    out: dict[str, tuple[int, int]] = {}

    def visit(block: tree_sitter.Node) -> None:
        for node in block.children:
            target = node
            if node.type == "decorated_definition":
                target = node.child_by_field_name("definition") or node
            if target.type in _PY_DEFS:
                name = text(target.child_by_field_name("name"))
                if name:
                    out.setdefault(name, _span(node))
                continue
            statement = node.children[0] if node.type == "expression_statement" and node.children else node
            if statement.type == "assignment":
                for name in _python_targets(statement.child_by_field_name("left")):
                    out.setdefault(name, _span(node))
            elif node.type in ("if_statement", "try_statement", "else_clause", "elif_clause", "except_clause",
                               "finally_clause", "block"):
                for child in node.children:
                    if child.type in ("block", "else_clause", "elif_clause", "except_clause", "finally_clause"):
                        visit(child)

    visit(tree.root_node)
    return out


def _python_targets(node: tree_sitter.Node | None) -> list[str]:
    if node is None:
        return []
    if node.type == "identifier":
        return [text(node)]
    if node.type in ("pattern_list", "tuple_pattern", "list_pattern"):
        return [n for child in node.named_children for n in _python_targets(child)]
    return []


class _Python(_Family):
    languages = python_deps.LANGUAGES

    def __init__(self, files, trees, repo):
        super().__init__(files, trees, repo)
        self.resolver = self.resolver_of(python_deps)
        self.defs = {path: python_definitions(tree) for path, tree in trees.items()}
        self._from_names: dict[str, dict[str, tuple]] = {}

    def _from_imports(self, path: str) -> dict[str, tuple]:
        """local name -> (module, level, imported name, last line) of the file's from-imports."""
        if path not in self._from_names:
            names: dict[str, tuple] = {}
            for node in captures(self.trees[path], "(import_from_statement) @i").get("i", []):
                module, level = python_deps.from_module(node)
                for name_node in node.children_by_field_name("name"):
                    alias = name_node.child_by_field_name("alias") if name_node.type == "aliased_import" else None
                    real = name_node.child_by_field_name("name") if name_node.type == "aliased_import" else name_node
                    imported = "".join(text(real).split())
                    names.setdefault(text(alias) if alias else imported.split(".")[0],
                                     (module, level, imported, node.end_point.row))
            self._from_names[path] = names
        return self._from_names[path]

    def _deepest(self, found: set[str], exclude: str) -> str | None:
        found = sorted(p for p in found if p != exclude and p in self.defs)
        if not found:
            return None
        return max(found, key=lambda p: (_python_module(p).count("/") + bool(_python_module(p)), -len(p)))

    def _definition(self, path: str, name: str, hops: int = FOLLOW_HOPS) -> Definition | None:
        """Where ``name`` of module file ``path`` is defined: there, or where it imports it from."""
        span = self.defs.get(path, {}).get(name)
        if span is not None:
            return Definition(path, name, *span)
        if hops <= 0:
            return None
        imported = self._from_imports(path).get(name)
        if imported is None:
            return None
        module, level, real, _ = imported
        binding = self._resolve_from(path, module, level, real, hops - 1)
        return binding.definition if binding is not None else None

    def _resolve_from(self, path: str, module: str, level: int, name: str, hops: int = FOLLOW_HOPS) -> _Binding | None:
        found = self.resolver.resolve(path, python_deps.PythonImport(module, level, (name,)))
        target = self._deepest(found, path)
        if target is None:
            return None
        definition = self._definition(target, name, hops)
        if definition is not None and definition.path != path:
            return _Binding(-1, definition=definition)
        if _python_module(target).rsplit("/", 1)[-1] == name:
            return _Binding(-1, module=target)
        return None

    def _bindings(self, path: str) -> tuple[dict[str, _Binding], dict[str, _Binding]]:
        """(simple name -> binding, dotted module name -> binding of ``import a.b`` without alias)."""
        names: dict[str, _Binding] = {}
        dotted: dict[str, _Binding] = {}
        own = self.defs.get(path, {})
        for local, (module, level, real, last) in self._from_imports(path).items():
            if local in own or real == "*":
                continue
            binding = self._resolve_from(path, module, level, real)
            if binding is not None:
                names[local] = _Binding(last, binding.definition, binding.module)
        for node in captures(self.trees[path], "(import_statement) @i").get("i", []):
            for name_node in node.children_by_field_name("name"):
                alias = name_node.child_by_field_name("alias") if name_node.type == "aliased_import" else None
                real = name_node.child_by_field_name("name") if name_node.type == "aliased_import" else name_node
                module = "".join(text(real).split())
                found = self.resolver.resolve(path, python_deps.PythonImport(module, 0, ()))
                target = self._deepest(found, path)
                if target is None:
                    continue
                modpath = _python_module(target)
                full = module.replace(".", "/")
                if not (modpath and (full == modpath or full.endswith("/" + modpath))) and not (
                        not modpath and module == self.resolver.root_name):
                    continue  # only a prefix of the dotted name is in the repository
                binding = _Binding(node.end_point.row, module=target)
                if alias is not None:
                    if text(alias) not in own:
                        names[text(alias)] = binding
                elif "." in module:
                    dotted[module] = binding
                elif module not in own:
                    names[module] = binding
        return names, dotted

    def uses(self, path: str) -> list[CrossFileUse]:
        names, dotted = self._bindings(path)
        if not names and not dotted:
            return []
        tree = self.trees[path]
        out: list[CrossFileUse] = []
        found = captures(tree, "(identifier) @id (attribute) @attr")
        for node in found.get("id", []):
            binding = names.get(text(node))
            if binding is None or binding.definition is None or node.start_point.row <= binding.after:
                continue
            if not self._is_reference(node):
                continue
            out.append(CrossFileUse(node.start_point.row, text(node), binding.definition))
        for node in found.get("attr", []):
            obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
            if obj is None or attr is None or obj.type not in ("identifier", "attribute"):
                continue
            key = "".join(text(obj).split())
            binding = names.get(key) if obj.type == "identifier" else dotted.get(key)
            if binding is None or binding.module is None or node.start_point.row <= binding.after:
                continue
            if _inside(node, _PY_IMPORTS):
                continue
            definition = self._definition(binding.module, text(attr))
            if definition is not None and definition.path != path:
                out.append(CrossFileUse(attr.start_point.row, f"{key}.{text(attr)}", definition))
        return sorted(set(out), key=lambda u: (u.line, u.name))

    @staticmethod
    def _is_reference(node: tree_sitter.Node) -> bool:
        parent = node.parent
        if parent is None or _inside(node, _PY_IMPORTS):
            return False
        if parent.type == "attribute" and _is_field(node, "attribute"):
            return False
        if parent.type == "keyword_argument" and _is_field(node, "name"):
            return False
        if parent.type in ("function_definition", "class_definition") and _is_field(node, "name"):
            return False
        if parent.type in ("parameters", "default_parameter", "typed_parameter", "typed_default_parameter",
                           "lambda_parameters", "list_splat_pattern", "dictionary_splat_pattern"):
            return False
        return True


# -------------------------------------------------------------------------------------------- Java
_JAVA_TYPES = frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
                         "annotation_type_declaration"})
_JAVA_MEMBERS = frozenset({"method_declaration", "field_declaration", "constant_declaration"})


def java_types(tree: tree_sitter.Tree) -> dict[str, tuple[int, int]]:
    """Every type a Java file declares (nested ones too), by simple name."""
    out: dict[str, tuple[int, int]] = {}
    for node in captures(tree, "[(class_declaration) (interface_declaration) (enum_declaration) "
                               "(record_declaration) (annotation_type_declaration)] @t").get("t", []):
        name = text(node.child_by_field_name("name"))
        if name:
            out.setdefault(name, _span(node))
    return out


def java_members(tree: tree_sitter.Tree) -> dict[str, dict[str, tuple[int, int]]]:
    """type name -> its methods and fields (for static imports)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for node in captures(tree, "[(class_declaration) (interface_declaration) (enum_declaration) "
                               "(record_declaration)] @t").get("t", []):
        members = out.setdefault(text(node.child_by_field_name("name")), {})
        body = node.child_by_field_name("body")
        for member in (body.named_children if body is not None else []):
            if member.type == "method_declaration":
                members.setdefault(text(member.child_by_field_name("name")), _span(member))
            elif member.type in ("field_declaration", "constant_declaration"):
                for declarator in member.children_by_field_name("declarator"):
                    members.setdefault(text(declarator.child_by_field_name("name")), _span(member))
    return out


class _Java(_Family):
    languages = java_deps.LANGUAGES

    def __init__(self, files, trees, repo):
        super().__init__(files, trees, repo)
        self.resolver = self.resolver_of(java_deps)
        self.types = {path: java_types(tree) for path, tree in trees.items()}
        self.members = {path: java_members(tree) for path, tree in trees.items()}

    def _type_bindings(self, target: str, after: int, only: str | None = None) -> dict[str, _Binding]:
        return {name: _Binding(after, Definition(target, name, *span)) for name, span in self.types[target].items()
                if only is None or name == only}

    def _bindings(self, path: str) -> dict[str, _Binding]:
        out: dict[str, _Binding] = {}
        package = self.resolver.package_of.get(path, "")
        for other in sorted(self.resolver.by_package.get(package, ())):
            if other != path:  # the package's other classes need no import
                for name, binding in self._type_bindings(other, -1).items():
                    out.setdefault(name, binding)
        tree = self.trees[path]
        for node in tree.root_node.children:
            if node.type != "import_declaration":
                continue
            kinds = {child.type for child in node.children}
            name = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
            if name is None:
                continue
            for imp in [java_deps.JavaImport("".join(text(name).split()), "static" in kinds, "asterisk" in kinds)]:
                after = node.end_point.row
                parts = imp.name.split(".")
                targets = sorted(p for p in self.resolver.resolve(path, imp) if p != path and p in self.types)
                if imp.static:
                    cls = parts[-1] if imp.wildcard else parts[-2] if len(parts) > 1 else ""
                    for target in targets:
                        for member, span in self.members[target].get(cls, {}).items():
                            if imp.wildcard or member == parts[-1]:
                                out[member] = _Binding(after, Definition(target, member, *span))
                    continue
                for target in targets:
                    out.update(self._type_bindings(target, after, None if imp.wildcard else parts[-1]))
        for name in self.types.get(path, {}):
            out.pop(name, None)  # declared here: the file's own
        return out

    def uses(self, path: str) -> list[CrossFileUse]:
        bindings = self._bindings(path)
        if not bindings:
            return []
        out = []
        for node in captures(self.trees[path], "(identifier) @id (type_identifier) @id").get("id", []):
            binding = bindings.get(text(node))
            if binding is None or node.start_point.row <= binding.after or not self._is_reference(node, binding):
                continue
            out.append(CrossFileUse(node.start_point.row, text(node), binding.definition))
        return sorted(set(out), key=lambda u: (u.line, u.name))

    @staticmethod
    def _is_reference(node: tree_sitter.Node, binding: _Binding) -> bool:
        parent = node.parent
        if parent is None or _inside(node, frozenset({"import_declaration", "package_declaration"})):
            return False
        if parent.type == "field_access" and _is_field(node, "field"):
            return False
        if parent.type == "method_invocation" and _is_field(node, "name"):
            # ``x.D()`` names a method; a bare ``m()`` is a statically imported method.
            return parent.child_by_field_name("object") is None and binding.definition.name == text(node) \
                and node.type == "identifier"
        if _is_field(node, "name") and parent.type not in ("marker_annotation", "annotation"):
            return False  # a declaration's own name (class, method, variable, parameter)
        return True


# ---------------------------------------------------------------------------------------------- C#
_CS_TYPES = ("class_declaration", "struct_declaration", "interface_declaration", "enum_declaration",
             "record_declaration", "delegate_declaration")
_CS_CONTAINERS = frozenset({"class_declaration", "struct_declaration", "interface_declaration",
                            "record_declaration"})


def csharp_types(tree: tree_sitter.Tree) -> list[tuple[str, str, tuple[int, int], dict[str, tuple[int, int]]]]:
    """(namespace, simple name, span, members) of every type a C# file declares (nested types under
    their outer type's name, ``Outer.Inner``)."""
    file_scoped = next((n for n in tree.root_node.children if n.type == "file_scoped_namespace_declaration"), None)
    outer = csharp_deps.clean_name(text(file_scoped.child_by_field_name("name"))) if file_scoped else ""
    out = []
    for node in captures(tree, "[" + " ".join(f"({t})" for t in _CS_TYPES) + "] @t").get("t", []):
        namespace, enclosing = [], []
        parent = node.parent
        while parent is not None:
            if parent.type == "namespace_declaration":
                namespace.append(csharp_deps.clean_name(text(parent.child_by_field_name("name"))))
            elif parent.type in _CS_CONTAINERS:
                enclosing.append(text(parent.child_by_field_name("name")))
            parent = parent.parent
        full = ".".join(p for p in [outer, *reversed(namespace)] if p)
        name = ".".join([*reversed(enclosing), text(node.child_by_field_name("name"))])
        members: dict[str, tuple[int, int]] = {}
        body = node.child_by_field_name("body")
        for member in (body.named_children if body is not None else []):
            if member.type in ("method_declaration", "property_declaration", "event_declaration"):
                members.setdefault(text(member.child_by_field_name("name")), _span(member))
            elif member.type == "field_declaration":
                for declarator in captures_node(member, "variable_declarator"):
                    ident = declarator.child_by_field_name("name") or next(
                        (c for c in declarator.children if c.type == "identifier"), None)
                    members.setdefault(text(ident), _span(member))
        out.append((full, name, _span(node), members))
    return out


def captures_node(node: tree_sitter.Node, type_name: str) -> list[tree_sitter.Node]:
    out, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type == type_name:
            out.append(current)
        stack.extend(reversed(current.children))
    return out


class _CSharp(_Family):
    languages = csharp_deps.LANGUAGES

    def __init__(self, files, trees, repo):
        super().__init__(files, trees, repo)
        self.by_namespace: dict[str, dict[str, list[Definition]]] = {}
        self.by_type: dict[str, tuple[Definition, dict]] = {}
        self.declared: dict[str, set[str]] = {}
        for path in sorted(trees):
            for namespace, name, span, members in csharp_types(trees[path]):
                simple = name.rsplit(".", 1)[-1]
                definition = Definition(path, simple, *span)
                self.declared.setdefault(path, set()).add(simple)
                if "." not in name:  # nested types are reached through their outer type
                    self.by_namespace.setdefault(namespace, {}).setdefault(simple, []).append(definition)
                qualified = f"{namespace}.{name}" if namespace else name
                self.by_type.setdefault(qualified, (definition, {m: Definition(path, m, *s) for m, s in members.items()}))

    def _file_namespaces(self, tree: tree_sitter.Tree) -> list[str]:
        names = []
        for node in captures(tree, "[(namespace_declaration) (file_scoped_namespace_declaration)] @n").get("n", []):
            parts, parent = [csharp_deps.clean_name(text(node.child_by_field_name("name")))], node.parent
            while parent is not None:
                if parent.type == "namespace_declaration":
                    parts.append(csharp_deps.clean_name(text(parent.child_by_field_name("name"))))
                parent = parent.parent
            full = ".".join(reversed(parts))
            pieces = full.split(".")
            names += [".".join(pieces[:k]) for k in range(len(pieces), 0, -1)]
        return [*dict.fromkeys(names), ""]

    def _bindings(self, path: str) -> dict[str, _Binding]:
        tree = self.trees[path]
        visible: dict[str, list[tuple[int, Definition]]] = {}

        def add(name: str, after: int, definition: Definition) -> None:
            if definition.path != path:
                visible.setdefault(name, []).append((after, definition))

        for namespace in self._file_namespaces(tree):
            for name, defs in self.by_namespace.get(namespace, {}).items():
                for d in defs:
                    add(name, -1, d)
        out_alias: dict[str, _Binding] = {}
        for node in captures(tree, "(using_directive) @u").get("u", []):
            alias = node.child_by_field_name("name")
            targets = [c for c in node.named_children if (alias is None or c.id != alias.id) and c.type != "comment"]
            if not targets:
                continue
            target = csharp_deps.clean_name(text(targets[-1]))
            static = any(child.type == "static" for child in node.children)
            after = node.end_point.row
            if alias is not None:
                if target in self.by_type and self.by_type[target][0].path != path:
                    out_alias[text(alias)] = _Binding(after, self.by_type[target][0])
            elif static:
                for member, definition in (self.by_type.get(target, (None, {}))[1]).items():
                    add(member, after, definition)
            else:
                for name, defs in self.by_namespace.get(target, {}).items():
                    for d in defs:
                        add(name, after, d)
        out: dict[str, _Binding] = {}
        for name, entries in visible.items():
            if len({(d.path, d.start) for _, d in entries}) == 1:  # two namespaces declare it: ambiguous
                after, definition = min(entries, key=lambda e: e[0])
                out[name] = _Binding(after, definition)
        out.update(out_alias)
        for name in self.declared.get(path, ()):
            out.pop(name, None)
        return out

    def uses(self, path: str) -> list[CrossFileUse]:
        bindings = self._bindings(path)
        if not bindings:
            return []
        out = []
        skip = frozenset({"using_directive", "namespace_declaration", "file_scoped_namespace_declaration",
                          "qualified_name"})
        for node in captures(self.trees[path], "(identifier) @id").get("id", []):
            binding = bindings.get(text(node))
            if binding is None or node.start_point.row <= binding.after:
                continue
            parent = node.parent
            if parent is None or parent.type in ("using_directive",) or _inside(node, frozenset({"using_directive"})):
                continue
            if parent.type in ("namespace_declaration", "file_scoped_namespace_declaration") or (
                    parent.type == "qualified_name" and _inside(node, skip - {"qualified_name"})):
                continue
            if parent.type == "member_access_expression" and _is_field(node, "name"):
                continue
            if _is_field(node, "name") and parent.type not in ("invocation_expression", "attribute"):
                continue  # a declaration's own name
            if parent.type in ("variable_declarator", "parameter") and not _is_field(node, "type"):
                continue
            out.append(CrossFileUse(node.start_point.row, text(node), binding.definition))
        return sorted(set(out), key=lambda u: (u.line, u.name))


# ------------------------------------------------------------------------------ TypeScript, JS
_TS_DECLARATIONS = frozenset({"function_declaration", "generator_function_declaration", "class_declaration",
                              "abstract_class_declaration", "interface_declaration", "type_alias_declaration",
                              "enum_declaration", "lexical_declaration", "variable_declaration", "module",
                              "internal_module", "function_signature"})


def _declared_names(node: tree_sitter.Node) -> list[str]:
    if node.type in ("lexical_declaration", "variable_declaration"):
        return [text(d.child_by_field_name("name")) for d in node.named_children
                if d.type == "variable_declarator" and d.child_by_field_name("name") is not None
                and d.child_by_field_name("name").type == "identifier"]
    name = node.child_by_field_name("name")
    return [text(name)] if name is not None else []


class _Exports:
    def __init__(self, tree: tree_sitter.Tree):
        self.names: dict[str, tuple[int, int]] = {}
        self.forwards: dict[str, tuple[str, str]] = {}  # exported name -> (specifier, name there)
        self.stars: list[str] = []  # ``export * from``
        top: dict[str, tuple[int, int]] = {}
        for node in tree.root_node.children:
            if node.type in _TS_DECLARATIONS:
                for name in _declared_names(node):
                    top.setdefault(name, _span(node))
        for node in tree.root_node.children:
            if node.type != "export_statement":
                continue
            declaration = node.child_by_field_name("declaration")
            source = node.child_by_field_name("source")
            default = any(c.type == "default" for c in node.children)
            if declaration is not None:
                for name in _declared_names(declaration):
                    self.names.setdefault(name, _span(node))
                if default:
                    self.names.setdefault("default", _span(node))
                continue
            clause = next((c for c in node.named_children if c.type == "export_clause"), None)
            specifier = text(next((c for c in source.named_children if c.type == "string_fragment"), None)) \
                if source is not None else None
            if clause is not None:
                for spec in clause.named_children:
                    if spec.type != "export_specifier":
                        continue
                    local = text(spec.child_by_field_name("name"))
                    alias = spec.child_by_field_name("alias")
                    exported = text(alias) if alias is not None else local
                    if specifier is not None:
                        self.forwards.setdefault(exported, (specifier, local))
                    elif local in top:
                        self.names.setdefault(exported, top[local])
            elif specifier is not None and any(c.type == "*" for c in node.children) \
                    and not any(c.type == "namespace_export" for c in node.named_children):
                self.stars.append(specifier)
            elif default:
                value = node.child_by_field_name("value") or (node.named_children[-1] if node.named_children else None)
                if value is not None and value.type == "identifier" and text(value) in top:
                    self.names.setdefault("default", top[text(value)])
                elif value is not None:
                    self.names.setdefault("default", _span(node))


class _Script(_Family):
    languages = js_deps.LANGUAGES

    def __init__(self, files, trees, repo):
        super().__init__(files, trees, repo)
        self.resolver = self.resolver_of(js_deps)
        self.exports = {path: _Exports(tree) for path, tree in trees.items()}
        self.declared = {path: {n for node in tree.root_node.children if node.type in _TS_DECLARATIONS
                                for n in _declared_names(node)} for path, tree in trees.items()}

    def _target(self, path: str, specifier: str) -> str | None:
        found = sorted(p for p in self.resolver.resolve(path, specifier) if p in self.exports)
        return found[0] if found else None

    def _export(self, path: str, name: str, hops: int = FOLLOW_HOPS) -> Definition | None:
        exports = self.exports.get(path)
        if exports is None:
            return None
        if name in exports.names:
            return Definition(path, name, *exports.names[name])
        if hops <= 0:
            return None
        if name in exports.forwards:
            specifier, there = exports.forwards[name]
            target = self._target(path, specifier)
            return self._export(target, there, hops - 1) if target else None
        for specifier in exports.stars:
            target = self._target(path, specifier)
            found = self._export(target, name, hops - 1) if target and name != "default" else None
            if found is not None:
                return found
        return None

    def _bindings(self, path: str) -> dict[str, _Binding]:
        out: dict[str, _Binding] = {}
        tree = self.trees[path]
        for node in tree.root_node.children:
            if node.type != "import_statement":
                continue
            source = node.child_by_field_name("source")
            specifier = text(next((c for c in source.named_children if c.type == "string_fragment"), None)) \
                if source is not None else ""
            target = self._target(path, specifier) if specifier else None
            if target is None or target == path:
                continue
            after = node.end_point.row
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            for part in (clause.named_children if clause is not None else []):
                if part.type == "identifier":  # default import
                    definition = self._export(target, "default")
                    if definition is not None:
                        out[text(part)] = _Binding(after, definition)
                elif part.type == "namespace_import":
                    ident = next((c for c in part.named_children if c.type == "identifier"), None)
                    if ident is not None:
                        out[text(ident)] = _Binding(after, module=target)
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        definition = self._export(target, name)
                        if definition is not None:
                            out[text(alias) if alias is not None else name] = _Binding(after, definition)
        for name in self.declared.get(path, ()):
            out.pop(name, None)
        return out

    def uses(self, path: str) -> list[CrossFileUse]:
        bindings = self._bindings(path)
        if not bindings:
            return []
        out = []
        query = "(identifier) @id (shorthand_property_identifier) @id"
        if self.files[path].lang == "TypeScript":
            query += " (type_identifier) @id"  # JavaScript's grammar has no types
        found = captures(self.trees[path], query)
        for node in found.get("id", []):
            binding = bindings.get(text(node))
            if binding is None or node.start_point.row <= binding.after:
                continue
            parent = node.parent
            if parent is None or _inside(node, frozenset({"import_statement", "export_clause"})):
                continue
            if binding.module is not None:
                member = None
                if parent.type == "member_expression" and _is_field(node, "object"):
                    member = parent.child_by_field_name("property")
                elif parent.type == "nested_type_identifier" and _is_field(node, "module"):
                    member = parent.child_by_field_name("name")
                definition = self._export(binding.module, text(member)) if member is not None else None
                if definition is not None:
                    out.append(CrossFileUse(node.start_point.row, f"{text(node)}.{text(member)}", definition))
                continue
            if _is_field(node, "name") and parent.type not in ("call_expression", "new_expression"):
                continue  # a declaration's own name
            if parent.type in ("required_parameter", "optional_parameter") and _is_field(node, "pattern"):
                continue
            out.append(CrossFileUse(node.start_point.row, text(node), binding.definition))
        return sorted(set(out), key=lambda u: (u.line, u.name))


_FAMILIES = {"python": (_Python, python_deps), "java": (_Java, java_deps), "csharp": (_CSharp, csharp_deps),
             "typescript": (_Script, js_deps), "javascript": (_Script, js_deps)}


def cross_file_uses(files: list[RepoFile], languages: frozenset[str] | set[str],
                    repo: str | None = None) -> dict[str, list[CrossFileUse]]:
    """Per file of ``languages`` (CrossCodeEval's names: python, java, typescript, csharp, javascript):
    the uses of names defined in another file of the repository, by line. A file that tree-sitter
    cannot parse cleanly gives none (its lines would be guesses)."""
    out: dict[str, list[CrossFileUse]] = {}
    done: set[type] = set()
    for key in sorted(languages):
        family_cls, deps_module = _FAMILIES[key]
        if family_cls in done:
            continue
        done.add(family_cls)
        members = [f for f in files if f.lang in family_cls.languages]
        if not members:
            continue
        trees = {}
        for f in members:
            try:
                tree = parse(deps_module.grammar(f), f.content)
            except Exception:  # noqa: BLE001 - a parser crash loses this file, not the repository
                continue
            trees[f.path] = tree
        family = family_cls(members, trees, repo)
        wanted = {CROSSFILE_LANGUAGES[k] for k in languages}
        for f in members:
            if f.lang in wanted and f.path in trees and not trees[f.path].root_node.has_error:
                found = family.uses(f.path)
                if found:
                    out[f.path] = found
    return out
