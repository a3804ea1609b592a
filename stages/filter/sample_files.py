"""Per-file decisions inside repository-level samples (``--granularity file``, the default;
docs/filter.md "Samples: per-file decisions").

A `samples` row is a repository's files in dependency order (paper §2.2). ``explode`` cuts every
sample back into its files (``stages.core.sample_text.split_sample``), one row per file in its own
language, so the rules judge files exactly as on `files` shards; ``SampleFiles.groups`` tells
document-level rules (``code_lines``) which sample a file belongs to. ``regroup`` then rebuilds each
sample from its kept files, in their order: ``text`` (``build_sample_text``, the same headers),
``paths``, ``n_files``, ``size``, ``lang`` (majority language by bytes, as topo-sort chooses it) and
every other list column with one entry per path (a per-file ``langs`` column, earlier per-file
scores). A sample left with no file is rejected whole. A sample that is unchanged keeps its row
byte for byte.

Rows in = kept + rejected is counted in files: every removed file is one ``_rejected/`` row (the
``REJECTED_FILE_COLUMNS`` below, plus its scores and ``reason``/``reason_detail``). A sample whose
text cannot be split back into its paths (not written by topo-sort) is judged whole and counts as
one row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.languages import detect_language
from stages.core.sample_text import build_sample_text, split_sample

# Columns of a rejected file row, before its score columns and reason/reason_detail. `file_index` is
# the file's position in the sample's `paths` (null for a sample judged whole); `sample_rejected`
# says whether its sample lost every file (and so is gone from the output).
REJECTED_FILE_COLUMNS = pa.schema([
    ("sample_id", pa.string()), ("repo", pa.string()), ("path", pa.string()), ("file_index", pa.int64()),
    ("lang", pa.string()), ("text", pa.large_string()), ("size", pa.int64()), ("sample_rejected", pa.bool_()),
])


def _aligned_list_columns(table: pa.Table, exclude: set[str]) -> list[str]:
    """List columns with one entry per path in every row (e.g. a per-file `langs`)."""
    n_paths = pc.fill_null(pc.list_value_length(table["paths"]), 0)
    out = []
    for name in table.column_names:
        if name == "paths" or name in exclude:
            continue
        col = table[name]
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
            continue
        if pc.all(pc.equal(pc.fill_null(pc.list_value_length(col), -1), n_paths)).as_py() is not False:
            out.append(name)
    return out


@dataclass
class SampleFiles:
    """The files of a samples table, one row each: samples in table order, files in training order."""

    texts: pa.Array  # large_string: a file's content without its header (a sample judged whole: its text)
    langs: pa.Array  # string: the file's own language
    paths: pa.Array  # list<string>: [path], or all the paths of a sample judged whole
    groups: np.ndarray  # int64: the sample (table row) of each file
    index: np.ndarray  # int64: position in the sample's paths; -1 for a sample judged whole
    # per file: [its recorded syntax score] (syntax.recorded_scores), None for a sample judged whole;
    # None when the table has none
    syntax: list[list[dict | None] | None] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def file_languages(paths: list[str], langs: list | None, sample_lang: str | None) -> list[str | None]:
    """Each file's language: the per-file `langs` column where the sample has one, else by path
    (crawl's detection, what topo-sort wrote the headers with), else the sample's language."""
    if langs is not None and len(langs) == len(paths):
        return [lang or detect_language(p) or sample_lang for p, lang in zip(paths, langs)]
    return [detect_language(p) or sample_lang for p in paths]


def explode(table: pa.Table, text_column: str, recorded: list[list[dict | None] | None] | None = None) -> SampleFiles:
    """The files of ``table``'s samples; ``recorded``: per sample, its recorded syntax scores
    (``syntax.recorded_scores``), passed on per file."""
    texts = table[text_column].to_pylist()
    all_paths = table["paths"].to_pylist()
    sample_langs = table["lang"].to_pylist() if "lang" in table.column_names else [None] * table.num_rows
    all_langs = table["langs"].to_pylist() if "langs" in table.column_names else [None] * table.num_rows
    out_texts: list[str] = []
    out_langs: list[str | None] = []
    out_paths: list[list[str]] = []
    groups: list[int] = []
    index: list[int] = []
    syntax: list[list[dict | None] | None] | None = None if recorded is None else []
    for row, (text, paths, sample_lang, langs) in enumerate(zip(texts, all_paths, sample_langs, all_langs)):
        text, paths = text or "", paths or []
        files = None
        if paths:
            try:
                files = split_sample(text, paths, langs)
            except ValueError:
                files = None
        if files is None or len(files) != len(paths):  # judged whole, as with --granularity sample
            out_texts.append(text)
            out_langs.append(sample_lang)
            out_paths.append(paths)
            groups.append(row)
            index.append(-1)
            if syntax is not None:
                syntax.append(None)
            continue
        out_texts.extend(files)
        out_langs.extend(file_languages(paths, langs, sample_lang))
        out_paths.extend([p] for p in paths)
        groups.extend([row] * len(paths))
        index.extend(range(len(paths)))
        if syntax is not None:
            entries = recorded[row]
            syntax.extend([[e] for e in entries] if entries is not None and len(entries) == len(paths)
                          else [None] * len(paths))
    return SampleFiles(pa.array(out_texts, type=pa.large_string()), pa.array(out_langs, type=pa.string()),
                       pa.array(out_paths, type=pa.list_(pa.string())), np.asarray(groups, dtype=np.int64),
                       np.asarray(index, dtype=np.int64), syntax)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _majority_language(files: list[tuple[str, str | None, str]]) -> str | None:
    weight: Counter = Counter()
    for _, lang, content in files:
        weight[lang] += _utf8_len(content)
    return min(weight, key=lambda lang: (-weight[lang], lang or ""))


@dataclass
class Regrouped:
    kept: pa.Table  # the samples with at least one kept file, rebuilt where files were removed
    rejected: pa.Table  # one row per removed file (REJECTED_FILE_COLUMNS + scores + reason, detail)
    samples_trimmed: int  # kept samples that lost at least one file
    samples_rejected: int  # samples that lost every file
    touched: dict[str, int]  # rule -> samples that lost at least one file to it
    kept_bytes: int  # UTF-8 bytes of the kept samples' text


def regroup(table: pa.Table, text_column: str, files: SampleFiles, keep: np.ndarray, reason: pa.Array,
            detail: pa.Array, scores: dict[str, np.ndarray]) -> Regrouped:
    """Rebuild the samples of ``table`` from the files ``keep`` marks; ``scores``: per-file score
    columns (name -> value per file), kept as list columns aligned with the kept samples' paths."""
    keep = np.asarray(keep, dtype=bool)
    n_samples = table.num_rows
    kept_files = np.bincount(files.groups, weights=keep, minlength=n_samples).astype(np.int64)
    all_files = np.bincount(files.groups, minlength=n_samples).astype(np.int64)
    sample_kept = kept_files > 0
    trimmed = sample_kept & (kept_files < all_files)
    kept_rows = np.flatnonzero(sample_kept)

    # Files of each sample: [starts[i], starts[i] + all_files[i]) (explode emits them in order). Only
    # the files of trimmed samples and the removed files are read back into Python.
    starts = np.concatenate([[0], np.cumsum(all_files)[:-1]]).astype(np.int64)
    drop = np.flatnonzero(~keep)
    trimmed_rows = np.flatnonzero(trimmed)
    needed = np.union1d(drop, np.concatenate([np.arange(starts[r], starts[r] + all_files[r]) for r in trimmed_rows])
                        if len(trimmed_rows) else np.zeros(0, np.int64))
    at = pa.array(needed, type=pa.int64())
    texts = dict(zip(needed.tolist(), files.texts.take(at).to_pylist()))
    langs = dict(zip(needed.tolist(), files.langs.take(at).to_pylist()))
    paths = dict(zip(needed.tolist(), files.paths.take(at).to_pylist()))

    kept = table.take(pa.array(kept_rows, type=pa.int64()))
    replace = set(scores)
    aligned = _aligned_list_columns(table, exclude=replace)
    if len(trimmed_rows):
        position = {int(r): k for k, r in enumerate(kept_rows.tolist())}
        new: dict[str, list] = {name: [None] * kept.num_rows for name in (text_column, "paths", *aligned)}
        new.update({name: [None] * kept.num_rows for name in ("n_files", "size", "lang") if name in kept.column_names})
        old_aligned = {name: table[name].take(pa.array(trimmed_rows, type=pa.int64())).to_pylist() for name in aligned}
        for t, row in enumerate(trimmed_rows.tolist()):
            k = position[row]
            picked = [j for j in range(all_files[row]) if keep[starts[row] + j]]
            members = [(paths[starts[row] + j][0], langs[starts[row] + j], texts[starts[row] + j]) for j in picked]
            text = build_sample_text(members)
            new[text_column][k] = text
            new["paths"][k] = [p for p, _, _ in members]
            for name in aligned:
                new[name][k] = [old_aligned[name][t][j] for j in picked]
            if "n_files" in new:
                new["n_files"][k] = len(members)
            if "size" in new:
                new["size"][k] = _utf8_len(text)
            if "lang" in new:
                new["lang"][k] = _majority_language(members)
        is_trimmed = pa.array(trimmed[kept_rows])
        for name, values in new.items():
            i = kept.column_names.index(name)
            field = kept.schema.field(i)
            kept = kept.set_column(i, field, pc.if_else(is_trimmed, pa.array(values, type=field.type), kept[name]))

    # Scores per file as list columns aligned with the kept paths (a sample judged whole: its
    # score repeated for each path).
    kept_file_rows = np.flatnonzero(keep)
    kept_groups = files.groups[kept_file_rows]
    repeat = np.where(files.index[kept_file_rows] < 0, _paths_per_row(files, kept_file_rows), 1)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(kept_groups, weights=repeat,
                                                         minlength=n_samples)[kept_rows])]).astype(np.int32)
    for name, values in scores.items():
        flat = np.repeat(np.asarray(values, dtype=np.float64)[kept_file_rows], repeat)
        column = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), pa.array(flat, type=pa.float64()))
        if name in kept.column_names:  # filtered twice: the new scores replace the old
            kept = kept.set_column(kept.column_names.index(name), name, column)
        else:
            kept = kept.append_column(name, column)

    rejected = _rejected_files(table, files, drop, sample_kept, texts, langs, paths, reason, detail, scores)
    touched: Counter = Counter()
    reasons = reason.to_pylist()
    for rule, _ in {(reasons[i], int(files.groups[i])) for i in drop.tolist()}:
        touched[rule] += 1
    kept_bytes = int(pc.sum(pc.binary_length(kept[text_column])).as_py() or 0) if kept.num_rows else 0
    return Regrouped(kept=kept, rejected=rejected, samples_trimmed=int(trimmed.sum()),
                     samples_rejected=int((~sample_kept).sum()), touched=dict(touched), kept_bytes=kept_bytes)


def _paths_per_row(files: SampleFiles, rows: np.ndarray) -> np.ndarray:
    """Number of paths each of ``rows`` stands for (1 for a file, n for a sample judged whole)."""
    lengths = pc.fill_null(pc.list_value_length(files.paths), 0).to_numpy(zero_copy_only=False)
    return np.maximum(lengths[rows], 1).astype(np.int64)


def _rejected_files(table: pa.Table, files: SampleFiles, drop: np.ndarray, sample_kept: np.ndarray,
                    texts: dict, langs: dict, paths: dict, reason: pa.Array, detail: pa.Array,
                    scores: dict[str, np.ndarray]) -> pa.Table:
    groups = files.groups[drop]
    ids = table["sample_id"].to_pylist() if "sample_id" in table.column_names else [None] * table.num_rows
    repos = table["repo"].to_pylist() if "repo" in table.column_names else [None] * table.num_rows
    rows = drop.tolist()
    index = files.index[drop]
    columns = {
        "sample_id": [ids[g] for g in groups.tolist()],
        "repo": [repos[g] for g in groups.tolist()],
        "path": [paths[i][0] if files.index[i] >= 0 else None for i in rows],
        "file_index": [int(j) if j >= 0 else None for j in index.tolist()],
        "lang": [langs[i] for i in rows],
        "text": [texts[i] for i in rows],
        "size": [_utf8_len(texts[i]) for i in rows],
        "sample_rejected": (~sample_kept[groups]).tolist(),
    }
    arrays = [pa.array(columns[f.name], type=f.type) for f in REJECTED_FILE_COLUMNS]
    schema = list(REJECTED_FILE_COLUMNS)
    for name, values in scores.items():
        arrays.append(pa.array(np.asarray(values, dtype=np.float64)[drop], type=pa.float64()))
        schema.append(pa.field(name, pa.float64()))
    take = pa.array(drop, type=pa.int64())
    arrays += [pa.array(reason, type=pa.string()).take(take), pa.array(detail, type=pa.string()).take(take)]
    schema += [pa.field("reason", pa.string()), pa.field("reason_detail", pa.string())]
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))
