"""Column-wise character and line statistics of the quality rules (quality.py), equal to their
per-document definitions there (``alnum_fraction``, ``code_lines``, ``max_line_repeat_fraction``,
``is_generated``'s header and shape) on every row; tests/stages/filter/test_line_scores.py checks
that on the standard library and on crafted Unicode.

What the per-document code does, and how it is done here over the UTF-8 buffer of an Arrow string
array (numpy, in ~1 MB row blocks like ``text_stats``):

* ``str.isalnum`` per code point: ASCII bytes through a 128-entry table, multi-byte characters
  decoded from their lead byte (``text_stats._decode_code_points``) and looked up in a table of all
  code points built from numpy's Unicode functions (the same database as ``str``; tested for all
  code points).
* ``text.splitlines()`` then ``line.strip()``: a *piece* is the text between two line-break
  characters of ``str.splitlines`` (``\\n \\r \\v \\f \\x1c \\x1d \\x1e \\x85 \\u2028 \\u2029``), and a
  piece is a non-blank line when it holds a character that is not ``str.isspace``; its stripped
  text runs from its first such character to the end of its last. ``\\r\\n`` is one break for
  ``splitlines`` but two here: the piece between them is empty, hence blank, and blank lines count
  for neither rule, so the non-blank lines are exactly ``splitlines``'s.
* ``s.startswith(prefix)`` on a stripped line: its first UTF-8 bytes equal the prefix's (UTF-8 is
  self-synchronising), kept as the line's first 8 bytes (``head``) and its byte length.
* ``Counter`` of the stripped lines holding a ``\\w`` character: lines grouped by a 64-bit hash of
  (row, bytes), each row's largest group then compared byte by byte (``_max_repeat``); a row where
  a collision shows is counted exactly with a ``Counter``.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.filter.text_stats import _blocks, _count_in, _decode_code_points

# str.splitlines's line boundaries (tested against str.splitlines for every code point).
LINE_BREAKS = (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)
HEAD_BYTES = 8  # prefixes compared on a line's first bytes: every comment prefix is shorter


@functools.cache
def char_tables() -> dict[str, np.ndarray]:
    """Boolean tables over all code points: ``space`` (``str.isspace``), ``alnum``
    (``str.isalnum``), ``word`` (``re``'s ``\\w``: alnum or ``_``), ``break`` (``splitlines``)."""
    cps = np.arange(0x110000, dtype=np.uint32).view("U1")  # code point 0 is '' in U1: all False, as for chr(0)
    alnum = np.strings.isalnum(cps)
    word = alnum.copy()
    word[ord("_")] = True
    brk = np.zeros(0x110000, dtype=bool)
    brk[list(LINE_BREAKS)] = True
    return {"space": np.strings.isspace(cps), "alnum": alnum, "word": word, "break": brk}


@dataclass
class LineScores:
    """Per row: ``n_chars``, ``n_alnum``, ``n_newlines`` (``text.count("\\n")``), ``nonblank``
    (non-blank lines), ``max_repeat`` (occurrences of the most frequent stripped line holding a
    ``\\w`` character; 0 if none). Per non-blank line, in order: ``line_row``, ``line_head`` (its first bytes, zero-padded,
    as one little-endian integer) and ``line_length`` (bytes of the stripped line)."""

    n_chars: np.ndarray
    n_alnum: np.ndarray
    n_newlines: np.ndarray
    nonblank: np.ndarray
    max_repeat: np.ndarray
    line_row: np.ndarray
    line_head: np.ndarray
    line_length: np.ndarray

    def lines_without_prefix(self, prefixes_of_row: list[tuple[str, ...]]) -> np.ndarray:
        """Per row: its non-blank lines whose stripped text starts with none of the row's prefixes
        (``code_lines``)."""
        n = len(self.n_chars)
        groups: dict[tuple[str, ...], int] = {}
        group_of_row = np.fromiter((groups.setdefault(p, len(groups)) for p in prefixes_of_row), dtype=np.int64,
                                   count=n)
        line_group = group_of_row[self.line_row]
        counted = np.ones(len(self.line_row), dtype=bool)
        for prefixes, g in groups.items():
            if not prefixes:
                continue
            sel = np.flatnonzero(line_group == g)
            heads, lengths = self.line_head[sel], self.line_length[sel]
            matched = np.zeros(len(sel), dtype=bool)
            for prefix in prefixes:
                raw = prefix.encode("utf-8")
                if len(raw) > HEAD_BYTES:
                    raise ValueError(f"comment prefix {prefix!r} is longer than {HEAD_BYTES} bytes")
                value = int.from_bytes(raw, "little")
                mask = (1 << (8 * len(raw))) - 1
                matched |= (lengths >= len(raw)) & ((heads & np.uint64(mask)) == np.uint64(value))
            counted[sel] = ~matched
        return np.bincount(self.line_row[counted], minlength=n).astype(np.int64)


def line_scores(texts: pa.Array | pa.ChunkedArray) -> LineScores:
    """LineScores of a string / large_string (chunked) array; null entries count as empty."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts = [_block_scores(block) for chunk in chunks for block in _blocks(chunk)]
    if not parts:
        return LineScores(*(np.zeros(0, dtype=np.uint64 if name == "line_head" else np.int64)
                            for name in LineScores.__dataclass_fields__))
    out = {}
    row_base = 0
    rows = []
    for part in parts:
        rows.append(part.line_row + row_base)
        row_base += len(part.n_chars)
    for name in LineScores.__dataclass_fields__:
        out[name] = rows if name == "line_row" else [getattr(p, name) for p in parts]
    return LineScores(**{name: np.concatenate(values) for name, values in out.items()})


def header_ends(texts: pa.Array | pa.ChunkedArray, header_lines: int) -> np.ndarray:
    """Per row: the UTF-8 byte offset where its first ``header_lines`` lines end (its
    ``header_lines``-th ``\\n``, excluded), or its length when it has fewer; 0 when
    ``header_lines`` is 0. ``is_generated`` looks for markers before it."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts = [np.zeros(0, dtype=np.int64)]
    for chunk in chunks:
        for block in _blocks(chunk):
            o, data = _utf8(block)
            if header_lines <= 0:
                parts.append(np.zeros(len(block), dtype=np.int64))
                continue
            newline = np.flatnonzero(data == 0x0A)
            first = np.searchsorted(newline, o)
            end = np.diff(o)
            has = np.flatnonzero(np.diff(first) >= header_lines)
            end[has] = newline[first[has] + header_lines - 1] - o[has]
            parts.append(end.astype(np.int64))
    return np.concatenate(parts)


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(row offsets from 0, UTF-8 bytes) of a string / large_string array; nulls are empty."""
    if arr.null_count:
        arr = pc.fill_null(arr, "")  # a null slot may still own bytes in the data buffer
    _, off_buf, data_buf = arr.buffers()
    off_type = np.int32 if pa.types.is_string(arr.type) else np.int64
    offsets = np.frombuffer(off_buf, dtype=off_type)[arr.offset: arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(data_buf, dtype=np.uint8, count=end - start, offset=start) if end > start
            else np.zeros(0, dtype=np.uint8))
    return offsets.astype(np.int64) - start, data


def _char_length(lead: np.ndarray) -> np.ndarray:
    """Bytes of the characters whose first bytes are ``lead``."""
    return 1 + (lead >= 0xC0).astype(np.int64) + (lead >= 0xE0) + (lead >= 0xF0)


def _below(data: np.ndarray, low: int, count: int) -> np.ndarray:
    """``low <= data < low + count`` (wrapping uint8 arithmetic; bytes >= 0x80 are never inside)."""
    return (data - np.uint8(low)) < count


def _ascii_classes(data: np.ndarray) -> dict[str, np.ndarray]:
    """``char_tables`` for the ASCII bytes of ``data``; False on every byte >= 0x80."""
    alnum = _below(data | np.uint8(0x20), ord("a"), 26) | _below(data, ord("0"), 10)
    return {
        "space": (data == 0x20) | _below(data, 0x09, 5) | _below(data, 0x1C, 4),
        "alnum": alnum,
        "word": alnum | (data == ord("_")),
        "break": _below(data, 0x0A, 4) | _below(data, 0x1C, 3),
    }


def _block_scores(arr: pa.Array) -> LineScores:
    n = len(arr)
    o, data = _utf8(arr)  # row i is data[o[i]:o[i + 1]]
    starts, ends = o[:-1], o[1:]

    classes = _ascii_classes(data)
    if bool(data.size) and int(data.max()) >= 0x80:
        lead = np.flatnonzero(data >= 0xC0)
        cps = _decode_code_points(data, lead)
        for name, table in char_tables().items():
            classes[name][lead] = table[cps]
        is_start = (data & 0xC0) != 0x80
        n_chars = _count_in(is_start, starts, ends)
        nonspace = is_start & ~classes["space"]
    else:
        n_chars = np.diff(o)
        nonspace = ~classes["space"]
    n_alnum = _count_in(classes["alnum"], starts, ends)

    n_newlines = np.diff(np.searchsorted(np.flatnonzero(data == 0x0A), o))

    # Pieces in order: row i has one more piece than line breaks, the first starting at the row's
    # start, the others after a break; each ends at the next break or the row's end.
    brk = np.flatnonzero(classes["break"])
    per_row = np.diff(np.searchsorted(brk, o))
    last_idx = np.cumsum(per_row) + np.arange(n)
    first_idx = last_idx - per_row
    inner_end = np.ones(len(brk) + n, dtype=bool)
    inner_end[last_idx] = False
    inner_start = np.ones(len(brk) + n, dtype=bool)
    inner_start[first_idx] = False
    piece_end = np.empty(len(brk) + n, dtype=np.int64)
    piece_end[last_idx] = ends
    piece_end[inner_end] = brk
    piece_start = np.empty(len(brk) + n, dtype=np.int64)
    piece_start[first_idx] = starts
    piece_start[inner_start] = brk + _char_length(data[brk])
    piece_row = np.repeat(np.arange(n), per_row + 1)

    # A piece's non-space characters, numbered in order: ns[i0] is its first, ns[i1 - 1] its last.
    count = _count_in(nonspace, piece_start, piece_end)  # break characters are spaces: no gaps counted
    i1 = np.cumsum(count)
    i0 = i1 - count
    keep = count > 0
    ns = np.flatnonzero(nonspace)
    a = ns[i0[keep]]
    last = ns[i1[keep] - 1]
    b = last + _char_length(data[last])
    line_row = piece_row[keep]
    nonblank = np.bincount(line_row, minlength=n).astype(np.int64)
    length = b - a

    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    words = _words(padded, len(data))
    head = words[a] & _low_bytes(np.minimum(length, HEAD_BYTES))

    # Outside the lines there are only spaces, so a line's \w characters are the ones between its ends.
    has_word = _count_in(classes["word"], a, b) > 0
    max_repeat = _max_repeat(data, words, a[has_word], length[has_word], line_row[has_word], n)
    return LineScores(n_chars=n_chars.astype(np.int64), n_alnum=n_alnum, n_newlines=n_newlines.astype(np.int64),
                      nonblank=nonblank, max_repeat=max_repeat,
                      line_row=line_row.astype(np.int64), line_head=head, line_length=length.astype(np.int64))


def _words(padded: np.ndarray, size: int) -> np.ndarray:
    """``w[i]``: the 8 bytes ``padded[i:i + 8]`` as a little-endian integer, for i <= size (a view)."""
    return np.ndarray(shape=(size + 1,), dtype="<u8", buffer=padded, strides=(1,))


def _low_bytes(k: np.ndarray) -> np.ndarray:
    """Masks keeping the low ``k`` (0..8) bytes of a uint64."""
    table = np.array([(1 << (8 * i)) - 1 for i in range(9)], dtype=np.uint64)
    return table[k]


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _line_hashes(words: np.ndarray, a: np.ndarray, length: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each line ``data[a:a + length]``, 8 bytes per round."""
    h = length.astype(np.uint64) * _MIX
    active = np.flatnonzero(length > 0)
    k = 0
    with np.errstate(over="ignore"):
        while len(active):
            w = words[a[active] + 8 * k] & _low_bytes(np.minimum(length[active] - 8 * k, 8))
            x = (h[active] ^ w) * _MIX
            h[active] = x ^ (x >> np.uint64(29))
            k += 1
            active = active[length[active] > 8 * k]
    return h


def _max_repeat(data: np.ndarray, words: np.ndarray, a: np.ndarray, length: np.ndarray, row: np.ndarray,
                n: int) -> np.ndarray:
    """Per row: the number of times its most frequent line (bytes ``data[a:a + length]``) occurs; 0 if none.

    Lines are grouped by a 64-bit hash of (row, bytes): a group holds every copy of its line, and
    maybe others that collide, so the largest group bounds the answer from above. Each row's
    largest group is then compared byte by byte; where all its lines are equal the bound is the
    answer, else (a collision) the row is counted exactly in Python.
    """
    out = np.zeros(n, dtype=np.int64)
    m = len(a)
    if m == 0:
        return out
    with np.errstate(over="ignore"):
        key = _line_hashes(words, a, length) ^ (row.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]]))
    sizes = np.diff(np.append(starts, m))
    group_row = row[order[starts]]
    # Each row's largest group: sort groups by row, then size descending.
    by = np.lexsort((-sizes, group_row))
    first = by[np.flatnonzero(np.concatenate([[True], group_row[by][1:] != group_row[by][:-1]]))]
    top_rows, top_sizes, top_starts = group_row[first], sizes[first], starts[first]
    out[top_rows] = top_sizes

    # Check the groups of more than one line: same row, same length, same bytes as their first line.
    multi = np.flatnonzero(top_sizes > 1)
    if len(multi):
        group_of = np.repeat(np.arange(len(multi)), top_sizes[multi])
        members = order[top_starts[multi][group_of] + _ragged_arange(top_sizes[multi])]
        leader = order[top_starts[multi][group_of]]
        ok = (row[members] == row[leader]) & (length[members] == length[leader])
        same_len = np.flatnonzero(ok)
        lengths = length[members[same_len]]
        if lengths.sum():
            step = _ragged_arange(lengths)
            diff = data[np.repeat(a[members[same_len]], lengths) + step] != \
                data[np.repeat(a[leader[same_len]], lengths) + step]
            bad_member = np.zeros(len(same_len), dtype=bool)
            if diff.any():
                bad_member[np.searchsorted(np.cumsum(lengths), np.flatnonzero(diff), side="right")] = True
            ok[same_len[bad_member]] = False
        bad_rows = np.unique(top_rows[multi[np.unique(group_of[~ok])]])
        for r in bad_rows.tolist():
            out[r] = _exact_max_repeat(data, a[row == r], length[row == r])
    return out


def _ragged_arange(sizes: np.ndarray) -> np.ndarray:
    """``concatenate([arange(k) for k in sizes])``."""
    ends = np.cumsum(sizes)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - sizes, sizes)


def _exact_max_repeat(data: np.ndarray, a: np.ndarray, length: np.ndarray) -> int:
    counts = Counter(data[s:s + k].tobytes() for s, k in zip(a.tolist(), length.tolist()))
    return max(counts.values(), default=0)
