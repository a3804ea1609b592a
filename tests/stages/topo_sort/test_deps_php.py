"""PHP: require/include paths and ``use`` of namespaced classes."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(p, "PHP", t) for p, t in sources.items()])


def test_require_include_and_use():
    g = graph({
        "index.php": "<?php\nrequire_once 'config.php';\ninclude __DIR__ . '/lib/helpers.php';\n"
                     "require(\"vendor/autoload.php\");\nuse App\\Models\\User;\nuse App\\Http\\{Controller, Request as R};\n",
        "config.php": "<?php\nreturn [];\n",
        "lib/helpers.php": "<?php\nrequire_once dirname(__FILE__) . '/../config.php';\ninclude APP_ROOT . '/lib/strings.php';\n",
        "lib/strings.php": "<?php\nfunction s() {}\n",
        "src/Models/User.php": "<?php\nnamespace App\\Models;\nuse App\\Http\\Request;\nclass User {}\n",
        "src/Http/Controller.php": "<?php\nnamespace App\\Http {\n  abstract class Controller {}\n}\n",
        "src/Http/Request.php": "<?php\nnamespace App\\Http;\nuse function App\\helpers\\x;\nfinal class Request {}\n",
    })
    assert g.edges["index.php"] == {
        "config.php", "lib/helpers.php", "src/Models/User.php", "src/Http/Controller.php", "src/Http/Request.php",
    }
    assert g.edges["lib/helpers.php"] == {"config.php", "lib/strings.php"}
    assert g.edges["src/Models/User.php"] == {"src/Http/Request.php"}
    assert g.edges["src/Http/Request.php"] == set()  # ``use function`` is not resolved
    assert (g.imports_total, g.imports_resolved) == (9, 8)


def test_syntax_error_keeps_requires():
    g = graph({"a.php": "<?php\nrequire 'b.php';\nfunction f( {\n", "b.php": "<?php\n"})
    assert g.edges["a.php"] == {"b.php"}
    assert g.parse_failures == ["a.php"]
