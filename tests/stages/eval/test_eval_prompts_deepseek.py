"""The prompts dscoder sends equal DeepSeek's (issue #19): `dscoder eval --steps prompts` writes
prompts.jsonl, and its first prompt of HumanEval, MBPP, LeetCode and GSM8K is compared, byte for byte,
with the text DeepSeek's scripts build, rebuilt here from ../shared/eval-protocols.md and the data.
Each rule names the script it comes from (deepseek-ai/DeepSeek-Coder, Evaluation/)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl  # noqa: E402

BOS = "<｜begin▁of▁sentence｜>"
# The released DeepSeek-Coder-Instruct template (tokenizer_config.json), no system message given:
# bos, the default system prompt, `### Instruction:\n{content}\n`, and the generation prompt
# `### Response:` followed by the newline the template's Jinja keeps (eval-protocols.md, "Tokenizing
# chat prompts"). HumanEval/eval_instruct.py, MBPP/eval_instruct.py and LeetCode/vllm_inference.py all
# call apply_chat_template(..., add_generation_prompt=True).
SYSTEM = ("You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, "
          "and you only answer questions related to computer science. For politically sensitive questions, security "
          "and privacy issues, and other non-computer science questions, you will refuse to answer\n")


def chat(content: str) -> str:
    return f"{BOS}{SYSTEM}### Instruction:\n{content}\n### Response:\n"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def first_prompt(out: Path, bench: str) -> dict:
    return read_jsonl(out / bench / "prompts.jsonl")[0]


@needs_data
def test_base_prompts_equal_deepseeks(cli, tmp_path):
    out = tmp_path / "base"
    cli("eval", out, "--benchmarks", "humaneval,mbpp,pal-math", "--steps", "prompts", "--data", SHARED_BENCHMARKS)
    # HumanEval/humaneval.py + utils/dataset.py: prompt = problem["prompt"].strip(), encoded with BOS.
    problem = rows(SHARED_BENCHMARKS / "humaneval-python.jsonl")[0]
    p = first_prompt(out, "humaneval")
    assert p["prompt"] == problem["prompt"].strip() and p["bos"] == "added by the tokenizer"
    assert p["stop"] == ["\ndef", "\nclass", "\nif", "\n#", "\nprint"] and p["max_new_tokens"] == 500  # utils.py
    # MBPP/utils/dataset.py + mbpp.py: three shots (rows 1-3 of mbpp.jsonl: tasks 2-4), each
    # "You are an expert Python programmer, and here is your task: {text} Your code should pass these
    # tests:\n\n{tests}\n[BEGIN]\n{code without \r, tabs as 4 spaces}\n[DONE]\n", then the query's header
    # ending in [BEGIN]; the test set starts at row 10 (task 11).
    mbpp = rows(SHARED_BENCHMARKS / "mbpp.jsonl")

    def header(r):
        return (f"You are an expert Python programmer, and here is your task: {r['text']} Your code should pass "
                "these tests:\n\n" + "\n".join(r["test_list"]) + "\n[BEGIN]")
    shots = "".join(header(r) + "\n" + r["code"].replace("\r", "").replace("\t", "    ") + "\n[DONE]\n"
                    for r in mbpp[1:4])
    p = first_prompt(out, "mbpp")
    assert p["task_id"] == "MBPP/11" and p["prompt"] == shots + header(mbpp[10]) and p["stop"] == ["[DONE]"]
    # PAL-Math/run.py load_data: f"{prompts/gsm8k.md}\n\nQuestion: {question}\n" for GSM8K, the
    # question stripped (utils/parser.py parse_question); stop at "Question" / "----------------".
    few_shot = (SHARED_BENCHMARKS / "pal-math" / "prompts" / "gsm8k.md").read_text()
    gsm8k = rows(SHARED_BENCHMARKS / "pal-math" / "gsm8k" / "test.json")[0]
    p = first_prompt(out, "pal-math")
    assert p["task_id"] == "gsm8k/0"
    assert p["prompt"] == f"{few_shot}\n\nQuestion: {gsm8k['question'].strip()}\n"
    assert p["stop"] == ["Question", "----------------"] and p["max_new_tokens"] == 512
    # run.py --max_context_length 2048: the prompt's last 2,048 tokens; HumanEval/MBPP keep 4,096
    assert p["max_input_tokens"] == 2048 and first_prompt(out, "humaneval")["max_input_tokens"] == 4096


@needs_data
def test_instruct_prompts_equal_deepseeks(cli, tmp_path):
    out = tmp_path / "instruct"
    cli("eval", out, "--benchmarks", "humaneval,mbpp,leetcode,leetcode-cot", "--instruct", "--steps", "prompts",
        "--data", SHARED_BENCHMARKS)
    # HumanEval/eval_instruct.py build_deepseekcoder_instruction, the language's full name lowercased.
    problem = rows(SHARED_BENCHMARKS / "humaneval-python.jsonl")[0]
    content = ("Please continue to complete the function. You are not allowed to modify the given code and do the "
               "completion only. Please return all completed function in a codeblock. Here is the given code to do "
               f"completion:\n```python\n{problem['prompt'].strip()}\n```")
    p = first_prompt(out, "humaneval")
    assert p["prompt"] == chat(content) and p["prompt"].count(BOS) == 1 and p["bos"] == "in the text"
    # MBPP/eval_instruct.py read_test_examples: "- Example {i}:\n" headers, shots joined by "\n\n".
    mbpp = rows(SHARED_BENCHMARKS / "mbpp.jsonl")

    def example(r, code=True):
        text = ">>> Problem:\n{}\n>>> Test Cases:\n{}\n".format(r["text"].strip(), "\n".join(r["test_list"]))
        if code:
            text += "\n>>> Code:\n```python\n{}\n```".format(r["code"].replace("\r", "").replace("\t", "    "))
        return text
    shots = "\n\n".join(f"- Example {i}:\n{example(mbpp[i])}" for i in range(1, 4))
    content = ("Please refer the given examples and generate a python function for my problem.\nExamples are listed "
               f"as follows:\n{shots}\n\nHere is my problem:\n{example(mbpp[10], code=False)}").strip()
    assert first_prompt(out, "mbpp")["prompt"] == chat(content)
    # LeetCode/vllm_inference.py: one user message, prompt_sft; --cot appends one sentence.
    leet = rows(SHARED_BENCHMARKS / "leetcode-20240121-Jul.jsonl")[0]
    assert first_prompt(out, "leetcode")["prompt"] == chat(leet["prompt_sft"])
    cot = leet["prompt_sft"] + "\nYou need first write a step-by-step outline and then write the code."
    assert first_prompt(out, "leetcode-cot")["prompt"] == chat(cot)


def test_chat_prompt_has_one_bos_and_the_response_newline():
    """The model's own template (a dscoder one ends its generation prompt at `### Response:`) gets the
    released template's newline, and the rendered text is tokenized without a second BOS."""
    from stages.eval.generate import _chat_text, encode_prompt

    class Tok:
        bos_token, bos_token_id = BOS, 1
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return f"{BOS}S\n### Instruction:\n{messages[0]['content']}\n### Response:"

        def __call__(self, text, add_special_tokens):
            ids = [ord(c) for c in text.replace(BOS, "\x01")]
            return {"input_ids": ([1] if add_special_tokens else []) + ids}

    text = _chat_text(Tok(), [{"role": "user", "content": "q"}])
    assert text.endswith("### Response:\n")
    ids = encode_prompt(Tok(), text, 4096)
    assert ids.count(1) == 1 and ids[0] == 1
    ids = encode_prompt(Tok(), "def f():", 4096)  # a base prompt: the tokenizer's BOS, once
    assert ids.count(1) == 1 and ids[0] == 1
    assert encode_prompt(Tok(), "abcdef", 3) == [ord("d"), ord("e"), ord("f")]  # cut from the left
