"""The stage contract every stage shares, and the formats stages exchange (docs/architecture.md).

- `stage`      what a stage is: config + `options()`, `plan()`, `process(unit)`
- `runner`     resume, workers, ranks, stats, rejected rows and errors for any stage; phases
- `output`     opening an output folder of any kind: create, resume, refuse changed options, overwrite
               (never an input), lock
- `lock`       one writer per output: a lock file naming its holder, stale locks taken over
- `processes`  worker processes that die with their parent
- `atomic`     write-then-rename files and folders (fsync first)
- `errors`     the exceptions whose class decides the exit code
- `shards`     Parquet shard I/O;  `manifest`  the `_dscoder/` metadata of a data stage's output
- `progress`   the reporter interface the runner talks to (the CLI supplies bars and log lines)
- `config`     `option()`: a config field with its help text, read by the CLI to build its options
- `schemas`    the `files` and `samples` Parquet schemas
- `languages`  the paper's languages and how a file's language is detected
- `sample_text` the repository-level sample format: comment syntax per language, path headers
- `benchmark_data` the benchmark files eval and decontamination read
- `hashing`    64-bit hashing pieces shared by dedup and decontam

Nothing here imports typer, torch or another stage: every stage may import it.
"""

__version__ = "0.1.0"
