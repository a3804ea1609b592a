"""JavaScript and TypeScript module specifiers -> files (.js .jsx .mjs .cjs .ts .tsx .mts .cts).

Resolved: ``import ... from './x'``, ``import './x'``, ``export ... from './x'``,
``require('./x')``, dynamic ``import('./x')`` and TypeScript's ``import x = require('./x')``,
for relative specifiers (``./``, ``../``) only, the way Node and TypeScript's bundler
resolution look them up: the exact file, then the specifier plus ``.ts .tsx .js .jsx .mjs .cjs
.d.ts .mts .cts``, then ``<dir>/index.<ext>``; a ``./x.js`` that does not exist also tries
``./x.ts`` / ``./x.tsx`` (TypeScript's ESM convention names the emitted file).

Not resolved: bare specifiers (``react``, packages), tsconfig ``paths`` aliases, absolute
specifiers, ``package.json`` ``main`` fields, and specifiers built at run time.
"""

from __future__ import annotations

import posixpath

import tree_sitter

from ._common import captures, folder, join_inside, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"JavaScript", "TypeScript"})

_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts", ".mts", ".cts")
# TypeScript sources are imported under the name of the JavaScript file they compile to.
_EMITTED = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}

_QUERY = """
(import_statement source: (string (string_fragment) @specifier))
(export_statement source: (string (string_fragment) @specifier))
(call_expression function: [(identifier) (import)] @function
                 arguments: (arguments . (string (string_fragment) @specifier)))
"""
_TYPESCRIPT_QUERY = _QUERY + "(import_require_clause source: (string (string_fragment) @specifier))"


def grammar(file: RepoFile) -> str:
    if file.lang == "JavaScript":
        return "javascript"  # its grammar includes JSX
    return "tsx" if file.path.lower().endswith(".tsx") else "typescript"


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[str]:
    typescript = not path.lower().endswith((".js", ".jsx", ".mjs", ".cjs"))
    found = captures(tree, _TYPESCRIPT_QUERY if typescript else _QUERY)
    calls = {n.parent.id for n in found.get("function", []) if n.type == "import" or text(n) == "require"}
    specifiers = []
    for node in found.get("specifier", []):
        call = node.parent.parent.parent  # string_fragment < string < arguments < call_expression
        if node.parent.parent.type == "arguments" and (call is None or call.id not in calls):
            continue  # some other function called with a string
        specifiers.append(text(node))
    return specifiers


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.paths = {file.path for file in files if file.lang in LANGUAGES}

    def resolve(self, path: str, specifier: str) -> set[str]:
        if not specifier.startswith(("./", "../")) and specifier not in (".", ".."):
            return set()  # a package, an alias or a URL
        base = join_inside(folder(path), specifier.split("?")[0].split("#")[0])
        if base is None:
            return set()
        stem, extension = posixpath.splitext(base)
        candidates = [base]
        candidates += [stem + emitted for emitted in _EMITTED.get(extension, ())]
        candidates += [base + extension for extension in _EXTENSIONS]
        candidates += [posixpath.join(base, "index" + extension) for extension in _EXTENSIONS]
        return next(({c} for c in candidates if c in self.paths), set())
