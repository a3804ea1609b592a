"""The CLI, the config dataclasses and the docs say the same defaults.

Each command's options are built from `option()` fields of config dataclasses; this checks that every
such field reaches the command with its own default (nobody re-declared it), and that every docs
page's options table is the one `dscoder_cli.docs_options` generates from the command (run
`python -m dscoder_cli.docs_options` after changing a default or a help text).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import typer

from dscoder_cli import docs_options
from dscoder_cli.app import app
from stages.core.config import default_of, flag_of, option_meta

DOCS = Path(__file__).resolve().parent.parent / "docs"
# Every command that has options documents them in its page.
PAGES = {"crawl": "crawl.md", "filter": "filter.md", "topo-sort": "topo-sort.md", "dedup": "dedup.md",
         "tokenize": "tokenize.md", "pretrain": "pretrain.md", "extend-context": "extend-context.md",
         "instruct": "instruct.md", "export-hf": "pretrain.md", "eval": "eval.md",
         "build-crossfile": "eval.md"}


def _configs():
    from stages.core.runner import RunOptions
    from stages.crawl.config import CrawlConfig, CrawlStageConfig, GitHubConfig
    from stages.dedup.config import DedupConfig
    from stages.eval.config import CrossfileConfig, EvalConfig
    from stages.filter.config import DecontamConfig, FilterConfig, PiiConfig, QualityConfig, StarCoderConfig
    from stages.tokenize.config import TokenizeConfig
    from stages.topo_sort.config import TopoSortConfig
    from stages.train.config import (ExportHFOptions, ExtendContextOptions, InstructOptions, PretrainOptions,
                                     TrainRunOptions)
    data = [RunOptions]
    return {"crawl": [CrawlStageConfig, CrawlConfig, GitHubConfig, *data],
            "filter": [FilterConfig, StarCoderConfig, QualityConfig, DecontamConfig, PiiConfig, *data],
            "topo-sort": [TopoSortConfig, *data], "dedup": [DedupConfig, *data], "tokenize": [TokenizeConfig, *data],
            "pretrain": [PretrainOptions, TrainRunOptions], "extend-context": [ExtendContextOptions, TrainRunOptions],
            "instruct": [InstructOptions, TrainRunOptions], "export-hf": [ExportHFOptions], "eval": [EvalConfig],
            "build-crossfile": [CrossfileConfig]}


def _params(command: str) -> dict:
    cmd = typer.main.get_command(app).commands[command]
    return {opt: p for p in cmd.params if p.param_type_name == "option" for opt in p.opts}


@pytest.mark.parametrize("command", sorted(_configs()))
def test_every_config_field_is_an_option_with_its_default(command):
    params = _params(command)
    for cls in _configs()[command]:
        for f in dataclasses.fields(cls):
            meta = option_meta(f)
            if meta is None or not meta["cli"] or f.name in ("input", "output", "source"):
                continue
            flag = flag_of(f).split("/")[0]
            assert flag in params, f"{cls.__name__}.{f.name}: no {flag} on `dscoder {command}`"
            default = default_of(f)
            if meta.get("cli_type") is str and isinstance(default, (tuple, list, frozenset)):
                default = ",".join(default)
            assert params[flag].default == default, (cls.__name__, f.name, params[flag].default, default)
            assert params[flag].help.endswith(meta["help"]), (cls.__name__, f.name)


def test_docs_tables_are_generated_from_the_commands():
    seen = {}
    for page in sorted(DOCS.glob("*.md")):
        for name, body in docs_options.blocks(page.read_text(encoding="utf-8")):
            assert body == docs_options.render(name), (
                f"{page.name}: the options table of `{name}` is stale; run `python -m dscoder_cli.docs_options`")
            seen[name] = page.name
    for command, page in PAGES.items():
        assert seen.get(command) == page, f"docs/{page} has no options table of `{command}`"


def test_the_option_follows_its_field():
    """The mechanism: a field's default, help and range are the option's; NaN, inf and out-of-range
    values are usage errors when the command line is read."""
    from typer.testing import CliRunner

    from dscoder_cli.options import config_options
    from stages.core.config import option

    @dataclasses.dataclass
    class Demo:
        threshold: float = option(0.9, "Jaccard threshold.", min=0.0, max=1.0)

    demo = typer.Typer()

    @demo.command()
    @config_options(Demo, dest="settings")
    def run(settings: dict = None):
        print(Demo(**settings).threshold)

    runner = CliRunner()
    assert runner.invoke(demo, []).stdout.strip() == "0.9"
    assert runner.invoke(demo, ["--threshold", "0.5"]).stdout.strip() == "0.5"
    assert "[default: 0.9]" in runner.invoke(demo, ["--help"]).stdout
    for bad in ("nan", "inf", "1.5"):
        r = runner.invoke(demo, ["--threshold", bad])
        assert r.exit_code == 2 and "--threshold" in r.stderr, (bad, r.stderr)
