"""Reading a user's ``--generations`` file: every line checked, task ids in the forms people write.

A line is a JSON object with ``task_id`` and ``completion`` (a string; or DeepSeek's ``generation``,
prompt + completion), optionally ``sample`` (an integer >= 0; else lines of one task are its samples
0, 1, ... in file order), ``full`` (true: the completion is the whole program) and ``benchmark``
(needed when several benchmarks are evaluated). Anything else is a usage error naming the file's
line (and, for malformed JSON, the column within it); nothing is dropped silently.

Task ids (:class:`TaskIds`): the benchmark's own (``MBPP/11``, ``HumanEval/0``,
``HumanEval_53_add``), the same with other capitals (``Mbpp/11``, ``humaneval/0``), or the task's
number alone (``11`` or ``"11"``: the one integer in an id, where it names one task). An id that names
no task of the benchmark is an error listing it.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Optional

from stages.core.errors import UsageError

MAX_LISTED = 10


class TaskIds:
    """Resolve the forms of a benchmark's task ids to the benchmark's own."""

    def __init__(self, ids: Iterable[str]):
        self.ids = list(ids)
        self.exact = set(self.ids)
        self.folded = {i.casefold(): i for i in self.ids}
        numbers = defaultdict(list)
        for i in self.ids:
            found = re.findall(r"\d+", i)
            if len(found) == 1:
                numbers[int(found[0])].append(i)
        self.by_number = {n: v[0] for n, v in numbers.items() if len(v) == 1}

    def resolve(self, raw) -> Optional[str]:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return self.by_number.get(raw)
        text = str(raw).strip()
        if text in self.exact:
            return text
        if text.casefold() in self.folded:
            return self.folded[text.casefold()]
        if text.isdigit():
            return self.by_number.get(int(text))
        return None

    def example(self) -> str:
        return self.ids[0] if self.ids else "?"


def _lines(path: Path):
    opener = gzip.open if Path(path).suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                yield n, raw
    except OSError as exc:
        raise UsageError(f"--generations {path}: {exc.strerror or exc}") from None


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def parse_line(path: Path, n: int, raw: bytes) -> Optional[dict]:
    """The checked record of line `n` (None for a blank line); UsageError naming the line otherwise."""
    where = f"--generations {path}, line {n}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 (byte {exc.start + 1})") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}, column {exc.colno}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise UsageError(f"{where}: expected a JSON object with task_id and completion, got {_kind(row)}")
    if "task_id" not in row:
        raise UsageError(f"{where}: no task_id")
    tid = row["task_id"]
    if isinstance(tid, bool) or not isinstance(tid, (str, int)):
        raise UsageError(f"{where}: task_id must be a string or an integer, got {_kind(tid)}")
    field = "completion" if "completion" in row else "generation" if "generation" in row else None
    if field is None:
        raise UsageError(f"{where}: no completion (or DeepSeek's generation)")
    if not isinstance(row[field], str):
        raise UsageError(f"{where}: {field} must be a string, got {_kind(row[field])}")
    sample = row.get("sample")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 0):
        raise UsageError(f"{where}: sample must be an integer >= 0, got {sample!r}")
    if "full" in row and not isinstance(row["full"], bool):
        raise UsageError(f"{where}: full must be true or false, got {_kind(row['full'])}")
    if "benchmark" in row and not isinstance(row["benchmark"], str):
        raise UsageError(f"{where}: benchmark must be a string, got {_kind(row['benchmark'])}")
    full = bool(row.get("full", False)) if field == "completion" else True  # `generation` holds the prompt
    return {"line": n, "task_id": tid, "sample": sample, "completion": row[field], "full": full,
            "benchmark": row.get("benchmark")}


def _listed(items: list) -> str:
    shown = ", ".join(repr(x) for x in items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def read_generations(path: Path, ids: dict[str, TaskIds], known_benchmarks: Iterable[str],
                     log=lambda m: None) -> dict[str, list[dict]]:
    """{benchmark: records with the benchmark's task ids and sample numbers} for the benchmarks of
    `ids` (all their tasks, --limit not applied). Errors: see the module docstring."""
    names = list(ids)
    known = set(known_benchmarks) | set(names)
    records: dict[str, list[dict]] = defaultdict(list)
    unknown_ids: dict[str, list] = defaultdict(list)
    other = Counter()
    for n, raw in _lines(path):
        rec = parse_line(path, n, raw)
        if rec is None:
            continue
        bench = rec["benchmark"]
        if bench is None:
            if len(names) != 1:
                raise UsageError(f"--generations {path}, line {n}: no benchmark field, and several benchmarks are "
                                 f"evaluated ({', '.join(names)}): each line needs one")
            bench = names[0]
        elif bench not in known:
            raise UsageError(f"--generations {path}, line {n}: unknown benchmark {bench!r}")
        if bench not in ids:
            other[bench] += 1
            continue
        tid = ids[bench].resolve(rec["task_id"])
        if tid is None:
            unknown_ids[bench].append(rec["task_id"])
            continue
        rec["task_id"] = tid
        records[bench].append(rec)
    for bench, bad in unknown_ids.items():
        raise UsageError(f"--generations {path}: {len(bad)} task id(s) that {bench} does not have: {_listed(bad)} "
                         f"(its ids look like {ids[bench].example()!r}; the number alone and other capitals are "
                         "accepted too)")
    if other:
        log("--generations: ignored the lines of benchmarks not evaluated now: "
            + ", ".join(f"{b} ({k})" for b, k in sorted(other.items())))
    for bench, recs in records.items():
        seen: Counter = Counter()
        taken: dict[tuple, int] = {}
        for rec in recs:  # explicit sample numbers first, then the others in file order
            if rec["sample"] is not None:
                key = (rec["task_id"], rec["sample"])
                if key in taken:
                    raise UsageError(f"--generations {path}, lines {taken[key]} and {rec['line']}: both are sample "
                                     f"{rec['sample']} of {rec['task_id']}")
                taken[key] = rec["line"]
        for rec in recs:
            if rec["sample"] is None:
                while (rec["task_id"], seen[rec["task_id"]]) in taken:
                    seen[rec["task_id"]] += 1
                rec["sample"] = seen[rec["task_id"]]
                taken[(rec["task_id"], rec["sample"])] = rec["line"]
                seen[rec["task_id"]] += 1
    return dict(records)
