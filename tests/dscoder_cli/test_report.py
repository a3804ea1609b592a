"""`dscoder report`: one HTML page from real stage outputs, opened in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from dscoder_cli.report.collect import collect


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    """crawl → filter → topo-sort → dedup of a few standard-library packages, plus training and
    eval outputs in the shapes those stages write."""
    from typer.testing import CliRunner

    from dscoder_cli.app import app

    root = tmp_path_factory.mktemp("pipeline")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lst = root / "repos.txt"
    lst.write_text("".join(f"{stdlib / p}\n" for p in ("json", "email", "http", "logging")))
    runner = CliRunner()
    for args in (["crawl", lst, root / "files"], ["filter", root / "files", root / "filtered"],
                 ["topo-sort", root / "filtered", root / "samples"], ["dedup", root / "samples", root / "dedup"]):
        r = runner.invoke(app, [str(a) for a in args])
        assert r.exit_code == 0, r.stderr
    train = root / "pretrain"
    train.mkdir()
    (train / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 8.0 / (1 + 0.1 * s), "lr": 1e-3 * min(1, s / 10)}) + "\n"
        + (json.dumps({"step": s, "val_loss": 8.5 / (1 + 0.1 * s), "val_ppl": 2.0}) + "\n" if s % 10 == 0 else "")
        for s in range(1, 51)))
    # two models evaluated: a partial run (--limit 10) of one, a complete HumanEval of another
    ev = root / "eval"
    ev.mkdir()
    (ev / "summary.json").write_text(json.dumps({"model": "/runs/extend", "benchmarks": {
        "humaneval": {"pass@1": 0.1, "tasks": 10, "tasks_executed": 10}, "mbpp": {"pass@1": 0.02, "tasks": 500,
                                                                                 "tasks_executed": 500}}}))
    ev2 = root / "eval-instruct"
    ev2.mkdir()
    (ev2 / "summary.json").write_text(json.dumps({"model": "/runs/instruct", "benchmarks": {
        "humaneval": {"pass@1": 0.25, "tasks": 164, "tasks_executed": 164}}}))
    return root


def test_collect_finds_every_kind(pipeline):
    c = collect([pipeline])
    assert [d.stage for d in c.data] == ["crawl", "filter", "topo-sort", "dedup"]
    assert len(c.training) == 1 and len(c.evals) == 2
    assert len(c.training[0].metrics) == 50 and [v["step"] for v in c.training[0].validation] == [10, 20, 30, 40, 50]
    assert c.data[0].stats["rows_in"] == c.data[0].stats["rows_kept"] + c.data[0].stats["rows_rejected"]


def test_report_renders_every_chart_in_chromium(cli, pipeline, tmp_path):
    out = tmp_path / "report.html"
    r = cli("report", pipeline, out)
    assert "4 data stages, 1 training runs, 2 evaluations" in r.stdout
    html = out.read_text()
    charts = ["funnel", "rejected-per-rule", "languages", "loss", "validation-loss", "learning-rate", "pass-at-1"]
    for name in charts:
        assert f'data-chart="{name}"' in html, name
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    # Measure every chart's rendered box from inside the page, then take a screenshot.
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", """<script>
      const boxes = [...document.querySelectorAll('svg.chart')].map(s => {
        const r = s.getBoundingClientRect(); return [s.dataset.chart, r.width, r.height, s.querySelectorAll('rect,path').length]; });
      document.title = 'BOXES' + JSON.stringify(boxes);
    </script></body>"""))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    title = dom.stdout.split("<title>BOXES", 1)[1].split("</title>", 1)[0]
    boxes = {name: (w, h, n) for name, w, h, n in json.loads(title.replace("&quot;", '"'))}
    for name in charts:
        w, h, n = boxes[name]
        assert w > 100 and h > 20 and n > 0, (name, boxes[name])
    shot = Path(__file__).parents[2] / "tests" / "_artifacts" / "report.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1000,2400", out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_status_and_report_count_each_file_of_a_sample_in_its_own_language(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dscoder_cli.report.collect import DataStage, language_totals
    from stages.core.schemas import FILES_SCHEMA

    lib = "int twice(int x) { return 2 * x; }\n"
    app = '#include "lib.c"\nint main() { return twice(1); }\n'
    (tmp_path / "files").mkdir()
    rows = [{"repo": "mixed", "path": p, "lang": lang, "content": t, "size": len(t)}
            for p, lang, t in (("app.cpp", "C++", app), ("lib.c", "C", lib))]
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), tmp_path / "files" / "part-00000.parquet")
    cli("topo-sort", tmp_path / "files", tmp_path / "samples")
    (sample,) = pq.read_table(tmp_path / "samples" / "part-00000.parquet").to_pylist()
    assert sample["n_files"] == 2 and sample["lang"] == "C++"  # the main language: by bytes

    status = cli.json("status", tmp_path / "samples")
    assert status["files_by_language"] == {"C": 1, "C++": 1}
    assert "files by language" in cli("status", tmp_path / "samples").stdout

    totals = language_totals(collect([tmp_path / "samples"]).data[0])
    assert totals.files == {"C": 1, "C++": 1} and totals.bytes == {"C": len(lib), "C++": len(app)}
    assert language_totals(DataStage(tmp_path / "files", "crawl", {}, {})).bytes == totals.bytes  # as in files

    # Samples written before the langs column: each file by its name.
    old = tmp_path / "old"
    old.mkdir()
    table = pq.read_table(tmp_path / "samples" / "part-00000.parquet").drop_columns(["langs"])
    pq.write_table(table, old / "part-00000.parquet")
    old_totals = language_totals(DataStage(old, "dedup", {}, {}))
    assert old_totals.files == totals.files and old_totals.bytes == totals.bytes

    html = (tmp_path / "r.html")
    cli("report", tmp_path / "samples", html)
    assert "every file in its own language" in html.read_text()


def test_report_is_honest_about_partial_evals_models_and_rows(pipeline, tmp_path):
    import re

    from dscoder_cli.report.render import render
    html = render(collect([pipeline]))
    # each eval folder is its own series, named by model and folder; never one merged "this model"
    assert "this model" not in html
    assert "extend (eval)" in html and "instruct (eval-instruct)" in html
    row = re.search(r"<tr><td>extend \(eval\)</td><td>humaneval</td>(.*?)</tr>", html).group(1)
    assert "10 / 164" in row and "partial" in row and "on all 164 tasks" in row
    row = re.search(r"<tr><td>instruct \(eval-instruct\)</td><td>humaneval</td>(.*?)</tr>", html).group(1)
    assert "164 / 164" in row and "complete" in row and "34.8" in row
    row = re.search(r"<tr><td>extend \(eval\)</td><td>mbpp</td>(.*?)</tr>", html).group(1)
    assert "500 / 500" in row and "complete" in row
    assert "Partial: pass@1 over the tasks evaluated only" in html
    # training and validation curves of the run, each its own series
    assert "pretrain (pretrain) train" in html and "pretrain (pretrain) validation" in html
    # the funnel counts rows (files, then samples), not only MB
    assert re.search(r"<td>crawl \(files\)</td><td>files</td>", html)
    assert re.search(r"<td>topo-sort \(samples\)</td><td>samples</td>", html)
    assert "crawl (files): files" in html and "dedup (dedup): samples" in html


def test_report_sets_each_paper_table_beside_the_results(tmp_path):
    """Tables 3-6 and 8 next to the paper's numbers; both protocols where they differ, one row where
    they agree; groups (FIM languages, LeetCode difficulties) and notes (TabMWP) shown."""
    from dscoder_cli.report.render import render
    ev = tmp_path / "eval-paper"
    ev.mkdir()
    leet = {"pass@1": 0.2, "tasks": 180, "tasks_executed": 180,
            "protocols": {"strict": {"pass@1": 0.2, "groups": {"Easy": {"tasks": 45, "pass@1": 0.5}}},
                          "deepseek": {"pass@1": 0.25, "groups": {"Easy": {"tasks": 45, "pass@1": 0.6}}}},
            "paper": {"model": "DeepSeek-Coder-Instruct", "pass@1": {"1.3b": 7.2, "6.7b": 19.4, "33b": 27.8}}}
    fim = {"pass@1": 0.8, "tasks": 4792, "tasks_executed": 4792, "protocol": "exact_match",
           "protocols": {"strict": {"pass@1": 0.8, "groups": {"py": {"tasks": 1043, "pass@1": 0.7,
                                                                     "edit_similarity": 91.0}}}},
           "paper": {"pass@1": {"6.7b": 80.7}, "groups": {"py": {"6.7b": 66.6}}}}
    pal = {"tasks": 0, "skipped": "skipped: pal-math: no pal-math/gsm8k/test.json in /x"}
    (ev / "summary.json").write_text(json.dumps({"model": "/runs/m", "benchmarks": {
        "leetcode": leet, "santacoder-fim": fim, "pal-math": pal}}))
    html = render(collect([ev]), "6.7b")
    assert "Table 5: LeetCode Contest" in html and "Table 6: Single-line FIM" in html and "Table 8" in html
    assert "<td>leetcode</td><td>strict</td><td>20.0</td>" in html
    assert "<td>leetcode</td><td>deepseek</td><td>25.0</td>" in html and "<td>19.4</td>" in html
    assert "<td>leetcode / Easy</td><td>deepseek</td><td>60.0</td>" in html
    assert "<td>santacoder-fim</td><td>strict</td><td>80.0</td><td>4792 / 4792</td><td>80.7</td>" in html
    assert "santacoder-fim / py</td><td>strict</td><td>70.0 (edit similarity 91.0)</td><td>1043</td><td>66.6" in html
    assert "no pal-math/gsm8k/test.json" in html
