"""Rule-based file filtering (paper §2.1, StarCoder's rules), computed column-wise.

Each rule is a small named, versioned unit that first *scores* rows (a numpy array, one
entry per row) and then *decides* from the scores (NeMo Curator style), so scores can be
kept for statistics and thresholds changed without recomputation. ``rule.key``
(``"name/vN"``) and ``rule.params`` identify a rule in manifests; bump ``version`` whenever
a rule's behaviour changes.

StarCoder rules, in the fixed order in which a row's ``reason`` is chosen (the first
failing rule, so per-rule counts add up to the number of rejected rows):

1. ``avg_line_length``: drop if the mean line length > ``max_avg_line_length`` (100).
2. ``max_line_length``: drop if the longest line > ``max_line_length`` (1000).
3. ``alpha_fraction``: drop if the fraction of alphabetic characters (``str.isalpha``)
   < ``min_alpha_fraction`` (0.25); an empty file has fraction 0.
4. ``xml_header``: drop if ``"<?xml version="`` occurs within the first
   ``xml_header_chars`` (100) characters, unless the language is XSLT.
5. ``html_visible_text`` (HTML only): keep only if the visible text (see ``html_text``)
   has >= ``min_visible_text_chars`` (100) characters and >= ``min_visible_text_ratio``
   (0.2) of the file's characters.
6. ``json_yaml_size`` (JSON and YAML only): keep only if
   ``json_yaml_min_chars`` (50) <= characters <= ``json_yaml_max_chars`` (5000).

Characters, lines and line lengths are defined in ``text_stats`` (code points; lines of
``content.split("\\n")`` without the final empty piece of a trailing newline). Null texts
count as empty strings. Languages are compared case-insensitively; a null language matches
no language (so only the rules for all languages apply to it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.html_text import visible_text
from stages.filter.text_stats import TextStats, compute_text_stats

XML_HEADER = "<?xml version="


@dataclass(frozen=True)
class StarCoderConfig:
    max_avg_line_length: float = 100
    max_line_length: int = 1000
    min_alpha_fraction: float = 0.25
    xml_header_chars: int = 100
    min_visible_text_ratio: float = 0.2
    min_visible_text_chars: int = 100
    json_yaml_min_chars: int = 50
    json_yaml_max_chars: int = 5000


class FilterContext:
    """Lazy shared inputs of the rules for one batch of rows.

    ``alive`` marks the rows no earlier rule has rejected; rules with expensive scores
    score only those.
    """

    def __init__(self, texts: pa.Array | pa.ChunkedArray, langs: pa.Array | pa.ChunkedArray | None,
                 paths: pa.Array | pa.ChunkedArray | None = None):
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        if paths is not None and len(paths) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(paths)} paths")
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
        return ["" if t is None else t for t in self.texts.take(pa.array(rows)).to_pylist()]


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

    def describe(self, scores: np.ndarray, rows: np.ndarray) -> list[str | None] | None:
        """Optional per-row detail of a rejection (``reason_detail`` in ``_rejected/``) for
        the rows ``rows`` this rule rejected first, e.g. the benchmark task a sample matched.
        None: the rule gives no details."""
        return None

    def columns(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Scores to keep as output columns (name -> one value per row); none by default."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key}, {self.params})"


class AvgLineLength(Rule):
    name, version = "avg_line_length", 1

    def __init__(self, max_avg_line_length: float = 100) -> None:
        super().__init__(max_avg_line_length=max_avg_line_length)

    def score(self, ctx):
        return ctx.stats.mean_line_length

    def keep(self, scores):
        return scores <= self.params["max_avg_line_length"]


class MaxLineLength(Rule):
    name, version = "max_line_length", 1

    def __init__(self, max_line_length: int = 1000) -> None:
        super().__init__(max_line_length=max_line_length)

    def score(self, ctx):
        return ctx.stats.max_line_length

    def keep(self, scores):
        return scores <= self.params["max_line_length"]


class AlphaFraction(Rule):
    name, version = "alpha_fraction", 1

    def __init__(self, min_alpha_fraction: float = 0.25) -> None:
        super().__init__(min_alpha_fraction=min_alpha_fraction)

    def score(self, ctx):
        return ctx.stats.alpha_fraction

    def keep(self, scores):
        return scores >= self.params["min_alpha_fraction"]


class XmlHeader(Rule):
    name, version = "xml_header", 1
    exempt = frozenset({"xslt"})

    def __init__(self, xml_header_chars: int = 100) -> None:
        super().__init__(xml_header_chars=xml_header_chars)

    def score(self, ctx):
        """1.0 where the header occurs within the first ``xml_header_chars`` characters."""
        # utf8_slice_codeunits counts code points despite its name (tested).
        head = pc.utf8_slice_codeunits(ctx.texts, 0, self.params["xml_header_chars"])
        found = pc.fill_null(pc.match_substring(head, XML_HEADER), False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)

    def keep(self, scores):
        return scores == 0


HTML_SCORE_DTYPE = np.dtype([("visible_chars", np.float64), ("visible_ratio", np.float64)])


class HtmlVisibleText(Rule):
    name, version = "html_visible_text", 1
    applies_to = frozenset({"html"})

    def __init__(self, min_visible_text_ratio: float = 0.2, min_visible_text_chars: int = 100) -> None:
        super().__init__(min_visible_text_ratio=min_visible_text_ratio, min_visible_text_chars=min_visible_text_chars)

    def score(self, ctx):
        """Structured array (visible_chars, visible_ratio); NaN for rows not scored.

        Parsing is the only per-row Python work of the filter, so it runs only on the HTML
        rows that earlier rules kept.
        """
        scores = np.full(len(ctx), np.nan, dtype=HTML_SCORE_DTYPE)
        rows = np.flatnonzero(self.applies(ctx) & ctx.alive)
        visible = np.array([len(visible_text(t)) for t in ctx.texts_at(rows)], dtype=np.float64)
        n_chars = ctx.stats.n_chars[rows]
        ratio = np.zeros(len(rows), dtype=np.float64)
        np.divide(visible, n_chars, out=ratio, where=n_chars > 0)
        scores["visible_chars"][rows] = visible
        scores["visible_ratio"][rows] = ratio
        return scores

    def keep(self, scores):
        return (scores["visible_chars"] >= self.params["min_visible_text_chars"]) & (
            scores["visible_ratio"] >= self.params["min_visible_text_ratio"]
        )


class JsonYamlSize(Rule):
    name, version = "json_yaml_size", 1
    applies_to = frozenset({"json", "yaml"})

    def __init__(self, json_yaml_min_chars: int = 50, json_yaml_max_chars: int = 5000) -> None:
        super().__init__(json_yaml_min_chars=json_yaml_min_chars, json_yaml_max_chars=json_yaml_max_chars)

    def score(self, ctx):
        return ctx.stats.n_chars

    def keep(self, scores):
        return (scores >= self.params["json_yaml_min_chars"]) & (scores <= self.params["json_yaml_max_chars"])


def starcoder_rules(config: StarCoderConfig | dict | None = None) -> list[Rule]:
    """The six StarCoder rules in their fixed order."""
    if config is None:
        config = StarCoderConfig()
    elif isinstance(config, dict):
        config = StarCoderConfig(**config)
    return [
        AvgLineLength(config.max_avg_line_length),
        MaxLineLength(config.max_line_length),
        AlphaFraction(config.min_alpha_fraction),
        XmlHeader(config.xml_header_chars),
        HtmlVisibleText(config.min_visible_text_ratio, config.min_visible_text_chars),
        JsonYamlSize(config.json_yaml_min_chars, config.json_yaml_max_chars),
    ]


def _quality_rules(config=None) -> list[Rule]:
    from stages.filter.quality import quality_rules  # imported lazily: tree-sitter, ast

    return quality_rules(config)


def _decontam_rules(config=None) -> list[Rule]:
    from stages.filter.decontam import decontam_rules  # loads the benchmark data

    return decontam_rules(config)


# Rule-set name -> factory(config) -> ordered rules. "quality" and "decontam" are the second
# pass of paper §2.4 (docs/filter.md).
RULE_SETS: dict[str, Callable[..., list[Rule]]] = {
    "starcoder": starcoder_rules,
    "quality": _quality_rules,
    "decontam": _decontam_rules,
}


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
) -> FilterResult:
    ctx = FilterContext(texts, langs, paths)
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
        described = rule.describe(scores[rule.name], rows) if len(rows) else None
        if described is not None:
            for row, text in zip(rows.tolist(), described):
                details[row] = text
        columns.update(rule.columns(scores[rule.name]))
    detail = pa.array(details, type=pa.string())
    return FilterResult(keep=ctx.alive.copy(), reason=reason, counts=counts, scores=scores,
                        detail=detail, columns=columns)
