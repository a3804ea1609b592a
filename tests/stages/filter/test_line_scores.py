"""The quality rules' column-wise scores (stages/filter/line_scores.py) equal their per-document
definitions in quality.py: on the standard library, on crafted Unicode, and through the rules."""

from __future__ import annotations

import random
import re
import sysconfig
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from stages.filter import line_scores as ls
from stages.core.sample_text import build_sample_text
from stages.filter.framework import apply_rules
from stages.filter.quality import (COMMENT_PREFIXES, _HAS_ALNUM, alnum_fraction, code_lines, is_generated,
                                   max_line_repeat_fraction, quality_rules)
from stages.filter.syntax import split_files

STDLIB = Path(sysconfig.get_paths()["stdlib"])
EXT_LANG = {".py": "Python", ".c": "C", ".h": "C", ".json": "JSON", ".html": "HTML", ".css": "CSS", ".bat": "Batchfile",
            ".sql": "SQL", ".xml": "XSLT", ".txt": None, ".rst": "reStructuredText", ".sh": "Shell"}
PIECES = ["a", " ", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680",
          "\u2028", "\u2029", "\u3000", "\u200b", "é", "_", "#", "//", "/*", "*", "x", "日本", "\U0001F600", "  # c",
          "\t", "--", "rem ", "REM x", "::", "ſ", "١", "²", "<!--", "(*", "..", "'", "%", ";", "!", "same", "same\n"]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str | None], list[str | None], list[str | None]]:
    """(texts, languages, paths): standard-library files and random strings of tricky characters."""
    texts, langs, paths = [], [], []
    total = 0
    for path in sorted(STDLIB.rglob("*")):
        if total > 6e6:
            break
        if path.suffix not in EXT_LANG or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        langs.append(EXT_LANG[path.suffix])
        paths.append(str(path.relative_to(STDLIB)))
        total += len(text)
    rng = random.Random(7)
    for i in range(3000):
        texts.append("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 60))))
        langs.append(rng.choice(["Python", "C", "Batchfile", "SQL", "HTML", "OCaml", "Fortran", None]))
        paths.append(rng.choice([f"f{i}.py", f"dist/app{i}.min.js", "yarn.lock", None]))
    texts += ["", "\n", "x\n" * 12, "same line\n" * 11 + "\n\n", None, "\r\n".join(["dup"] * 20)]
    langs += [None] * 6
    paths += [None] * 6
    return texts, langs, paths


def test_character_tables_are_pythons_for_every_code_point():
    tables = ls.char_tables()
    chars = [chr(i) for i in range(0x110000)]
    assert tables["space"].tolist() == [c.isspace() for c in chars]
    assert tables["alnum"].tolist() == [c.isalnum() for c in chars]
    word = np.zeros(0x110000, dtype=bool)
    word[[m.start() for m in re.finditer(r"\w", "".join(chars))]] = True
    assert np.array_equal(tables["word"], word)
    assert tables["break"].tolist() == [len(f"a{c}b".splitlines()) == 2 for c in chars]
    ascii_ = ls._ascii_classes(np.arange(256, dtype=np.uint8))
    for name, table in ascii_.items():
        assert table[:128].tolist() == tables[name][:128].tolist(), name
        assert not table[128:].any(), name


def reference(text: str | None, lang: str | None) -> dict:
    text = text or ""
    lines = [s for line in text.splitlines() if (s := line.strip())]
    counts = Counter(s for s in lines if _HAS_ALNUM.search(s))
    return {"n_chars": len(text), "n_alnum": sum(c.isalnum() for c in text), "n_newlines": text.count("\n"),
            "nonblank": len(lines), "max_repeat": max(counts.values(), default=0), "code_lines": code_lines(text, lang)}


def test_line_scores_equal_the_per_document_definitions(corpus):
    texts, langs, _ = corpus
    for chunks in ([texts], [texts[:1000], texts[1000:]]):  # one array, and a chunked one
        arr = pa.chunked_array([pa.array(c, type=pa.large_string()) for c in chunks])
        got = ls.line_scores(arr)
        code = got.lines_without_prefix([COMMENT_PREFIXES.get(lang or "", ()) for lang in langs])
        for i, (text, lang) in enumerate(zip(texts, langs)):
            expected = reference(text, lang)
            found = {name: int(getattr(got, name)[i]) for name in ("n_chars", "n_alnum", "n_newlines", "nonblank",
                                                                   "max_repeat")}
            found["code_lines"] = int(code[i])
            assert found == expected, (i, (text or "")[:200], lang)


def test_header_ends_are_is_generateds(corpus):
    texts, _, _ = corpus
    arr = pa.array(texts, type=pa.string())
    for k in (0, 1, 20):
        ends = ls.header_ends(arr, k)
        for text, end in zip(texts, ends.tolist()):
            text = text or ""
            head_end = -1
            for _ in range(k):
                head_end = text.find("\n", head_end + 1)
                if head_end < 0:
                    head_end = len(text)
                    break
            assert end == len(text[:max(head_end, 0)].encode())


def test_hash_collisions_fall_back_to_exact_counting(monkeypatch):
    texts = ["a\nb\nc\na\n" * 5, "x1\nx2\nx3\n", "same\nsame\nother\n" * 4]
    exact = [reference(t, None)["max_repeat"] for t in texts]
    monkeypatch.setattr(ls, "_line_hashes", lambda words, a, length: np.zeros(len(a), dtype=np.uint64))
    assert ls.line_scores(pa.array(texts)).max_repeat.tolist() == exact  # every line collides


def expected_scores(text: str | None, lang: str | None, paths: list[str] | None, params: dict) -> dict:
    """The four heuristic scores of a row, per document as quality.py defines them (a multi-file
    row: its files by split_files for autogenerated and code_lines)."""
    text = text or ""
    files = split_files(text, lang, paths)
    names = paths if paths and len(paths) == len(files) else [paths[0] if paths else None] * len(files)
    generated = sum(len(f) for (f, _), name in zip(files, names)
                    if is_generated(f, name, params["autogenerated_header_lines"], params["minified_min_chars"],
                                    params["minified_line_length"]))
    total = sum(len(f) for f, _ in files)
    return {"quality_autogenerated_fraction": generated / max(total, 1) if generated else 0.0,
            "quality_alnum_fraction": alnum_fraction(text),
            "quality_code_lines": np.nan if lang == "JSON" else float(sum(code_lines(f, fl) for f, fl in files)),
            "quality_max_line_repeat_fraction": max_line_repeat_fraction(text)}


@pytest.mark.parametrize("multi_file", [False, True])
def test_quality_scores_equal_the_per_document_functions(corpus, multi_file):
    """Through the rules: every score column equals the functions' on the rows each rule scores
    (files; or whole samples of several files, as --granularity sample has them)."""
    texts, langs, paths = corpus
    rows_paths: list = [[p] if p else None for p in paths]
    if multi_file:  # standard-library files three by three as repository-level samples
        texts, langs, rows_paths = [], [], []
        real = [(p, lang, t) for t, lang, p in zip(*corpus) if p and t and "/" in p][:600]
        for k in range(0, len(real), 3):
            files = real[k:k + 3]
            texts.append(build_sample_text(files))
            langs.append(files[0][1])
            rows_paths.append([p for p, _, _ in files])
    rules = quality_rules({"syntax_languages": (), "tolerant_syntax_languages": ()})[:4]
    result = apply_rules(pa.array(texts, type=pa.large_string()), pa.array(langs, type=pa.string()), rules,
                         paths=pa.array(rows_paths, type=pa.list_(pa.string())))
    names = [r.name for r in rules]
    first = [names.index(r) if r else len(names) for r in result.reason.to_pylist()]
    for i, (text, lang, row_paths) in enumerate(zip(texts, langs, rows_paths)):
        expected = expected_scores(text, lang, row_paths, rules[0].params)
        for k, column in enumerate(expected):
            got = result.columns[column][i]
            if first[i] < k:  # rejected by an earlier rule: not scored
                assert np.isnan(got), (column, i)
            else:
                assert got == expected[column] or (np.isnan(got) and np.isnan(expected[column])), \
                    (column, i, (text or "")[:100])
