"""Benchmark decontamination (paper §2.4): the ``decontam`` rule set.

"we filter out any piece of code containing the same 10-gram string as test data ... For
test data shorter than 10-grams but no less than 3-grams, exact match." -- paper §2.4.

* Test strings come from ``stages/core/benchmark_data.py`` (which fields of which benchmark); words and
  normalisation from ``ngrams.py`` (lower-cased ASCII, words = runs of ``[0-9a-z_]`` or
  non-ASCII; punctuation and whitespace dropped).
* A test string of >= ``ngram`` (10) words contributes all its 10-grams; one of
  ``min_words``..9 (3..9) words is matched as a whole word sequence; shorter ones are ignored.
* Boilerplate: an n-gram found in the test text of >= ``boilerplate_tasks`` distinct tasks
  is the benchmark's harness (MultiPL-E's identical import blocks, ``using System.Linq;``
  lists that also open every Visual Studio C# file) rather than a task, and is not used.
* A file (or, with ``--granularity sample``, a sample) is dropped when any of its grams is in
  the set; ``reason_detail`` names the task with the most matching grams in the text
  (``humaneval:HumanEval/12``, ``mbpp:12``, ``humaneval-cpp:HumanEval_0_has_close_elements``; a
  gram of several tasks counts for the first in load order, ties go to the first task), the file
  and that task's first matching gram as normalised: ``mbpp:93 in sympy/x.py: "assert power 2 3 8"``.

Speed: the benchmark grams are hashed once into sorted uint64 arrays with a bitmap
prefilter (``ngrams.HashSet``); each sample's words are hashed once, column-wise, and all its
10-grams looked up with one vectorised pass. Short strings are found through their first
3 words (one more pass), then confirmed at the few candidate positions.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from stages.core.benchmark_data import TestText, benchmarks_dir, load_test_texts
from stages.core.languages import detect_language
from stages.core.sample_text import path_comment, split_sample
from stages.filter.ngrams import _WORD_RE as WORD_PATTERN
from stages.filter.ngrams import (NORMALISATION, GramPrefix, HashSet, Tokens, gram_hashes, reference_words,
                                  tokenize)
from stages.filter.config import DecontamConfig
from stages.filter.framework import FilterContext, Rule

# A gram made mostly of numbers ("1 2 3 4 5 6 7 8 9 10", "1 0 2 0 3 0" from 1.0, 2.0, 3.0)
# is data, common in any code; it counts only with at least this many non-numeric words.
MIN_NON_NUMERIC = 3
# A 3-9-word test string needs fewer: "assert count_binary_seq(1) == 2.0" is 2 names and 3 numbers.
MIN_NON_NUMERIC_SHORT = 2
# A 10-gram of very short words is common code, not a task: "for i in range n for j in range
# n", "a b c d e f g h i j", "one 1 two 2 three 3 four 4 five 5" all occur in the Python
# standard library. A 10-gram counts only when its words have at least this many characters.
MIN_GRAM_CHARS = 30


def task_labels(texts: list[TestText]) -> tuple[list[str], np.ndarray]:
    labels: dict[str, int] = {}
    task_of_text = np.array([labels.setdefault(f"{t.benchmark}:{t.task_id}", len(labels)) for t in texts],
                            dtype=np.int64)
    return list(labels), task_of_text


def _dedupe(keys: np.ndarray, tasks: np.ndarray, bench_of_task: np.ndarray,
            boilerplate_tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """One entry per key with its first task; a key of >= boilerplate_tasks tasks of one
    benchmark is dropped (the same task in several MultiPL-E languages counts once per file)."""
    if len(keys) == 0:
        return keys, tasks
    pairs = np.unique(np.stack([keys, tasks.astype(np.uint64)], axis=1), axis=0)  # by key, then task
    per_bench, counts = np.unique(np.stack([pairs[:, 0], bench_of_task[pairs[:, 1].astype(np.int64)]
                                            .astype(np.uint64)], axis=1), axis=0, return_counts=True)
    boilerplate = np.unique(per_bench[counts >= boilerplate_tasks, 0])
    pairs = pairs[~np.isin(pairs[:, 0], boilerplate)]
    k, first = np.unique(pairs[:, 0], return_index=True)
    return k, pairs[first, 1].astype(np.int64)


def _word_stats(texts: list[TestText]) -> tuple[np.ndarray, np.ndarray]:
    """Per word of all texts (in token order): (1 if it is not a number, its length)."""
    words = [w for t in texts for w in reference_words(t.text)]
    return (np.array([not w.isdigit() for w in words], dtype=np.int64),
            np.array([len(w) for w in words], dtype=np.int64))


def informative_gram(words: list[bytes] | tuple[bytes, ...], long: bool) -> bool:
    """The reference definition of a gram that counts (see MIN_NON_NUMERIC, MIN_GRAM_CHARS)."""
    if sum(not w.isdigit() for w in words) < (MIN_NON_NUMERIC if long else MIN_NON_NUMERIC_SHORT):
        return False
    return not long or sum(map(len, words)) >= MIN_GRAM_CHARS


class BenchmarkIndex:
    """The hashed grams of a list of test strings."""

    def __init__(self, texts: list[TestText], ngram: int = DecontamConfig.ngram, min_words: int = DecontamConfig.min_words,
                 boilerplate_tasks: int = DecontamConfig.boilerplate_tasks):
        if not 3 <= min_words <= ngram <= 10:
            raise ValueError("need 3 <= min_words <= ngram <= 10")
        self.ngram, self.min_words = ngram, min_words
        self.labels, task_of_text = task_labels(texts)
        bench_names = {b: i for i, b in enumerate(dict.fromkeys(t.benchmark for t in texts))}
        bench_of_task = np.array([bench_names[label.split(":", 1)[0]] for label in self.labels], dtype=np.int64)
        tok = tokenize(pa.array([t.text for t in texts], type=pa.large_string()))
        n_words = np.bincount(tok.row, minlength=len(texts))
        # Words that are not numbers, summed over windows: a gram needs MIN_NON_NUMERIC of them.
        flags, lengths = _word_stats(texts)
        non_numeric = np.concatenate([[0], np.cumsum(flags)])
        chars = np.concatenate([[0], np.cumsum(lengths)])
        assert len(non_numeric) == len(tok) + 1, "tokenize and reference_words disagree"

        g, valid = gram_hashes(tok, ngram)
        starts = np.arange(len(g))
        valid &= non_numeric[starts + ngram] - non_numeric[starts] >= MIN_NON_NUMERIC
        valid &= chars[starts + ngram] - chars[starts] >= MIN_GRAM_CHARS
        long_keys, long_tasks = g[valid], task_of_text[tok.row[: len(g)][valid]]
        self.long = HashSet(*_dedupe(long_keys, long_tasks, bench_of_task, boilerplate_tasks))

        # Short strings: the whole word sequence, keyed by its own length's gram hash.
        first_of_row = np.searchsorted(tok.row, np.arange(len(texts)))
        row_non_numeric = non_numeric[first_of_row + n_words] - non_numeric[first_of_row]
        short_rows = np.flatnonzero((n_words >= min_words) & (n_words < ngram) & (row_non_numeric >= MIN_NON_NUMERIC_SHORT))
        first_tok = np.searchsorted(tok.row, short_rows)
        keys, tasks, firsts = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        self.short_lengths = sorted(set(n_words[short_rows].tolist()))
        for n in self.short_lengths:
            sel = n_words[short_rows] == n
            keys.append(gram_hashes(tok, n, first_tok[sel])[0])
            tasks.append(task_of_text[short_rows[sel]])
            firsts.append(first_tok[sel])
        short_keys = np.concatenate(keys)
        self.short = HashSet(*_dedupe(short_keys, np.concatenate(tasks), bench_of_task, boilerplate_tasks))
        # Prefilter: the first min_words words of each short string that survived _dedupe.
        gp, _ = gram_hashes(tok, min_words, np.concatenate(firsts)[np.isin(short_keys, self.short.keys)])
        self.prefix = HashSet(gp, np.zeros(len(gp), np.int64))

    @functools.cached_property
    def fingerprint(self) -> str:
        h = hashlib.sha256(NORMALISATION.encode())
        for arr in (self.long.keys, self.long.values, self.short.keys, self.short.values):
            h.update(arr.tobytes())
        h.update("\n".join(self.labels).encode())
        return h.hexdigest()[:16]

    def first_match(self, tok: Tokens, n_rows: int) -> np.ndarray:
        """Per row: the index of the task with the most matching grams (ties: the first task), -1
        where none."""
        return self.matches(tok, n_rows)[0]

    def matches(self, tok: Tokens, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: (task as in ``first_match``, the row's word index where that task's first
        matching gram starts, the gram's length in words); -1, -1, 0 where none."""
        grams = GramPrefix(tok)
        g, valid = grams.grams(self.ngram)
        idx, task = self.long.lookup(g)
        ok = valid[idx]
        pos, tasks, lengths = [idx[ok]], [task[ok]], [np.full(int(ok.sum()), self.ngram, np.int64)]
        if len(self.short):
            g3, v3 = grams.grams(self.min_words)
            cand, _ = self.prefix.lookup(g3)
            cand = cand[v3[cand]]
            for n in self.short_lengths:
                gn, vn = grams.grams(n, cand)
                i2, t2 = self.short.lookup(gn[vn])
                pos.append(cand[vn][i2])
                tasks.append(t2)
                lengths.append(np.full(len(i2), n, np.int64))
        pos_all, task_all, len_all = np.concatenate(pos), np.concatenate(tasks), np.concatenate(lengths)
        out = np.full(n_rows, -1, dtype=np.int64)
        start = np.full(n_rows, -1, dtype=np.int64)
        length = np.zeros(n_rows, dtype=np.int64)
        if len(pos_all):
            rows = tok.row[pos_all]
            # Per row, the task with the most matching grams; ties: the first task.
            pairs, counts = np.unique(np.stack([rows, task_all], axis=1), axis=0, return_counts=True)
            order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))  # by row, most grams, task
            pairs = pairs[order]
            first = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
            out[pairs[first, 0]] = pairs[first, 1]
            # That task's first gram in the row (lowest position, then the longest).
            win = np.flatnonzero(out[rows] == task_all)
            win = win[np.lexsort((-len_all[win], pos_all[win], rows[win]))]
            win = win[np.r_[True, rows[win][1:] != rows[win][:-1]]]
            row_start = np.searchsorted(tok.row, np.arange(n_rows))
            start[rows[win]] = pos_all[win] - row_start[rows[win]]
            length[rows[win]] = len_all[win]
        return out, start, length

    def __len__(self) -> int:
        return len(self.long) + len(self.short)


def load_index(config: DecontamConfig) -> BenchmarkIndex:
    """The index of a config, built once per process (the folder resolved first: $DSCODER_BENCHMARKS_DIR
    may change between calls)."""
    folder = benchmarks_dir(config.benchmarks_dir)
    return _load_index(config, str(folder) if folder else None)


@functools.lru_cache(maxsize=4)
def _load_index(config: DecontamConfig, folder: str | None) -> BenchmarkIndex:
    texts = load_test_texts(tuple(config.benchmarks), Path(folder) if folder else None, config.files)
    return BenchmarkIndex(texts, config.ngram, config.min_words, config.boilerplate_tasks)


DECONTAM_SCORE_DTYPE = np.dtype([("task", np.float64), ("word", np.float64), ("words", np.float64)])


def _gram_location(text: str, paths: list[str] | None, word: int, words: int) -> tuple[str | None, str]:
    """(path of the file holding word ``word`` of the row, the ``words`` words from there, as
    normalised). A multi-file sample's file is found by the byte offset of the word."""
    data = text.encode("utf-8", "surrogatepass").lower()
    if not paths:
        path = None
    elif len(paths) == 1:
        path = paths[0]
    else:
        offset = next((m.start() for k, m in enumerate(WORD_PATTERN.finditer(data)) if k == word), 0)
        # build_sample_text: part_k = header_k + "\n" + content_k, parts joined by "\n".
        path, pos = None, 0
        try:
            files = split_sample(text, list(paths))
        except ValueError:
            files = None
        if files is not None and len(files) == len(paths):
            for p, content in zip(paths, files):
                header = path_comment(p, detect_language(p))
                pos += (len(header.encode("utf-8", "surrogatepass")) + 1 if header else 0)
                pos += len(content.encode("utf-8", "surrogatepass")) + 1
                if offset < pos:
                    path = p
                    break
    gram = b" ".join(reference_words(text)[word: word + words]).decode("utf-8", "replace")
    return path, gram


class Decontaminate(Rule):
    """Drop files (or samples) sharing a 10-gram with benchmark test text, or containing a 3-9-word
    test string. ``reason_detail``: ``mbpp:93 in sympy/core/x.py: "assert power 2 3 8"`` -- the task,
    the file and its first matching gram, as normalised."""

    name, version = "decontam", 2

    def __init__(self, config: DecontamConfig | None = None, index: BenchmarkIndex | None = None) -> None:
        config = config or DecontamConfig()
        self.index = index or load_index(config)
        super().__init__(
            benchmarks=list(config.benchmarks),
            files=[[Path(p).name, list(f)] for p, f in config.files],
            ngram=config.ngram, min_words=config.min_words, boilerplate_tasks=config.boilerplate_tasks,
            normalisation=NORMALISATION, grams=len(self.index), fingerprint=self.index.fingerprint,
        )

    def score(self, ctx: FilterContext) -> np.ndarray:
        """Structured (task index as in ``describe``, word index of its first gram, gram length in
        words); NaN where no match or not scanned."""
        scores = np.full(len(ctx), np.nan, dtype=DECONTAM_SCORE_DTYPE)
        rows = np.flatnonzero(ctx.alive)
        if len(rows) == 0:
            return scores
        texts = ctx.texts if len(rows) == len(ctx) else ctx.texts.take(pa.array(rows))
        task, word, words = self.index.matches(tokenize(texts), len(rows))
        hit = task >= 0
        scores["task"][rows[hit]] = task[hit]
        scores["word"][rows[hit]] = word[hit]
        scores["words"][rows[hit]] = words[hit]
        return scores

    def keep(self, scores):
        return np.isnan(scores["task"])

    def describe(self, scores, rows, ctx):
        out = []
        for row, text in zip(rows.tolist(), ctx.texts_at(rows)):
            s = scores[row]
            label = self.index.labels[int(s["task"])]
            path, gram = _gram_location(text, ctx.paths_of(row), int(s["word"]), int(s["words"]))
            out.append(f'{label}{f" in {path}" if path else ""}: "{gram}"')
        return out


def decontam_rules(config: DecontamConfig | dict | None = None) -> list[Rule]:
    if isinstance(config, dict):
        config = DecontamConfig(**config)
    return [Decontaminate(config)]
