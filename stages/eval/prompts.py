"""What the model sees for a task: DeepSeek-Coder's evaluation prompts (docs/eval.md, Benchmarks).

A base model gets text: HumanEval and MultiPL-E the task's ``prompt.strip()``, MBPP its 3-shot
prompt ending at ``[BEGIN]``, the infilling sets (human-eval-infilling's and SantaCoder's) the PSM
sentinels around the hole, PAL-Math the few-shot program prompt + ``Question: ...``, DS-1000 its
official completion-mode prompt. An instruct model gets chat messages: DeepSeek's "Please continue to
complete the function..." with the prompt in a fenced block (MBPP: the three examples in
``>>> Problem:`` form); LeetCode is always a chat message (``prompt_sft``, + the CoT sentence).
"""

from __future__ import annotations

from .benchmarks import Benchmark, Task

FIM_BEGIN, FIM_HOLE, FIM_END = "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"

LANGUAGE_NAMES = {"python": "Python", "cpp": "C++", "java": "Java", "js": "JavaScript", "ts": "TypeScript",
                  "php": "PHP", "cs": "C#", "sh": "Bash"}

# Evaluation/LeetCode/vllm_inference.py: the chain-of-thought variant appends this to prompt_sft.
LEETCODE_COT = "\nYou need first write a step-by-step outline and then write the code."

INSTRUCT_HUMANEVAL = ("Please continue to complete the function. You are not allowed to modify the given code and "
                      "do the completion only. Please return all completed function in a codeblock. Here is the "
                      "given code to do completion:\n```{lang}\n{prompt}\n```")


def mbpp_header(row: dict) -> str:
    tests = "\n".join(row["test_list"])
    return (f"You are an expert Python programmer, and here is your task: {row['text']} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]")


def mbpp_prompt(bench: Benchmark, task: Task) -> str:
    shots = "".join(mbpp_header(r) + "\n" + r["code"].replace("\r", "").replace("\t", "    ") + "\n[DONE]\n"
                    for r in bench.few_shot)
    return shots + mbpp_header({"text": task.prompt, "test_list": task.test_list})


def mbpp_instruct_message(bench: Benchmark, task: Task) -> str:
    def example(q, tests, code=None):
        text = ">>> Problem:\n{}\n>>> Test Cases:\n{}\n".format(q.strip(), "\n".join(tests))
        if code is not None:
            text += "\n>>> Code:\n```python\n{}\n```".format(code.replace("\r", "").replace("\t", "    "))
        return text
    # MBPP/eval_instruct.py read_test_examples: each shot headed "- Example {i}:", the whole stripped
    shots = "\n\n".join(f"- Example {i}:\n" + example(r["text"], r["test_list"], r["code"])
                         for i, r in enumerate(bench.few_shot, 1))
    return ("Please refer the given examples and generate a python function for my problem.\n"
            f"Examples are listed as follows:\n{shots}\n\nHere is my problem:\n"
            f"{example(task.prompt, task.test_list)}").strip()


def model_prompt(bench: Benchmark, task: Task, instruct: bool = False) -> str | list[dict]:
    """What the model sees: text for a base model, chat messages for an instruct model."""
    kind = bench.spec.kind
    if kind in ("fim", "santacoder-fim"):
        return f"{FIM_BEGIN}{task.prompt}{FIM_HOLE}{task.suffix}{FIM_END}"
    if kind == "leetcode":  # instruct models only: one user message, prompt_sft (vllm_inference.py)
        content = task.prompt + (LEETCODE_COT if bench.spec.variant == "cot" else "")
        return [{"role": "user", "content": content}]
    if kind == "pal":  # Evaluation/PAL-Math/run.py load_data
        return f"{bench.few_shot_text[task.group]}\n\nQuestion: {task.prompt}\n"
    if kind == "ds1000":  # completion mode: the official prompt as it is
        return task.prompt
    if instruct:
        if kind == "mbpp":
            return [{"role": "user", "content": mbpp_instruct_message(bench, task)}]
        lang = LANGUAGE_NAMES[task.language].lower().replace("c++", "cpp").replace("c#", "csharp")
        return [{"role": "user", "content": INSTRUCT_HUMANEVAL.format(lang=lang, prompt=task.prompt.strip())}]
    if kind == "mbpp":
        return mbpp_prompt(bench, task)
    return task.prompt.strip()  # DeepSeek's humaneval.py feeds prompt.strip()
