"""Exact and MinHash near-deduplication of samples (paper §2.3); see docs/dedup.md."""

from .stage import PHASES, DedupConfig, run  # noqa: F401
