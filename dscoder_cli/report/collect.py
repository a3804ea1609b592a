"""Gather what the report shows from output folders: data stages (`_dscoder/`), training runs
(`metrics.jsonl`), evaluations (`summary.json`). Nothing is recomputed that a stage recorded."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pyarrow.parquet as pq

from stages.core.manifest import OutputLayout, merge_stats
from stages.core.sample_text import split_sample
from stages.core.schemas import file_languages

PIPELINE = ["crawl", "filter", "topo-sort", "dedup", "tokenize"]
# DeepSeek-Coder base models, paper Table 3 (pass@1, %).
PAPER = {"1.3b": {"humaneval": 34.8, "mbpp": 46.2}, "6.7b": {"humaneval": 49.4, "mbpp": 60.6},
         "33b": {"humaneval": 56.1, "mbpp": 66.0}}


# Tasks in each benchmark as the paper evaluates it, for when its data is not at hand here.
BENCHMARK_SIZES = {"humaneval": 164, "mbpp": 500}


@functools.lru_cache(maxsize=None)
def benchmark_size(name: str) -> Optional[int]:
    """Tasks in the whole benchmark `name` (its data, else `BENCHMARK_SIZES`; None: unknown), so an
    eval run with --limit shows as partial."""
    try:
        from stages.eval.benchmarks import load_benchmark
        return len(load_benchmark(name).tasks)
    except Exception:   # noqa: BLE001 -- data not present here, or a --benchmark-file of the user's
        return BENCHMARK_SIZES.get(name)


@dataclass
class DataStage:
    path: Path
    stage: str
    options: dict
    stats: dict


@dataclass
class Training:
    path: Path
    kind: str  # pretrain / extend-context / instruct
    metrics: list[dict]                                     # training rows
    validation: list[dict] = field(default_factory=list)    # val_loss rows


@dataclass
class Evaluation:
    path: Path
    summary: dict


@dataclass
class Collected:
    data: list[DataStage] = field(default_factory=list)
    training: list[Training] = field(default_factory=list)
    evals: list[Evaluation] = field(default_factory=list)
    unknown: list[Path] = field(default_factory=list)


def _training_kind(folder: Path) -> str:
    """pretrain / extend-context / instruct, from the run's resolved config (`kind`), else the name."""
    import yaml
    for name in ("config.yaml", "config.json"):
        f = folder / name
        if f.is_file():
            try:
                cfg = yaml.safe_load(f.read_text())  # YAML is a superset of JSON
            except (yaml.YAMLError, OSError):
                continue
            kind = (cfg.get("kind") or cfg.get("stage")) if isinstance(cfg, dict) else None
            if isinstance(kind, str):
                return kind
            return "pretrain"
    return folder.name


def classify(folder: Path, out: Collected) -> bool:
    layout = OutputLayout(folder)
    manifest = layout.read_manifest()
    if manifest is not None:
        stats = merge_stats(manifest, layout.done_markers(), layout.failed_markers())
        out.data.append(DataStage(folder, manifest["stage"], manifest.get("options", {}), stats))
        return True
    metrics = folder / "metrics.jsonl"
    if metrics.is_file():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        out.training.append(Training(folder, _training_kind(folder), [r for r in rows if "val_loss" not in r],
                                     [r for r in rows if "val_loss" in r]))
        return True
    summary = folder / "summary.json"
    if summary.is_file():
        out.evals.append(Evaluation(folder, json.loads(summary.read_text())))
        return True
    return False


def collect(folders: list[Path]) -> Collected:
    """Each folder is a stage output, or a folder of them (e.g. the whole demo output)."""
    out = Collected()
    for folder in folders:
        if classify(folder, out):
            continue
        subs = [p for p in sorted(folder.iterdir()) if p.is_dir()] if folder.is_dir() else []
        if not any([classify(p, out) for p in subs]):
            out.unknown.append(folder)
    # Pipeline order follows each stage's recorded input (filter runs twice: after crawl and after
    # dedup); stages whose input is not among the folders start a chain.
    by_path = {str(d.path.resolve()): d for d in out.data}

    def depth(d: DataStage, seen=()) -> int:
        up = by_path.get(str(d.options.get("input", "")))
        return 0 if up is None or up in seen else 1 + depth(up, (*seen, d))

    out.data.sort(key=lambda d: (depth(d), PIPELINE.index(d.stage) if d.stage in PIPELINE else 99, str(d.path)))
    return out


@dataclass
class LanguageTotals:
    """Per language: bytes of file contents and files, in a data stage's kept shards."""

    bytes: Counter = field(default_factory=Counter)
    files: Counter = field(default_factory=Counter)


def language_totals(stage: DataStage) -> LanguageTotals:
    """Bytes and files per language, every file in its own language: a `files` row by its `lang`,
    and each file inside a repository-level sample by its `langs` entry (older samples: by its
    name), so a sample of a C++ file and a C file counts one of each, not two of its main language.
    Bytes are file contents (a sample's path headers left out), comparable from crawl to the end."""
    out = LanguageTotals()
    for shard in sorted(stage.path.glob("part-*.parquet")):
        names = pq.read_schema(shard).names
        if "paths" in names and "text" in names:
            columns = ["paths", "text", "lang", "size"] + (["langs"] if "langs" in names else [])
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=512, columns=columns):
                rows = batch.to_pydict()
                for i, paths in enumerate(rows["paths"]):
                    _add_sample(out, paths or [], rows.get("langs", [None] * len(rows["paths"]))[i],
                                rows["text"][i] or "", rows["lang"][i], rows["size"][i] or 0)
        elif "lang" in names and "size" in names:
            t = pq.read_table(shard, columns=["lang", "size"])
            for lang, size in zip(t["lang"].to_pylist(), t["size"].to_pylist()):
                out.bytes[lang or "unknown"] += size or 0
                out.files[lang or "unknown"] += 1
        else:
            return LanguageTotals()
    return out


def _add_sample(out: LanguageTotals, paths: list[str], langs: list | None, text: str, lang: str | None,
                size: int) -> None:
    file_langs = [lang_ or "unknown" for lang_ in file_languages(paths, langs)]
    out.files.update(file_langs)
    try:
        contents = split_sample(text, paths, langs)
    except ValueError:  # a text that is not build_sample_text's: the whole sample in its main language
        out.bytes[lang or "unknown"] += size
        return
    for lang_, content in zip(file_langs, contents):
        out.bytes[lang_] += len(content.encode("utf-8", "surrogatepass"))


def cluster_sizes(stage: DataStage) -> Counter:
    """Duplicate-cluster sizes (survivor included) from dedup's rejected rows."""
    members: Counter = Counter()
    for shard in sorted((stage.path / "_rejected").glob("part-*.parquet")):
        if "cluster_id" in pq.read_schema(shard).names:
            members.update(pq.read_table(shard, columns=["cluster_id"])["cluster_id"].to_pylist())
    return Counter(n + 1 for n in members.values())


def row_unit(stage: DataStage) -> str:
    """What a data stage's rows are: files (crawl, and filter before topo-sort), samples (repo-level,
    from topo-sort on) or documents (tokenize)."""
    if stage.stage == "tokenize":
        return "documents"
    if stage.stage in ("topo-sort", "dedup"):
        return "samples"
    for shard in sorted(stage.path.glob("part-*.parquet"))[:1]:
        return "samples" if "n_files" in pq.read_schema(shard).names else "files"
    return "samples" if stage.options.get("rules") and "starcoder" not in str(stage.options.get("rules")) else "files"
