"""The layers point one way: `dscoder_cli` → `stages.<stage>` → `stages.core` (docs/architecture.md).

Every import counts, also one inside a function (a lazy import is still a dependency):

- nothing under `stages/` imports `dscoder_cli`;
- `stages.core` imports no stage;
- no stage imports another stage's private names (`_x`) or private modules;
- the import graph of `dscoder_cli` and `stages` has no cycle.

`check_tree` is run on the real tree, and on a copy with a planted back-import to show it fails.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dscoder_cli", "stages")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) of every import in the file, resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def check_tree(root: Path) -> list[str]:
    """Every layering violation in the tree at `root`, one line each."""
    modules = {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        where = f"{path.relative_to(root)}"
        stage = mod.split(".")[1] if mod.startswith("stages.") and mod.count(".") >= 1 else None
        for target, names, line in imports_of(path, root):
            if not target.startswith(PACKAGES):
                continue
            # `from pkg import sub` where sub is a module: the edge goes to the submodule.
            targets = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
            if mod.startswith("stages") and target.startswith("dscoder_cli"):
                problems.append(f"{where}:{line}: stages imports the CLI ({target})")
            if stage == "core" and target.startswith("stages.") and not target.startswith("stages.core"):
                problems.append(f"{where}:{line}: stages.core imports a stage ({target})")
            other = target.split(".")[1] if target.startswith("stages.") and target.count(".") >= 1 else None
            if stage and other and other not in (stage, "core"):
                private = [n for n in names if n.startswith("_") and f"{target}.{n}" not in modules]
                private_module = any(p.startswith("_") for p in target.split(".")[2:])
                if private or private_module:
                    problems.append(f"{where}:{line}: {mod} uses private names of stages.{other} "
                                    f"({target}: {', '.join(private) or 'private module'})")
    problems += [f"import cycle: {' -> '.join(c + c[:1])}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_layers_point_one_way():
    assert check_tree(ROOT) == []


def _copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_planted_back_import_is_caught(tmp_path):
    root = _copy(tmp_path)
    target = root / "stages" / "filter" / "framework.py"
    target.write_text(target.read_text() + "\n\ndef _late():\n    from dscoder_cli.errors import fail  # noqa\n")
    problems = check_tree(root)
    assert any("stages/filter/framework.py" in p and "stages imports the CLI" in p for p in problems), problems


def test_core_importing_a_stage_a_private_name_and_a_cycle_are_caught(tmp_path):
    root = _copy(tmp_path)
    (root / "stages" / "core" / "schemas.py").write_text(
        (root / "stages" / "core" / "schemas.py").read_text() + "\nfrom stages.dedup import config as _c  # noqa\n")
    (root / "stages" / "topo_sort" / "order.py").write_text(
        (root / "stages" / "topo_sort" / "order.py").read_text()
        + "\nfrom stages.filter.framework import _private_thing  # noqa\n")
    # a cycle through two modules of one stage, one of the imports lazy
    (root / "stages" / "dedup" / "clustering.py").write_text(
        (root / "stages" / "dedup" / "clustering.py").read_text()
        + "\n\ndef _late():\n    from stages.dedup import minhash  # noqa\n")
    (root / "stages" / "dedup" / "minhash.py").write_text(
        (root / "stages" / "dedup" / "minhash.py").read_text() + "\nfrom . import clustering  # noqa\n")
    problems = "\n".join(check_tree(root))
    assert "stages.core imports a stage (stages.dedup)" in problems
    assert "uses private names of stages.filter" in problems and "_private_thing" in problems
    assert "import cycle" in problems and "stages.dedup.clustering" in problems and "stages.dedup.minhash" in problems
