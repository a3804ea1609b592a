"""Cross-file context for a task: BM25 over the repository's other files, as CrossCodeEval's own
prompt builder retrieves it (``prompt_builder/augment_with_cfc.py`` of amazon-science/cceval, its
defaults), and the oracle: the defining file's snippet.

Retrieval (CrossCodeEval's defaults, named after its arguments):

* candidate files: the repository's other files of the task's language, nearest first by folder
  distance (``file_distance``: path components from their common folder; ties by path);
* chunks: each file's non-empty lines in windows of ``CHUNK_LINES`` (10, non-overlapping), each
  chunk ``path|k``; the first ``MAX_CHUNKS_TO_RANK`` (1000) chunks of that order are ranked;
* query: the last ``QUERY_LINES`` (10) non-empty lines of the left context;
* tokens: runs of ``\\w`` (CrossCodeEval: NLTK's ``word_tokenize``, then ``\\w+`` within each word:
  the same runs for code);
* ranking: Okapi BM25 (k1 1.5, b 0.75, negative IDF floored at 0.25 x the mean: ``rank_bm25``'s
  ``BM25Okapi``, the library CrossCodeEval uses), best first, ties in candidate order;
* ``use_next_chunk_as_cfc``: each ranked chunk is replaced by the chunk after it in its file (the
  code that follows what matched the query), when there is one; repeated texts are skipped;
  ``MAX_CONTEXT_CHUNKS`` (50) are kept, with their file and the score of the chunk that matched.

The prompt later takes these chunks in order while they fit in 512 tokens (crosscodeeval.py).
"""

from __future__ import annotations

import posixpath
import re

CHUNK_LINES = 10
QUERY_LINES = 10
MAX_CHUNKS_TO_RANK = 1000
MAX_CROSS_FILES = 1000
MAX_FILE_DISTANCE = 100
MAX_CONTEXT_CHUNKS = 50
# The oracle's snippet: the definition's first lines, in chunks of CHUNK_LINES, at most this many.
ORACLE_CHUNKS = 5
# The oracle has no ranking; its chunks get this score so the official eval.py (which compares
# each chunk's score with --min_cfc_score) reads them.
ORACLE_SCORE = 1.0

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text)


def file_distance(a: str, b: str) -> int:
    """Folders between two repo-relative paths: up from ``a`` to their common folder, down to ``b``.
    (CrossCodeEval's ``file_distance`` fails on two files of the repository's root and skips the
    pair; here they are 0 apart, like two files of any other folder.)"""
    common = posixpath.commonpath([a, b])
    rel_a = posixpath.relpath(a, common) if common else a
    rel_b = posixpath.relpath(b, common) if common else b
    return rel_a.count("/") + rel_b.count("/")


def nonblank_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def chunks_of(path: str, content: str) -> list[tuple[str, str]]:
    """(``path|k``, text) of a file's chunks: CHUNK_LINES non-empty lines each, those with a token."""
    lines = nonblank_lines(content)
    out = []
    for i in range(0, len(lines), CHUNK_LINES):
        chunk = "\n".join(lines[i:i + CHUNK_LINES])
        if tokenize(chunk):
            out.append((f"{path}|{len(out)}", chunk))
    return out


def bm25_index(documents: list[list[str]]):
    """Okapi BM25 over tokenized documents: rank_bm25's BM25Okapi, the library CrossCodeEval uses
    (``bm25s`` was measured too: slower on these ~1000-chunk indexes and another top chunk for
    12-15% of tasks, docs/eval.md)."""
    from rank_bm25 import BM25Okapi

    return BM25Okapi(documents)


class RepositoryChunks:
    """The chunks of one repository's files of one language, cut once, ranked per task."""

    def __init__(self, files: dict[str, str]):
        self.files = dict(sorted(files.items()))
        self.chunks = {path: chunks_of(path, content) for path, content in self.files.items()}
        self.tokens = {path: [tokenize(c) for _, c in chunks] for path, chunks in self.chunks.items()}
        self.by_id = {cid: text for chunks in self.chunks.values() for cid, text in chunks}
        self._index: tuple[str, list, object] | None = None  # the last file's (tasks of a file come together)

    def candidates(self, current: str) -> list[tuple[str, str, list[str]]]:
        """(id, text, tokens) of the chunks BM25 ranks for a task in ``current``."""
        near = sorted((file_distance(p, current), p) for p in self.files if p != current)
        paths = [p for d, p in near if d <= MAX_FILE_DISTANCE][:MAX_CROSS_FILES]
        out = []
        for p in paths:
            for (cid, chunk), tokens in zip(self.chunks[p], self.tokens[p]):
                out.append((cid, chunk, tokens))
                if len(out) == MAX_CHUNKS_TO_RANK:
                    return out
        return out

    def retrieve(self, current: str, left_context: str) -> list[dict]:
        """CrossCodeEval's ``crossfile_context.list``: {retrieved_chunk, filename, score}, best first."""
        if self._index is None or self._index[0] != current:
            candidates = self.candidates(current)
            self._index = (current, candidates, bm25_index([t for _, _, t in candidates]) if candidates else None)
        _, candidates, index = self._index
        if not candidates:
            return []
        query = tokenize("\n".join(nonblank_lines(left_context)[-QUERY_LINES:]))
        scores = [float(s) for s in index.get_scores(query)]
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])  # stable: ties in candidate order
        selected: list[dict] = []
        seen: set[str] = set()
        for i in order:
            cid = candidates[i][0]
            path, k = cid.rsplit("|", 1)
            chunk = self.by_id.get(f"{path}|{int(k) + 1}", self.by_id[cid])
            if chunk in seen:
                continue
            seen.add(chunk)
            selected.append({"retrieved_chunk": chunk, "filename": path, "score": round(scores[i], 6)})
            if len(selected) == MAX_CONTEXT_CHUNKS:
                break
        return selected


def oracle_context(definitions: list[tuple[str, list[str]]]) -> list[dict]:
    """The defining files' snippets: each definition's first ORACLE_CHUNKS chunks of CHUNK_LINES
    non-empty lines; every definition's first chunk comes before any definition's second."""
    per_definition = []
    for path, lines in definitions:
        lines = [line for line in lines if line.strip()]
        chunks = ["\n".join(lines[i:i + CHUNK_LINES]) for i in range(0, len(lines), CHUNK_LINES)][:ORACLE_CHUNKS]
        per_definition.append([(path, c) for c in chunks])
    out, seen = [], set()
    for rank in range(ORACLE_CHUNKS):
        for chunks in per_definition:
            if rank < len(chunks) and chunks[rank][1] not in seen:
                seen.add(chunks[rank][1])
                out.append({"retrieved_chunk": chunks[rank][1], "filename": chunks[rank][0], "score": ORACLE_SCORE})
    return out


def context_text(chunks: list[dict], comment: str) -> str:
    """``crossfile_context.text`` as CrossCodeEval's prompt builder writes it."""
    if not chunks:
        return ""
    out = f"{comment} Here are some relevant code fragments from other files of the repo:\n\n"
    for c in chunks:
        out += f"{comment} the below code fragment can be found in:\n{comment} {c['filename']}\n"
        out += "\n".join(f"{comment} {line}" for line in c["retrieved_chunk"].strip("\n").splitlines()) + "\n\n"
    return out
