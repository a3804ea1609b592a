"""Exact and MinHash near-deduplication of samples (paper §2.3); see docs/dedup.md."""

from .config import PHASES, DedupConfig  # noqa: F401
from .stage import run  # noqa: F401
