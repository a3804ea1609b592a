"""C, C++ and CUDA includes: the paper's path-suffix rule with one deterministic best match."""

from stages.topo_sort.deps import RepoFile, find_dependencies

_LANG = {".c": "C", ".h": "C", ".cpp": "C++", ".hpp": "C++", ".cu": "CUDA"}


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(p, _LANG[p[p.rindex("."):]], t) for p, t in sources.items()])


def test_header_included_from_two_folders_and_system_suffix():
    g = graph({
        "include/util.h": "int util(void);\n",
        "include/mylib/api.h": "#include \"../util.h\"\n",
        "src/main.c": "#include <stdio.h>\n#include \"util.h\"\n#include <mylib/api.h>\nint main(){return 0;}\n",
        "tests/test_util.cpp": "#include \"../include/util.h\"\n#include <vector>\n",
        "kernels/k.cu": "#include \"mylib/api.h\"\n__global__ void k() {}\n",
    })
    assert g.edges["src/main.c"] == {"include/util.h", "include/mylib/api.h"}
    assert g.edges["tests/test_util.cpp"] == {"include/util.h"}
    assert g.edges["include/mylib/api.h"] == {"include/util.h"}
    assert g.edges["kernels/k.cu"] == {"include/mylib/api.h"}
    assert (g.imports_total, g.imports_resolved) == (7, 5)


def test_own_folder_then_nearest_then_shortest():
    g = graph({
        "a/config.h": "", "a/x.c": "#include \"config.h\"\n",
        "b/config.h": "", "b/sub/y.c": "#include \"config.h\"\n",  # b/config.h: nearest above
        "c/deep/config.h": "", "z/config.hpp": "", "lone.c": "#include \"config.h\"\n",
        "d/e/f.cpp": "#include \"ifdef.h\"\n#ifdef X\n#include \"config.h\"\n#endif\n",
    })
    assert g.edges["a/x.c"] == {"a/config.h"}
    assert g.edges["b/sub/y.c"] == {"b/config.h"}
    assert g.edges["lone.c"] == {"a/config.h"}  # shortest path, then lexicographic
    assert g.edges["d/e/f.cpp"] == {"a/config.h"}  # includes inside #ifdef count


def test_syntax_error_keeps_includes():
    g = graph({"x.h": "", "y.c": "#include \"x.h\"\nint f( { return; \n"})
    assert g.edges["y.c"] == {"x.h"}
    assert g.parse_failures == ["y.c"]
