"""The options table of a docs page, generated from the command itself (so from the config
dataclasses its options are built from): each page holds

    <!-- options: dedup -->
    | option | default | meaning |
    ...
    <!-- /options -->

`python -m dscoder_cli.docs_options` rewrites every such block in docs/; `tests/test_docs_options.py`
fails when a block differs from what the command says, so a default changed in its config and not
in the docs is caught.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer

BLOCK = re.compile(r"(<!-- options: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /options -->)", re.S)
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _command(name: str):
    from .app import app

    cmd = typer.main.get_command(app).commands.get(name)
    if cmd is None:
        raise KeyError(f"no command {name!r}")
    return cmd


def _default(param) -> str:
    show = param.show_default
    if isinstance(show, str):
        return show
    if param.is_flag and not param.secondary_opts:
        return "off" if not param.default else "on"
    if param.is_flag:
        return param.opts[0] if param.default else param.secondary_opts[0]
    value = param.default
    if value is None or value == () or value == []:
        return "—"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(name: str) -> str:
    """The markdown table of command `name`'s options (arguments and --help excluded)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for param in _command(name).params:
        if param.param_type_name != "option" or param.hidden or param.name == "help":
            continue
        names = " / ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        rows.append(f"| {names} | {_cell(_default(param))} | {_cell(param.help or '')} |")
    return "\n".join(rows) + "\n"


def blocks(text: str) -> list[tuple[str, str]]:
    """(command name, table) of every options block of a page."""
    return [(m["name"], m["body"]) for m in BLOCK.finditer(text)]


def rewrite(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the options blocks of docs/*.md (or the files given)."""
    paths = [Path(a) for a in (argv or [])] or sorted(DOCS.glob("*.md"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
