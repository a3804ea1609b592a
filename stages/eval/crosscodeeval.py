"""CrossCodeEval (the paper's Table 7): next-line completion with cross-file context -- the prompt,
the prediction and the scores (docs/eval.md "Cross-file completion"; the data: crossfile_data.py).

Prompt (CrossCodeEval's ``eval.py``, ``codelm_cfc``): the chunks as comments in the file's language,
``# Here are some relevant code fragments from other files of the repo:`` then per chunk ``# the
below code fragment is found in {filename}`` and its non-empty lines, chunks taken in order while the
total stays within CFC_TOKENS (512) tokens of the model's tokenizer; then the left context, cut from
its start at a line boundary to fit MAX_SEQUENCE (2048) - MAX_NEW_TOKENS (50) - the context's tokens.
(CrossCodeEval tokenizes the two parts separately, so a tokenizer that adds BOS puts a second one
between them; here the prompt is one text, encoded with one BOS.) The model generates 50 tokens;
the prediction is their first non-blank line, scored by completion_metrics.py.
"""

from __future__ import annotations

from typing import Callable

from .benchmarks import Benchmark, Task
from .completion_metrics import aggregate, first_line, score
from .crossfile_data import MAX_NEW_TOKENS, VARIANTS

CFC_TOKENS = 512
MAX_SEQUENCE = 2048
# Recorded in each benchmark's manifest: a change of the prompt or the metrics is a change of options.
PROTOCOL = "crosscodeeval-v1"
COMMENT = {"python": "#", "java": "//", "typescript": "//", "csharp": "//", "javascript": "//"}


def context_header(language: str) -> str:
    return f"{COMMENT[language]} Here are some relevant code fragments from other files of the repo:\n\n"


def chunk_text(chunk: dict, language: str) -> str:
    c = COMMENT[language]
    lines = "\n".join(f"{c} {line}" for line in chunk["retrieved_chunk"].split("\n") if line)
    return f"{c} the below code fragment is found in {chunk['filename']}\n{lines}\n\n"


def crossfile_prompt(task: Task, count_tokens: Callable[[str], int]) -> str:
    """Cross-file context (<= CFC_TOKENS) + the left context cut to what is left of MAX_SEQUENCE."""
    context = ""
    if task.context:
        header = context_header(task.language)
        used = count_tokens(header)
        parts = []
        for chunk in task.context:
            text = chunk_text(chunk, task.language)
            n = count_tokens(text)
            if used + n > CFC_TOKENS:
                break
            parts.append(text)
            used += n
        if parts:
            context = header + "".join(parts)
    budget = MAX_SEQUENCE - MAX_NEW_TOKENS - (count_tokens(context) if context else 0)
    return context + keep_last_tokens(task.prompt, budget, count_tokens)


def keep_last_tokens(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The longest suffix of whole lines of ``text`` within ``budget`` tokens (when even its last
    line is longer: that line's longest suffix that fits)."""
    if budget <= 0:
        return ""
    if count_tokens(text) <= budget:
        return text
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < len(text)]
    lo, hi = 0, len(starts)  # the first line start whose suffix fits (suffixes shrink as it grows)
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(text[starts[mid]:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(starts):
        return text[starts[lo]:]
    last = text[starts[-1]:]
    lo, hi = 0, len(last)
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(last[mid:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return last[lo:]


def clean(raw: str) -> str:
    """The stored completion: the generation's first non-blank line."""
    return first_line(raw)


def score_task(task: Task, completion: str) -> dict:
    return score(first_line(completion), task.canonical_solution or "", task.language)


def score_generations(bench: Benchmark, generations: list[dict]) -> list[dict]:
    """One result per generation: task_id, sample, language, em, es, id_em, id_f1, prediction."""
    tasks = {t.task_id: t for t in bench.tasks}
    out = []
    for g in generations:
        task = tasks.get(g["task_id"])
        if task is not None:
            out.append({"task_id": g["task_id"], "sample": g["sample"], "language": task.language,
                        **score_task(task, g["completion"]), "prediction": first_line(g["completion"])})
    return out


def summary(bench: Benchmark, generations: list[dict], results: list[dict]) -> dict:
    """Per language and overall: EM, ES, ID EM, ID F1 (percent) over **every task**: one without a
    generation, or not scored yet, counts as an empty completion; a task's samples are averaged."""
    per_task: dict[str, list[dict]] = {}
    for r in results:
        per_task.setdefault(r["task_id"], []).append(r)
    rows_by_language: dict[str, list[dict]] = {}
    all_rows = []
    for task in bench.tasks:
        found = per_task.get(task.task_id) or [score_task(task, "")]
        row = {k: sum(r[k] for r in found) / len(found) for k in ("em", "es", "id_em", "id_f1")}
        rows_by_language.setdefault(task.language, []).append(row)
        all_rows.append(row)
    ids = [t.task_id for t in bench.tasks]
    generated = {g["task_id"] for g in generations}
    out = {"language": bench.language, "tasks": len(ids), "generated": len(generations), "executed": len(results),
           "tasks_executed": len(per_task), "statuses": {}, "context": VARIANTS.get(bench.name),
           "protocol": PROTOCOL, "max_new_tokens": MAX_NEW_TOKENS, **aggregate(all_rows),
           "languages": {lang: aggregate(rows) for lang, rows in rows_by_language.items()}}
    without = [t for t in ids if t not in generated]
    if without:
        out["without_generation"] = without
    not_scored = [t for t in ids if t in generated and t not in per_task]
    if not_scored and results:
        out["not_executed"] = not_scored
    return out
