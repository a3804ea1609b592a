"""Java dependency parsing: explicit, wildcard, static and same-package references."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(path, "Java", text) for path, text in sources.items()])


SOURCES = {
    "src/main/java/com/acme/model/User.java":
        "package com.acme.model;\npublic class User { Address address; }\n",
    "src/main/java/com/acme/model/Address.java":
        "package com.acme.model;\npublic class Address { String street; }\n",
    "src/main/java/com/acme/model/Role.java":
        "package com.acme.model;\npublic enum Role { ADMIN; public static final int N = Limits.MAX; }\n",
    "src/main/java/com/acme/model/Limits.java":
        "package com.acme.model;\nclass Limits { static final int MAX = 3; }\n",
    "src/main/java/com/acme/util/Strings.java":
        "package com.acme.util;\npublic final class Strings { public static String trim(String s) { return s; }"
        " public static class Inner {} }\n",
    "src/main/java/com/acme/app/Service.java":
        "package com.acme.app;\n"
        "import com.acme.model.User;\n"
        "import com.acme.util.Strings.Inner;\n"
        "import static com.acme.util.Strings.trim;\n"
        "import java.util.List;\n"
        "public class Service { List<User> users; }\n",
    "src/main/java/com/acme/app/Report.java":
        "package com.acme.app;\nimport com.acme.model.*;\nimport static org.junit.Assert.*;\n"
        "class Report { @Audited Service service; void f() { Helper.run(); } }\n",
    "src/main/java/com/acme/app/Helper.java":
        "package com.acme.app;\nclass Helper { static void run() {} }\n",
    "src/main/java/com/acme/app/Audited.java":
        "package com.acme.app;\n@interface Audited {}\n",
}


def test_explicit_wildcard_static_and_same_package():
    g = graph(SOURCES)
    model = "src/main/java/com/acme/model/"
    app = "src/main/java/com/acme/app/"
    strings = "src/main/java/com/acme/util/Strings.java"
    assert g.edges[app + "Service.java"] == {model + "User.java", strings}
    assert g.edges[app + "Report.java"] == {
        model + "User.java", model + "Address.java", model + "Role.java", model + "Limits.java",
        app + "Service.java", app + "Helper.java", app + "Audited.java",
    }
    assert g.edges[model + "User.java"] == {model + "Address.java"}
    assert g.edges[model + "Role.java"] == {model + "Limits.java"}  # static field of a same-package class
    assert g.edges[model + "Address.java"] == set()  # String is java.lang, not a repo class
    assert (g.imports_total, g.imports_resolved) == (6, 4)


def test_same_simple_name_in_another_package_is_not_an_edge():
    g = graph({
        "a/Foo.java": "package a;\nclass Foo { Bar bar; }\n",
        "b/Bar.java": "package b;\nclass Bar {}\n",
        "a/Baz.java": "package a;\nclass Baz {}\n",
    })
    assert g.edges == {"a/Foo.java": set(), "b/Bar.java": set(), "a/Baz.java": set()}


def test_syntax_error_keeps_imports():
    g = graph({
        "p/A.java": "package p;\nimport q.B;\nclass A { void f( { }\n",
        "q/B.java": "package q;\npublic class B {}\n",
    })
    assert g.edges["p/A.java"] == {"q/B.java"}
    assert g.parse_failures == ["p/A.java"]
