"""Per-document text statistics, computed column-wise over Arrow string arrays.

Definitions (shared, word for word, with ``reference_loop.filter_document``):

* characters are Unicode code points; ``n_chars`` = ``len(content)``;
* lines are ``content.split("\\n")`` with the final empty piece dropped when the content
  ends with ``"\\n"`` (so ``"a\\nb\\n"`` has 2 lines and ``""`` has 1 line of length 0);
* a line's length excludes the ``"\\n"``; ``sum_line_length`` = sum of line lengths,
  mean line length = ``sum_line_length / n_lines``;
* ``n_alpha`` = number of characters ``c`` with ``c.isalpha()``; the alpha fraction of
  an empty document is 0;
* null entries count as empty strings.

Everything is computed with numpy over the UTF-8 data buffer and the offsets, without
Python-level per-row work: a byte starts a character unless it is a continuation byte
(``b & 0xC0 == 0x80``), lines are cut at 0x0A bytes (0x0A never occurs inside a multi-byte
sequence), and non-ASCII characters are decoded from their lead byte so that ``isalpha``
can be looked up in a table of all code points. Per-row counts come from ``reduceat`` over
the row starts (dense events) or binary search over event positions (sparse events), and
arrays are processed in ~1 MB row blocks so the per-byte temporaries stay in cache.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class TextStats:
    """One int64 entry per row for each field."""

    n_chars: np.ndarray
    n_lines: np.ndarray
    max_line_length: np.ndarray
    sum_line_length: np.ndarray
    n_alpha: np.ndarray

    def __len__(self) -> int:
        return len(self.n_chars)

    @property
    def mean_line_length(self) -> np.ndarray:
        # n_lines >= 1 always, so no division by zero.
        return self.sum_line_length / self.n_lines

    @property
    def alpha_fraction(self) -> np.ndarray:
        out = np.zeros(len(self), dtype=np.float64)
        np.divide(self.n_alpha, self.n_chars, out=out, where=self.n_chars > 0)
        return out

    @classmethod
    def empty(cls) -> TextStats:
        return cls(*(np.zeros(0, dtype=np.int64) for _ in fields(cls)))

    @classmethod
    def concat(cls, parts: list[TextStats]) -> TextStats:
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


def compute_text_stats(texts: pa.Array | pa.ChunkedArray) -> TextStats:
    """TextStats of a string / large_string (chunked) array, one entry per row."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())  # e.g. string_view: no offsets buffer to read
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return TextStats.concat([_array_stats(block) for chunk in chunks for block in _blocks(chunk)])


# Work on row blocks of about this many bytes so that the per-byte temporaries stay
# in cache instead of streaming through memory (about 2x faster than whole chunks).
_BLOCK_BYTES = 1 << 20


def _blocks(arr: pa.Array):
    """Zero-copy row slices of ``arr`` holding about ``_BLOCK_BYTES`` bytes each."""
    n = len(arr)
    if n == 0 or arr.nbytes <= _BLOCK_BYTES:
        yield arr
        return
    off_type = np.int32 if pa.types.is_string(arr.type) else np.int64
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    targets = np.arange(int(offsets[0]), int(offsets[-1]), _BLOCK_BYTES)
    cuts = np.unique(np.concatenate([np.searchsorted(offsets, targets), [n]]))
    prev = 0
    for cut in cuts.tolist():
        if cut > prev:
            yield arr.slice(prev, cut - prev)
            prev = cut


@functools.cache
def _alpha_table() -> np.ndarray:
    """Boolean ``chr(i).isalpha()`` for every code point, built once (~25 ms).

    numpy's ``isalpha`` ufunc uses the same Unicode database as ``str.isalpha`` (the tests
    check the table against ``str.isalpha`` for all code points). U1 of code point 0 is the
    empty string, whose isalpha is False, like ``chr(0).isalpha()``.
    """
    return np.strings.isalpha(np.arange(0x110000, dtype=np.uint32).view("U1"))


def _decode_code_points(data: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """Code points of the multi-byte sequences starting at positions ``lead`` (bytes >= 0xC0)."""
    # Branch-free: assemble every sequence as if it had 4 bytes, then shift out the bytes
    # that belong to the following characters (6 bits each for 2- and 3-byte sequences).
    # Zero padding keeps the reads past the end of the block in bounds.
    padded = np.concatenate([data, np.zeros(3, dtype=np.uint8)])
    b0 = padded[lead]
    # b0 & 0x1F is the payload of 110xxxxx and 1110xxxx leads; for 11110xxx it keeps a
    # stray 0x10 bit, which lands at bit 22 and is masked off at the end.
    cp = (b0 & 0x1F).astype(np.int32) << 18
    for k, shift in ((1, 12), (2, 6), (3, 0)):
        cp |= (padded[k:][lead] & 0x3F).astype(np.int32) << shift
    cp >>= ((b0 < 0xE0).astype(np.int32) + (b0 < 0xF0)) * 6
    cp &= 0x1FFFFF
    return cp


def _array_stats(arr: pa.Array) -> TextStats:
    if len(arr) == 0:
        return TextStats.empty()
    if arr.null_count:
        # A null slot may still own bytes in the data buffer; filling makes it truly empty.
        arr = pc.fill_null(arr, "")

    _, off_buf, data_buf = arr.buffers()
    off_type = np.int32 if pa.types.is_string(arr.type) else np.int64
    # arr.offset handles slices: the offsets of a slice start in the middle of the buffer.
    offsets = np.frombuffer(off_buf, dtype=off_type)[arr.offset : arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    o = offsets.astype(np.int64) - start  # row i is data[o[i]:o[i+1]]
    if end > start:
        data = np.frombuffer(data_buf, dtype=np.uint8, count=end - start, offset=start)
    else:
        data = np.zeros(0, dtype=np.uint8)
    n = len(o) - 1
    n_bytes = np.diff(o)
    starts, ends = o[:-1], o[1:]

    # Pure-ASCII data (most code) skips all multi-byte work: one byte = one character.
    multibyte = bool(data.size) and int(data.max()) >= 0x80
    is_cont = ((data & 0xC0) == 0x80) if multibyte else None
    n_chars = n_bytes - _count_in(is_cont, starts, ends) if multibyte else n_bytes

    nl_pos = np.flatnonzero(data == 0x0A)
    nl_per_row = np.diff(np.searchsorted(nl_pos, o))
    ends_with_nl = np.zeros(n, dtype=bool)
    nonempty = n_bytes > 0
    ends_with_nl[nonempty] = data[ends[nonempty] - 1] == 0x0A
    n_lines = nl_per_row + 1 - ends_with_nl
    # Every "\n" is one character; dropping the final empty piece does not change the sum.
    sum_line_length = n_chars - nl_per_row

    max_line_length = _max_piece_length(o, nl_pos, nl_per_row, is_cont)

    # ASCII letters: (b | 0x20) - 'a' < 26 in wrapping uint8 arithmetic holds exactly for
    # A-Z and a-z (bytes >= 0x80 map to 0x3F..0x9E). Non-ASCII characters are decoded from
    # their lead byte and looked up; continuation bytes stay False.
    is_alpha = ((data | 0x20) - np.uint8(ord("a"))) < 26
    if multibyte:
        lead = np.flatnonzero(data >= 0xC0)
        is_alpha[lead] = _alpha_table()[_decode_code_points(data, lead)]
    n_alpha = _count_in(is_alpha, starts, ends)

    return TextStats(n_chars, n_lines, max_line_length, sum_line_length, n_alpha)


def _count_in(mask: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Number of True in ``mask[starts[i]:ends[i]]`` for each i.

    Segments must be in order and non-overlapping, and bytes between segments must be False.
    """
    k = np.count_nonzero(mask)
    if k == 0:
        return np.zeros(len(starts), dtype=np.int64)
    if k * 16 < mask.size:
        pos = np.flatnonzero(mask)
        if k < len(starts):
            # Few events: find each one's segment (the first whose end lies beyond it).
            seg = np.searchsorted(ends, pos, side="right")
            return np.bincount(seg, minlength=len(starts)).astype(np.int64)
        # Few segments: prefix counts at the boundaries.
        return np.searchsorted(pos, ends) - np.searchsorted(pos, starts)
    # Dense: reduceat over the non-empty segments only. Their starts are strictly increasing
    # and in bounds, and each group runs to the next non-empty segment's start, i.e. over
    # the segment plus False gap bytes. (reduceat returns the element at the index, not 0,
    # for empty groups, hence the exclusion.) uint32 accumulation is twice as fast as int64.
    out = np.zeros(len(starts), dtype=np.int64)
    nonempty = ends > starts
    acc = np.uint32 if mask.size < 2**32 else np.int64
    out[nonempty] = np.add.reduceat(mask.view(np.uint8), starts[nonempty], dtype=acc)
    return out


def _max_piece_length(
    o: np.ndarray, nl_pos: np.ndarray, nl_per_row: np.ndarray, is_cont: np.ndarray | None
) -> np.ndarray:
    """Per-row maximum length (in characters) of the pieces of ``content.split("\\n")``.

    The final empty piece after a trailing "\\n" has length 0 and every row has at least
    one piece, so including it never changes the maximum.
    """
    n = len(o) - 1
    n_pieces = len(nl_pos) + n
    # Pieces in document order: row i contributes nl_per_row[i] pieces ending at its
    # newlines, then one ending at the row end. Placing them by index avoids a sort.
    row_end_idx = np.cumsum(nl_per_row) + np.arange(n)
    first_idx = row_end_idx - nl_per_row
    piece_end = np.empty(n_pieces, dtype=np.int64)
    is_row_end = np.zeros(n_pieces, dtype=bool)
    is_row_end[row_end_idx] = True
    piece_end[row_end_idx] = o[1:]
    piece_end[~is_row_end] = nl_pos
    piece_start = np.empty(n_pieces, dtype=np.int64)
    piece_start[1:] = piece_end[:-1] + 1
    piece_start[first_idx] = o[:-1]
    length = piece_end - piece_start  # bytes
    if is_cont is not None:
        # The gaps between pieces are "\\n" bytes, never continuation bytes.
        length -= _count_in(is_cont, piece_start, piece_end)
    # Every row has >= 1 piece, so first_idx is strictly increasing: no empty groups.
    return np.maximum.reduceat(length, first_idx)
