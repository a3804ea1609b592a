"""Rust: mod declarations and use paths through the crate's module tree."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(p, "Rust", t) for p, t in sources.items()])


def test_mod_and_use_crate_self_super():
    g = graph({
        "src/lib.rs": "pub mod net;\nmod util;\npub mod config { pub mod parse; }\npub struct Top;\n",
        "src/net.rs": "mod tcp;\nuse crate::util::helper;\nuse std::io;\n",
        "src/net/tcp.rs": "use super::super::config::parse::Parser;\nuse crate::Top;\nuse self::inner::X;\n",
        "src/util/mod.rs": "pub fn helper() {}\nuse crate::{net::tcp, config};\n",
        "src/config/parse.rs": "use super::super::util::*;\n",
        "src/main.rs": "use mycrate::net;\nfn main() {}\n",
    })
    assert g.edges["src/lib.rs"] == {"src/net.rs", "src/util/mod.rs", "src/config/parse.rs"}
    assert g.edges["src/net.rs"] == {"src/net/tcp.rs", "src/util/mod.rs"}
    assert g.edges["src/net/tcp.rs"] == {"src/config/parse.rs", "src/lib.rs"}
    # ``crate::config`` is an inline module of lib.rs
    assert g.edges["src/util/mod.rs"] == {"src/net/tcp.rs", "src/lib.rs"}
    assert g.edges["src/config/parse.rs"] == {"src/util/mod.rs"}
    assert g.edges["src/main.rs"] == set()  # external crate name (not a workspace folder)


def test_workspace_crates_and_uniform_paths():
    g = graph({
        "crates/core-lib/src/lib.rs": "pub mod model;\n",
        "crates/core-lib/src/model.rs": "pub struct M;\n",
        "crates/app/src/main.rs": "mod cli;\nuse core_lib::model::M;\nuse cli::Args;\n",
        "crates/app/src/cli.rs": "pub struct Args;\n",
    })
    assert g.edges["crates/app/src/main.rs"] == {"crates/app/src/cli.rs", "crates/core-lib/src/model.rs"}
    assert g.edges["crates/core-lib/src/lib.rs"] == {"crates/core-lib/src/model.rs"}


def test_syntax_error_keeps_uses():
    g = graph({"src/lib.rs": "mod a;\nfn f( {\n", "src/a.rs": ""})
    assert g.edges["src/lib.rs"] == {"src/a.rs"}
    assert g.parse_failures == ["src/lib.rs"]
