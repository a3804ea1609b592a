"""The paper's headline numbers (arXiv 2401.14196, Tables 3-6 and 8), for the summary and the report
to set beside a result. Only the numbers the project's protocol notes give (../shared/eval-protocols.md);
a cell the notes do not give is absent, never guessed.

``PAPER[(benchmark, kind)][size]`` is a percentage; ``GROUPS`` the per-group ones (FIM per
language, LeetCode per variant, PAL-Math per set), ``NOTES`` what to know when comparing.
"""

from __future__ import annotations

SIZES = ("1.3b", "6.7b", "33b")

PAPER: dict[tuple[str, str], dict[str, float]] = {
    # Table 3 (HumanEval-Py, multilingual average, MBPP); base and instruct.
    ("humaneval", "base"): {"1.3b": 34.8, "6.7b": 49.4, "33b": 56.1},
    ("humaneval", "instruct"): {"1.3b": 65.2, "6.7b": 78.6, "33b": 79.3},
    ("humaneval-multilingual", "base"): {"1.3b": 28.3, "6.7b": 44.7, "33b": 50.3},
    ("humaneval-multilingual", "instruct"): {"1.3b": 48.4, "6.7b": 66.1, "33b": 69.2},
    ("mbpp", "base"): {"1.3b": 46.2, "6.7b": 60.6, "33b": 66.0},
    ("mbpp", "instruct"): {"1.3b": 49.4, "6.7b": 65.4, "33b": 70.0},
    # the full per-language row is given for Base 33B only
    ("humaneval-cpp", "base"): {"33b": 58.4}, ("humaneval-java", "base"): {"33b": 51.9},
    ("humaneval-php", "base"): {"33b": 44.1}, ("humaneval-ts", "base"): {"33b": 52.8},
    ("humaneval-cs", "base"): {"33b": 51.3}, ("humaneval-sh", "base"): {"33b": 32.3},
    ("humaneval-js", "base"): {"33b": 55.3},
    # Table 4: DS-1000 average over its 7 libraries
    ("ds1000", "base"): {"1.3b": 16.2, "6.7b": 30.5, "33b": 40.2},
    # Table 5: LeetCode Contest, instruct models
    ("leetcode", "instruct"): {"1.3b": 7.2, "6.7b": 19.4, "33b": 27.8},
    ("leetcode-cot", "instruct"): {"1.3b": 7.2, "6.7b": 21.1, "33b": 28.9},
    # Table 6: SantaCoder single-line FIM, the printed "Mean"
    ("santacoder-fim", "base"): {"1.3b": 70.4, "6.7b": 80.7, "33b": 81.2},
    # Table 8: PAL-Math, average over 7 sets (TabMWP included)
    ("pal-math", "base"): {"1.3b": 31.9, "6.7b": 54.7, "33b": 65.8},
}

GROUPS: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("santacoder-fim", "base"): {"py": {"1.3b": 57.4, "6.7b": 66.6, "33b": 65.4},
                                 "java": {"1.3b": 82.2, "6.7b": 88.1, "33b": 86.6},
                                 "js": {"1.3b": 71.7, "6.7b": 79.7, "33b": 82.5}},
    ("pal-math", "base"): {"gsm8k": {"1.3b": 14.6, "6.7b": 43.2, "33b": 60.7},
                           "math": {"6.7b": 19.2, "33b": 29.1}},
}

NOTES = {
    "santacoder-fim": "the paper's Mean is not the arithmetic mean of its three languages for 6.7B/33B; "
                      "copied as printed",
    "pal-math": "TabMWP is not available here: the average is over 6 of the paper's 7 sets",
    "ds1000": "DS-1000's data cannot be had here: give its official ds1000.jsonl with --benchmark-file",
    "humaneval": "the repo README prints 78.9 for Instruct 6.7B (paper 78.6)",
    "mbpp": "the repo README prints 46.8 for Base 1.3B (paper 46.2)",
}


def paper_entry(benchmark: str, instruct: bool) -> dict:
    """What the summary records beside a benchmark's result: the paper's number per model size (and
    per group), for the model kind evaluated; {} when the paper has none."""
    kind = "instruct" if instruct or benchmark.startswith("leetcode") else "base"
    numbers = PAPER.get((benchmark, kind))
    if not numbers:
        return {}
    out = {"model": f"DeepSeek-Coder-{kind.capitalize()}", "pass@1": numbers}
    if (benchmark, kind) in GROUPS:
        out["groups"] = GROUPS[(benchmark, kind)]
    if benchmark in NOTES:
        out["note"] = NOTES[benchmark]
    return out
