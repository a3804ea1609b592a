"""instruct, fast in-process checks: the chat template byte for byte (Python renderer vs the
tokenizer's Jinja template through `apply_chat_template`), loss masks, record formats, packing, and
the batch/step arithmetic. No model here (see test_instruct_runs.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from train_testlib import (make_deepseek_tokenizer, released_style_tokenizer_config,  # noqa: E402
                           reverse_list_pairs, write_jsonl)

from stages.train.chat import SYSTEM_PROMPT, record_messages, render, render_segments  # noqa: E402
from stages.train.instruct_data import (ChatTokenizer, InstructStats, build_instruct_dataset,  # noqa: E402
                                        build_sequences, encode_examples, read_records, write_chat_tokenizer)

BOS = "<｜begin▁of▁sentence｜>"
TWO_TURNS = [{"role": "user", "content": "Write a function that adds two numbers."},
             {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
             {"role": "user", "content": "Now in C."},
             {"role": "assistant", "content": "int add(int a, int b) { return a + b; }"}]
# Written out by hand from the paper's template (docs/instruct.md), not generated.
TWO_TURNS_TEXT = (
    "<｜begin▁of▁sentence｜>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For politically sensitive "
    "questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n"
    "### Instruction:\nWrite a function that adds two numbers.\n"
    "### Response:\ndef add(a, b):\n    return a + b\n<|EOT|>\n"
    "### Instruction:\nNow in C.\n"
    "### Response:\nint add(int a, int b) { return a + b; }\n<|EOT|>\n")
CHATS = [
    TWO_TURNS,
    [{"role": "system", "content": "You are terse.\n"}, *TWO_TURNS[:2]],
    [{"role": "user", "content": "ünïcödé ö ÷ and <|User|> text"}, {"role": "assistant", "content": ""}],
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    texts = [SYSTEM_PROMPT] * 4 + [json.dumps(r) for r in reverse_list_pairs(50, 0)] + [TWO_TURNS_TEXT] * 2
    return make_deepseek_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer", texts, vocab_size=400)


def test_two_turn_chat_renders_the_expected_text_byte_for_byte():
    assert render(TWO_TURNS, BOS).encode("utf-8") == TWO_TURNS_TEXT.encode("utf-8")
    assert render(TWO_TURNS[:1], BOS, add_generation_prompt=True).endswith(
        "### Instruction:\nWrite a function that adds two numbers.\n### Response:")
    # only each answer and its "\n<|EOT|>" are the model's to predict
    assert [t for t, response in render_segments(TWO_TURNS, BOS) if response] == [
        "def add(a, b):\n    return a + b\n<|EOT|>", "int add(int a, int b) { return a + b; }\n<|EOT|>"]


@pytest.mark.parametrize("chat", CHATS, ids=["two-turns", "system", "unicode-empty-answer"])
def test_python_renderer_equals_apply_chat_template(tokenizer_dir, tmp_path, chat):
    from transformers import AutoTokenizer
    # the tokenize stage's tokenizer, and a released-base-style folder after `instruct` wrote its tokenizer
    released = tmp_path / "released"
    released.mkdir()
    for f in tokenizer_dir.iterdir():
        (released / f.name).write_bytes(f.read_bytes())
    released_style_tokenizer_config(released)
    write_chat_tokenizer(released, tmp_path / "instruct-tok")
    assert json.loads((tmp_path / "instruct-tok/tokenizer_config.json").read_text())["eos_token"] == "<|EOT|>"
    for folder in (tokenizer_dir, tmp_path / "instruct-tok"):
        hf = AutoTokenizer.from_pretrained(str(folder))
        for gen in (False, True):
            expected = hf.apply_chat_template(chat, tokenize=False, add_generation_prompt=gen)
            assert render(chat, BOS, add_generation_prompt=gen).encode() == expected.encode(), folder
        # and the ids training uses are the ids the served template gives
        ids, _ = ChatTokenizer.load(folder, pad_id=0).encode(chat)
        served = hf.apply_chat_template(chat, tokenize=True)
        served = served["input_ids"] if hasattr(served, "keys") else served
        assert list(ids) == list(served)


def test_response_tokens_are_exactly_the_answers_and_eot(tokenizer_dir):
    from tokenizers import Tokenizer
    tok = ChatTokenizer.load(tokenizer_dir, pad_id=0)
    raw = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    ids, response = tok.encode(TWO_TURNS)
    eot = raw.token_to_id("<|EOT|>")
    assert ids[0] == raw.token_to_id(BOS) and not response[0]
    assert list(ids).count(eot) == 2 and all(response[ids == eot])
    # the marked tokens decode to the two answers, each ending "\n<|EOT|>"; nothing of the prompt
    runs, cur = [], []
    for t, r in zip(ids, response):
        if r:
            cur.append(int(t))
        elif cur:
            runs.append(cur)
            cur = []
    decoded = [raw.decode(run, skip_special_tokens=False) for run in runs]
    assert decoded == [TWO_TURNS[1]["content"] + "\n<|EOT|>", TWO_TURNS[3]["content"] + "\n<|EOT|>"]


def test_records_jsonl_parquet_alpaca_and_messages(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    alpaca = [{"instruction": "Sort.", "input": "[2, 1]", "output": "[1, 2]"}, {"instruction": "Hi", "output": "Hello"}]
    write_jsonl(tmp_path / "d" / "a.jsonl", alpaca)
    pq.write_table(pa.Table.from_pylist([{"messages": TWO_TURNS}]), tmp_path / "d" / "b.parquet")
    records = list(read_records([str(tmp_path / "d")]))
    assert len(records) == 3
    assert record_messages(records[0]) == [{"role": "user", "content": "Sort.\n\n[2, 1]"},
                                           {"role": "assistant", "content": "[1, 2]"}]
    assert record_messages(records[1])[0]["content"] == "Hi"
    assert record_messages(records[2]) == TWO_TURNS
    with pytest.raises(ValueError, match="instruction"):
        record_messages({"prompt": "x"})
    with pytest.raises(ValueError, match="role"):
        render([{"role": "robot", "content": "x"}], BOS)
    (tmp_path / "bad.jsonl").write_text('{"instruction": "a", "output": "b"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(read_records([str(tmp_path / "bad.jsonl")]))


def test_packing_keeps_each_examples_mask_and_truncation_drops_promptonly(tokenizer_dir, tmp_path):
    tok = ChatTokenizer.load(tokenizer_dir, pad_id=7)
    records = reverse_list_pairs(30, 1)
    stats = InstructStats()
    examples = encode_examples(records, tok, 256, stats)
    singles = [(ids.tolist(), resp.tolist()) for ids, resp in examples]
    for pack in (False, True):
        st = InstructStats()
        tokens, response, segments = build_sequences(examples, 256, 7, pack, seed=3, stats=st)
        # every example appears intact (ids and mask) exactly once, as segment 1, 2, ... of its
        # sequence; the rest is masked padding, segment 0
        found = []
        for row, rrow, srow in zip(tokens.tolist(), response.tolist(), segments.tolist()):
            pos = 0
            while pos < len(row) and row[pos] == tok.tokenizer.token_to_id(BOS):
                match = [k for k, (ids, _) in enumerate(singles) if row[pos:pos + len(ids)] == ids]
                assert match, "a sequence holds something that is not one of the examples"
                k = match[0]
                n = len(singles[k][0])
                assert rrow[pos:pos + n] == singles[k][1]
                assert srow[pos:pos + n] == [srow[pos]] * n and srow[pos] == (srow[pos - 1] + 1 if pos else 1)
                found.append(k)
                pos += n
            assert all(t == 7 for t in row[pos:]) and not any(rrow[pos:]) and not any(srow[pos:])
        assert sorted(found) == list(range(len(examples)))
        assert (st.sequences < len(examples)) == pack
        assert (segments.max() > 1) == pack
        assert st.response_tokens == sum(int(resp[1:].sum()) for _, resp in examples)
    # an example whose kept part has no response token is dropped; a long answer is truncated
    long = [{"instruction": "x " * 400, "output": "y"}, {"instruction": "q", "output": "z " * 400}]
    prompt_len = len(tok.encode([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}])[0])
    st = InstructStats()
    kept = encode_examples(long, tok, prompt_len + 20, st)
    assert (st.dropped, st.truncated, len(kept)) == (1, 2, 1) and len(kept[0][0]) == prompt_len + 21


def test_dataset_samples_are_a_pure_function_of_seed_and_index(tokenizer_dir, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", reverse_list_pairs(20, 2))
    a = build_instruct_dataset([str(data)], tokenizer_dir, 0, 512, pack=True, seed=5)
    b = build_instruct_dataset([str(data)], tokenizer_dir, 0, 512, pack=True, seed=5)
    n = a.num_sequences
    assert n < 20 and a.stats.examples == 20 and 0 < a.stats.as_dict()["fill"] <= 1
    for i in (0, 1, n - 1, n, 3 * n + 2):
        x, y = a[i], b[i]
        assert all(np.array_equal(x[k], y[k]) for k in x)
        assert x["tokens"].shape == (512,) and np.array_equal(x["labels"][:-1], x["tokens"][1:])
    # one epoch visits every sequence once
    assert sorted(a.sequence_index(i) for i in range(n, 2 * n)) == list(range(n))


def test_batch_in_tokens_and_steps_from_epochs():
    from stages.train.finetune import batch_from_tokens
    assert batch_from_tokens(4 * 1024 * 1024, 4096, 1, 1) == 1024      # paper: 4M-token batches
    assert batch_from_tokens(4 * 1024 * 1024, 4096, 4, 3) == 1020      # a multiple of micro x dp
    assert batch_from_tokens(100, 4096, 2, 2) == 4


def test_every_record_format_becomes_the_same_chat():
    want = [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}]
    records = [
        {"messages": want},
        {"conversations": [{"from": "human", "value": "Add 2 and 3."}, {"from": "gpt", "value": "5"}]},
        {"instruction": "Add 2 and 3.", "output": "5"},
        {"prompt": "Add 2 and 3.", "completion": "5"},
    ]
    for rec in records:
        assert record_messages(rec) == want, rec
    system = {"conversations": [{"from": "system", "value": "Be terse."}, {"from": "human", "value": "Hi"},
                                {"from": "gpt", "value": "Hi."}]}
    assert [m["role"] for m in record_messages(system)] == ["system", "user", "assistant"]
    with pytest.raises(ValueError, match="unknown ShareGPT speaker 'robot'"):
        record_messages({"conversations": [{"from": "robot", "value": "x"}]})
    with pytest.raises(ValueError, match="needs at least one assistant turn"):
        record_messages({"conversations": [{"from": "human", "value": "x"}]})
    with pytest.raises(ValueError, match="expected one of"):
        record_messages({"question": "x", "answer": "y"})


def test_split_ranges_follow_megatron():
    from stages.train.config import split_weights
    from stages.train.data import split_ranges
    assert split_ranges(1000, "969,30,1") == [(0, 969), (969, 999), (999, 1000)]
    assert split_ranges(7, "969,30,1") == [(0, 7), (7, 7), (7, 7)]        # too small: no valid document
    assert split_ranges(10, "98,2") == [(0, 10), (10, 10), (10, 10)]
    assert split_ranges(10, "70,30,0") == [(0, 7), (7, 10), (10, 10)]
    assert split_weights("1") == [1.0, 0.0, 0.0]
    for bad in ("0,1,0", "a,b", "1,2,3,4", "-1,2"):
        with pytest.raises(ValueError):
            split_weights(bad)
