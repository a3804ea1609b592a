"""Decontamination as a plain set-of-tuples n-gram loop (bigcode style): the oracle the tests compare
`stages.filter.decontam.BenchmarkIndex` with, and the baseline of bench_decontam.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from stages.core.benchmark_data import TestText
from stages.filter.config import DecontamConfig
from stages.filter.decontam import informative_gram, task_labels
from stages.filter.ngrams import reference_words


@dataclass
class ReferenceIndex:
    """The same index as tuples of words in Python dicts (bigcode-style set-of-tuples loop)."""

    labels: list[str]
    long: dict[tuple[bytes, ...], int] = field(default_factory=dict)
    short: dict[tuple[bytes, ...], int] = field(default_factory=dict)
    ngram: int = 10
    min_words: int = 3

    @classmethod
    def build(cls, texts: list[TestText], ngram=DecontamConfig.ngram, min_words=DecontamConfig.min_words,
              boilerplate_tasks=DecontamConfig.boilerplate_tasks) -> "ReferenceIndex":
        labels, task_of_text = task_labels(texts)
        long: dict[tuple, set] = {}
        short: dict[tuple, set] = {}

        for t, task in zip(texts, task_of_text.tolist()):
            words = reference_words(t.text)
            if len(words) >= ngram:
                for i in range(len(words) - ngram + 1):
                    if informative_gram(words[i:i + ngram], long=True):
                        long.setdefault(tuple(words[i:i + ngram]), set()).add(task)
            elif len(words) >= min_words and informative_gram(words, long=False):
                short.setdefault(tuple(words), set()).add(task)

        def pick(d):
            out = {}
            for gram, tasks in d.items():
                per_bench: dict[str, int] = {}
                for task in tasks:
                    bench = labels[task].split(":", 1)[0]
                    per_bench[bench] = per_bench.get(bench, 0) + 1
                if max(per_bench.values()) < boilerplate_tasks:
                    out[gram] = min(tasks)
            return out

        return cls(labels, pick(long), pick(short), ngram, min_words)

    def first_match(self, text: str | None) -> str | None:
        words = reference_words(text)
        lengths = sorted({len(k) for k in self.short})
        hits: dict[int, int] = {}
        for i in range(len(words)):
            gram = tuple(words[i:i + self.ngram])
            if len(gram) == self.ngram and gram in self.long:
                task = self.long[gram]
                hits[task] = hits.get(task, 0) + 1
            for n in lengths:
                if i + n <= len(words):
                    gram = tuple(words[i:i + n])
                    if gram in self.short:
                        task = self.short[gram]
                        hits[task] = hits.get(task, 0) + 1
        if not hits:
            return None
        return self.labels[min(hits, key=lambda t: (-hits[t], t))]
