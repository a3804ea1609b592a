"""Fast, in-process checks of the trainer's pure parts: presets, LR schedule, config identity,
launcher environment, the HF weight mapping on random tensors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from stages.train.config import PRESETS, TrainConfig, changed_options, load_preset  # noqa: E402
from stages.train.hf_mapping import from_hf, hf_config, model_config_from_hf, to_hf  # noqa: E402
from stages.train.distributed import dist_env, first_slurm_host  # noqa: E402
from stages.train.model import flops_per_token, total_params  # noqa: E402
from stages.train.optim import lr_at  # noqa: E402


@pytest.mark.parametrize("name,billions", [("1.3b", 1.3), ("6.7b", 6.7), ("33b", 33.0)])
def test_paper_presets_have_the_paper_sizes(name, billions):
    p = PRESETS[name]
    n = total_params(p.model, p.model.vocab_size) / 1e9
    assert abs(n - billions) / billions < 0.06, n
    assert p.model.norm_eps == 1e-6 and p.model.vocab_size == 32256
    assert (p.model.num_query_groups == 8) == (name == "33b")


def test_paper_lr_schedule():
    cfg = TrainConfig(data=[], output="x", model=PRESETS["1.3b"].model, steps=10000, warmup_steps=2000, lr=5.3e-4)
    assert lr_at(0, cfg) == pytest.approx(5.3e-4 / 2000)
    assert lr_at(1999, cfg) == pytest.approx(5.3e-4)
    assert lr_at(7999, cfg) == pytest.approx(5.3e-4)
    assert lr_at(8000, cfg) == pytest.approx(5.3e-4 * math.sqrt(0.1))
    assert lr_at(8999, cfg) == pytest.approx(5.3e-4 * math.sqrt(0.1))
    assert lr_at(9000, cfg) == pytest.approx(5.3e-4 * 0.1)
    assert lr_at(9999, cfg) == pytest.approx(5.3e-4 * 0.1)
    cfg.lr_schedule = "cosine"
    assert lr_at(9999, cfg) == pytest.approx(5.3e-5)


def test_model_yaml_and_identity(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("base: 1.3b\nnum_layers: 2\nmax_lr: 1.0e-3\n")
    p = load_preset("tiny", f)
    assert p.model.num_layers == 2 and p.model.hidden_size == 2048 and p.max_lr == 1e-3
    f.write_text("num_layerz: 2\n")
    with pytest.raises(ValueError, match="num_layerz"):
        load_preset("tiny", f)
    a = TrainConfig(data=["d"], output="o", model=p.model, steps=10)
    b = TrainConfig.from_dict(a.to_dict())
    b.tp, b.save_interval = 2, 5
    assert changed_options(a, b) == []
    b.steps, b.model.hidden_size = 11, 64     # another --steps continues the run: not an identity change
    assert changed_options(a, b) == ["model.hidden_size"]
    b.split = "90,10,0"
    assert changed_options(a, b) == ["model.hidden_size", "split"]


def test_launcher_environment():
    assert first_slurm_host("gpu[01-04,07],cpu1") == "gpu01" and first_slurm_host("node7") == "node7"
    e = dist_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1234"})
    assert (e.rank, e.world_size, e.local_rank, e.master_addr, e.launcher) == (3, 8, 1, "h", "torchrun")
    e = dist_env({"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "5", "SLURM_JOB_ID": "42",
                  "SLURM_JOB_NODELIST": "gpu[10-11]"})
    assert (e.rank, e.world_size, e.local_rank, e.master_addr, e.launcher) == (5, 16, 5, "gpu10", "slurm")
    assert dist_env({}).launcher == "single"


def test_flops_per_token_is_6n_plus_attention():
    m = PRESETS["1.3b"].model
    f = flops_per_token(m, 32256, 4096)
    assert 6 * 1.2e9 < f < 6 * 1.6e9 + 12 * 24 * 2048 * 4096


@pytest.mark.parametrize("groups", [None, 2])
def test_hf_mapping_round_trips_exactly(groups):
    from stages.train.config import ModelConfig
    m = ModelConfig(num_layers=2, hidden_size=32, num_attention_heads=4, num_query_groups=groups,
                    ffn_hidden_size=48, vocab_size=128, hf_vocab_size=100, rotary_base=1e5, rope_scaling_factor=4.0)
    g = torch.Generator().manual_seed(0)
    ng, d = m.query_groups, m.head_dim
    hf = {"model.embed_tokens.weight": torch.randn(100, 32, generator=g), "model.norm.weight": torch.randn(32, generator=g),
          "lm_head.weight": torch.randn(100, 32, generator=g)}
    for i in range(2):
        q = f"model.layers.{i}."
        for k, shape in {"self_attn.q_proj": (4 * d, 32), "self_attn.k_proj": (ng * d, 32), "self_attn.v_proj": (ng * d, 32),
                         "self_attn.o_proj": (32, 4 * d), "mlp.gate_proj": (48, 32), "mlp.up_proj": (48, 32),
                         "mlp.down_proj": (32, 48)}.items():
            hf[q + k + ".weight"] = torch.randn(*shape, generator=g)
        hf[q + "input_layernorm.weight"] = torch.randn(32, generator=g)
        hf[q + "post_attention_layernorm.weight"] = torch.randn(32, generator=g)
    mg = from_hf(hf, m, 128)
    assert mg["embedding.word_embeddings.weight"].shape == (128, 32)
    # megatron's QKV is interleaved per query group: group 0 = [q heads of group 0, k_0, v_0]
    hq = 4 // ng
    assert torch.equal(mg["decoder.layers.0.self_attention.linear_qkv.weight"][hq * d:(hq + 1) * d],
                       hf["model.layers.0.self_attn.k_proj.weight"][:d])
    back = to_hf(mg, m, 100)
    assert back.keys() == hf.keys() and all(torch.equal(back[k], hf[k]) for k in hf)
    cfg = hf_config(m, 100, 1, 2, "float32")
    assert cfg["rope_theta"] == 1e5 and cfg["rope_scaling"]["factor"] == 4.0
    m2 = model_config_from_hf(cfg)
    assert (m2.rotary_base, m2.rope_scaling_factor, m2.query_groups, m2.hf_vocab_size) == (1e5, 4.0, ng, 100)
    legacy = {k: v for k, v in cfg.items() if k != "rope_parameters"}
    assert model_config_from_hf(legacy).rope_scaling_factor == 4.0
