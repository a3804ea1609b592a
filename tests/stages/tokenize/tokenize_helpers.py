"""Shared by the tokenize tests: small `samples` shards built in code, a small trained tokenizer,
and readers that turn `.bin/.idx` documents back into text."""

from __future__ import annotations

import random
import sysconfig
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.schemas import SAMPLES_SCHEMA
from stages.tokenize.indexed import read_documents
from stages.tokenize.tokenizer import EOS, FIM_BEGIN, FIM_END, FIM_HOLE, train_bpe

# Text a tokenizer has to get exactly right: CRLF, tabs, digits, CJK, emoji, combining marks, the
# byte-level characters of the added tokens 32000-32012, and control-token look-alikes.
TRICKY = [
    "def f(x):\r\n\treturn x + 12345  # ünïcödé\n",
    "中文注释 // 한국어 コード ✓ 🐍 e\u0301\n",
    "print('<|EOT|>', \"<｜end▁of▁sentence｜>\", '<｜fim▁hole｜>')  # õ÷ÁýÀÿøúþüùöû\n",
    "   leading spaces\n\n\ntrailing   ",
    "x",
]


def stdlib_texts(n: int, offset: int = 0) -> list[str]:
    """Real code: the standard library's Python files, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 60_000)
    return [p.read_text(encoding="utf-8", errors="replace") for p in files[offset:offset + n]]


def samples_table(texts: list[str], prefix: str = "repo") -> pa.Table:
    rows = [{"sample_id": f"{prefix}{i // 3}#{i % 3}", "repo": f"{prefix}{i // 3}", "lang": "Python",
             "paths": [f"f{i}.py"], "text": t, "n_files": 1, "size": None if t is None else len(t.encode())}
            for i, t in enumerate(texts)]
    return pa.Table.from_pylist(rows, schema=SAMPLES_SCHEMA)


def write_samples(folder: Path, shards: list[list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for s, texts in enumerate(shards):
        pq.write_table(samples_table(texts, prefix=f"r{s}-"), folder / f"part-{s:05d}.parquet")
    return folder


def synthetic_texts(n: int, seed: int) -> list[str]:
    """Small code-like documents, many of them, fast to tokenize."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "value", "index", "result", "count", "self", "return", "None"]
    out = []
    for i in range(n):
        lines = [f"def {rng.choice(words)}_{i}({rng.choice(words)}):"]
        lines += [f"    {rng.choice(words)} = {rng.choice(words)} + {rng.randint(0, 999)}"
                  for _ in range(rng.randint(1, 12))]
        out.append("\n".join(lines) + "\n")
    return out


@lru_cache(maxsize=None)
def small_tokenizer_dir(vocab_size: int = 600) -> Path:
    """A tokenizer trained once per test session (small vocabulary: fast), saved HF-style."""
    import tempfile

    from stages.tokenize.tokenizer import save_hf
    folder = Path(tempfile.mkdtemp(prefix="dscoder-tok-"))
    save_hf(train_bpe(stdlib_texts(60) + TRICKY, vocab_size), folder)
    return folder


def load(folder: Path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


def documents(prefix: Path) -> list[list[int]]:
    return [d.tolist() for d in read_documents(prefix)[1]]


def split_fim(doc: list[int], tok, mode: str) -> dict[str, str]:
    """Undo FIM on one document of the given mode (fim.choose): its pieces, decoded."""
    begin, hole, end, eos = (tok.token_to_id(t) for t in (FIM_BEGIN, FIM_HOLE, FIM_END, EOS))
    assert doc[-1] == eos and eos not in doc[:-1]
    doc = doc[:-1]
    dec = lambda ids: tok.decode(ids, skip_special_tokens=False)  # noqa: E731
    if mode == "plain":
        assert begin not in doc and hole not in doc and end not in doc
        return {"text": dec(doc)}
    assert doc[0] == begin and doc.count(begin) == doc.count(hole) == doc.count(end) == 1
    h, e = doc.index(hole), doc.index(end)
    if mode == "spm":  # begin hole suffix end prefix middle
        assert h == 1
        return {"suffix": dec(doc[2:e]), "prefix_middle": dec(doc[e + 1:])}
    return {"prefix": dec(doc[1:h]), "suffix": dec(doc[h + 1:e]), "middle": dec(doc[e + 1:])}
