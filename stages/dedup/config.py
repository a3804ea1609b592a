"""The dedup stage's settings: the one place their defaults live (docs/dedup.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.config import check_ranges, option
from stages.core.errors import UsageError
from stages.core.phases import phase_dir

PHASES = ("signatures", "buckets", "cluster", "remove")
SURVIVOR_RULE = "most_files,largest,smallest_sample_id/v1"  # clustering.removal_map implements it


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
    verify: bool = option(False, "Compute the exact Jaccard of every LSH candidate pair and drop those below "
                          "--threshold.", flag="--verify")

    def __post_init__(self):
        from .lsh import optimal_bands  # numpy: not needed to build the CLI

        check_ranges(self)
        if (self.bands is None) != (self.rows is None):
            raise UsageError("give both --bands and --rows, or neither (then they are chosen for --threshold)")
        if self.bands is None:
            self.bands, self.rows = optimal_bands(self.threshold, self.num_perm)
        if self.bands * self.rows > self.num_perm:
            raise UsageError(f"--bands x --rows ({self.bands} x {self.rows}) must be at most --num-perm "
                             f"({self.num_perm})")

    def phase_dir(self, phase: str) -> Path:
        return phase_dir(self.output, phase, last=phase == PHASES[-1])
