"""Python imports -> files (paper section 2.2 applies its dependency sort to Python).

Resolved: ``import a.b``, ``import a.b as c``, ``from a.b import c`` (``c`` a submodule
``a/b/c.py`` or a name of ``a/b/__init__.py`` / ``a/b.py``), relative imports (``from . import
x``, ``from ..x import y``), imports inside functions and ``try`` blocks.

Source roots: a repository has no ``sys.path``, so every folder that could be one is tried: the
repository root and every folder that is not itself inside a regular package (neither it nor a
folder above it has an ``__init__.py``). ``src/pkg/mod.py`` (with ``src/pkg/__init__.py``) is thus
``pkg.mod`` and ``src.pkg.mod``, but not ``mod`` -- a suffix starting inside a package is not
importable in Python 3, and indexing it would turn ``import logging`` into an edge to
``pkg/utils/logging.py`` (also when ``pkg/utils/`` lacks an ``__init__.py``: the filter drops empty
files, and a folder inside a package is a namespace portion of it, never a root).

Namespace packages (PEP 420): a folder without ``__init__.py`` is a package all the same, so
``from ns.sub.mod import x`` resolves through ``ns/`` and ``ns/sub/`` whether or not they have one.
A repository whose root is itself a package (a package folder crawled by itself, as from
site-packages) has paths that lack the package's name; the name is the repository's own when its
imports use it (``megatron`` for ``megatron/``), else one that most of its absolute imports
continue with a module of the root (``Resolver._root_package_name``). A root with ``__init__.py``
is then no source root; a root without one (a namespace package such as ``megatron/``, or a
package whose empty ``__init__.py`` the filter dropped) stays a source root as well.
An absolute name is looked up first under the importing file's own folders, nearest first (a
monorepo's projects each find their own ``utils``), then repository-wide (shortest path, then
lexicographic). The longest importable prefix of a dotted name wins (``import a.b.c`` -> ``a/b/c.py``,
falling back to ``a/b`` when ``c`` is not a module).

Not resolved: ``importlib.import_module("x")`` and other dynamic imports, ``sys.path`` edits,
parent packages' ``__init__.py`` (``import a.b`` gives an edge to ``a/b`` only), star-import
contents, and anything outside the repository (stdlib, third-party).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass

import tree_sitter

from ._common import ancestors, captures, folder, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"Python"})

_QUERY = "(import_statement) @import (import_from_statement) @import"

# Which file stands for a module when several do: runtime sources before stubs, and a package
# before a module of the same name (Python's FileFinder checks the package folder first).
_EXTENSION_RANK = {".py": 0, ".pyw": 1, ".pyi": 2}


@dataclass(frozen=True)
class PythonImport:
    module: str  # dotted, without the leading dots; "" for ``from . import x``
    level: int  # number of leading dots; 0 for an absolute import
    names: tuple[str, ...]  # names after ``import`` in a from-import; () for ``import a.b``


def grammar(file: RepoFile) -> str:
    return "python"


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[PythonImport]:
    imports: list[PythonImport] = []
    for node in captures(tree, _QUERY).get("import", []):
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
                imports.append(PythonImport(_dotted(dotted), 0, ()))
            continue
        module, level = from_module(node)
        names = []
        for name in node.children_by_field_name("name"):
            name = name.child_by_field_name("name") if name.type == "aliased_import" else name
            names.append(_dotted(name))
        imports.append(PythonImport(module, level, tuple(n for n in names if n)))
    return [imp for imp in imports if imp.module or imp.level]


def from_module(node: tree_sitter.Node) -> tuple[str, int]:
    """(dotted module, level) of an ``import_from_statement``: ``from ..a.b import c`` -> ("a.b", 2)."""
    module = node.child_by_field_name("module_name")
    level, dotted = 0, module
    if module is not None and module.type == "relative_import":
        prefix = next((c for c in module.children if c.type == "import_prefix"), None)
        level = text(prefix).count(".")
        dotted = next((c for c in module.children if c.type == "dotted_name"), None)
    return _dotted(dotted), level


def _dotted(node: tree_sitter.Node | None) -> str:
    return "".join(text(node).split())  # a dotted name may be split over lines in parentheses


def _module_path(path: str) -> tuple[str, int]:
    """``a/b/__init__.py`` -> ``("a/b", rank)``, ``a/b.py`` -> ``("a/b", rank)``."""
    stem, extension = posixpath.splitext(path)
    rank = 2 * _EXTENSION_RANK.get(extension, len(_EXTENSION_RANK))
    if posixpath.basename(stem) == "__init__":
        return folder(stem), rank
    return stem, rank + 1


class Resolver:
    """Indexes a repository's Python files once: module path -> file, dotted name -> module path."""

    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        ranked: dict[str, tuple[int, str]] = {}
        for file in files:
            if file.lang in LANGUAGES:
                module, rank = _module_path(file.path)
                if module not in ranked or (rank, file.path) < ranked[module]:
                    ranked[module] = (rank, file.path)
        self.modules = {module: path for module, (_, path) in ranked.items()}
        self.package_dirs = {
            folder(path) for path in self.modules.values()
            if posixpath.splitext(posixpath.basename(path))[0] == "__init__"
        }
        self._root_cache: dict[str, bool] = {}
        self.root_package: str | None = None  # the root is this regular package: not a source root
        self.root_name: str | None = None  # the import name of the repository root, if any
        self.by_name = self._names_at_source_roots()
        hint = re.sub(r"[-.]", "_", repo.rsplit("/", 1)[-1].lower()) if repo else None
        hint = hint if hint and hint.isidentifier() else None
        if "" in self.package_dirs:
            # The root is a package, not a source root: ``import abc`` is the stdlib's, not the
            # repository's abc.py.
            if name := self._root_package_name(parsed, hint, regular=True):
                self.root_package = self.root_name = name
                self._root_cache.clear()
                self.by_name = self._names_at_source_roots()
        else:
            # A namespace package (or a package whose empty __init__.py is gone): the root stays
            # a source root, and ``name.x`` is its ``x`` too.
            self.root_name = self._root_package_name(parsed, hint, regular=False)

    def _names_at_source_roots(self) -> dict[str, str]:
        """Dotted name -> module path, for every suffix that starts at a possible source root."""
        by_name: dict[str, str] = {}
        for module in self.modules:
            parts = module.split("/") if module else []
            for start in range(len(parts)):
                if not all(part.isidentifier() for part in parts[start:]):
                    continue
                if not self._is_root("/".join(parts[:start])):
                    continue
                name = ".".join(parts[start:])
                held = by_name.get(name)
                if held is None or (len(module), module) < (len(held), held):
                    by_name[name] = module
        return by_name

    def _root_package_name(self, parsed: dict[str, ParsedFile], hint: str | None,
                           regular: bool) -> str | None:
        """The import name of a repository whose root folder is itself a package.

        Paths of such a repository (``__init__.py`` at the top, e.g. a package folder crawled
        by itself) lack the package's own name, so ``from email import errors`` cannot match
        ``errors.py`` by path. Candidates are first components that absolute imports continue
        with a module of the root while they match nothing else. In order:

        1. the repository's own name (``hint``) when one such import uses it;
        2. the name most such imports use (ties: lexicographic) when they are two or more and at
           least half of that name's imports (``from collections.abc import X`` in a package
           holding an ``abc/`` must not name it ``collections``);
        3. for a root with ``__init__.py`` (``regular``), which is a package whatever its name:
           the repository's name, else the name of the one import that fits.
        """
        hits: Counter[str] = Counter()
        tries: Counter[str] = Counter()
        for file in parsed.values():
            for imp in file.imports:
                parts = imp.module.split(".")
                if imp.level or parts[0] in self.by_name:
                    continue
                below = "/".join(parts[1:])
                tries[parts[0]] += 1
                hits[parts[0]] += any(
                    module in self.modules for module in
                    [f"{below}/{name}".lstrip("/").replace(".", "/") for name in imp.names] + [below] if module
                )
        if hint and hits[hint]:
            return hint
        best = min(hits, key=lambda name: (-hits[name], name), default=None)
        if best is not None and hits[best] >= 2 and hits[best] >= 0.5 * tries[best]:
            return best
        if regular:
            return hint or (best if best is not None and hits[best] else None)
        return None

    def _is_root(self, directory: str) -> bool:
        """Not a regular package, nor inside one (a folder below a package is part of it)."""
        if directory == "":
            return self.root_package is None
        if self.root_package is not None:
            return False  # everything is inside the root package
        if directory not in self._root_cache:
            self._root_cache[directory] = directory not in self.package_dirs and self._is_root(folder(directory))
        return self._root_cache[directory]

    def resolve(self, path: str, imp: PythonImport) -> set[str]:
        found = self._resolve_relative(path, imp) if imp.level else self._resolve_absolute(path, imp)
        return {self.modules[module] for module in found}

    def _resolve_absolute(self, path: str, imp: PythonImport) -> set[str]:
        roots = [d for d in ancestors(path) if self._is_root(d)]
        parts = imp.module.split(".")
        found = set()
        for name in imp.names or ("*",):
            hit = self._find_absolute(roots, parts + name.split(".")) if name != "*" else None
            hit = hit or self._longest_prefix(roots, parts)
            if hit is not None:
                module, length = hit
                # ``import a.b.c`` runs a/__init__.py and a/b/__init__.py first: depend on them too.
                found |= self._packages_on_the_way(module, module.count("/") + 2 - length)
        return found

    def _resolve_relative(self, path: str, imp: PythonImport) -> set[str]:
        # The package of a module is its folder, for __init__.py too; each extra dot goes one up.
        base = folder(path)
        for _ in range(imp.level - 1):
            if not base:
                return set()  # beyond the repository root
            base = folder(base)
        target = posixpath.join(base, *imp.module.split(".")) if imp.module else base
        found = set()
        for name in imp.names or ("*",):
            module = posixpath.join(target, *name.split(".")) if name != "*" else target
            module = module if module in self.modules else target
            if module in self.modules:
                # Packages below the anchor, not the anchor itself: the importer lives inside it,
                # so it is initialising already (and an __init__ importing its submodules would
                # otherwise put every module of a package in a cycle with it).
                found |= self._packages_on_the_way(module, len(base.split("/")) + 1 if base else 1)
        return found

    def _packages_on_the_way(self, module: str, first: int) -> set[str]:
        """``module`` and the packages above it from its ``first``-th path component on."""
        parts = module.split("/")
        packages = {"/".join(parts[:end]) for end in range(first, len(parts))}
        return {module} | (packages & self.package_dirs)

    def _longest_prefix(self, roots: list[str], parts: list[str]) -> tuple[str, int] | None:
        for end in range(len(parts), 0, -1):
            if (found := self._find_absolute(roots, parts[:end])) is not None:
                return found
        return None

    def _find_absolute(self, roots: list[str], parts: list[str]) -> tuple[str, int] | None:
        """(module path, len(parts)) of a dotted name; ``roots``: source roots, nearest first."""
        relative = "/".join(parts)
        for directory in roots:
            module = f"{directory}/{relative}" if directory else relative
            if module in self.modules:
                return module, len(parts)
        if parts[0] == self.root_name and (module := "/".join(parts[1:])) in self.modules:
            return module, len(parts)  # the repository root is package ``parts[0]``
        module = self.by_name.get(".".join(parts))
        return None if module is None else (module, len(parts))
