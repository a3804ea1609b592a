"""Ruby ``require_relative`` / ``require`` / ``load`` -> files.

Resolved: ``require_relative 'x'`` -> ``x.rb`` relative to the requiring file;
``require 'x/y'`` -> a file ``<root>/x/y.rb`` where ``<root>`` is the repository root or a
load-path folder (one named ``lib``, ``test`` or ``spec``, at any depth: gems and
sub-projects); shortest path, then lexicographic, when several match. ``load 'x.rb'`` likewise,
without adding ``.rb``. Restricting roots to load-path folders keeps ``require 'set'`` from
matching an unrelated ``app/models/set.rb``.

Not resolved: ``require File.expand_path(...)`` and other computed paths, interpolated strings,
Rails / Zeitwerk autoloading (constants used without ``require``), gems.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import tree_sitter

from ._common import SuffixIndex, captures, folder, join_inside, text
from .model import ParsedFile, RepoFile

LANGUAGES = frozenset({"Ruby"})

_QUERY = "(call method: (identifier) @method arguments: (argument_list . (string) @argument))"
_METHODS = ("require", "require_relative", "load")
_LOAD_PATH_FOLDERS = frozenset({"lib", "test", "spec"})


@dataclass(frozen=True)
class RubyRequire:
    method: str
    argument: str


def grammar(file: RepoFile) -> str:
    return "ruby"


def extract_imports(tree: tree_sitter.Tree, path: str) -> list[RubyRequire]:
    found = captures(tree, _QUERY)
    methods = {node.parent.id: text(node) for node in found.get("method", [])}
    requires = []
    for node in found.get("argument", []):
        call = node.parent.parent
        method = methods.get(call.id)
        if method not in _METHODS or call.child_by_field_name("receiver") is not None:
            continue
        parts = node.named_children
        if len(parts) == 1 and parts[0].type == "string_content":  # no interpolation
            requires.append(RubyRequire(method, text(parts[0])))
    return requires


def _on_load_path(prefix: str) -> bool:
    return prefix == "" or posixpath.basename(prefix) in _LOAD_PATH_FOLDERS


class Resolver:
    def __init__(self, files: list[RepoFile], parsed: dict[str, ParsedFile], repo: str | None = None):
        self.index = SuffixIndex((file.path for file in files if file.lang in LANGUAGES), _on_load_path)

    def resolve(self, path: str, imp: RubyRequire) -> set[str]:
        name = imp.argument if imp.method == "load" or imp.argument.endswith(".rb") else imp.argument + ".rb"
        if imp.method == "require_relative":
            target = join_inside(folder(path), name)
            return {target} if target in self.index.paths else set()
        best = self.index.match(name.removeprefix("./"))
        return {best} if best else set()
