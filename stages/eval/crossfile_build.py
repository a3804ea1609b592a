"""`dscoder build-crossfile REPOS OUT`: a cross-file completion benchmark in CrossCodeEval's layout,
built from repositories the user keeps out of training (the paper's RQ1 test, docs/eval.md).

Per repository (any crawl SOURCE, or a dscoder `files` output):

1. every line that uses a name defined in another file of the repository is a candidate
   (``crossfile_names``: topo-sort's import parsers, then the names imported and their uses), if its
   text is MIN_LINE_CHARS..MAX_LINE_CHARS characters;
2. candidates are deduplicated: the same ground-truth line after the same three non-blank lines
   (vendored copies, generated twins) is one task, the first by task id; the others are rejected;
3. with ``--training-corpus``, a candidate whose ground-truth line, with the words before it, shares a
   10-gram with the corpus is rejected (the paper's decontamination n-gram, §2.4);
4. caps, each a seeded draw (``--seed``, the repository and path, never the order of reading):
   ``--max-per-file`` of a file's lines, ``--max-per-repo`` of a repository's, ``--max-per-language``;
5. each task gets its cross-file context: BM25 over the repository's other files of its language
   (``crossfile_retrieval``, CrossCodeEval's retrieval) and, in a second file, the oracle: the
   snippets of the definitions the line uses.

Output (CrossCodeEval's archive layout; every line a task in its schema)::

    OUT/<language>/line_completion_rg1_bm25.jsonl   prompt, groundtruth, right_context, metadata,
                                                   crossfile_context {text, list: retrieved_chunk,
                                                   filename, score} -- BM25 retrieval
    OUT/<language>/line_completion_oracle.jsonl     the same tasks, crossfile_context = the definitions
    OUT/manifest.json                               options, source, what was read
    OUT/summary.json                                per language: candidates, duplicates, contaminated,
                                                   tasks; per repository; errors
    OUT/rejected.jsonl                              every duplicate and contaminated task, with reason

``prompt + groundtruth + right_context`` is the file; ``metadata.groundtruth_start_lineno`` the
line (0-based, as CrossCodeEval); ``metadata.crossfile_identifiers`` what the line uses and where
it is defined (an addition: CrossCodeEval's readers ignore it).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from stages.core import __version__
from stages.core.atomic import write_json_atomic, write_text_atomic
from stages.core.errors import UsageError
from stages.core.output import OutputKind, open_output, refuse_changed

from .config import CrossfileConfig
from .crossfile_names import CROSSFILE_LANGUAGES, LANGUAGE_KEYS, CrossFileUse, cross_file_uses
from .crossfile_retrieval import RepositoryChunks, context_text, oracle_context

MIN_LINE_CHARS = 4  # a ground truth of fewer non-blank characters is a brace or a name alone
MAX_LINE_CHARS = 160  # more does not fit in 50 new tokens
DEDUP_CONTEXT_LINES = 3
DECONTAM_NGRAM = 10  # the paper's §2.4 n-gram
DECONTAM_CONTEXT_LINES = 5  # the words before the ground truth that a 10-gram may also cover

COMMENT = {"python": "#", "java": "//", "typescript": "//", "csharp": "//", "javascript": "//"}
RETRIEVAL_FILE = "line_completion_rg1_bm25.jsonl"
ORACLE_FILE = "line_completion_oracle.jsonl"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
REJECTED = "rejected.jsonl"
STAGE = "build-crossfile"


def _is_ours(root: Path) -> bool:
    try:
        return json.loads((root / MANIFEST).read_text()).get("stage") == STAGE
    except (OSError, ValueError):
        return False


CROSSFILE_OUTPUT = OutputKind("dscoder cross-file benchmark", is_ours=_is_ours)


def _log_default(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] build-crossfile: {message}", file=sys.stderr, flush=True)


@dataclass
class Repository:
    name: str
    files: list  # RepoFile


@dataclass
class Candidate:
    language: str
    repo: str
    path: str
    line: int  # 0-based
    uses: list[CrossFileUse]
    lines: list[str] = field(repr=False)  # the file's lines (shared by its candidates)

    @property
    def task_id(self) -> str:
        return f"{self.language}/{self.repo}/{self.path}:{self.line + 1}"

    @property
    def groundtruth(self) -> str:
        return self.lines[self.line]

    def left_context(self) -> str:
        return "".join(line + "\n" for line in self.lines[:self.line])

    def dedup_key(self) -> str:
        before = [x.strip() for x in self.lines[:self.line] if x.strip()][-DEDUP_CONTEXT_LINES:]
        return "\x00".join([self.language, self.groundtruth.strip(), *before])

    def probe(self) -> str:
        """The ground truth with the lines before it: what decontamination looks for."""
        before = [x for x in self.lines[:self.line] if x.strip()][-DECONTAM_CONTEXT_LINES:]
        return "\n".join([*before, self.groundtruth])


def _seeded(seed: int, *key: str) -> random.Random:
    digest = hashlib.blake2b("\x00".join([str(seed), *key]).encode("utf-8", "surrogatepass"), digest_size=8)
    return random.Random(int.from_bytes(digest.digest(), "little"))


# --------------------------------------------------------------------------------------- input
def read_repositories(source: str, languages: Optional[frozenset[str]], log: Callable[[str], None]) -> tuple[
        Iterator[Repository], list[dict], list[dict]]:
    """(repositories, skipped SOURCE entries, errors): a dscoder `files` output is read from its
    shards, anything else as crawl reads a SOURCE (folders, git repositories, list files, URLs).
    ``languages``: crawl's names of the languages kept (None: all)."""
    from stages.topo_sort.deps import RepoFile

    path = Path(source)
    if path.is_dir() and (path / "_dscoder" / "manifest.json").exists():
        return _from_shards(path, languages), [], []
    from stages.crawl.config import CrawlConfig
    from stages.crawl.reader import read_repo
    from stages.crawl.sources import resolve_source

    specs, errors = resolve_source(source, max_file_size=CrawlConfig().max_file_size, log=log)
    skipped = [{"item": s.location, "reason": s.reason} for s in specs if s.kind == "skipped"]
    config = CrawlConfig(languages=languages)

    def repositories() -> Iterator[Repository]:
        for spec in specs:
            if spec.kind == "skipped":
                continue
            try:
                read = read_repo(spec, config)
            except Exception as exc:  # noqa: BLE001 - an unreadable repository is reported, the rest go on
                errors.append({"item": spec.name, "error": f"cannot read: {exc}"})
                continue
            errors.extend(read.errors)
            yield Repository(spec.name, [RepoFile(r["path"], r["lang"], r["content"]) for r in read.rows])

    return repositories(), skipped, errors


def _from_shards(folder: Path, languages: Optional[frozenset[str]]) -> Iterator[Repository]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from stages.core.shards import list_shards, read_shard
    from stages.topo_sort.deps import RepoFile

    by_repo: dict[str, list] = defaultdict(list)
    for shard in list_shards(folder):
        table = read_shard(shard, ["repo", "path", "lang", "content"])
        if languages is not None:
            table = table.filter(pc.is_in(table["lang"], value_set=pa.array(sorted(languages))))
        for row in table.to_pylist():
            by_repo[row["repo"]].append(RepoFile(row["path"], row["lang"], row["content"]))
    for name in sorted(by_repo):
        yield Repository(name, by_repo[name])


# ----------------------------------------------------------------------------------- candidates
def candidates_of(repo: Repository, languages: tuple[str, ...]) -> list[Candidate]:
    """Every line of the repository that uses a name defined in another of its files."""
    uses = cross_file_uses(repo.files, set(languages), repo=repo.name)
    by_path = {f.path: f for f in repo.files}
    out = []
    for path in sorted(uses):
        file = by_path[path]
        lines = file.content.split("\n")
        per_line: dict[int, list[CrossFileUse]] = defaultdict(list)
        for use in uses[path]:
            per_line[use.line].append(use)
        for line, found in sorted(per_line.items()):
            stripped = lines[line].strip()
            if not MIN_LINE_CHARS <= len(stripped) <= MAX_LINE_CHARS:
                continue
            if not any(x.strip() for x in lines[:line]):
                continue
            out.append(Candidate(LANGUAGE_KEYS[file.lang], repo.name, path, line, found, lines))
    return out


def capped(items: list[Candidate], cap: int, seed: int, *key: str) -> list[Candidate]:
    """At most ``cap`` of ``items``, drawn with a generator seeded by ``key``; in their order."""
    if len(items) <= cap:
        return items
    chosen = set(_seeded(seed, *key).sample(range(len(items)), cap))
    return [c for i, c in enumerate(items) if i in chosen]


# --------------------------------------------------------------------------------- decontamination
class CorpusCheck:
    """Which candidates share a DECONTAM_NGRAM-word gram covering their ground truth with a corpus
    (words as the decontamination filter normalises them: stages/filter/ngrams.py)."""

    def __init__(self, candidates: list[Candidate]):
        import numpy as np
        import pyarrow as pa

        from stages.filter.ngrams import HashSet, gram_hashes, reference_words, tokenize

        self.np, self.pa, self.tokenize, self.gram_hashes = np, pa, tokenize, gram_hashes
        self.candidates = candidates
        probes = [c.probe() for c in candidates]
        self.owners: dict[int, list[list[int]]] = {}
        gt_words = np.array([len(reference_words(c.groundtruth)) for c in candidates], dtype=np.int64)
        tok = tokenize(pa.array(probes, type=pa.large_string()))
        n_words = np.bincount(tok.row, minlength=len(probes)) if len(tok) else np.zeros(len(probes), np.int64)
        first = np.searchsorted(tok.row, np.arange(len(probes)))
        keys = {}
        # A probe of >= n words: its n-grams ending in the ground truth; a shorter one: itself.
        lengths = np.minimum(n_words, DECONTAM_NGRAM)
        for n in sorted(set(lengths[lengths >= 3].tolist())):
            rows = np.flatnonzero(lengths == n)
            starts = []
            for r in rows.tolist():
                last_start = n_words[r] - n
                lo = max(0, n_words[r] - gt_words[r] - n + 1) if n == DECONTAM_NGRAM else 0
                starts.extend((first[r] + s, r) for s in range(lo, last_start + 1))
            if not starts:
                continue
            pos = np.array([s for s, _ in starts], dtype=np.int64)
            g, valid = gram_hashes(tok, n, pos)
            owner = np.array([r for _, r in starts], dtype=np.int64)[valid]
            # A gram of several candidates (common code) flags each of them.
            unique, group = np.unique(g[valid], return_inverse=True)
            order = np.argsort(group, kind="stable")
            bounds = np.cumsum(np.bincount(group, minlength=len(unique)))[:-1]
            self.owners[n] = [part.tolist() for part in np.split(owner[order], bounds)]
            keys[n] = HashSet(unique, np.arange(len(unique), dtype=np.int64))
        self.sets = keys
        self.found: dict[int, str] = {}

    def scan(self, texts: list[str], where: list[str]) -> None:
        """Look for the grams in a batch of corpus texts; ``where`` names each (for the report)."""
        if not self.sets or not texts:
            return
        tok = self.tokenize(self.pa.array(texts, type=self.pa.large_string()))
        for n, hashes in self.sets.items():
            g, valid = self.gram_hashes(tok, n)
            idx, group = hashes.lookup(g)
            for i, k in zip(idx.tolist(), group.tolist()):
                if valid[i]:
                    for r in self.owners[n][k]:
                        self.found.setdefault(r, where[int(tok.row[i])])

    def contaminated(self) -> dict[str, str]:
        """task id -> where the corpus holds its gram."""
        return {self.candidates[r].task_id: w for r, w in sorted(self.found.items())}


def scan_corpus(check: CorpusCheck, corpus: Path, log: Callable[[str], None], errors: list[dict]) -> int:
    """Feed every text of the corpus to ``check``; returns the number of texts read."""
    corpus = Path(corpus)
    n = 0
    if corpus.is_dir() and (corpus / "_dscoder" / "manifest.json").exists():
        import pyarrow.parquet as pq

        from stages.core.shards import list_shards
        for shard in list_shards(corpus):
            names = pq.read_schema(shard).names
            column = "text" if "text" in names else "content" if "content" in names else None
            if column is None:
                raise UsageError(f"--training-corpus {corpus}: {shard.name} has no text or content column")
            label = "sample_id" if "sample_id" in names else "path" if "path" in names else None
            cols = [column] + ([label] if label else []) + (["repo"] if "repo" in names and label == "path" else [])
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=2048, columns=cols):
                rows = batch.to_pydict()
                texts = rows[column]
                where = [f"{shard.name}:{(rows['repo'][i] + '/') if 'repo' in rows else ''}"
                         f"{rows[label][i] if label else i}" for i in range(len(texts))]
                check.scan([t or "" for t in texts], where)
                n += len(texts)
        return n
    repos, _, read_errors = read_repositories(str(corpus), None, log)
    for repo in repos:
        check.scan([f.content for f in repo.files], [f"{repo.name}/{f.path}" for f in repo.files])
        n += len(repo.files)
    errors.extend({"item": f"--training-corpus {e['item']}", "error": e["error"]} for e in read_errors)
    return n


# ---------------------------------------------------------------------------------------- tasks
def task_record(c: Candidate, context: list[dict]) -> dict:
    prompt = c.left_context()
    right = "".join("\n" + line for line in c.lines[c.line + 1:])
    identifiers = []
    for use in c.uses:
        entry = {"name": use.name, "file": use.definition.path, "line": use.definition.start + 1}
        if entry not in identifiers:
            identifiers.append(entry)
    return {
        "prompt": prompt,
        "groundtruth": c.groundtruth,
        "right_context": right,
        "metadata": {"task_id": c.task_id, "repository": c.repo, "file": c.path, "context_start_lineno": 0,
                     "groundtruth_start_lineno": c.line, "right_context_start_lineno": c.line + 1,
                     "language": c.language, "crossfile_identifiers": identifiers},
        "crossfile_context": {"text": context_text(context, COMMENT[c.language]), "list": context},
    }


def oracle_of(c: Candidate, files: dict[str, tuple[str, str]]) -> list[dict]:
    definitions, seen = [], set()
    for use in c.uses:
        d = use.definition
        if (d.path, d.start) in seen:
            continue
        seen.add((d.path, d.start))
        definitions.append((d.path, files[d.path][1].split("\n")[d.start:d.end + 1]))
    return oracle_context(definitions)


# ------------------------------------------------------------------------------------------ run
def options_of(cfg: CrossfileConfig) -> dict:
    return {"source": str(cfg.source), "languages": list(cfg.languages), "seed": cfg.seed,
            "max_per_language": cfg.max_per_language, "max_per_repo": cfg.max_per_repo,
            "max_per_file": cfg.max_per_file,
            "training_corpus": str(Path(cfg.training_corpus).resolve()) if cfg.training_corpus else None}


def build_crossfile(cfg: CrossfileConfig, log: Callable[[str], None] = _log_default) -> dict:
    cfg.validate()
    out = Path(cfg.output)
    t0 = time.monotonic()
    options = options_of(cfg)
    inputs = [Path(cfg.source)] if Path(cfg.source).exists() else []
    if cfg.training_corpus is not None:
        inputs.append(Path(cfg.training_corpus))
    opened = open_output(out, CROSSFILE_OUTPUT, overwrite=cfg.overwrite, lock="writer", log=log, inputs=inputs)
    try:
        if (out / MANIFEST).exists():
            refuse_changed(out, json.loads((out / MANIFEST).read_text())["options"], options)
        else:  # first, so that a build that fails is refused when re-run with other options
            write_json_atomic(out / MANIFEST, {"stage": STAGE, "dscoder_version": __version__, "options": options})
        return _build(cfg, out, t0, log)
    finally:
        opened.release()


def _build(cfg: CrossfileConfig, out: Path, t0: float, log: Callable[[str], None]) -> dict:
    wanted = frozenset(CROSSFILE_LANGUAGES[k] for k in cfg.languages)
    repos, skipped, errors = read_repositories(str(cfg.source), wanted, log)
    counts: dict[str, Counter] = defaultdict(Counter)
    per_repo: dict[str, Counter] = {}
    rejected: list[dict] = []
    kept_by_key: dict[str, str] = {}
    pool: list[Candidate] = []
    files_of: dict[str, dict[str, tuple[str, str]]] = {}  # repo -> path -> (language, content)
    chunks_of: dict[tuple[str, str], RepositoryChunks] = {}
    n_repos = n_files = 0
    for repo in repos:
        n_repos += 1
        n_files += len(repo.files)
        found = candidates_of(repo, cfg.languages)
        per_repo[repo.name] = Counter({"files": len(repo.files), "candidates": len(found)})
        unique = []
        for c in found:
            counts[c.language]["candidates"] += 1
            key = c.dedup_key()
            if key in kept_by_key:
                counts[c.language]["duplicates"] += 1
                rejected.append({"task_id": c.task_id, "reason": "duplicate", "of": kept_by_key[key]})
                continue
            kept_by_key[key] = c.task_id
            unique.append(c)
        if unique:
            files_of[repo.name] = {f.path: (f.lang, f.content) for f in repo.files}
        pool.extend(unique)
        log(f"{repo.name}: {len(repo.files)} files, {len(found)} candidate lines")
    if cfg.training_corpus is not None and pool:
        check = CorpusCheck(pool)
        texts = scan_corpus(check, Path(cfg.training_corpus), log, errors)
        dirty = check.contaminated()
        log(f"--training-corpus: {texts} texts read, {len(dirty)} candidates found in it")
        kept = []
        for c in pool:
            if c.task_id in dirty:
                counts[c.language]["contaminated"] += 1
                rejected.append({"task_id": c.task_id, "reason": "contaminated", "found_in": dirty[c.task_id]})
            else:
                kept.append(c)
        pool = kept
    # Caps: per file, per repository, per language; each draw seeded by what it draws from.
    by_file: dict[tuple, list[Candidate]] = defaultdict(list)
    for c in pool:
        by_file[(c.repo, c.path)].append(c)
    by_repo: dict[str, list[Candidate]] = defaultdict(list)
    for (repo, path), items in sorted(by_file.items()):
        by_repo[repo].extend(capped(items, cfg.max_per_file, cfg.seed, "file", repo, path))
    by_language: dict[str, list[Candidate]] = defaultdict(list)
    for repo, items in sorted(by_repo.items()):
        by_language_in_repo = capped(items, cfg.max_per_repo, cfg.seed, "repo", repo)
        for c in by_language_in_repo:
            by_language[c.language].append(c)
    summary_langs = {}
    for key in cfg.languages:
        tasks = capped(by_language.get(key, []), cfg.max_per_language, cfg.seed, "language", key)
        folder = out / key
        retrieval_lines, oracle_lines = [], []
        for c in tasks:
            files = files_of[c.repo]
            if (c.repo, key) not in chunks_of:
                lang = CROSSFILE_LANGUAGES[key]
                chunks_of[(c.repo, key)] = RepositoryChunks({p: text for p, (lg, text) in files.items() if lg == lang})
            context = chunks_of[(c.repo, key)].retrieve(c.path, c.left_context())
            retrieval_lines.append(json.dumps(task_record(c, context), ensure_ascii=False) + "\n")
            oracle_lines.append(json.dumps(task_record(c, oracle_of(c, files)), ensure_ascii=False) + "\n")
            per_repo[c.repo]["tasks"] += 1
        if tasks or folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(folder / RETRIEVAL_FILE, "".join(retrieval_lines))
            write_text_atomic(folder / ORACLE_FILE, "".join(oracle_lines))
        counts[key]["tasks"] = len(tasks)
        summary_langs[key] = {k: counts[key][k] for k in ("candidates", "duplicates", "contaminated", "tasks")}
        log(f"{key}: {len(tasks)} tasks ({counts[key]['candidates']} candidate lines)")
    write_text_atomic(out / REJECTED, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejected))
    summary = {"stage": STAGE, "output": str(out), "languages": summary_langs,
               "repositories": {name: dict(c) for name, c in sorted(per_repo.items())},
               "repos": n_repos, "files": n_files, "skipped": skipped, "errors": errors,
               "seconds": round(time.monotonic() - t0, 2)}
    write_json_atomic(out / SUMMARY, summary)
    return summary
