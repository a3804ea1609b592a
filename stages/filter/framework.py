"""The rule framework of `dscoder filter`: a rule *scores* rows column-wise, then *decides* from
the scores (NeMo Curator's split), so scores can be kept as columns and thresholds changed without
recomputation. ``rule.key`` (``"name/vN"``) and ``rule.params`` identify a rule in manifests; bump
``version`` whenever a rule's behaviour changes (dolma's versioned names).

`apply_rules` runs an ordered list of rules over a batch of rows; a row's ``reason`` is the first
rule it fails, so per-rule counts add up to the rejected rows. The rows are files (a `files` shard,
or the files of the samples of a `samples` shard: sample_files.py) or whole samples
(``--granularity sample``); ``groups`` tells a rule which rows are files of one sample. The rule sets are in starcoder.py
(paper §2.1), quality.py and decontam.py (§2.4); their registry is the stage's (stage.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.text_stats import TextStats, compute_text_stats


class FilterContext:
    """Lazy shared inputs of the rules for one batch of rows.

    ``alive`` marks the rows no earlier rule has rejected; rules with expensive scores
    score only those. ``groups``: the sample each row (a file) belongs to, non-decreasing, or None
    when every row is its own document. ``syntax``: per row, the syntax scores topo-sort recorded
    for its files (one entry per path, None where none; ``syntax.recorded_scores``), or None.
    ``memo``: what a rule's ``score`` keeps for its ``describe`` of the same batch.
    """

    def __init__(self, texts: pa.Array | pa.ChunkedArray, langs: pa.Array | pa.ChunkedArray | None,
                 paths: pa.Array | pa.ChunkedArray | None = None, groups: np.ndarray | None = None,
                 syntax: list[list[dict | None] | None] | None = None):
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        if paths is not None and len(paths) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(paths)} paths")
        if groups is not None and len(groups) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(groups)} group ids")
        if syntax is not None and len(syntax) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(syntax)} rows of syntax scores")
        self.groups = groups
        self.syntax = syntax
        self.memo: dict = {}
        self.paths = paths  # `files`: path (string); `samples`: paths (list<string>); or None
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            texts = texts.cast(pa.large_string())  # e.g. string_view, which some kernels lack
        self.texts = texts
        self.langs = langs
        self.alive = np.ones(len(texts), dtype=bool)
        self._lang_masks: dict[frozenset[str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.texts)

    @functools.cached_property
    def stats(self) -> TextStats:
        return compute_text_stats(self.texts)

    @functools.cached_property
    def line_scores(self):
        from stages.filter.line_scores import line_scores
        return line_scores(self.texts)

    @functools.cached_property
    def _utf8(self) -> tuple[np.ndarray, memoryview]:
        arr = self.texts.combine_chunks() if isinstance(self.texts, pa.ChunkedArray) else self.texts
        if arr.null_count:
            arr = pc.fill_null(arr, "")  # a null slot may still own bytes
        off_type = np.int32 if pa.types.is_string(arr.type) else np.int64
        offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset: arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        return offsets, memoryview(data) if data is not None else memoryview(b"")

    def text_bytes(self, row: int) -> memoryview:
        """The row's text as UTF-8 bytes, without a copy ("" for null)."""
        offsets, data = self._utf8
        return data[offsets[row]:offsets[row + 1]]

    def text_of(self, row: int) -> str:
        return str(self.text_bytes(row), "utf-8")

    def syntax_of(self, row: int) -> list[dict | None] | None:
        """The recorded syntax scores of the row's files (one per path), or None."""
        return None if self.syntax is None else self.syntax[row]

    def single_file(self, row: int) -> bool:
        """Whether the row is one file (a `files` row, a file of a sample, a one-path sample)."""
        paths = self.paths_of(row)
        return not paths or len(paths) == 1

    @functools.cached_property
    def _langs_lower(self) -> pa.ChunkedArray | None:
        if self.langs is None:
            return None
        langs = self.langs
        if pa.types.is_dictionary(langs.type):
            langs = langs.cast(langs.type.value_type)
        return pc.utf8_lower(langs)

    def in_languages(self, languages: frozenset[str]) -> np.ndarray:
        """Boolean mask of the rows whose language (case-insensitive) is in ``languages``."""
        if self._langs_lower is None or not languages:
            return np.zeros(len(self), dtype=bool)
        if languages not in self._lang_masks:
            values = pa.array(sorted(languages), type=self._langs_lower.type)
            mask = pc.fill_null(pc.is_in(self._langs_lower, value_set=values), False)
            self._lang_masks[languages] = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
        return self._lang_masks[languages].copy()  # callers may modify it in place

    @functools.cached_property
    def _py_langs(self) -> list[str | None]:
        return [None] * len(self) if self.langs is None else self.langs.to_pylist()

    @functools.cached_property
    def _py_paths(self) -> list[list[str] | None]:
        if self.paths is None:
            return [None] * len(self)
        return [[p] if isinstance(p, str) else p for p in self.paths.to_pylist()]

    def lang_of(self, row: int) -> str | None:
        return self._py_langs[row]

    def paths_of(self, row: int) -> list[str] | None:
        """The row's file paths: [path] for a `files` row, the sample's paths, or None."""
        return self._py_paths[row]

    def texts_at(self, rows: np.ndarray) -> list[str]:
        return ["" if t is None else t for t in self.texts.take(pa.array(rows, type=pa.int64())).to_pylist()]

    def document_total(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per row of ``rows``: the sum of ``values`` (one per row of ``rows``) over the rows of
        ``rows`` in the same document -- its sample's, when rows are files of samples."""
        if self.groups is None or len(rows) == 0:
            return np.asarray(values, dtype=np.float64)
        group = self.groups[rows]
        totals = np.bincount(group, weights=np.asarray(values, dtype=np.float64), minlength=int(group.max()) + 1)
        return totals[group]


class Rule:
    """A named, versioned filter rule: ``score`` rows, then ``keep`` decides from the scores.

    ``applies_to``: lower-case languages the rule is restricted to (None: all);
    ``exempt``: languages it never applies to. Rows it does not apply to are kept, whatever
    their score (NaN where not computed).
    """

    name: ClassVar[str]
    version: ClassVar[int]
    applies_to: ClassVar[frozenset[str] | None] = None
    exempt: ClassVar[frozenset[str]] = frozenset()
    reads_recorded_syntax: ClassVar[bool] = False  # uses FilterContext.syntax (the stage reads it only then)

    def __init__(self, **params) -> None:
        self.params = params

    @property
    def key(self) -> str:
        return f"{self.name}/v{self.version}"

    def applies(self, ctx: FilterContext) -> np.ndarray:
        mask = np.ones(len(ctx), dtype=bool) if self.applies_to is None else ctx.in_languages(self.applies_to)
        if self.exempt:
            mask &= ~ctx.in_languages(self.exempt)
        return mask

    def score(self, ctx: FilterContext) -> np.ndarray:
        raise NotImplementedError

    def keep(self, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self, scores: np.ndarray, rows: np.ndarray, ctx: FilterContext) -> list[str | None] | None:
        """Optional per-row detail of a rejection (``reason_detail`` in ``_rejected/``) for
        the rows ``rows`` this rule rejected first, e.g. the benchmark task and n-gram a file
        matched. None: the rule gives no details."""
        return None

    def columns(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Scores to keep as output columns (name -> one value per row); none by default."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key}, {self.params})"


@dataclass
class FilterResult:
    keep: np.ndarray  # bool per row
    reason: pa.Array  # string per row: name of the first failing rule, null where kept
    counts: dict[str, int]  # rule name -> rows it rejected first (0 included)
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # rule name -> scores
    # string per row: the first failing rule's detail (Rule.describe), null where none
    detail: pa.Array | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # Rule.columns of every rule


def apply_rules(
    texts: pa.Array | pa.ChunkedArray,
    langs: pa.Array | pa.ChunkedArray | None,
    rules: list[Rule],
    paths: pa.Array | pa.ChunkedArray | None = None,
    groups: np.ndarray | None = None,
    syntax: list[list[dict | None] | None] | None = None,
) -> FilterResult:
    ctx = FilterContext(texts, langs, paths, groups, syntax)
    first_fail = np.full(len(ctx), -1, dtype=np.int32)
    scores = {}
    for i, rule in enumerate(rules):
        scores[rule.name] = rule.score(ctx)
        with np.errstate(invalid="ignore"):  # NaN scores of rows a rule does not score
            passed = rule.keep(scores[rule.name]) | ~rule.applies(ctx)
        rejected_now = ctx.alive & ~passed
        first_fail[rejected_now] = i
        ctx.alive &= passed
    names = pa.array([r.name for r in rules], type=pa.string())
    reason = pa.DictionaryArray.from_arrays(pa.array(first_fail, mask=first_fail < 0), names).dictionary_decode()
    counts = {r.name: int(c) for r, c in zip(rules, np.bincount(first_fail + 1, minlength=len(rules) + 1)[1:])}
    details: list[str | None] = [None] * len(ctx)
    columns: dict[str, np.ndarray] = {}
    for i, rule in enumerate(rules):
        rows = np.flatnonzero(first_fail == i)
        described = rule.describe(scores[rule.name], rows, ctx) if len(rows) else None
        if described is not None:
            for row, text in zip(rows.tolist(), described):
                details[row] = text
        columns.update(rule.columns(scores[rule.name]))
    detail = pa.array(details, type=pa.string())
    return FilterResult(keep=ctx.alive.copy(), reason=reason, counts=counts, scores=scores,
                        detail=detail, columns=columns)
