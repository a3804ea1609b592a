"""Ruby: require_relative against the file, require against load-path folders."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(p, "Ruby", t) for p, t in sources.items()])


def test_require_relative_and_require():
    g = graph({
        "lib/mygem.rb": "require 'json'\nrequire 'mygem/version'\nrequire_relative 'mygem/client'\n",
        "lib/mygem/version.rb": "VERSION = '1.0'\n",
        "lib/mygem/client.rb": "require_relative('../mygem/version')\nrequire \"set\"\n",
        "app/models/set.rb": "class Set; end\n",  # not on the load path: no edge from require 'set'
        "spec/spec_helper.rb": "require 'mygem'\n",
        "spec/client_spec.rb": "require 'spec_helper'\nrequire \"mygem/#{name}\"\nFoo.require 'x'\n",
    })
    assert g.edges["lib/mygem.rb"] == {"lib/mygem/version.rb", "lib/mygem/client.rb"}
    assert g.edges["lib/mygem/client.rb"] == {"lib/mygem/version.rb"}
    assert g.edges["spec/spec_helper.rb"] == {"lib/mygem.rb"}
    assert g.edges["spec/client_spec.rb"] == {"spec/spec_helper.rb"}  # interpolated path skipped
    assert (g.imports_total, g.imports_resolved) == (7, 5)


def test_syntax_error_keeps_requires():
    g = graph({"a.rb": "require_relative 'b'\ndef f(\n", "b.rb": ""})
    assert g.edges["a.rb"] == {"b.rb"}
    assert g.parse_failures == ["a.rb"]
