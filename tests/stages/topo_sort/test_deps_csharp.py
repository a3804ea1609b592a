"""C# dependency parsing: using directives -> files declaring the namespace or type."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(path, "C#", text) for path, text in sources.items()])


def test_namespace_static_and_alias_usings():
    g = graph({
        "Core/Models.cs": "namespace Acme.Core { public class Model {} }\n",
        "Core/Models2.cs": "namespace Acme.Core;\npublic record Other(int X);\n",
        "Core/Nested.cs": "namespace Acme { namespace Core.Extra { static class Ext {} } }\n",
        "Util/Math.cs": "namespace Acme.Util { public static class MathX { public static int Sq(int x) => x*x; } }\n",
        "App/Program.cs":
            "using System;\nusing Acme.Core;\nusing static Acme.Util.MathX;\nusing M = Acme.Core.Extra.Ext;\n"
            "namespace Acme.App { class Program { static void Main() {} } }\n",
        "App/Partial.cs": "using Acme.Core;\nnamespace Acme.Core { partial class Model {} }\n",
    })
    assert g.edges["App/Program.cs"] == {
        "Core/Models.cs", "Core/Models2.cs", "App/Partial.cs",  # all of namespace Acme.Core
        "Util/Math.cs",  # type Acme.Util.MathX
        "Core/Nested.cs",  # type Acme.Core.Extra.Ext (nested namespace blocks)
    }
    # the file itself declares Acme.Core too: only the other files
    assert g.edges["App/Partial.cs"] == {"Core/Models.cs", "Core/Models2.cs"}
    assert g.edges["Core/Models.cs"] == set()
    assert (g.imports_total, g.imports_resolved) == (5, 4)


def test_unknown_namespace_and_syntax_error():
    g = graph({
        "A.cs": "using Newtonsoft.Json;\nusing B;\nnamespace A { class X { void F( { } }\n",
        "B.cs": "namespace B { class Y {} }\n",
    })
    assert g.edges == {"A.cs": {"B.cs"}, "B.cs": set()}
    assert g.parse_failures == ["A.cs"]
