"""End-to-end training runs on CPU (gloo, fp32): learning, kill/resume, TP=2 and PP=2 against
TP=1, resharding a TP=2 checkpoint to TP=1, and the HuggingFace export/import.

Each run is a real `python -m dscoder_cli pretrain` process (two for TP=2/PP=2 via `--nproc 2`)
on token folders in the tokenize stage's format, built here from stdlib sources."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from train_testlib import (all_tokens, make_token_folder, read_metrics, run_cli, stdlib_texts,  # noqa: E402
                           unigram_entropy, write_model_yaml)

SMALL = ["--steps", 6, "--warmup-steps", 2, "--seq-length", 32, "--global-batch", 4, "--micro-batch", 2,
         "--save-interval", 3]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    make_token_folder(root / "tokens", stdlib_texts())
    write_model_yaml(root / "small.yaml")
    return root


def small_run(work: Path, name: str, *extra, env_extra=None, check=True):
    return run_cli("pretrain", work / "tokens", work / name, "--model-config", work / "small.yaml", *SMALL, *extra,
                   env_extra=env_extra, check=check)


@pytest.fixture(scope="module")
def reference(work) -> list[float]:
    small_run(work, "ref")
    return [r["loss"] for r in read_metrics(work / "ref")]


@pytest.fixture(scope="module")
def tp2_output(work) -> Path:
    small_run(work, "tp2", "--tp", 2, "--nproc", 2)
    return work / "tp2"


def test_tiny_preset_loss_falls_well_below_unigram_entropy(work):
    out = work / "tiny"
    run_cli("pretrain", work / "tokens", out, "--model", "tiny", "--steps", 40, "--warmup-steps", 10,
            "--save-interval", 1000, "--json")
    entropy = unigram_entropy(all_tokens(work / "tokens"))
    recs = read_metrics(out)
    assert len(recs) == 40 and [r["step"] for r in recs] == list(range(1, 41))
    assert recs[0]["loss"] > entropy            # starts near log(vocab)
    assert recs[-1]["loss"] < entropy - 0.5, (recs[-1]["loss"], entropy)
    for key in ("lr", "grad_norm", "tokens_per_s", "tflops_per_device", "mfu"):
        assert recs[-1][key] is not None and recs[-1][key] > 0
    assert (out / "config.yaml").exists() and (out / "tokenizer" / "tokenizer.json").exists()
    assert (out / "checkpoints" / "step-0000040" / "dscoder.json").exists()


def test_kill_and_resume_continue_the_uninterrupted_losses_exactly(work, reference):
    assert len(reference) == 6 and reference[-1] < reference[0]
    killed = small_run(work, "killed", env_extra={"DSCODER_FAULT_KILL_AFTER_STEP": "4"}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [r["step"] for r in read_metrics(work / "killed")] == [1, 2, 3, 4]
    resumed = small_run(work, "killed")
    assert "resumed from" in resumed.stderr and "step-0000003" in resumed.stderr
    assert [r["loss"] for r in read_metrics(work / "killed")] == reference   # exact, not approximate
    # changed options on the same OUTPUT: refused with the option named (exit 2)
    refused = run_cli("pretrain", work / "tokens", work / "killed", "--model-config", work / "small.yaml",
                      *SMALL[:-2], "--save-interval", 3, "--seed", 7, check=False)
    assert refused.returncode == 2 and "seed" in refused.stderr


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _spoil_a_pickled_item(ckpt: Path) -> None:
    """Zero the bytes of one pickled (non-tensor) item of a torch_dist checkpoint: every file keeps its
    size, so only loading it finds the damage."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata
    md = FileSystemReader(str(ckpt)).read_metadata()
    index, info = next((i, s) for i, s in md.storage_data.items()
                       if isinstance(md.state_dict_metadata[i.fqn], BytesStorageMetadata))
    with open(ckpt / info.relative_path, "r+b") as f:
        f.seek(info.offset)
        f.write(b"\0" * info.length)


# each way a checkpoint is found damaged (a torch EOFError, a missing shard, half-written metadata, ...)
DAMAGES = {
    "truncated shard": (lambda d: _truncate(d / "__0_0.distcp", 4000), "__0_0.distcp is truncated (4,000 bytes of"),
    "missing shard": (lambda d: (d / "__0_1.distcp").unlink(), "__0_1.distcp is missing"),
    "half-written .metadata": (lambda d: _truncate(d / ".metadata", 1000), ".metadata is unreadable"),
    "half-written dscoder.json": (lambda d: _truncate(d / "dscoder.json", 100), "dscoder.json is unreadable"),
    "half-written metadata.json": (lambda d: _truncate(d / "metadata.json", 50), "metadata.json is unreadable"),
    "truncated common.pt": (lambda d: _truncate(d / "common.pt", 500), "common.pt is unreadable"),
    "truncated rng state": (lambda d: _truncate(d / "rng/rank-00000.pt", 1000), "rng/rank-00000.pt is unreadable"),
}


def test_each_kind_of_checkpoint_damage_is_found_and_named(work, reference, tmp_path, capsys):
    """Before: each of these was a traceback (EOFError, FileNotFoundError, UnpicklingError, JSONDecodeError,
    zip errors) from the trainer, export-hf, extend-context or instruct."""
    from stages.core.errors import DscoderError
    from stages.train.checkpoint import checkpoint_problem, resolve_checkpoint
    good = work / "ref" / "checkpoints" / "step-0000006"
    assert checkpoint_problem(good) is None and checkpoint_problem(good.parent / "step-0000003") is None
    for name, (damage, expected) in DAMAGES.items():
        ckpt = tmp_path / name.replace(" ", "-")
        shutil.copytree(good, ckpt)
        damage(ckpt)
        assert expected in (checkpoint_problem(ckpt) or ""), name
        with pytest.raises(DscoderError, match=f"checkpoint {ckpt} is damaged: "):
            resolve_checkpoint(ckpt)
    # OUTPUT given as a CHECKPOINT: its newest usable one, the damaged newer one named in one warning
    out = tmp_path / "output"
    shutil.copytree(work / "ref", out)
    _truncate(out / "checkpoints/step-0000006/__0_1.distcp", 10)
    capsys.readouterr()
    assert resolve_checkpoint(out) == out / "checkpoints" / "step-0000003"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step-0000006 is damaged, skipped: __0_1.distcp is truncated" in err[0]


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_good_one(work, reference):
    """A newest checkpoint that fails to load resumes from the previous one (one warning naming it and
    why) and continues the uninterrupted losses exactly; with no usable checkpoint left, one error line
    naming the folder, exit 1. Before: a torch UnpicklingError traceback, every resume the same."""
    out = work / "damaged"
    shutil.copytree(work / "ref", out)
    _spoil_a_pickled_item(out / "checkpoints" / "step-0000006")   # found only by loading it
    resumed = small_run(work, "damaged")
    warnings = [line for line in resumed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "step-0000006 is damaged, skipped: loading it failed" in warnings[0], warnings
    assert "resumed from" in resumed.stderr and "step-0000003" in resumed.stderr
    assert [r["loss"] for r in read_metrics(out)] == reference
    for step in ("0000003", "0000006"):
        _truncate(out / "checkpoints" / f"step-{step}" / "__0_0.distcp", 4000)
    failed = small_run(work, "damaged", check=False)
    errors = [line for line in failed.stderr.splitlines() if line.startswith("dscoder: error:")]
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert len(errors) == 1 and f"{out / 'checkpoints'}: no usable checkpoint" in errors[0], errors


def test_tensor_parallel_2_matches_tp1(reference, tp2_output):
    tp2 = [r["loss"] for r in read_metrics(tp2_output)]
    assert max(abs(a - b) for a, b in zip(tp2, reference, strict=True)) < 1e-4, (tp2, reference)


def test_pipeline_parallel_2_matches_pp1(work, reference):
    small_run(work, "pp2", "--pp", 2, "--nproc", 2)
    pp2 = [r["loss"] for r in read_metrics(work / "pp2")]
    assert max(abs(a - b) for a, b in zip(pp2, reference, strict=True)) < 1e-4, (pp2, reference)


def test_data_parallel_2_matches_dp1(work, reference):
    """Two data-parallel replicas, each half of every global batch: gradients averaged across them."""
    small_run(work, "dp2", "--nproc", 2)
    dp2 = [r["loss"] for r in read_metrics(work / "dp2")]
    assert max(abs(a - b) for a, b in zip(dp2, reference, strict=True)) < 1e-4, (dp2, reference)


def test_tp2_checkpoint_resumes_at_tp1(work, reference, tp2_output):
    out = work / "tp2-to-tp1"
    shutil.copytree(tp2_output, out)
    shutil.rmtree(out / "checkpoints" / "step-0000006")      # resume from the TP=2 step-3 checkpoint
    assert json.loads((out / "checkpoints/step-0000003/dscoder.json").read_text())["tp"] == 2
    run = small_run(work, "tp2-to-tp1")
    assert "step-0000003" in run.stderr
    losses = [r["loss"] for r in read_metrics(out)]
    assert max(abs(a - b) for a, b in zip(losses, reference, strict=True)) < 1e-4


def test_export_hf_logits_equal_megatron_from_a_tp2_checkpoint(work, tp2_output):
    from transformers import AutoModelForCausalLM

    from stages.train.hf_io import megatron_logits
    run_cli("export-hf", tp2_output, work / "hf-tp2", "--dtype", "float32")
    cfg = json.loads((work / "hf-tp2" / "config.json").read_text())
    assert cfg["rope_theta"] == 10000.0 and "rope_scaling" in cfg and cfg["rms_norm_eps"] == 1e-6
    assert (work / "hf-tp2" / "tokenizer.json").exists() and (work / "hf-tp2" / "model.safetensors").exists()
    tokens = torch.randint(0, cfg["vocab_size"], (2, 32), generator=torch.Generator().manual_seed(0))
    mega = megatron_logits(tp2_output, tokens)          # TP=2 checkpoint loaded into a TP=1 model
    hf = AutoModelForCausalLM.from_pretrained(str(work / "hf-tp2"), attn_implementation="eager",
                                              dtype=torch.float32)
    with torch.no_grad():
        hf_logits = hf(tokens).logits
    assert (mega[..., :cfg["vocab_size"]] - hf_logits).abs().max().item() < 1e-4


def _random_hf_model(folder: Path, vocab: int) -> Path:
    """A random Llama (GQA, RoPE 1e5 ×4 linear, RMSNorm weights ≠ 1) saved as HF safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                      tie_word_embeddings=False, max_position_embeddings=256,
                      rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 100000.0})
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.3 * torch.randn_like(p))
    model.save_pretrained(str(folder))
    return folder


def test_hf_to_megatron_to_hf_is_exact_and_pretrain_starts_from_it(work):
    from safetensors.torch import load_file

    from stages.train.hf_io import export_hf, import_hf
    from stages.train.hf_mapping import model_config_from_hf
    from stages.train.model import padded_vocab_size
    vocab = json.loads((work / "tokens/tokenizer/tokenizer.json").read_text())
    n_vocab = len(vocab["model"]["vocab"]) + len(vocab["added_tokens"])
    src = _random_hf_model(work / "hf-src", n_vocab)
    original = load_file(str(src / "model.safetensors"))
    m = model_config_from_hf(json.loads((src / "config.json").read_text()))
    m.vocab_size = padded_vocab_size(n_vocab, 128)
    import_hf(src, work / "imported", m)
    export_hf(work / "imported", work / "hf-back", "float32")
    back = load_file(str(work / "hf-back" / "model.safetensors"))
    assert back.keys() == original.keys()
    assert all(torch.equal(back[k], original[k]) for k in original)
    cfg = json.loads((work / "hf-back" / "config.json").read_text())
    assert cfg["rope_theta"] == 100000.0 and cfg["rope_scaling"]["factor"] == 4.0

    # `pretrain --init-from-hf`: at a vanishing LR, one step leaves the imported weights in place
    run_cli("pretrain", work / "tokens", work / "from-hf", "--model", "tiny", "--init-from-hf", src, "--steps", 1,
            "--warmup-steps", 0, "--lr", 1e-12, "--seq-length", 32, "--global-batch", 2, "--micro-batch", 2,
            "--tp", 2, "--nproc", 2)
    export_hf(work / "from-hf", work / "hf-trained", "float32")
    trained = load_file(str(work / "hf-trained" / "model.safetensors"))
    assert max((trained[k] - original[k]).abs().max().item() for k in original) < 1e-6
