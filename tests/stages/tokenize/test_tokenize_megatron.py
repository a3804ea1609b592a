"""megatron-core reads what tokenize writes: IndexedDataset, GPTDataset through
BlendedMegatronDatasetBuilder, and byte-identical files to megatron's own IndexedDatasetBuilder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import documents, load, small_tokenizer_dir, synthetic_texts, write_samples  # noqa: E402

pytest.importorskip("megatron.core.datasets.indexed_dataset")


@pytest.fixture(scope="module")
def tokens_out(tmp_path_factory):
    from typer.testing import CliRunner

    from dscoder_cli.app import app
    tmp = tmp_path_factory.mktemp("megatron")
    src = write_samples(tmp / "samples", [synthetic_texts(120, 1), synthetic_texts(80, 2)])
    r = CliRunner().invoke(app, ["tokenize", str(src), str(tmp / "out"), "--tokenizer",
                                 str(small_tokenizer_dir())], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return tmp / "out"


def test_indexed_dataset_reads_every_document(tokens_out):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(str(tokens_out / "part-00000"))
    ours = documents(tokens_out / "part-00000")
    assert len(ds) == len(ours) == 120
    assert ds.index.dtype == np.uint16
    assert list(ds.document_indices) == list(range(121))
    for i in (0, 1, 57, 119):
        assert ds[i].tolist() == ours[i]
    assert ds.get(3, offset=2, length=4).tolist() == ours[3][2:6]


def test_identical_to_megatrons_own_builder(tokens_out, tmp_path):
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    prefix = tmp_path / "ref"
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.uint16)
    for doc in documents(tokens_out / "part-00001"):
        builder.add_document(torch.tensor(doc), [len(doc)])
    builder.finalize(f"{prefix}.idx")
    for ext in ("bin", "idx"):
        assert (tokens_out / f"part-00001.{ext}").read_bytes() == Path(f"{prefix}.{ext}").read_bytes()


def test_gpt_dataset_trains_from_a_blend(tokens_out, tmp_path):
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    tok = load(tokens_out / "tokenizer")

    class Tok:  # what GPTDataset reads
        vocab_size = tok.get_vocab_size()
        eod = tok.token_to_id("<｜end▁of▁sentence｜>")
        unique_identifiers = {"class": "dscoder-test-tokenizer"}

    seq = 64
    config = GPTDatasetConfig(random_seed=1234, sequence_length=seq, split="98,1,1",
                              blend=([str(tokens_out / "part-00000"), str(tokens_out / "part-00001")], [0.6, 0.4]),
                              path_to_cache=str(tmp_path / "cache"), tokenizer=Tok(),
                              reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False)
    # The cached index build is rank-aware: a one-process gloo group, as `dscoder pretrain` has.
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [40, 2, 2], lambda: True, config).build()
    finally:
        dist.destroy_process_group()
    assert len(train) >= 40
    all_tokens = set(np.concatenate([np.asarray(d) for d in documents(tokens_out / "part-00000")]).tolist())
    all_tokens |= set(np.concatenate([np.asarray(d) for d in documents(tokens_out / "part-00001")]).tolist())
    saw_eod = False
    for i in range(40):
        sample = train[i]
        tokens, labels = sample["tokens"].numpy(), sample["labels"].numpy()
        assert tokens.shape == labels.shape == (seq,)
        assert (tokens[1:] == labels[:-1]).all()  # next-token labels
        assert set(tokens.tolist()) <= all_tokens
        saw_eod |= bool((tokens == Tok.eod).any())
    assert saw_eod  # documents are packed across their end-of-sentence tokens
