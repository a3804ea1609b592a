"""Config fields that carry their own help text: the one place a stage's defaults live.

A stage's config dataclass declares each user-facing setting with `option()`:

    threshold: float = option(0.7, "Jaccard similarity above which samples are near-duplicates.",
                              min=0.0, max=1.0, min_open=True)

The CLI builds its typer options from these fields (`dscoder_cli/options.py`), `make bench` and the
tests construct the dataclass, and a test checks that each docs page's options table says the same
(`tests/test_docs_options.py`). So a default is changed by editing one line, here.

`check_ranges(config)` refuses out-of-range, NaN and infinite values with the option's name: the
CLI checks them when it parses, library callers when they construct the config.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, field, fields
from typing import Any, Callable

META = "dscoder"


def option(default: Any = MISSING, help: str = "", *, default_factory: Callable[[], Any] | Any = MISSING,
           flag: str | None = None, short: str | None = None, aliases: tuple[str, ...] = (), min: float | None = None,
           max: float | None = None, min_open: bool = False, choices: tuple[str, ...] | None = None,
           finite: bool = True, cli: bool = True, cli_type: type | None = None,
           parse: Callable[[Any], Any] | None = None, show: str | None = None) -> Any:
    """A dataclass field with what the CLI and docs need to present it.

    flag: the option's name (default `--field-name`), `--on/--off` for a pair of flags; short: a
    one-letter name (`-w`); aliases: more names users type (an old spelling kept working);
    min/max (min_open: strictly above min), choices, finite (no NaN/inf) are checked by
    `check_ranges` and by the CLI; cli=False hides a field from the CLI; cli_type/parse: the type
    the user types (e.g. str for a comma-separated tuple) and how it becomes the field's value;
    show: the default as the docs and --help print it, when the value itself does not say it
    (e.g. "the preset's").
    """
    meta = {"help": help, "flag": flag, "short": short, "aliases": tuple(aliases), "min": min, "max": max, "min_open": min_open,
            "choices": choices, "finite": finite, "cli": cli, "cli_type": cli_type, "parse": parse,
            "show": show}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={META: meta})
    return field(default=default, metadata={META: meta})


def option_meta(f: Field) -> dict | None:
    return f.metadata.get(META)


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def flag_of(f: Field) -> str:
    meta = option_meta(f) or {}
    return meta.get("flag") or "--" + f.name.replace("_", "-")


def range_error(meta: dict, name: str, value: Any) -> str | None:
    """Why `value` is not allowed for an option with `meta`, or None."""
    if value is None or isinstance(value, bool):
        return None
    if meta.get("choices") and isinstance(value, str) and value not in meta["choices"]:
        return f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}"
    if not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and meta.get("finite", True) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None and not meta.get("min_open") and not lo <= value <= hi:
        return f"{name} must be between {lo:g} and {hi:g}, got {value:g}"
    if lo is not None and (value <= lo if meta.get("min_open") else value < lo):
        return f"{name} must be {'above' if meta.get('min_open') else 'at least'} {lo:g}, got {value:g}"
    if hi is not None and value > hi:
        return f"{name} must be at most {hi:g}, got {value:g}"
    return None


def check_ranges(config: Any) -> None:
    """Raise UsageError naming the first option of `config` outside its declared range."""
    from .errors import UsageError

    for f in fields(config):
        meta = option_meta(f)
        if meta is None:
            continue
        problem = range_error(meta, flag_of(f), getattr(config, f.name))
        if problem:
            raise UsageError(problem)


def comma_list(value: str | tuple | list) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): how a list-valued option is typed on the command line."""
    if not isinstance(value, str):
        return tuple(value)
    return tuple(x.strip() for x in value.split(",") if x.strip())
