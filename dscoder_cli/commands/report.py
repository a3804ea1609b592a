"""`dscoder report`."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from ..app import command
from ..errors import usage_error


@command()
def report(
    paths: List[Path] = typer.Argument(..., help="Stage output folders (or folders holding them), then "
                                       "the OUTPUT.html to write."),
    paper_size: str = typer.Option("1.3b", help="Which paper model size eval results are compared with."),
) -> None:
    """Build one self-contained HTML page: data funnel, languages, duplicates, tokens, training, eval."""
    from ..report.collect import collect
    from ..report.render import write_report

    if len(paths) < 2 or paths[-1].suffix.lower() not in (".html", ".htm"):
        usage_error("give one or more folders, then OUTPUT.html")
    *folders, out = paths
    missing = [f for f in folders if not f.exists()]
    if missing:
        usage_error(f"{missing[0]} does not exist")
    c = collect(folders)
    write_report(c, out, paper_size)
    print(f"{out}: {len(c.data)} data stages, {len(c.training)} training runs, {len(c.evals)} evaluations"
          + (f"; not recognised: {', '.join(map(str, c.unknown))}" if c.unknown else ""))
