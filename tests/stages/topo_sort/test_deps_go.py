"""Go: import paths through go.mod's module path to package folders."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def test_module_path_packages_and_vendor():
    files = [
        RepoFile("go.mod", "", "module example.com/x\n\ngo 1.21\n"),
        RepoFile("main.go", "Go", 'package main\nimport (\n  "fmt"\n  y "example.com/x/pkg/y"\n  "github.com/dep/z"\n)\n'),
        RepoFile("pkg/y/y.go", "Go", 'package y\nimport "example.com/x/internal/util"\n'),
        RepoFile("pkg/y/y2.go", "Go", "package y\n"),
        RepoFile("pkg/y/y_test.go", "Go", 'package y\nimport "testing"\n'),
        RepoFile("internal/util/util.go", "Go", "package util\n"),
        RepoFile("vendor/github.com/dep/z/z.go", "Go", "package z\n"),
    ]
    g = find_dependencies(files)
    assert g.edges["main.go"] == {"pkg/y/y.go", "pkg/y/y2.go", "vendor/github.com/dep/z/z.go"}
    assert g.edges["pkg/y/y.go"] == {"internal/util/util.go"}
    assert g.edges["pkg/y/y2.go"] == set()  # no edges within a package folder
    assert g.edges["go.mod"] == set()
    assert (g.imports_total, g.imports_resolved) == (5, 3)


def test_nested_module_wins():
    files = [
        RepoFile("go.mod", "", "module example.com/x\n"),
        RepoFile("tools/go.mod", "", 'module "example.com/x/tools" // nested\n'),
        RepoFile("tools/gen/gen.go", "Go", "package gen\n"),
        RepoFile("a.go", "Go", 'package a\nimport "example.com/x/tools/gen"\n'),
    ]
    assert find_dependencies(files).edges["a.go"] == {"tools/gen/gen.go"}


def test_without_go_mod_import_paths_resolve_by_their_folder_suffix():
    """What a crawled repository looks like: crawl keeps .go files, not go.mod."""
    files = [
        RepoFile("cmd/tool/main.go", "Go", 'package main\nimport (\n  "errors"\n  "github.com/acme/tool/pkg/util"\n'
                 '  "github.com/other/lib"\n)\n'),
        RepoFile("pkg/util/util.go", "Go", "package util\n"),
        RepoFile("errors/errors.go", "Go", "package errors\n"),  # same name as the standard library's
    ]
    g = find_dependencies(files)
    assert g.edges["cmd/tool/main.go"] == {"pkg/util/util.go"}
    assert (g.imports_total, g.imports_resolved) == (3, 1)
