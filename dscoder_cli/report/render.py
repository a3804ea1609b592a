"""The report page: sections of charts and tables, inline CSS, no external resources."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from stages.core import __version__
from .collect import PAPER, Collected, cluster_sizes, language_totals
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
        rows.append([label, s["rows_in"], s["rows_kept"], s["rows_rejected"], s.get("rows_out", s["rows_kept"]),
                     f"{s['bytes_in'] / 1e6:.1f}", f"{s['shards_done']}/{s['shards_total']}"])
        items.append((label, s["bytes_in"] / 1e6))
    html = ["<h2>Data funnel</h2>", '<p class="note">MB of input per stage; rows in = kept + rejected.</p>',
            bars("funnel", items, unit=" MB"),
            _table(["stage", "rows in", "kept", "rejected", "rows out", "MB in", "shards"], rows)]
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
    if not c.training:
        return ""
    loss = {f"{t.kind} ({t.path.name})": _series(t.metrics, "loss") for t in c.training}
    lr = {f"{t.kind} ({t.path.name})": _series(t.metrics, "lr") for t in c.training}
    html = ["<h2>Training</h2>", lines("loss", {k: v for k, v in loss.items() if v}, y_label="loss")]
    if any(lr.values()):
        html.append(lines("learning-rate", {k: v for k, v in lr.items() if v}, y_label="learning rate"))
    rows = []
    for t in c.training:
        last = t.metrics[-1] if t.metrics else {}
        rows.append([f"{t.kind} ({t.path.name})", len(t.metrics), f"{last.get('loss', float('nan')):.4f}",
                     f"{last.get('tokens_per_s', last.get('tokens/s', 0)) or 0:,.0f}"])
    html.append(_table(["run", "steps logged", "last loss", "tokens/s"], rows))
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


def evaluation(c: Collected, paper_size: str) -> str:
    if not c.evals:
        return ""
    ours: dict[str, float] = {}
    for e in c.evals:
        ours.update(_pass1(e.summary))
    if not ours:
        return ""
    names = sorted(ours)
    paper = PAPER.get(paper_size, {})
    series = {"this model": [ours[n] for n in names],
              f"paper, DeepSeek-Coder-Base {paper_size}": [paper.get(n, 0.0) for n in names]}
    rows = [[n, f"{ours[n]:.1f}", f"{paper[n]:.1f}" if n in paper else "—"] for n in names]
    return ("<h2>Evaluation: pass@1 (%)</h2>" + grouped_bars("pass-at-1", names, series)
            + _table(["benchmark", "this model", f"paper {paper_size}"], rows))


def render(c: Collected, paper_size: str = "1.3b") -> str:
    body = "".join(s for s in (funnel(c), languages(c), duplicates(c), tokens(c), training(c),
                               evaluation(c, paper_size)) if s)
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
