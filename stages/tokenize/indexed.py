"""Megatron indexed datasets (`.bin` + `.idx`), written as a stream.

The format, as read by `megatron.core.datasets.indexed_dataset.IndexedDataset` (megatron-core 0.16):

`.bin`: the token ids of every sequence, back to back, in `dtype`, nothing else.

`.idx`, little-endian:

| bytes | field |
|---|---|
| 9 | magic `MMIDIDX\\x00\\x00` |
| 8 | uint64 version, 1 |
| 1 | uint8 dtype code (megatron's `DType`: 8 = uint16, 4 = int32) |
| 8 | uint64 sequence count S |
| 8 | uint64 document count + 1, D + 1 |
| 4·S | int32 length of each sequence, in tokens |
| 8·S | int64 byte offset of each sequence in `.bin` |
| 8·(D+1) | int64 document indices: 0, then the index one past each document's last sequence |

The tokenize stage writes one sequence per document, so the document indices are 0, 1, ..., D.
Only the lengths are kept in memory (4 bytes a document); tokens go to the `.bin` file as they come,
so memory does not grow with the shard.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7,
               np.dtype(np.uint16): 8}


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits with margin (Megatron-LM's rule: vocab < 65500), else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


class IndexedDatasetWriter:
    """Append documents to `bin_path`; `finalize()` writes `idx_path`. A context manager."""

    def __init__(self, bin_path: Path, idx_path: Path, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"unsupported token dtype {self.dtype}")
        self.idx_path = Path(idx_path)
        self.bin = open(bin_path, "wb")
        self.lengths: list[np.ndarray] = []
        self.tokens = 0

    def __enter__(self) -> "IndexedDatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.bin.close()

    def add_documents(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as one flat token array and each document's length."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != len(tokens):
            raise ValueError(f"document lengths add up to {int(lengths.sum())}, not {len(tokens)} tokens")
        self.bin.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.lengths.append(lengths.astype(np.int32))
        self.tokens += len(tokens)

    @property
    def documents(self) -> int:
        return sum(len(x) for x in self.lengths)

    def finalize(self) -> None:
        self.bin.flush()
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int32)
        pointers = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        document_indices = np.arange(len(lengths) + 1, dtype=np.int64)
        with open(self.idx_path, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", VERSION))
            f.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", len(lengths)))
            f.write(struct.pack("<Q", len(document_indices)))
            f.write(lengths.tobytes(order="C"))
            f.write(pointers.tobytes(order="C"))
            f.write(document_indices.tobytes(order="C"))


def read_documents(prefix: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read back a dataset written by this module (tests, tools): (all tokens, one array per document)."""
    prefix = Path(prefix)
    raw = prefix.with_name(prefix.name + ".idx").read_bytes()
    assert raw[:9] == MAGIC, f"{prefix}.idx: bad magic"
    code = raw[17]
    dtype = next(d for d, c in DTYPE_CODES.items() if c == code)
    n_seq, n_doc = struct.unpack_from("<QQ", raw, 18)
    lengths = np.frombuffer(raw, np.int32, n_seq, 34)
    tokens = np.fromfile(prefix.with_name(prefix.name + ".bin"), dtype=dtype)
    bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return tokens, [tokens[bounds[i]:bounds[i + 1]] for i in range(n_seq)]
