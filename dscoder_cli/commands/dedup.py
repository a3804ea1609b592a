"""`dscoder dedup`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..app import app
from ..common import JSON_OUT, OVERWRITE, RANK, STRICT, WORKERS, WORLD, execute, guard

PHASE_CHOICES = ["all", "signatures", "buckets", "cluster", "remove"]


@app.command("dedup")
def dedup(
    input: Path = typer.Argument(..., help="Folder of `samples` shards (topo-sort output)."),
    output: Path = typer.Argument(..., help="Output folder for the kept samples."),
    phase: str = typer.Option("all", help="Phase to run: all (every phase, one machine), signatures, "
                              "buckets, cluster or remove. With --rank/--world-size a phase runs its share."),
    threshold: float = typer.Option(0.7, help="Jaccard similarity above which samples are near-duplicates "
                                    "(BigCode's default)."),
    num_perm: int = typer.Option(256, help="MinHash permutations."),
    ngram: int = typer.Option(5, help="Tokens per shingle (tokens split on [^A-Za-z_0-9])."),
    bands: Optional[int] = typer.Option(None, help="LSH bands (default: minimal false positives + "
                                        "negatives at --threshold; 25 for the defaults)."),
    rows: Optional[int] = typer.Option(None, help="LSH rows per band (default: chosen with --bands; 10)."),
    seed: int = typer.Option(42, help="Seed of the MinHash hash family (all ranks must share it)."),
    minhash_backend: str = typer.Option("rensa", help="Permutation backend: rensa (Rust, fast) or numpy "
                                        "(no extra dependency, about 10x slower). Signatures differ "
                                        "between backends."),
    verify: bool = typer.Option(False, "--verify", help="Compute the exact Jaccard of every LSH candidate "
                                "pair and drop those below --threshold."),
    workers: int = WORKERS, rank: Optional[int] = RANK, world_size: Optional[int] = WORLD,
    overwrite: bool = OVERWRITE, strict: bool = STRICT, as_json: bool = JSON_OUT,
) -> None:
    """Remove exact and near-duplicate samples (§2.3: MinHash + LSH, repository-level samples)."""
    from stages.dedup.stage import DedupConfig, run

    def build():
        if phase not in PHASE_CHOICES:
            raise ValueError(f"--phase must be one of {', '.join(PHASE_CHOICES)}, got {phase!r}")
        return DedupConfig(input=input, output=output, threshold=threshold, num_perm=num_perm,
                           ngram=ngram, seed=seed, bands=bands, rows=rows, backend=minhash_backend,
                           verify=verify)

    config = guard(build)
    execute(None, output, workers, rank, world_size, overwrite, strict, as_json,
            run=lambda options: run(config, options, phase=phase))
