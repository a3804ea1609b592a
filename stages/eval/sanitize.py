"""From the model's raw output to the stored completion, cut as DeepSeek-Coder's evaluation scripts
cut it (docs/eval.md: stop words per benchmark).

* a base model's text is cut at the first stop word: Python always at DeepSeek's five (the
  dataset's own are ignored), MultiPL-E at the dataset's ``stop_tokens`` (TypeScript adds module-level
  keywords), MBPP at ``[DONE]``, single-line infilling at the first newline;
* an instruct model's answer gives the code of its first fenced block, re-spliced onto the prompt
  (DeepSeek's ``extract_generation_code``): that completion is the whole program's code (``full``);
* SantaCoder FIM keeps the first line of the output (the second when it starts with a newline:
  Qwen2.5-Coder's hm_fim); the other infilling sets keep the whole middle; LeetCode takes the first
  ```python block (evaluate_leetcode.py); PAL-Math the ```python block defining ``solution()``
  (PAL-Math/run.py); DS-1000 its official ``postprocess``.

``protocol="deepseek"`` reproduces DeepSeek's extraction where the strict one is more lenient: code
fences only by the long language names (``javascript``, ``typescript``, ``csharp``, ``bash``), the
MBPP block not stripped, and their edge cases of the function-name search.
"""

from __future__ import annotations

import re

from .benchmarks import Benchmark, Task

# DeepSeek's Evaluation/HumanEval/utils/utils.py: Python always stops at these (the dataset's own stop
# tokens are ignored); TypeScript adds module-level keywords to the dataset's.
PYTHON_STOP = ["\ndef", "\nclass", "\nif", "\n#", "\nprint"]
TS_EXTRA_STOP = ["\nexport", "\nimport", "\nexport default", "\nimport default", "\nconsole.log"]

PAL_STOP = ["Question", "----------------"]  # PAL-Math/run.py
DS1000_STOP = ["</code>", "# SOLUTION END"]  # DS-1000's completion mode
LEETCODE_STOP = re.compile("\ndef|\nclass|\nif|\n#|\nprint")  # evaluate_leetcode.py, no code block

_FENCE_NAMES = {"python": "python", "cpp": "cpp", "java": "java", "js": "javascript", "ts": "typescript",
                "php": "php", "cs": "csharp", "sh": "bash"}
_MAIN = {"cpp": "int main()", "java": "public static void main", "cs": "public static void Main"}


def stop_words(bench: Benchmark, task: Task, instruct: bool = False) -> list[str]:
    kind = bench.spec.kind
    if kind == "pal":
        return list(PAL_STOP)
    if kind == "ds1000":
        return list(DS1000_STOP)
    if instruct or kind in ("leetcode", "santacoder-fim"):
        return []  # the chat model stops at its end-of-turn token; santacoder-fim: 64 tokens, then a line
    if kind == "mbpp":
        return ["[DONE]"]
    if kind == "fim":
        return ["\n"] if bench.spec.variant == "single-line" else []
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


def is_full(bench: Benchmark, instruct: bool) -> bool:
    """Whether a stored completion is the whole program's code (the prompt is not prepended)."""
    kind = bench.spec.kind
    return kind in ("leetcode", "pal") or (instruct and kind not in ("fim", "santacoder-fim", "ds1000"))


def santacoder_line(raw: str) -> str:
    """hm_fim's prediction: the first line, or the second when the output starts with "\n" or " \n"."""
    lines = raw.split("\n")
    return lines[1] if raw.startswith(("\n", " \n")) else lines[0]


def leetcode_code(task: Task, raw: str) -> str:
    """evaluate_leetcode.py: an answer starting with 8 spaces continues the stub of prompt_sft;
    otherwise the first ```python block ([PYTHON] tags accepted), or without one the text before
    the first top-level def/class/if/#/print; when the block cannot be cut out, the whole answer."""
    def extract(text: str) -> str:
        text = text.replace("[PYTHON]", "```python").replace("[/PYTHON]", "```")
        if "```python" in text:
            return re.findall(r"```python\n(.*?)\n```", text, re.DOTALL)[0]
        return LEETCODE_STOP.split(text)[0]
    try:
        if raw.startswith("\n        "):
            return extract(task.prompt).strip() + "\n" + raw
        return extract(raw)
    except IndexError:
        return raw


def pal_program(raw: str) -> str:
    """PAL-Math/run.py: cut at the stop words, then the ```python block that defines solution()
    (text before `def solution():` in the block kept); "" when there is none."""
    for word in PAL_STOP:
        if word in raw:
            raw = raw[:raw.index(word)]
    m = re.search(r"```python\n(.*?)def solution\(\):\n(.*?)```", raw, re.DOTALL)
    return m.group(1) + "def solution():\n" + m.group(2) if m else ""


def ds1000_code(raw: str) -> str:
    """DS-1000's postprocess (test_ds1000.py)."""
    code = raw.split("</code>")[0].replace("```python", "").split("```")[0]
    return code.split("\nEND SOLUTION")[0].replace("<code>", "")


def clean_completion(bench: Benchmark, task: Task, raw: str, instruct: bool = False,
                     protocol: str = "strict") -> str:
    """The stored completion: the raw generation cut as DeepSeek's scripts cut it."""
    kind = bench.spec.kind
    if kind == "santacoder-fim":
        return santacoder_line(raw)
    if kind == "fim":
        if bench.spec.variant != "single-line":
            return raw  # the whole middle, up to the end of the generation
        line = raw.split("\n", 1)[0]
        return line + "\n"  # the hole is a whole line; the suffix starts on the next one
    if kind == "leetcode":
        return leetcode_code(task, raw)
    if kind == "pal":
        return pal_program(raw)
    if kind == "ds1000":
        return ds1000_code(truncate_at_stop_words(raw, DS1000_STOP))
    if instruct:
        return extract_instruct_code(bench, task, raw, protocol)
    if kind == "mbpp":
        return raw.split("[DONE]")[0].strip()
    return truncate_at_stop_words(raw, stop_words(bench, task))


def extract_instruct_code(bench: Benchmark, task: Task, answer: str, protocol: str = "strict") -> str:
    """DeepSeek's extract_generation_code: the first fenced block, `main` removed, the function body
    re-spliced onto the prompt's lines before the function. Without a block: prompt + answer."""
    deepseek = protocol == "deepseek"
    if bench.spec.kind == "mbpp":
        m = re.search(r"```python\n(.*?)```", answer, re.DOTALL | re.IGNORECASE)
        code = m.group(1) if m else answer
        return code if deepseek else code.strip()  # MBPP/eval_instruct.py does not strip
    lang = task.language
    names = re.escape(_FENCE_NAMES[lang]) if deepseek else f"{re.escape(_FENCE_NAMES[lang])}|{re.escape(lang)}"
    m = re.search(rf"```(?:{names})\n(.*?)```", answer, re.DOTALL | re.IGNORECASE)
    if not m:
        return task.prompt + "\n" + answer
    if deepseek and lang == "python" and not any(x.startswith("def ") for x in task.prompt.strip().split("\n")):
        return task.prompt + "\n" + answer  # get_function_name fails: their except branch
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
        # DeepSeek's loop tests `start - indent >= 0`, so at start 0 it reads block[-1]
        while (start - indent >= 0 if deepseek else start - indent - 1 >= 0) and block[start - indent - 1] == " ":
            indent += 1
    except ValueError:
        start = 0
    end = block.rfind("\n" + " " * indent + "}")
    body = block[start:end if end >= 0 else len(block)]
    if lang in ("php", "ts", "js"):
        body += "\n" + " " * indent + "}"
    return prefix + "\n" + body + "\n"
