"""Safe failure in training and instruct (issue 16): a damaged newest checkpoint falls back to the
previous good one, a torn metrics.jsonl line never blocks a resume, zero is never "the default",
long instruction records are cut before they are tokenized whole, and instruct's errors name the
file, the line and the cause. Unit-level where it can be; one real resume for the checkpoint case."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from train_testlib import make_tokenizer, stdlib_texts  # noqa: E402

from stages.core.errors import DscoderError, UsageError  # noqa: E402
from stages.train.config import (ExtendContextOptions, InstructOptions, PretrainOptions, TrainConfig,  # noqa: E402
                                 TrainRunOptions, load_preset)


# ----------------------------------------------------------------------------- zero is not "the default"
REFUSED = [
    ("pretrain", "--steps", "0"), ("pretrain", "--global-batch", "0"), ("pretrain", "--seq-length", "0"),
    ("pretrain", "--micro-batch", "0"), ("pretrain", "--warmup-steps", "-1"), ("pretrain", "--lr", "0"),
    ("pretrain", "--lr", "nan"), ("pretrain", "--lr", "inf"), ("pretrain", "--data-weights", "0,1"),
    ("pretrain", "--data-weights", "1,nan"), ("pretrain", "--lr-milestones", "0.8,1.5"),
    ("pretrain", "--min-lr-ratio", "2"), ("pretrain", "--seed", "-1"),
    ("extend-context", "--seq-length", "0"), ("extend-context", "--data-weights", "0"),
    ("extend-context", "--lr", "0"), ("extend-context", "--steps", "0"),
    ("instruct", "--seq-length", "0"), ("instruct", "--batch-tokens", "0"), ("instruct", "--lr", "0"),
    ("instruct", "--steps", "0"), ("instruct", "--epochs", "0"), ("instruct", "--global-batch", "0"),
]


@pytest.mark.parametrize("command,flag,value", REFUSED, ids=[" ".join(c) for c in REFUSED])
def test_zero_and_nonsense_values_are_refused_when_parsed(cli, tmp_path, command, flag, value):
    """Refused (exit 2, the option named) before anything is read or written: before, `--steps 0`
    trained the preset's 300 steps on tiny (~477k on 1.3b), `--global-batch 0` its 16, ..."""
    (tmp_path / "in").mkdir()
    args = [tmp_path / "in", tmp_path / "out"] if command == "pretrain" else [tmp_path / "in", tmp_path / "in",
                                                                              tmp_path / "out"]
    result = cli(command, *args, flag, value, expect=2)
    assert flag in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_options_and_configs_built_in_python_refuse_zero_too(tmp_path):
    for cls, field in ((PretrainOptions, "steps"), (PretrainOptions, "global_batch"), (PretrainOptions, "lr"),
                       (ExtendContextOptions, "seq_length"), (InstructOptions, "batch_tokens")):
        with pytest.raises(UsageError, match="--" + field.replace("_", "-")):
            cls(**{field: 0})
    with pytest.raises(UsageError, match="--data-weights"):
        PretrainOptions(data_weights="0,1")
    with pytest.raises(UsageError, match="--seed"):
        TrainRunOptions(seed=-1)
    model = load_preset("tiny").model
    for field, value in (("micro_batch", 0), ("global_batch", 0), ("seq_length", 0), ("lr", 0.0),
                         ("lr", float("nan")), ("warmup_steps", -1), ("steps", 0)):
        cfg = TrainConfig(data=["d"], output="o", model=model, **{field: value})
        with pytest.raises(UsageError, match="--" + field.replace("_", "-")):   # not ZeroDivisionError
            cfg.validate()


def test_a_zero_that_gets_past_the_options_is_kept_not_replaced_by_the_preset(tmp_path):
    """`pretrain_config` reads None as "the preset's" and nothing else (no `x or default`)."""
    from stages.train.runner import pretrain_config
    data = tmp_path / "tokens"
    make_tokenizer(data / "tokenizer", stdlib_texts()[:2], vocab_size=300)
    options = PretrainOptions(model="tiny")
    default = pretrain_config([data], tmp_path / "out", options, TrainRunOptions())
    assert (default.steps, default.global_batch, default.seq_length, default.micro_batch) == (300, 16, 128, 4)
    for field in ("steps", "global_batch", "seq_length", "micro_batch", "lr", "warmup_steps"):
        setattr(options, field, 0)    # past the checks, as a caller mutating the dataclass would
    cfg = pretrain_config([data], tmp_path / "out", options, TrainRunOptions())
    assert (cfg.steps, cfg.global_batch, cfg.seq_length, cfg.micro_batch, cfg.lr, cfg.warmup_steps) == (0,) * 6
    with pytest.raises(UsageError):
        cfg.validate()


# ----------------------------------------------------------------------------- metrics.jsonl
def _metrics(path: Path, steps, tail: str = "") -> Path:
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in steps) + tail)
    return path


def test_a_torn_last_metrics_line_is_cut_off_with_a_warning(tmp_path, capsys):
    """Before: `json.loads` on the torn line raised a JSONDecodeError traceback and every resume failed."""
    from stages.train.metrics import truncate_jsonl
    path = _metrics(tmp_path / "metrics.jsonl", [1, 2, 3, 4], tail='{"step": 5, "loss": 0.1')
    truncate_jsonl(path, 3)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
    err = capsys.readouterr().err
    assert f"{path}:5" in err and "torn" in err and len(err.strip().splitlines()) == 1
    # the torn line past the checkpoint's step or not, and with nothing to keep after it
    path = _metrics(tmp_path / "m2.jsonl", [1, 2], tail='{"st')
    truncate_jsonl(path, 10)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]


def test_a_corrupt_metrics_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    from stages.train.metrics import truncate_jsonl
    path = tmp_path / "metrics.jsonl"
    for bad in ('{"step": 2, "lo', "[1, 2]", '{"step": "two"}', "\udcff"):
        path.write_bytes(b"".join(line.encode("utf-8", "surrogateescape") + b"\n"
                                  for line in ('{"step": 1}', bad, '{"step": 3}')))
        before = path.read_bytes()
        with pytest.raises(DscoderError, match=f"{path}:2: not a metrics record") as exc:
            truncate_jsonl(path, 1)
        assert "\n" not in str(exc.value) and path.read_bytes() == before   # one line; nothing rewritten


# ----------------------------------------------------------------------------- instruct records
@pytest.fixture(scope="module")
def chat_tokenizers(tmp_path_factory):
    """The tokenize stage's tokenizer (DeepSeek-Coder's pre-tokenizer, every line break isolated) and a
    GPT-2-style byte-level one (whitespace runs end at a line break), with <|EOT|> added."""
    from train_testlib import make_deepseek_tokenizer

    from stages.train.chat import SYSTEM_PROMPT
    from stages.train.instruct_data import ChatTokenizer, chat_tokens_to_add
    root = tmp_path_factory.mktemp("chat-tok")
    texts = [SYSTEM_PROMPT] * 4 + stdlib_texts()[:6]
    deepseek = make_deepseek_tokenizer(root / "deepseek", texts, vocab_size=500)
    gpt2 = make_tokenizer(root / "gpt2", texts, vocab_size=500)
    tokenizers = {"deepseek": ChatTokenizer.load(deepseek, pad_id=0),
                  "gpt2": ChatTokenizer.load(gpt2, pad_id=0, added_tokens=chat_tokens_to_add(gpt2))}
    tokenizers["deepseek"].folder = deepseek
    return tokenizers


def _long_texts(n: int = 60_000) -> dict[str, str]:
    """Texts of about `n` characters, well past what a sequence of 64 or 300 tokens needs."""
    code = "".join(stdlib_texts())
    texts = {
        "code": code,
        "indented blank lines": "def f():\n\n\n    return 1\n    \n  \n" * 2000,
        "one long line": "x = compute(a, b) + 1; " * 3000,
        "cjk and accents": "数据处理函数 naïve café — résumé\n" * 2000,
        "windows line ends": code.replace("\n", "\r\n"),
    }
    return {name: t[:n] for name, t in texts.items()}


@pytest.mark.parametrize("name", ["deepseek", "gpt2"])
def test_long_records_are_cut_before_tokenizing_and_keep_the_same_tokens(chat_tokenizers, name):
    """Before: the whole rendered record was tokenized to keep seq_length + 1 tokens (a 30 MB record:
    5-8 GB and over a minute). Now only a head is: the ids and response flags kept are those of the
    whole text, for records that fit (nothing cut) and for long ones, in the answer or the instruction."""
    tok = chat_tokenizers[name]
    seen = []
    whole = tok._encode
    tok._encode = lambda text: seen.append(len(text)) or whole(text)
    texts = _long_texts()
    records = [[{"role": "user", "content": "Add two numbers."}, {"role": "assistant", "content": "a + b"}]]
    records += [[{"role": "user", "content": "Explain."}, {"role": "assistant", "content": t}] for t in texts.values()]
    records.append([{"role": "user", "content": texts["code"]}, {"role": "assistant", "content": "ok"}])
    try:
        for messages in records:
            seen.clear()
            full_ids, full_resp = tok.encode(messages)
            text_length = seen[0]
            for keep in (65, 301):
                seen.clear()
                ids, resp = tok.encode(messages, max_tokens=keep)
                assert ids[:keep].tolist() == full_ids[:keep].tolist(), (name, keep, messages[-1]["content"][:40])
                assert resp[:keep].tolist() == full_resp[:keep].tolist()
                assert (len(ids) > keep) == (len(full_ids) > keep)
                if text_length > 50_000:
                    assert max(seen) < text_length / 3, (max(seen), text_length)   # a head, not the record
    finally:
        tok._encode = whole


def test_encode_examples_of_records_that_fit_equal_the_untruncated_path(chat_tokenizers):
    from train_testlib import reverse_list_pairs

    from stages.train.chat import record_messages
    from stages.train.instruct_data import InstructStats, encode_examples
    tok = chat_tokenizers["deepseek"]
    records = reverse_list_pairs(20, 3) + [{"instruction": "Explain.", "output": _long_texts()["code"]}]
    stats = InstructStats()
    examples = encode_examples(records, tok, 256, stats)
    assert stats.truncated == 1 and len(examples) == len(records)
    for rec, (ids, resp) in zip(records, examples):
        full_ids, full_resp = tok.encode(record_messages(rec))
        assert ids.tolist() == full_ids[:257].tolist() and resp.tolist() == full_resp[:257].tolist()


def test_jsonl_with_a_bom_is_read_and_bad_lines_are_named_by_file_and_line(tmp_path):
    """Before: a UTF-8 BOM rejected the whole file ("not JSON (Unexpected UTF-8 BOM)"); a line that was
    not UTF-8 was a UnicodeDecodeError traceback; a JSON list line an AttributeError traceback."""
    from stages.train.instruct_data import read_records
    good = [{"instruction": "a", "output": "b"}, {"prompt": "c", "completion": "d"}]
    f = tmp_path / "bom.jsonl"
    f.write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in good), encoding="utf-8")
    assert list(read_records([str(f)])) == good
    assert [w for w, _ in read_records([str(f)], with_origin=True)] == [f"{f}:1", f"{f}:2"]
    for second, why in ((b'{"instruction": "a", "out', "not JSON"), (b"[1, 2]", "expected a JSON object"),
                        (b'{"instruction": "\xff"}', "not UTF-8")):
        f.write_bytes(json.dumps(good[0]).encode() + b"\n" + second + b"\n")
        with pytest.raises(UsageError, match=f"{f}:2: {why}"):
            list(read_records([str(f)]))


def test_record_errors_name_the_file_line_or_parquet_row_from_1(chat_tokenizers, tmp_path):
    """Before: `record 1: ...` for the third line of the file (0-based among records, no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.train.instruct_data import InstructStats, build_instruct_dataset, encode_examples
    folder = chat_tokenizers["deepseek"].folder
    f = tmp_path / "d" / "a.jsonl"
    f.parent.mkdir()
    bad = {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    f.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(UsageError, match=f"^{f}:3: unknown chat role 'robot'"):
        build_instruct_dataset([str(f)], folder, 0, 256, pack=False, seed=0)
    f.unlink()
    rows = [{"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
            {"conversations": [{"from": "robot", "value": "x"}]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d" / "b.parquet")
    with pytest.raises(UsageError, match=r"b.parquet row 2: unknown ShareGPT speaker 'robot'"):
        build_instruct_dataset([str(tmp_path / "d")], folder, 0, 256, pack=False, seed=0)
    with pytest.raises(UsageError, match="^record 2: "):   # records given in Python: numbered from 1
        encode_examples([{"instruction": "a", "output": "b"}, {"messages": "not a list"}],
                        chat_tokenizers["deepseek"], 256, InstructStats())


def test_no_usable_examples_says_the_template_alone_exceeds_seq_length(chat_tokenizers, tmp_path):
    """Before: "no usable instruction examples (every one empty or dropped)", whatever the cause."""
    from train_testlib import reverse_list_pairs, write_jsonl

    from stages.train.instruct_data import build_instruct_dataset
    tok = chat_tokenizers["deepseek"]
    data = write_jsonl(tmp_path / "train.jsonl", reverse_list_pairs(5, 0))
    _, resp = tok.encode([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}])
    prompt = int(resp.argmax())   # bos, default system prompt, headers: where a response would start
    assert 20 < prompt < 400
    seq = prompt - 7
    with pytest.raises(UsageError, match=f"the prompt template alone .* is {prompt} tokens, 7 more than "
                                         f"--seq-length {seq}") as exc:
        build_instruct_dataset([str(data)], tok.folder, 0, seq, pack=False, seed=0)
    assert "\n" not in str(exc.value)
    # the template fits, the records' instructions do not: said so, with the template's length
    long = write_jsonl(tmp_path / "long.jsonl", [{"instruction": "word " * 200, "output": "y"}] * 3)
    with pytest.raises(UsageError, match=f"all 3 records .* dropped.*the template alone is {prompt} tokens"):
        build_instruct_dataset([str(long)], tok.folder, 0, prompt + 5, pack=False, seed=0)
