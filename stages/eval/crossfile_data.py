"""CrossCodeEval's data layout, read (docs/eval.md "Cross-file completion").

One folder per language holding ``line_completion*.jsonl`` -- what ``dscoder build-crossfile``
writes, or the official archive for users who have it (``crosscodeeval_data/<language>/``). Each
line: ``prompt`` (the left context), ``groundtruth`` (the line), ``right_context``,
``metadata.task_id``, ``crossfile_context.list`` ({retrieved_chunk, filename, score}). The data
folder is ``--benchmarks-dir`` (or $DSCODER_BENCHMARKS_DIR), read as itself, or its
``crosscodeeval_data/`` or ``crosscodeeval/``.

Three benchmarks, one per setting of the CrossCodeEval paper:

* ``crosscodeeval``: BM25-retrieved chunks (the paper's Table 7 setting), from
  ``line_completion_rg1_bm25.jsonl``;
* ``crosscodeeval-infile``: no cross-file context, the left context alone (the same file, its
  context unused; else ``line_completion.jsonl``);
* ``crosscodeeval-oracle``: the defining file's snippet (``line_completion_oracle.jsonl``, written
  by the builder); else the official archive's ``line_completion_oracle_bm25.jsonl`` (BM25 queried
  with the answer too: CrossCodeEval's "retrieval w/ ref.").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from stages.core.benchmark_data import benchmarks_dir
from stages.core.errors import UsageError

MAX_NEW_TOKENS = 50  # the paper's Table 7 protocol (CrossCodeEval's --gen_length)
LANGUAGES = ("python", "java", "typescript", "csharp", "javascript")
VARIANTS = {"crosscodeeval": "retrieval", "crosscodeeval-infile": "infile", "crosscodeeval-oracle": "oracle"}
FILES = {"retrieval": ("line_completion_rg1_bm25.jsonl",),
         "infile": ("line_completion_rg1_bm25.jsonl", "line_completion.jsonl"),
         "oracle": ("line_completion_oracle.jsonl", "line_completion_oracle_bm25.jsonl")}
SUBFOLDERS = ("", "crosscodeeval_data", "crosscodeeval")


def data_root(data_dir: Optional[Path]) -> Optional[Path]:
    """The folder holding ``<language>/line_completion*.jsonl``, or None."""
    base = benchmarks_dir(data_dir)
    if base is None:
        return None
    for sub in SUBFOLDERS:
        root = Path(base) / sub if sub else Path(base)
        if any((root / lang).is_dir() and any((root / lang).glob("line_completion*.jsonl")) for lang in LANGUAGES):
            return root
    return None


def read_tasks(path: Path, language: str, variant: str) -> list[dict]:
    """The tasks of one CrossCodeEval JSONL file as Task fields (the context empty for ``infile``);
    every line checked: a UsageError names the first bad one."""
    tasks = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                task_id = row["metadata"]["task_id"]
                prompt, truth = row["prompt"], row["groundtruth"]
                if not isinstance(prompt, str) or not isinstance(truth, str):
                    raise TypeError("prompt and groundtruth must be strings")
                if not isinstance(task_id, (str, int)) or isinstance(task_id, bool):
                    raise TypeError("metadata.task_id must be a string")
                cfc = row.get("crossfile_context") or {}
                chunks = cfc.get("list") or [] if isinstance(cfc, dict) else []
                context = [{"retrieved_chunk": str(c["retrieved_chunk"]), "filename": str(c.get("filename", "")),
                            "score": c.get("score")} for c in chunks] if variant != "infile" else []
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UsageError(f"{path}, line {n}: not a CrossCodeEval task ({type(exc).__name__}: {exc}); "
                                 "expected prompt, groundtruth, metadata.task_id, crossfile_context.list") from None
            tasks.append({"task_id": str(task_id), "language": language, "prompt": prompt,
                          "suffix": str(row.get("right_context") or ""), "canonical_solution": truth,
                          "context": context})
    return tasks


def load_rows(name: str, data_dir: Optional[Path]) -> tuple[list[dict], str]:
    """(the tasks of benchmark ``name`` in every language found, the files read joined by ``;``)."""
    root = data_root(data_dir)
    if root is None:
        raise UsageError(f"{name}: no <language>/line_completion*.jsonl under --benchmarks-dir "
                         f"{benchmarks_dir(data_dir) or '(not given)'}; build one with `dscoder build-crossfile "
                         "REPOS OUT` and pass --benchmarks-dir OUT")
    variant = VARIANTS[name]
    tasks, sources = [], []
    for language in LANGUAGES:
        path = next((root / language / f for f in FILES[variant] if (root / language / f).exists()), None)
        if path is not None:
            tasks.extend(read_tasks(path, language, variant))
            sources.append(str(path))
    if not tasks:
        raise UsageError(f"{name}: none of {', '.join(FILES[variant])} under {root}/<language>/")
    seen: set[str] = set()
    for t in tasks:
        if t["task_id"] in seen:
            raise UsageError(f"{name}: task id {t['task_id']!r} appears twice in {'; '.join(sources)}")
        seen.add(t["task_id"])
    return tasks, ";".join(sources)
