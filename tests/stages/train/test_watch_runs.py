"""Watching a run (issue 21), with real `dscoder pretrain` processes on CPU: validation rows and
TensorBoard events, a quiet default start, a finished run continued to more steps, W&B through a
stand-in `wandb` module, and the modes of every file written (checkpoints, export, a data stage)."""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from train_testlib import (THIRD_PARTY_MARKERS, make_token_folder, modes, read_metrics, read_validation,  # noqa: E402
                           run_cli, stdlib_texts, write_model_yaml)

SMALL = ["--warmup-steps", 2, "--seq-length", 32, "--global-batch", 4, "--micro-batch", 2, "--save-interval", 3]
UMASK = 0o002   # a team's umask: group-writable files, which a 0600 temporary file would break

FAKE_WANDB = '''
import json, os
def _write(rec):
    with open(os.environ["FAKE_WANDB_LOG"], "a") as f:
        f.write(json.dumps(rec) + "\\n")
class _Run:
    def log(self, values, step=None):
        _write({"log": values, "step": step})
    def finish(self):
        _write({"finish": True})
def init(**kw):
    _write({"init": {k: v for k, v in kw.items() if k != "config"}, "config": kw.get("config"),
            "mode": os.environ.get("WANDB_MODE")})
    return _Run()
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("watch")
    make_token_folder(root / "tokens", stdlib_texts())   # 14 documents in 2 parts
    write_model_yaml(root / "small.yaml")
    return root


@pytest.fixture(scope="module")
def first_run(work):
    """6 steps, validating every 3 on 30% of each part's documents, under a group-writable umask."""
    out = work / "run"
    proc = run_cli("pretrain", work / "tokens", out, "--model-config", work / "small.yaml", "--steps", 6, *SMALL,
                   "--split", "70,30,0", "--eval-interval", 3, "--eval-iters", 2, umask=UMASK)
    return out, proc


def test_validation_rows_tensorboard_and_summary(first_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out, proc = first_run
    val = read_validation(out)
    assert [v["step"] for v in val] == [3, 6]
    for v in val:
        assert 0 < v["val_loss"] < 10 and v["val_ppl"] == pytest.approx(2.718281828 ** v["val_loss"], rel=1e-6)
        assert v["val_tokens"] == 2 * 4 * 32
    assert val[1]["val_loss"] < val[0]["val_loss"]          # held-out loss falls as training goes on
    assert [r["step"] for r in read_metrics(out)] == list(range(1, 7))
    assert f"validation at step 6: loss {val[1]['val_loss']:.4f}" in proc.stdout   # the summary
    ea = EventAccumulator(str(out / "tensorboard"))
    ea.Reload()
    train_loss = {e.step: e.value for e in ea.Scalars("train/loss")}
    assert sorted(train_loss) == list(range(1, 7))
    assert train_loss[6] == pytest.approx(read_metrics(out)[-1]["loss"], rel=1e-6)
    assert [(e.step, round(e.value, 4)) for e in ea.Scalars("val/loss")] == [(v["step"], round(v["val_loss"], 4))
                                                                            for v in val]
    assert "val/ppl" in ea.Tags()["scalars"]


def test_a_default_start_prints_no_third_party_warning(first_run):
    _, proc = first_run
    foreign = [line for line in proc.stderr.splitlines() if any(m in line for m in THIRD_PARTY_MARKERS)]
    assert foreign == [], foreign
    assert sum(line.startswith("step ") for line in proc.stderr.splitlines()) == 6   # our own lines stay


def test_a_finished_run_continues_to_more_steps_verbose_with_wandb(work, first_run, tmp_path):
    from stages.train.config import TrainConfig
    from stages.train.optim import lr_at
    out, _ = first_run
    before = read_metrics(out)
    stub = tmp_path / "stub"
    (stub / "wandb").mkdir(parents=True)
    (stub / "wandb" / "__init__.py").write_text(FAKE_WANDB)
    log = tmp_path / "wandb.jsonl"
    secret = "k3y-that-must-never-be-printed"
    proc = run_cli("pretrain", work / "tokens", out, "--model-config", work / "small.yaml", "--steps", 8, *SMALL,
                   "--split", "70,30,0", "--eval-interval", 3, "--eval-iters", 2, "--verbose",
                   "--wandb-project", "dscoder-tests", umask=UMASK,
                   env_extra={"PYTHONPATH": f"{stub}:{Path(__file__).resolve().parents[3]}",
                              "FAKE_WANDB_LOG": str(log), "WANDB_MODE": "offline", "WANDB_API_KEY": secret})
    assert "continuing from step 6 to --steps 8 (was 6)" in proc.stderr
    assert "Apex is not installed" in proc.stderr            # --verbose shows what the default hides
    recs = read_metrics(out)
    assert [r["step"] for r in recs] == list(range(1, 9)) and recs[:6] == before
    cfg = TrainConfig.load(out / "config.yaml")
    assert cfg.steps == 8 and [(h["from_steps"], h["to_steps"], h["at_step"]) for h in cfg.steps_history] == [(6, 8, 6)]
    assert [r["lr"] for r in recs[6:]] == pytest.approx([lr_at(s, cfg) for s in (6, 7)])   # the 8-step schedule
    assert [v["step"] for v in read_validation(out)] == [3, 6, 8]
    # W&B: offline mode left to wandb, a stable run id for OUTPUT, every step logged, the key nowhere
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0]["mode"] == "offline" and calls[0]["init"]["project"] == "dscoder-tests"
    assert calls[0]["init"]["resume"] == "allow" and calls[0]["init"]["id"].startswith("dscoder-")
    assert [c["step"] for c in calls if "log" in c and "train/loss" in c["log"]] == [7, 8]
    assert [c["step"] for c in calls if "log" in c and "val/loss" in c["log"]] == [8]
    assert calls[-1] == {"finish": True}
    for text in (proc.stdout, proc.stderr, (out / "config.yaml").read_text(), log.read_text()):
        assert secret not in text
    # fewer steps than the run has trained: refused
    refused = run_cli("pretrain", work / "tokens", out, "--model-config", work / "small.yaml", "--steps", 5, *SMALL,
                      "--split", "70,30,0", check=False)
    assert refused.returncode == 2 and "has trained 8 steps; --steps 5 is fewer" in refused.stderr
    # without wandb installed, --wandb-project is a usage error before anything starts
    missing = run_cli("pretrain", work / "tokens", work / "nowandb", "--model-config", work / "small.yaml",
                      "--steps", 1, *SMALL, "--wandb-project", "p", check=False)
    assert missing.returncode == 2 and "pip install wandb" in missing.stderr and not (work / "nowandb").exists()


def test_tiny_parts_train_whole_without_validation_and_say_why(work):
    out = work / "tiny-split"
    proc = run_cli("pretrain", work / "tokens", out, "--model-config", work / "small.yaml", "--steps", 1, *SMALL)
    assert "--split 969,30,1 leaves no valid document in part-00000 (7 documents" in proc.stderr
    assert read_validation(out) == [] and len(read_metrics(out)) == 1
    assert yaml.safe_load((out / "config.yaml").read_text())["split"] == "969,30,1"


def test_files_get_the_umask_checkpoints_export_and_stage_outputs(work, first_run, tmp_path):
    out, _ = first_run
    exported = work / "hf"
    run_cli("export-hf", out, exported, "--dtype", "float32", umask=UMASK)
    lst = tmp_path / "repos.txt"
    lst.write_text(str(Path(sysconfig.get_paths()["stdlib"]) / "json") + "\n")
    run_cli("crawl", lst, tmp_path / "files", umask=UMASK)
    for root in (out, exported, tmp_path / "files"):
        found = modes(root)
        assert found, root
        bad = {p: oct(m) for p, m in found.items() if m != (0o775 if (root / p).is_dir() else 0o664)}
        assert bad == {}, (root, bad)
    assert any(p.startswith("checkpoints/step-") and p.endswith(".distcp") for p in modes(out))
    assert "model.safetensors" in modes(exported) and any(p.startswith("_dscoder") for p in modes(tmp_path / "files"))


def test_status_of_a_run_an_eval_and_a_pipeline_folder(work, first_run):
    from typer.testing import CliRunner

    from dscoder_cli.app import app
    out, _ = first_run
    runner = CliRunner()
    lst = work / "repos.txt"
    lst.write_text(str(Path(sysconfig.get_paths()["stdlib"]) / "json") + "\n")
    assert runner.invoke(app, ["crawl", str(lst), str(work / "files")]).exit_code == 0
    ev = work / "eval"
    ev.mkdir()
    (ev / "summary.json").write_text(json.dumps({"model": str(out), "benchmarks": {
        "humaneval": {"pass@1": 0.1, "tasks": 10, "tasks_executed": 10}}}))

    def status(folder):
        r = runner.invoke(app, ["status", str(folder), "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    run = status(out)   # the run the continuation test took to 8 steps
    assert run["kind"] == "training" and run["stage"] == "pretrain"
    assert (run["steps_done"], run["steps_total"], run["complete"]) == (8, 8, True)
    assert run["tokens_seen"] == 8 * 4 * 32 and len(run["last_losses"]) == 5
    assert run["last_validation"]["step"] == 8 and [c["step"] for c in run["checkpoints"]] == [3, 6, 8]
    assert run["steps_history"][0]["to_steps"] == 8
    e = status(ev)
    assert e["kind"] == "eval" and e["complete"] is False
    assert e["benchmarks"]["humaneval"] == {"tasks_done": 10, "tasks_in_run": 10, "tasks_in_benchmark": 164,
                                            "pass@1": 0.1, "partial": True, "skipped": None}
    pipe = status(work)
    kinds = {Path(s["output"]).name: s.get("kind", s.get("stage")) for s in pipe["stages"]}
    assert kinds["run"] == "training" and kinds["eval"] == "eval" and kinds["files"] == "crawl"
    assert pipe["kind"] == "pipeline" and pipe["complete"] is False          # the eval is partial
    text = runner.invoke(app, ["status", str(work)]).stdout
    assert "steps 8 / 8" in text and "humaneval: 10 / 164 tasks (partial)" in text
    assert runner.invoke(app, ["status", str(work / "tokens" / "tokenizer")]).exit_code == 2
