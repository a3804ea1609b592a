"""instruct from a base model whose tokenizer is not DeepSeek's: a small HF Llama made here around a
GPT-2-style byte-level BPE tokenizer trained here (no <|EOT|>, bos = eos = <|endoftext|>). The run
adds <|EOT|> (new embedding and output rows from the mean embedding, recorded in config.yaml), reads
its data in all four record formats, trains, exports; `apply_chat_template` on the export renders
DeepSeek's prompt and generation stops at <|EOT|>."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from train_testlib import random_hf_llama, read_metrics, read_validation, run_cli, write_jsonl  # noqa: E402

from stages.train.chat import SYSTEM_PROMPT, render  # noqa: E402

EOT = "<|EOT|>"
ANSWER = "Done."
WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "ocean", "maple", "comet"]


def gpt2_style_tokenizer(folder: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>", "model_max_length": 1024}))
    return folder


def records(n: int) -> list[dict]:
    """The same chat ("Remember WORD." -> "Done.") in each of the four formats, in turn."""
    out = []
    for i in range(n):
        q = f"Remember {WORDS[i % len(WORDS)]} {i}."
        out.append([{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": ANSWER}]},
                    {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": ANSWER}]},
                    {"instruction": q, "output": ANSWER},
                    {"prompt": q, "completion": ANSWER}][i % 4])
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("foreign")
    texts = [SYSTEM_PROMPT, "### Instruction:\n", "### Response:\n"] * 4 + [json.dumps(r) for r in records(40)]
    tok = gpt2_style_tokenizer(root / "tok", texts)
    from tokenizers import Tokenizer
    n = Tokenizer.from_file(str(tok / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    base = random_hf_llama(root / "llama", n, max_position_embeddings=256)   # exactly the tokenizer's rows
    for f in tok.iterdir():
        (base / f.name).write_bytes(f.read_bytes())
    write_jsonl(root / "train.jsonl", records(64))
    return root


def test_no_add_chat_tokens_refuses_with_the_way_forward(work):
    proc = run_cli("instruct", work / "llama", work / "train.jsonl", work / "refused", "--no-add-chat-tokens",
                   "--steps", 1, check=False)
    assert proc.returncode == 2 and "no <|EOT|> token" in proc.stderr and "--no-add-chat-tokens" in proc.stderr


def test_new_rows_start_from_the_mean_embedding_at_tp2(work):
    from safetensors.torch import load_file
    out = work / "init"
    proc = run_cli("instruct", work / "llama", work / "train.jsonl", out, "--steps", 1, "--lr", 1e-12,
                   "--warmup-steps", 0, "--seq-length", 160, "--global-batch", 2, "--micro-batch", 1,
                   "--eval-interval", 0, "--tp", 2, "--nproc", 2)
    base = load_file(str(work / "llama" / "model.safetensors"))
    n = base["model.embed_tokens.weight"].shape[0]
    assert f"adding it as id {n}" in proc.stderr
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["added_tokens"] == {EOT: n} and cfg["mean_init_rows"] == n
    run_cli("export-hf", out, work / "init-hf", "--dtype", "float32")
    got = load_file(str(work / "init-hf" / "model.safetensors"))
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        assert got[key].shape[0] == n + 1
        assert torch.allclose(got[key][n], base[key].double().mean(0).float(), atol=1e-6), key
        assert torch.allclose(got[key][:n], base[key], atol=1e-6), key


def test_instruct_trains_exports_and_generation_stops_at_eot(work):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = work / "run"
    run_cli("instruct", work / "llama", work / "train.jsonl", out, "--lr", 5e-3, "--warmup-steps", 5,
            "--steps", 60, "--seq-length", 160, "--global-batch", 8, "--micro-batch", 8, "--min-lr-ratio", 0.1,
            "--split", "90,10,0", "--eval-interval", 20, "--eval-iters", 1, "--save-interval", 1000)
    recs, val = read_metrics(out), read_validation(out)
    assert len(recs) == 60 and recs[-1]["loss"] < 0.2 * recs[0]["loss"]
    assert [v["step"] for v in val] == [20, 40, 60] and val[-1]["val_loss"] < val[0]["val_loss"]
    run_cli("export-hf", out, work / "hf", "--dtype", "float32")
    tok = AutoTokenizer.from_pretrained(str(work / "hf"))
    eot = tok.convert_tokens_to_ids(EOT)
    assert eot == json.loads((work / "hf" / "config.json").read_text())["vocab_size"] - 1
    chat = [{"role": "user", "content": "Remember comet 99."}]
    prompt = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert prompt == render(chat, "<|endoftext|>", add_generation_prompt=True)       # DeepSeek's prompt
    assert prompt.startswith("<|endoftext|>" + SYSTEM_PROMPT) and prompt.endswith("### Instruction:\n"
                                                                                  "Remember comet 99.\n### Response:")
    full = chat + [{"role": "assistant", "content": ANSWER}]
    assert tok.apply_chat_template(full, tokenize=False).endswith(f"### Response:\n{ANSWER}\n{EOT}\n")
    # generate from the training prompt (the template's generation prompt + the "\n" that training
    # always put before a response: masked, so never learned by this small model)
    model = AutoModelForCausalLM.from_pretrained(str(work / "hf"), dtype=torch.float32)
    ids = torch.tensor([tok.encode(prompt + "\n", add_special_tokens=False)])
    with torch.no_grad():
        gen = model.generate(ids, max_new_tokens=30, do_sample=False, pad_token_id=eot)[0, ids.shape[1]:].tolist()
    assert gen[-1] == eot and len(gen) < 30, tok.decode(gen)        # eos from generation_config: <|EOT|>
    assert tok.decode(gen) == f"{ANSWER}\n{EOT}"
