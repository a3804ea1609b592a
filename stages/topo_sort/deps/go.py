"""Go imports -> files, through the module path of ``go.mod``.

``go.mod`` (``module example.com/x``) maps import paths to folders: ``import
"example.com/x/pkg/y"`` depends on the ``.go`` files of ``pkg/y`` below that ``go.mod``
(nested modules: the longest module path wins; ``vendor/example.com/z`` folders too). Test files
(``_test.go``) are not targets: importing a package never compiles its tests.

Without any ``go.mod`` (crawl keeps only source files, so a crawled repository never has one;
GOPATH-era repositories neither), a non-standard import path (its first element has a dot,
like ``github.com``) resolves to the repository folder it ends with, the longest such folder:
``github.com/acme/tool/pkg/util`` -> ``pkg/util``.

Not resolved: files of one package folder among themselves (Go has no intra-package imports, so
no order is implied), ``replace`` directives.
"""

from __future__ import annotations

import posixpath

import tree_sitter

from ._common import captures, folder, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"Go"})

_QUERY = """
(import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @path))
(import_spec path: (raw_string_literal (raw_string_literal_content) @path))
"""


def grammar(file: RepoFile) -> str:
    return "go"


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[str]:
    return [text(node) for node in captures(tree, _QUERY).get("path", [])]


def module_path(go_mod: str) -> str | None:
    """The ``module`` directive of a go.mod file (its grammar is line based)."""
    for line in go_mod.splitlines():
        words = line.split("//")[0].split()
        if len(words) == 2 and words[0] == "module":
            return words[1].strip('"`')
    return None


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.packages: dict[str, set[str]] = {}  # folder -> its non-test .go files
        modules = []
        for file in files:
            if file.lang in LANGUAGES and not file.path.endswith("_test.go"):
                self.packages.setdefault(folder(file.path), set()).add(file.path)
            elif posixpath.basename(file.path) == "go.mod" and (name := module_path(file.content)):
                modules.append((name, folder(file.path)))
        # Longest module path first, so a nested module wins over the one around it.
        self.modules = sorted(modules, key=lambda m: (-len(m[0]), m))

    def resolve(self, path: str, import_path: str) -> set[str]:
        for name, root in self.modules:
            if import_path == name or import_path.startswith(name + "/"):
                package = posixpath.join(root, import_path[len(name) + 1:]).rstrip("/")
                return set(self.packages.get(package, ()))
        for _, root in self.modules:
            vendored = posixpath.join(root, "vendor", import_path)
            if vendored in self.packages:
                return set(self.packages[vendored])
        # With a go.mod, an import outside its module is another module's; without one, guess.
        if self.modules or "." not in import_path.split("/")[0]:  # stdlib: "fmt", "net/http"
            return set()
        parts = import_path.split("/")
        for k in range(1, len(parts)):  # the longest folder the import path ends with
            package = "/".join(parts[k:])
            if package in self.packages:
                return set(self.packages[package])
        return set()
