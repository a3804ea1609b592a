"""Python dependency parsing: small repositories built in code, exact edge sets."""

import sysconfig
from pathlib import Path

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str], lang: str = "Python"):
    return find_dependencies([RepoFile(path, lang, text) for path, text in sources.items()])


def test_absolute_relative_and_package_imports():
    g = graph({
        "pkg/__init__.py": "from .core import run\n",
        "pkg/core.py": "import os\nimport numpy as np\nfrom . import util\nfrom .sub import deep\n",
        "pkg/util.py": "def helper(): pass\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from ..util import helper\nfrom .. import core\n",
        "pkg/sub/other.py": "from ..sub import deep as d\nfrom . import missing_name\n",
        "main.py": "import pkg\nimport pkg.sub.deep\nfrom pkg import util, run\n",
    })
    assert g.edges == {
        "pkg/__init__.py": {"pkg/core.py"},
        # a package below the importer's own runs first too: pkg/sub/__init__.py
        "pkg/core.py": {"pkg/util.py", "pkg/sub/deep.py", "pkg/sub/__init__.py"},
        "pkg/util.py": set(),
        "pkg/sub/__init__.py": set(),
        "pkg/sub/deep.py": {"pkg/util.py", "pkg/core.py"},
        # ``missing_name`` is not a module: it is a name of pkg/sub/__init__.py
        "pkg/sub/other.py": {"pkg/sub/deep.py", "pkg/sub/__init__.py"},
        # ``import pkg.sub.deep`` runs pkg/__init__.py and pkg/sub/__init__.py first;
        # ``run`` is a name of pkg/__init__.py, ``util`` a submodule
        "main.py": {"pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/deep.py", "pkg/util.py"},
    }
    assert g.parse_failures == []


def test_src_layout_and_tests_folder():
    g = graph({
        "src/mylib/__init__.py": "",
        "src/mylib/a.py": "from mylib.b import thing\nimport mylib.c as c\n",
        "src/mylib/b.py": "thing = 1\n",
        "src/mylib/c.py": "import src.mylib.b\n",  # the folder above a package can be a root too
        "tests/test_a.py": "import pytest\nfrom mylib import a\n",
    })
    init = "src/mylib/__init__.py"  # an absolute import runs the package's __init__.py first
    assert g.edges["src/mylib/a.py"] == {"src/mylib/b.py", "src/mylib/c.py", init}
    assert g.edges["src/mylib/c.py"] == {"src/mylib/b.py", init}
    assert g.edges["tests/test_a.py"] == {"src/mylib/a.py", init}


def test_stdlib_and_third_party_are_not_edges_even_when_a_package_holds_same_named_module():
    g = graph({
        "app/__init__.py": "",
        "app/logging.py": "import logging\n",  # stdlib logging, not itself
        "app/main.py": "import json, logging, requests\nfrom collections import OrderedDict\n",
    })
    assert g.edges == {"app/__init__.py": set(), "app/logging.py": set(), "app/main.py": set()}
    assert (g.imports_total, g.imports_resolved) == (5, 0)


def test_script_folders_and_nearest_root_win():
    # Two projects in one repository, each with its own helpers.py beside its scripts.
    g = graph({
        "proj_a/run.py": "import helpers\n",
        "proj_a/helpers.py": "",
        "proj_b/run.py": "import helpers\n",
        "proj_b/helpers.py": "",
        "tools/x.py": "import helpers\n",  # none nearby: shortest path, then lexicographic
    })
    assert g.edges["proj_a/run.py"] == {"proj_a/helpers.py"}
    assert g.edges["proj_b/run.py"] == {"proj_b/helpers.py"}
    assert g.edges["tools/x.py"] == {"proj_a/helpers.py"}


def test_imports_in_functions_and_try_blocks_and_longest_prefix():
    g = graph({
        "a/__init__.py": "",
        "a/b.py": "class C: pass\n",
        "m.py": "try:\n    import a.b.C\nexcept ImportError:\n    pass\n\ndef f():\n    from a import b\n",
    })
    assert g.edges["m.py"] == {"a/__init__.py", "a/b.py"}


def test_package_wins_over_module_and_stub():
    g = graph({"x/__init__.py": "", "x.py": "", "y.pyi": "", "y.py": "", "m.py": "import x, y\n"})
    assert g.edges["m.py"] == {"x/__init__.py", "y.py"}


def test_syntax_error_keeps_readable_imports():
    g = graph({"good.py": "", "bad.py": "import good\ndef broken(:\n    pass\n"})
    assert g.edges["bad.py"] == {"good.py"}
    assert g.parse_failures == ["bad.py"]


def test_languages_filter_and_non_python_files():
    files = {"a.py": "import b\n", "b.py": "", "README.md": "import a\n"}
    g = find_dependencies([RepoFile(p, "Markdown" if p.endswith(".md") else "Python", t) for p, t in files.items()],
                          languages=frozenset({"Java"}))
    assert g.edges == {"a.py": set(), "b.py": set(), "README.md": set()}
    assert g.imports_total == 0


def _stdlib_package(name: str) -> list[RepoFile]:
    root = Path(sysconfig.get_paths()["stdlib"]) / name
    return [RepoFile(p.relative_to(root.parent).as_posix(), "Python", p.read_text(encoding="utf-8"))
            for p in sorted(root.rglob("*.py"))]


def test_real_package_json():
    g = find_dependencies(_stdlib_package("json"))
    assert g.edges["json/__init__.py"] == {"json/decoder.py", "json/encoder.py"}
    assert g.edges["json/decoder.py"] == {"json/__init__.py", "json/scanner.py"}  # ``from json import scanner``
    assert g.edges["json/tool.py"] == {"json/__init__.py"}
    assert g.edges["json/encoder.py"] == set()  # only ``_json`` (C) and ``re``
    assert g.parse_failures == []


def test_real_package_email():
    g = find_dependencies(_stdlib_package("email"))
    assert {"email/_policybase.py", "email/feedparser.py"} <= g.edges["email/parser.py"]
    assert "email/mime/base.py" in g.edges["email/mime/multipart.py"]  # ``from email.mime.base import``
    assert "email/charset.py" in g.edges["email/header.py"]
    assert all(target.startswith("email/") for targets in g.edges.values() for target in targets)
    assert g.parse_failures == []


def test_repository_that_is_itself_a_package():
    # A package folder crawled by itself: paths lack the package's name, imports use it.
    files = [RepoFile(f.path.removeprefix("email/"), f.lang, f.content) for f in _stdlib_package("email")]
    g = find_dependencies(files)
    assert {"_policybase.py", "feedparser.py"} <= g.edges["parser.py"]  # ``from email.feedparser import``
    assert g.edges["mime/multipart.py"] == {"__init__.py", "mime/__init__.py", "mime/base.py"}
    g = graph({"__init__.py": "", "abc.py": "import abc\nfrom mypkg import util\n", "util.py": "from mypkg.abc import X\n"})
    assert g.edges == {"__init__.py": set(), "abc.py": {"__init__.py", "util.py"}, "util.py": {"__init__.py", "abc.py"}}


# --- namespace packages (PEP 420) and src layouts ---------------------------------------------------

def test_repository_root_that_is_a_namespace_package():
    # site-packages/megatron/ has no __init__.py; its paths lack "megatron", its imports use it.
    files = {
        "core/__init__.py": "from megatron.core.config import Config\n",
        "core/config.py": "class Config: pass\n",
        "core/parallel_state.py": "from megatron.core.config import Config\nimport torch.distributed\n",
        "core/models/gpt/model.py": "from megatron.core import parallel_state\n"
                                    "from megatron.core.models.common.embed import Embedding\n",
        "core/models/common/embed.py": "import megatron.core.config\n",  # models/: namespace folders
    }
    for repo in ("megatron", None):  # the repository's name, or else the imports alone, tell "megatron"
        g = find_dependencies([RepoFile(p, "Python", t) for p, t in files.items()], repo=repo)
        assert g.edges == {
            "core/__init__.py": {"core/config.py"},
            "core/config.py": set(),
            "core/parallel_state.py": {"core/config.py", "core/__init__.py"},
            "core/models/gpt/model.py": {"core/parallel_state.py", "core/__init__.py", "core/models/common/embed.py"},
            "core/models/common/embed.py": {"core/config.py", "core/__init__.py"},
        }, repo
        assert (g.imports_total, g.imports_resolved) == (6, 5)  # torch.distributed is not ours


def test_namespace_packages_in_a_src_layout():
    g = graph({
        "src/acme/tools/__init__.py": "",
        "src/acme/tools/a.py": "from acme.tools.b import thing\nimport acme.common.util\n",
        "src/acme/tools/b.py": "thing = 1\n",
        "src/acme/common/util.py": "from acme.tools import b\n",  # acme/ and acme/common/: no __init__.py
        "tests/test_a.py": "from acme.tools import a\nimport acme.common.util as u\n",
    })
    init = "src/acme/tools/__init__.py"
    assert g.edges["src/acme/tools/a.py"] == {"src/acme/tools/b.py", "src/acme/common/util.py", init}
    assert g.edges["src/acme/common/util.py"] == {"src/acme/tools/b.py", init}
    assert g.edges["tests/test_a.py"] == {"src/acme/tools/a.py", init, "src/acme/common/util.py"}


def test_a_folder_inside_a_package_is_part_of_it_not_a_source_root():
    # pkg/utils/ lacks __init__.py (a namespace portion of pkg, or its empty __init__.py was
    # filtered out): pkg/utils/logging.py is pkg.utils.logging, never the stdlib's `logging`.
    g = graph({
        "pkg/__init__.py": "",
        "pkg/utils/logging.py": "import logging\n",
        "pkg/main.py": "import logging\nfrom pkg.utils import logging as log\n",
    })
    assert g.edges["pkg/main.py"] == {"pkg/utils/logging.py", "pkg/__init__.py"}
    assert g.edges["pkg/utils/logging.py"] == set()
    assert g.imports_resolved == 1


def test_root_package_named_by_the_repository_not_by_a_lookalike_import():
    # anyio has an abc/ package and imports `collections.abc` often: the root is `anyio`.
    files = {
        "__init__.py": "from anyio.abc import Resource\n",
        "abc/__init__.py": "class Resource: pass\n",
        "_core.py": "from collections.abc import Mapping\nfrom collections.abc import Callable\nimport abc\n",
        "streams.py": "from collections.abc import Iterable\nfrom anyio._core import run\n",
    }
    g = find_dependencies([RepoFile(p, "Python", t) for p, t in files.items()], repo="agronholm/anyio")
    assert g.edges["_core.py"] == set()  # the stdlib's collections.abc and abc
    assert g.edges["streams.py"] == {"_core.py", "__init__.py"}
    assert g.edges["__init__.py"] == {"abc/__init__.py"}
