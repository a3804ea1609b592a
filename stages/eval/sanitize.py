"""From the model's raw output to the stored completion, cut as DeepSeek-Coder's evaluation scripts
cut it (docs/eval.md: stop words per benchmark).

* a base model's text is cut at the first stop word: Python always at DeepSeek's five (the
  dataset's own are ignored), MultiPL-E at the dataset's ``stop_tokens`` (TypeScript adds module-level
  keywords), MBPP at ``[DONE]``, single-line infilling at the first newline;
* an instruct model's answer gives the code of its first fenced block, re-spliced onto the prompt
  (DeepSeek's ``extract_generation_code``): that completion is the whole program's code (``full``).
"""

from __future__ import annotations

import re

from .benchmarks import Benchmark, Task

# DeepSeek's Evaluation/HumanEval/utils/utils.py: Python always stops at these (the dataset's own stop
# tokens are ignored); TypeScript adds module-level keywords to the dataset's.
PYTHON_STOP = ["\ndef", "\nclass", "\nif", "\n#", "\nprint"]
TS_EXTRA_STOP = ["\nexport", "\nimport", "\nexport default", "\nimport default", "\nconsole.log"]

_FENCE_NAMES = {"python": "python", "cpp": "cpp", "java": "java", "js": "javascript", "ts": "typescript",
                "php": "php", "cs": "csharp", "sh": "bash"}
_MAIN = {"cpp": "int main()", "java": "public static void main", "cs": "public static void Main"}


def stop_words(bench: Benchmark, task: Task, instruct: bool = False) -> list[str]:
    if instruct:
        return []  # the chat model stops at its end-of-turn token
    kind = bench.spec.kind
    if kind == "mbpp":
        return ["[DONE]"]
    if kind == "fim":
        return ["\n"]
    if task.language == "python":
        return list(PYTHON_STOP)
    words = list(task.stop_tokens)
    if task.language == "ts":
        words += TS_EXTRA_STOP
    return words


def truncate_at_stop_words(text: str, words: list[str]) -> str:
    cut = len(text)
    for word in words:
        i = text.find(word)
        if 0 <= i < cut:
            cut = i
    return text[:cut]


def clean_completion(bench: Benchmark, task: Task, raw: str, instruct: bool = False) -> str:
    """The stored completion: the raw generation cut as DeepSeek's scripts cut it."""
    kind = bench.spec.kind
    if kind == "fim":
        line = raw.split("\n", 1)[0]
        return line + "\n"  # the hole is a whole line; the suffix starts on the next one
    if instruct:
        return extract_instruct_code(bench, task, raw)
    if kind == "mbpp":
        return raw.split("[DONE]")[0].strip()
    return truncate_at_stop_words(raw, stop_words(bench, task))


def extract_instruct_code(bench: Benchmark, task: Task, answer: str) -> str:
    """DeepSeek's extract_generation_code: the first fenced block, `main` removed, the function body
    re-spliced onto the prompt's lines before the function. Without a block: prompt + answer."""
    if bench.spec.kind == "mbpp":
        m = re.search(r"```python\n(.*?)```", answer, re.DOTALL | re.IGNORECASE)
        return (m.group(1) if m else answer).strip()
    lang = task.language
    m = re.search(rf"```(?:{re.escape(_FENCE_NAMES[lang])}|{re.escape(lang)})\n(.*?)```", answer,
                  re.DOTALL | re.IGNORECASE)
    if not m:
        return task.prompt + "\n" + answer
    block = m.group(1)
    if lang in _MAIN and _MAIN[lang] in block:
        block = block[:block.index(_MAIN[lang])]
    lines = [x for x in task.prompt.strip().split("\n") if x.strip()]
    if lang == "python":
        idx = [i for i, x in enumerate(lines) if x.startswith("def ")]
        idx = idx[-1] if idx else len(lines) - 1
        name = lines[idx].split("(")[0].strip()
    else:
        idx = len(lines) - 1
        name = lines[idx].split("{")[0].strip()
    prefix = "\n".join(lines[:idx])
    indent = 4 if lang in ("python", "java") else 0
    try:
        start = block.lower().index(name.lower())
        indent = 0
        while start - indent - 1 >= 0 and block[start - indent - 1] == " ":
            indent += 1
    except ValueError:
        start = 0
    end = block.rfind("\n" + " " * indent + "}")
    body = block[start:end if end >= 0 else len(block)]
    if lang in ("php", "ts", "js"):
        body += "\n" + " " * indent + "}"
    return prefix + "\n" + body + "\n"
