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
