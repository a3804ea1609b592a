"""The dedup stage's settings: the one place their defaults live (docs/dedup.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.config import check_ranges, comma_list, option
from stages.core.errors import UsageError
from stages.core.phases import phase_dir

PHASES = ("signatures", "buckets", "cluster", "remove")
SURVIVOR_RULE = "most_files,largest,smallest_sample_id/v1"  # clustering.removal_map implements it

# --prefer: survivor preferences by sample metadata, applied before SURVIVOR_RULE (docs/dedup.md).
# key -> (the samples column it reads, its name in the recorded survivor rule). `license` and
# `repo_created_at` are the files schema's, carried per sample (one repository per sample);
# `stars` is the repository's star count (int), e.g. from the GitHub API.
PREFER = {
    "stars": ("stars", "most_stars"),
    "license": ("license", "permissive_license"),
    "recent": ("repo_created_at", "newest_repo"),
    "oldest": ("repo_created_at", "oldest_repo"),
}
# SPDX ids ranked first by `--prefer license` (The Stack's notion of permissive); any other
# licence next, none last.
PERMISSIVE_LICENSES = frozenset({"MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "ISC",
                                 "Unlicense", "CC0-1.0", "Zlib", "BSL-1.0", "PSF-2.0", "Python-2.0", "X11"})


def _prefer_keys(value) -> tuple[str, ...]:
    keys = comma_list(value)
    unknown = [k for k in keys if k not in PREFER]
    if unknown:
        raise ValueError(f"unknown preference {', '.join(unknown)}; known: {', '.join(PREFER)}")
    if len(set(keys)) != len(keys) or {"recent", "oldest"} <= set(keys):
        raise ValueError(f"{','.join(keys)}: each preference at most once, and not both recent and oldest")
    return keys


@dataclass
class DedupConfig:
    input: Path = option(cli=False)
    output: Path = option(cli=False)
    # BigCode's near-dedup parameters: the paper does not publish its own (docs/dedup.md).
    threshold: float = option(0.7, "Jaccard similarity above which samples are near-duplicates (BigCode's default).",
                              min=0.0, max=1.0, min_open=True)
    num_perm: int = option(256, "MinHash permutations.", min=1)
    ngram: int = option(5, "Tokens per shingle (tokens split on [^A-Za-z_0-9]).", min=1)
    seed: int = option(42, "Seed of the MinHash hash family (all ranks must share it).")
    bands: int | None = option(None, "LSH bands (default: minimal false positives + negatives at --threshold; "
                               "25 for the defaults).", min=1, show="chosen for --threshold")
    rows: int | None = option(None, "LSH rows per band (default: chosen with --bands; 10).", min=1,
                              show="chosen for --threshold")
    backend: str = option("rensa", "Permutation backend: rensa (Rust, fast) or numpy (no extra dependency, "
                          "about 10x slower). Signatures differ between backends.", flag="--minhash-backend",
                          choices=("rensa", "numpy"))
    verify: bool = option(False, "Join LSH candidates only at an exact Jaccard of --threshold or more, checking "
                          "every pair of a bucket not yet in one cluster.", flag="--verify")
    prefer: tuple[str, ...] = option((), "Choose each cluster's survivor by these sample columns first, in order: "
                                     "stars (most), license (permissive, then any), recent or oldest "
                                     "(repo_created_at); then the default rule. '' for the default only.",
                                     flag="--prefer", cli_type=str, parse=_prefer_keys)

    def __post_init__(self):
        from .lsh import optimal_bands  # numpy: not needed to build the CLI

        check_ranges(self)
        try:
            self.prefer = _prefer_keys(self.prefer)
        except ValueError as exc:
            raise UsageError(f"--prefer: {exc}") from None
        if (self.bands is None) != (self.rows is None):
            raise UsageError("give both --bands and --rows, or neither (then they are chosen for --threshold)")
        if self.bands is None:
            self.bands, self.rows = optimal_bands(self.threshold, self.num_perm)
        if self.bands * self.rows > self.num_perm:
            raise UsageError(f"--bands x --rows ({self.bands} x {self.rows}) must be at most --num-perm "
                             f"({self.num_perm})")

    @property
    def survivor_rule(self) -> str:
        """The survivor rule as the manifest records it (`survivor`)."""
        return ",".join([PREFER[k][1] for k in self.prefer] + [SURVIVOR_RULE])

    def phase_dir(self, phase: str) -> Path:
        return phase_dir(self.output, phase, last=phase == PHASES[-1])
