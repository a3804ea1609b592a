"""The report page: sections of charts and tables, inline CSS, no external resources."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from stages.core import __version__
from .collect import PAPER, Collected, benchmark_size, cluster_sizes, language_totals, row_unit
from .svg import bars, grouped_bars, lines

CSS = """body{font:14px system-ui,sans-serif;margin:24px auto;max-width:960px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}svg.chart{display:block;margin:8px 0;font-size:12px}
.note{color:#666}"""


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c if isinstance(c, str) else f'{c:,}')}</td>" for c in r)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def funnel(c: Collected) -> str:
    if not c.data:
        return ""
    rows, items = [], []
    for d in c.data:
        s = d.stats
        label = f"{d.stage} ({d.path.name})"
        unit = row_unit(d)
        tokens = s["counters"].get("tokens") if d.stage == "tokenize" else None
        rows.append([label, unit, s["rows_in"], s["rows_kept"], s["rows_rejected"], s.get("rows_out", s["rows_kept"]),
                     f"{tokens:,}" if tokens is not None else "—", f"{s['bytes_in'] / 1e6:.1f}",
                     f"{s['shards_done']}/{s['shards_total']}"])
        items.append((f"{label}: {unit}", s.get("rows_out", s["rows_kept"])))
    html = ["<h2>Data funnel</h2>", '<p class="note">Rows out of each stage (files until topo-sort joins them '
            'into repository-level samples; documents and tokens after tokenize); rows in = kept + rejected.</p>',
            bars("funnel", items),
            _table(["stage", "rows are", "rows in", "kept", "rejected", "rows out", "tokens", "MB in", "shards"], rows)]
    reasons = [(f"{d.stage}: {k.split(':', 1)[1]}", v) for d in c.data for k, v in d.stats["counters"].items()
               if k.startswith(("rejected:", "skipped:")) and v]
    if reasons:
        html += ["<h3>Rows dropped, per stage and rule</h3>", bars("rejected-per-rule", reasons)]
    return "".join(html)


def languages(c: Collected) -> str:
    stages = [d for d in c.data if d.stage in ("crawl", "filter", "topo-sort", "dedup")]
    measured = [(d, language_totals(d)) for d in stages]
    measured = [(d, m) for d, m in measured if m.bytes]
    if len(measured) < 1:
        return ""
    (first, before), (last, after) = measured[0], measured[-1]
    top = [lang for lang, _ in before.bytes.most_common(12)]
    label_first, label_last = f"{first.stage} ({first.path.name})", f"{last.stage} ({last.path.name})"
    series = {label_first: [before.bytes[lang] / 1e6 for lang in top]}
    header = ["language", f"files, {label_first}", f"MB, {label_first}"]
    if last is not first:
        series[label_last] = [after.bytes[lang] / 1e6 for lang in top]
        header += [f"files, {label_last}", f"MB, {label_last}"]
    rows = [[lang, before.files[lang], f"{before.bytes[lang] / 1e6:.2f}"]
            + ([after.files[lang], f"{after.bytes[lang] / 1e6:.2f}"] if last is not first else []) for lang in top]
    return ("<h2>Languages before and after</h2><p class='note'>MB of file contents per language (12 largest); "
            "every file in its own language, inside repository-level samples too.</p>"
            + grouped_bars("languages", top, series) + _table(header, rows))


def duplicates(c: Collected) -> str:
    dedup = [d for d in c.data if d.stage == "dedup"]
    if not dedup:
        return ""
    sizes = cluster_sizes(dedup[-1])
    if not sizes:
        return "<h2>Duplicate clusters</h2><p>No duplicates were found.</p>"
    buckets = [(f"{k} samples" if k < 10 else "10+ samples", 0) for k in range(2, 11)]
    counts = dict(buckets)
    for size, n in sizes.items():
        counts[f"{size} samples" if size < 10 else "10+ samples"] += n
    items = [(k, v) for k, v in counts.items() if v]
    return ("<h2>Duplicate clusters</h2><p class='note'>Clusters by size (survivor included): "
            f"{sum(sizes.values()):,} clusters.</p>" + bars("duplicate-clusters", items))


def tokens(c: Collected) -> str:
    tok = [d for d in c.data if d.stage == "tokenize"]
    if not tok:
        return ""
    counters = tok[-1].stats["counters"]
    per_lang = sorted(((k.split(":", 1)[1], v) for k, v in counters.items() if k.startswith("tokens:")),
                      key=lambda kv: -kv[1])[:15]
    docs = counters.get("documents", 0)
    fim = counters.get("fim_psm", 0) + counters.get("fim_spm", 0)
    html = ["<h2>Tokens</h2>", f"<p>{counters.get('tokens', 0):,} tokens in {docs:,} documents; FIM share "
            f"{(fim / docs if docs else 0):.1%} (PSM {counters.get('fim_psm', 0):,}, SPM {counters.get('fim_spm', 0):,}).</p>"]
    if per_lang:
        html += ['<p class="note">Tokens per language: tokenize counts a sample in its main language.</p>',
                 bars("tokens-per-language", per_lang)]
    html.append(bars("fim-share", [("FIM documents", fim), ("plain documents", docs - fim)]))
    return "".join(html)


def _series(metrics: list[dict], key: str) -> list[tuple[float, float]]:
    return [(m["step"], m[key]) for m in metrics if isinstance(m.get(key), (int, float)) and "step" in m]


def training(c: Collected) -> str:
    """One loss series per run (its folder named), a validation series beside it where it validated:
    runs are never merged."""
    if not c.training:
        return ""
    loss: dict = {}
    for t in c.training:
        label = f"{t.kind} ({t.path.name})"
        loss[f"{label} train"] = _series(t.metrics, "loss")
        if t.validation:
            loss[f"{label} validation"] = _series(t.validation, "val_loss")
    lr = {f"{t.kind} ({t.path.name})": _series(t.metrics, "lr") for t in c.training}
    html = ["<h2>Training</h2>", lines("loss", {k: v for k, v in loss.items() if v}, y_label="loss")]
    if any(t.validation for t in c.training):
        html.insert(1, '<p class="note">Training loss per step, and validation loss on the held-out data '
                       '(--split / --valid-data) at each --eval-interval.</p>')
        html.append(lines("validation-loss", {f"{t.kind} ({t.path.name})": _series(t.validation, "val_loss")
                                              for t in c.training if t.validation}, y_label="validation loss"))
    if any(lr.values()):
        html.append(lines("learning-rate", {k: v for k, v in lr.items() if v}, y_label="learning rate"))
    rows = []
    for t in c.training:
        last = t.metrics[-1] if t.metrics else {}
        val = t.validation[-1] if t.validation else {}
        rows.append([f"{t.kind} ({t.path.name})", len(t.metrics), f"{last.get('loss', float('nan')):.4f}",
                     f"{val['val_loss']:.4f} (step {val['step']})" if val else "—",
                     f"{val['val_ppl']:.2f}" if val else "—",
                     f"{last.get('tokens_per_s', last.get('tokens/s', 0)) or 0:,.0f}"])
    html.append(_table(["run", "steps logged", "last loss", "validation loss", "perplexity", "tokens/s"], rows))
    return "".join(html)


def _pass1(summary: dict) -> dict[str, float]:
    """Benchmark → pass@1 in %, from summary.json (per-benchmark dicts or flat keys)."""
    out = {}
    benches = summary.get("benchmarks", summary)
    for name, value in benches.items():
        if isinstance(value, dict) and "pass@1" in value:
            v = value["pass@1"]
            out[name] = v * 100 if v <= 1 else v
    return out


def _eval_label(e) -> str:
    model = e.summary.get("model")
    return f"{Path(model).name if model else 'generations'} ({e.path.name})"


def evaluation(c: Collected, paper_size: str) -> str:
    """pass@1 per benchmark, one series per eval folder (different models or folders are never
    merged), each result with tasks evaluated / tasks in the benchmark and flagged partial."""
    if not c.evals:
        return ""
    results = []   # (label, benchmark, pass@1 %, tasks done, tasks in benchmark)
    for e in c.evals:
        benches = e.summary.get("benchmarks", {})
        for name, p1 in _pass1(e.summary).items():
            b = benches.get(name, {}) if isinstance(benches.get(name), dict) else {}
            done = int(b.get("tasks_executed", b.get("tasks", 0)) or 0)
            results.append((_eval_label(e), name, p1, done, benchmark_size(name)))
    if not results:
        return ""
    names = sorted({r[1] for r in results})
    labels = list(dict.fromkeys(r[0] for r in results))
    paper = PAPER.get(paper_size, {})
    got = {(r[0], r[1]): r for r in results}
    series = {label: [got[(label, n)][2] if (label, n) in got else 0.0 for n in names] for label in labels}
    series[f"paper, DeepSeek-Coder-Base {paper_size}"] = [paper.get(n, 0.0) for n in names]
    rows = []
    for label, name, p1, done, total in results:
        partial = total is None or done < total
        rows.append([label, name, f"{p1:.1f}", f"{done} / {total if total is not None else '?'}",
                     "partial" if partial else "complete",
                     f"{paper[name]:.1f}" if name in paper and not partial else
                     (f"{paper[name]:.1f} (on all {total} tasks)" if name in paper else "—")])
    note = ""
    if any(r[4] == "partial" for r in rows):
        note = ('<p class="note">Partial: pass@1 over the tasks evaluated only (e.g. --limit), not comparable '
                "with the paper's number on the whole benchmark.</p>")
    return ("<h2>Evaluation: pass@1 (%)</h2>" + note + grouped_bars("pass-at-1", names, series)
            + _table(["model (eval folder)", "benchmark", "pass@1", "tasks evaluated / in benchmark", "",
                      f"paper {paper_size}"], rows))


PAPER_TABLES = [("3", "HumanEval (8 languages) and MBPP", ["humaneval", "humaneval-cpp", "humaneval-java", "humaneval-js",
                                                             "humaneval-ts", "humaneval-php", "humaneval-cs",
                                                             "humaneval-sh", "mbpp"]),
                ("4", "DS-1000", ["ds1000"]), ("5", "LeetCode Contest", ["leetcode", "leetcode-cot"]),
                ("6", "Single-line FIM (SantaCoder's set, exact match)", ["santacoder-fim"]),
                ("8", "Program-aided math (PAL)", ["pal-math"])]


def _paper_number(b: dict, name: str, paper_size: str, group: str | None = None):
    from stages.eval.paper import GROUPS, PAPER
    entry = b.get("paper") or {}
    if group is not None:
        numbers = entry.get("groups", {}).get(group) or GROUPS.get((name, "base"), {}).get(group, {})
    else:
        numbers = entry.get("pass@1") or PAPER.get((name, "instruct" if name.startswith("leetcode") else "base"), {})
    return numbers.get(paper_size)


def paper_tables(c: Collected, paper_size: str) -> str:
    """Each of the paper's tables next to this project's results: per eval folder, benchmark (and group:
    language, difficulty, set, library), under each verdict protocol -- one row when both agree."""
    html = []
    for number, title, names in PAPER_TABLES:
        rows = []
        for e in c.evals:
            benches = e.summary.get("benchmarks", {})
            for name in names:
                b = benches.get(name)
                if not isinstance(b, dict):
                    continue
                if b.get("skipped") and not b.get("executed"):
                    rows.append([_eval_label(e), name, "—", b["skipped"], "—", "—"])
                    continue
                protocols = b.get("protocols") or {b.get("protocol", "strict"): b}
                values = {p: v.get("pass@1") for p, v in protocols.items() if v.get("pass@1") is not None}
                if not values:
                    continue
                same = len(set(values.values())) == 1
                shown = {" = ".join(values): next(iter(values.values()))} if same else values
                paper = _paper_number(b, name, paper_size)
                done = f"{b.get('tasks_executed', 0)} / {b.get('tasks', 0)}"
                for protocol, value in shown.items():
                    rows.append([_eval_label(e), name, protocol, f"{100 * value:.1f}", done,
                                 f"{paper:.1f}" if paper is not None else "—"])
                    groups = protocols.get(protocol.split(" = ")[0], {}).get("groups", {})
                    for group, g in groups.items():
                        gp = _paper_number(b, name, paper_size, group)
                        extra = f" (edit similarity {g['edit_similarity']:.1f})" if "edit_similarity" in g else ""
                        rows.append([_eval_label(e), f"{name} / {group}", protocol,
                                     f"{100 * g.get('pass@1', 0):.1f}{extra}", str(g.get("tasks", "")),
                                     f"{gp:.1f}" if gp is not None else "—"])
                note = (b.get("paper") or {}).get("note")
                if note:
                    rows.append([_eval_label(e), name, "", f"note: {note}", "", ""])
        if rows:
            html.append(f"<h3>Table {number}: {escape(title)}</h3>")
            html.append(_table(["model (eval folder)", "benchmark", "protocol", "pass@1 (%)", "tasks",
                                f"paper {paper_size}"], rows))
    if not html:
        return ""
    return ("<h2>The paper's tables, side by side</h2><p class=\"note\">Verdict protocols: <b>deepseek</b> "
            "reproduces DeepSeek-Coder's evaluation scripts (the numbers to set beside the paper's), <b>strict</b> "
            "needs every test to run to its end in the sandbox (the numbers to trust); one row when both agree. "
            "FIM is exact match, no execution.</p>" + "".join(html))


def render(c: Collected, paper_size: str = "1.3b") -> str:
    body = "".join(s for s in (funnel(c), languages(c), duplicates(c), tokens(c), training(c),
                               evaluation(c, paper_size), paper_tables(c, paper_size)) if s)
    sources = "".join(f"<li>{escape(str(p))}</li>" for p in
                      [d.path for d in c.data] + [t.path for t in c.training] + [e.path for e in c.evals])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>dscoder report</title>"
            f"<style>{CSS}</style></head><body><h1>dscoder report</h1>"
            f"<p class='note'>dscoder {__version__}, {time.strftime('%Y-%m-%d %H:%M')}; from:</p><ul>{sources}</ul>"
            f"{body}</body></html>")


def write_report(c: Collected, out: Path, paper_size: str = "1.3b") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(c, paper_size), encoding="utf-8")
    return out
