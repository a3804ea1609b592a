"""find_dependencies frees each tree once it has what the resolver needs (issue #18: a repository's
trees were most of topo-sort's memory; torch's biggest unit peaked at 1.29 GiB with them, 0.80 without)."""

import sys

import stages.topo_sort.deps as deps
from stages.topo_sort.deps import RepoFile, find_dependencies


def _repo() -> list[RepoFile]:
    files = [RepoFile(f"pkg/m{i}.py", "Python", f"from pkg import m{i - 1}\n" if i else "x = 1\n") for i in range(6)]
    files += [RepoFile(f"src/a/C{i}.java", "Java", f"package a;\nclass C{i} {{ C{(i + 1) % 4} next; }}\n")
              for i in range(4)]
    files += [RepoFile(f"lib/N{i}.cs", "C#", f"using Ns{i + 1};\nnamespace Ns{i} {{ class T{i} {{}} }}\n")
              for i in range(3)]
    files += [RepoFile(f"web/P{i}.php", "PHP", f"<?php\nnamespace App;\nuse App\\P{i + 1};\nclass P{i} {{}}\n")
              for i in range(3)]
    return files


def test_no_tree_outlives_its_file(monkeypatch):
    """When file k is parsed, no earlier file's tree is still held by find_dependencies."""
    trees = []
    held_by_others = []
    real_parse = deps.parse

    def parse(grammar, content):
        # Refcount of an earlier tree: our list, the loop variable, getrefcount's argument, and
        # anything find_dependencies keeps.
        held_by_others.extend(sys.getrefcount(t) - 3 for t in trees)
        tree = real_parse(grammar, content)
        trees.append(tree)
        return tree

    monkeypatch.setattr(deps, "parse", parse)
    graph = find_dependencies(_repo())
    assert len(trees) == 16 and len(held_by_others) == 15 * 16 // 2
    assert max(held_by_others) == 0, "a parsed tree is still referenced after its file was summarised"
    # ... and the edges are read from the summaries all the same (each family's resolver).
    assert graph.edges["pkg/m3.py"] == {"pkg/m2.py"}
    assert graph.edges["src/a/C0.java"] == {"src/a/C1.java"}
    assert graph.edges["lib/N0.cs"] == {"lib/N1.cs"}
    assert graph.edges["web/P0.php"] == {"web/P1.php"}
