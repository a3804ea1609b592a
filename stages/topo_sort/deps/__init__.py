"""Dependency parsing for the repository-level topological sort (paper section 2.2).

``find_dependencies(files)`` parses each file of a supported language with tree-sitter, reads its
import / include / using / require statements, and resolves them to other files of the same
repository. Each language family (one module each) builds its index of the repository once --
module names, packages, namespaces, path suffixes -> files -- so a repository costs O(files)
lookups, never a loop over pairs of files. Imports that name nothing in the repository (standard
library, third-party packages) give no edge. Edges join files of one language family.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from . import c_cpp, csharp, go, java, javascript, php, python, ruby, rust
from ._common import captures, parse, text
from .model import DependencyGraph, ParsedFile, RepoFile

# parse / captures / text: the tree-sitter helpers, shared with eval's cross-file name finder.
__all__ = ["SUPPORTED_LANGUAGES", "DependencyGraph", "ParsedFile", "RepoFile", "captures", "find_dependencies",
           "parse", "parsed_file", "text"]

# Each module: LANGUAGES, grammar(file), extract_imports(tree, path), optionally file_info(tree) (what
# its resolver needs of a tree besides the imports), Resolver(files, parsed, repo) (parsed: path ->
# ParsedFile; repo: the repository's name, a hint; Python takes it for the import name of a root
# package) with resolve(path, import) -> set of paths and, optionally, implicit(path, parsed file).
_FAMILIES: tuple[ModuleType, ...] = (python, java, csharp, c_cpp, javascript, go, rust, php, ruby)

SUPPORTED_LANGUAGES: frozenset[str] = frozenset().union(*(f.LANGUAGES for f in _FAMILIES))


def find_dependencies(files: list[RepoFile], languages: frozenset[str] | None = None,
                      repo: str | None = None, max_parse_bytes: int | None = None,
                      on_parse: Callable[[RepoFile, str, object], None] | None = None) -> DependencyGraph:
    """Edges ``path -> paths it depends on`` for one repository's files.

    Args:
        files: all files of one repository (any language; ``go.mod`` is read when present).
        languages: parse imports only of files in these languages (default: all supported);
            other files get no outgoing edges but can still be depended on.
        repo: the repository's name (``owner/name`` or a folder's name): a package folder crawled
            by itself is usually imported under its own name.
        max_parse_bytes: files above this many UTF-8 bytes are not parsed (``parse_skipped``): they
            get no outgoing edges but can still be depended on. tree-sitter's time and memory grow
            with the file (about 3 s and 100 bytes of memory per byte at 1 MB of Python), so one
            generated multi-MB file would cost minutes and gigabytes for imports it rarely has.
        on_parse: called as ``on_parse(file, grammar, tree)`` with each file's tree right after it is
            parsed (the stage records syntax scores from it: parse once, docs/filter.md).
    """
    enabled = SUPPORTED_LANGUAGES if languages is None else SUPPORTED_LANGUAGES & frozenset(languages)
    graph = DependencyGraph(edges={file.path: set() for file in files})
    for family in _FAMILIES:
        parsed = [file for file in files if file.lang in family.LANGUAGES and file.lang in enabled]
        if not parsed:
            continue
        summaries: dict[str, ParsedFile] = {}
        for file in parsed:
            if max_parse_bytes is not None and _longer_than(file.content, max_parse_bytes):
                graph.parse_skipped.append(file.path)
                continue
            grammar = family.grammar(file)
            try:
                tree = parse(grammar, file.content)
            except Exception:  # noqa: BLE001 - a parser crash loses this file, not the repository
                graph.parse_failures.append(file.path)
                continue
            if tree.root_node.has_error:
                graph.parse_failures.append(file.path)  # still parsed: keep what can be read
            if on_parse is not None:
                on_parse(file, grammar, tree)
            # The tree is freed here, not kept for the whole repository: what the resolver needs of
            # it is small, and a big repository's trees were most of a worker's memory (issue #18).
            summaries[file.path] = parsed_file(family, tree, file.path)
            del tree
        resolver = family.Resolver(files, summaries, repo=repo)
        implicit = getattr(resolver, "implicit", None)
        for path, summary in summaries.items():
            targets = graph.edges[path]
            for imp in summary.imports:
                found = resolver.resolve(path, imp)
                graph.imports_total += 1
                graph.imports_resolved += bool(found)
                targets |= found
            if implicit is not None:
                targets |= implicit(path, summary)
    for path, targets in graph.edges.items():
        targets.discard(path)  # a self-edge orders nothing
    graph.parse_failures.sort()
    graph.parse_skipped.sort()
    return graph


def parsed_file(family: ModuleType, tree, path: str) -> ParsedFile:
    """What `family`'s resolver needs of one file's tree (its imports and `file_info`)."""
    info = getattr(family, "file_info", None)
    return ParsedFile(list(family.extract_imports(tree, path)), info(tree) if info is not None else None)


def _longer_than(text: str, limit: int) -> bool:
    """UTF-8 length of `text` above `limit`, without encoding a text whose characters already are."""
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit
