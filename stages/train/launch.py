"""The processes of a training job: `--nproc N` spawns N local ranks (what torchrun would do), so
laptops and tests need no launcher; each runs `python -m stages.train.launch JOB.json`.

    JOB.json  {"kind": "train", "config": {...}}                     one rank of `trainer.train`
              {"kind": "hf-import", "hf": ..., "out": ..., "model": {...}}   HF folder -> checkpoint
                                                                      (one process, `hf_io.import_hf`)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .distributed import free_port


def spawn_local(nproc: int, job_file: Path, extra_env: dict | None = None) -> int:
    """Run `python -m stages.train.launch JOB` in `nproc` local processes, torchrun-style.
    If one fails, the others are stopped; returns the first non-zero exit code (or 0)."""
    port = free_port()
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   **(extra_env or {}))
        env.setdefault("OMP_NUM_THREADS", "1")
        procs.append(subprocess.Popen([sys.executable, "-m", "stages.train.launch", str(job_file)], env=env))
    code = 0
    try:
        pending = list(procs)
        while pending:
            for p in list(pending):
                try:
                    rc = p.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                pending.remove(p)
                if rc != 0 and code == 0:
                    code = rc if rc > 0 else 128 - rc
                    for q in pending:
                        q.send_signal(signal.SIGTERM)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        code = 130
    for p in procs:
        p.wait()
    return code


def run_job(job_file: Path) -> None:
    """Entry of a spawned process: the JSON job above."""
    from .config import ModelConfig, TrainConfig
    from .quiet import install
    install()   # quiet unless the parent ran with --verbose (DSCODER_VERBOSE=1)

    job = json.loads(Path(job_file).read_text())
    if job["kind"] == "train":
        from .trainer import train
        train(TrainConfig.from_dict(job["config"]))
    elif job["kind"] == "hf-import":
        from .hf_io import import_hf
        import_hf(Path(job["hf"]), Path(job["out"]), ModelConfig(**job["model"]))
    else:
        raise ValueError(f"{job_file}: unknown job kind {job['kind']!r}")


def main(job_file: Path) -> int:
    """`run_job`, with a DscoderError as the CLI shows it (one line, its exit code) instead of a
    traceback; one raised alike on every rank (`every_rank`) is printed by rank 0 alone."""
    from stages.core.errors import DscoderError
    try:
        run_job(job_file)
    except DscoderError as exc:
        if os.environ.get("RANK", "0") == "0" or not getattr(exc, "every_rank", False):
            print(f"dscoder: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":   # the checkpoint writer's spawned helpers re-import __main__: keep this guard
    sys.exit(main(Path(sys.argv[1])))
