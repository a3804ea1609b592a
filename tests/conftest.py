"""Shared fixtures: tiny but real `files` shards built in code, and a CLI runner."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dscoder_cli.app import app
from stages.core.schemas import FILES_SCHEMA



def stdlib_dir() -> Path:
    import sysconfig
    return Path(sysconfig.get_paths()["stdlib"])


def _doc(rng: random.Random, kind: str) -> tuple[str, str, str]:
    """(path, lang, content) of a document that passes or fails one known rule."""
    words = ["alpha", "beta", "gamma", "delta", "value", "index", "result", "count"]
    if kind == "good":
        lines = [f"def f{i}({rng.choice(words)}):\n    return {rng.choice(words)} + {i}" for i in range(rng.randint(3, 40))]
        return "m.py", "Python", "\n".join(lines) + "\n"
    if kind == "long_line":
        return "min.js", "JavaScript", "var a=" + "x" * 1200 + ";\n"
    if kind == "digits":
        return "data.py", "Python", "\n".join(",".join(str(rng.randint(0, 9)) for _ in range(20)) for _ in range(30))
    if kind == "xml":
        return "a.html", "HTML", '<?xml version="1.0"?>\n<root>' + "text " * 40 + "</root>\n"
    if kind == "json_small":
        return "c.json", "JSON", '{"a": 1}'
    raise ValueError(kind)


KINDS = ["good"] * 6 + ["long_line", "digits", "xml", "json_small"]


def files_table(n_rows: int, seed: int, repo_prefix: str = "r") -> pa.Table:
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        path, lang, content = _doc(rng, rng.choice(KINDS))
        data = content.encode()
        rows.append({"repo": f"{repo_prefix}{seed}", "commit": None, "path": f"{i:04d}/{path}", "lang": lang,
                     "content": content, "size": len(data), "sha": f"{i:040x}", "license": "MIT",
                     "repo_created_at": None})
    return pa.Table.from_pylist(rows, schema=FILES_SCHEMA)


def write_files_shards(folder: Path, n_shards: int, rows_per_shard: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        pq.write_table(files_table(rows_per_shard, seed=s), folder / f"part-{s:05d}.parquet")
    return folder


def read_output(folder: Path) -> pa.Table:
    parts = sorted(Path(folder).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None


class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args, expect: int | None = 0, env: dict | None = None):
        result = self.runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args, expect: int = 0, env: dict | None = None) -> dict:
        return json.loads(self(*args, "--json", expect=expect, env=env).stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def files_input(tmp_path) -> Path:
    return write_files_shards(tmp_path / "files", n_shards=6, rows_per_shard=50)
