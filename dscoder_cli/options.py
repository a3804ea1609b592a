"""Typer options built from a stage's config dataclass: its `option()` fields (stages/core/config.py)
are the one place each default and help text lives.

    @app.command("dedup")
    @config_options(DedupConfig, dest="settings", exclude=("input", "output"))
    def dedup(input: Path = typer.Argument(...), output: Path = ..., settings: dict = None): ...

adds one `--flag` per field of DedupConfig to the command (in field order, after its arguments
and before options added by inner decorators) and hands the command `settings = {field: value}`; values are parsed (`parse`) and
range-checked (`check_ranges` rules: min/max, choices, no NaN/inf) when the command line is read,
so a bad value is a usage error (exit 2) before anything is opened or written.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import fields
from typing import Any, Callable

import typer

from stages.core.config import default_of, flag_of, option_meta, range_error


def _show(default: Any) -> str | bool:
    if isinstance(default, (tuple, list, frozenset)):
        return ",".join(map(str, default)) or "''"
    return True


def _option(f, meta: dict, py_type, help_prefix: str) -> typer.models.OptionInfo:
    default = default_of(f)
    if meta.get("cli_type") is not None and isinstance(default, (tuple, list, frozenset)):
        default = ",".join(map(str, default))
    flag = flag_of(f)
    decls = [flag, *meta.get("aliases", ())] + ([meta["short"]] if meta.get("short") else [])
    name = flag.split("/")[0]

    def check(value):
        if meta.get("parse") is not None and value is not None:
            try:
                value = meta["parse"](value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        problem = range_error(meta, name, value)
        if problem:
            raise typer.BadParameter(problem.removeprefix(f"{name} "))
        return value

    return typer.Option(default, *decls, help=help_prefix + meta["help"], callback=check,
                        show_default=meta["show"] if meta.get("show") is not None else _show(default))


def config_options(cls, *, dest: str, exclude: tuple[str, ...] = (), help_prefix: str = "") -> Callable:
    """Add `cls`'s option fields to a typer command; the command receives them as `dest` (a dict)."""
    hints = typing.get_type_hints(cls)
    chosen = [f for f in fields(cls) if (m := option_meta(f)) and m["cli"] and f.name not in exclude]

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != dest]
        added = []
        for f in chosen:
            meta = option_meta(f)
            py_type = meta.get("cli_type") or hints[f.name]
            added.append(inspect.Parameter(f"{dest}__{f.name}", inspect.Parameter.KEYWORD_ONLY,
                                           default=_option(f, meta, py_type, help_prefix), annotation=py_type))
        # After the command's arguments and before everything added by inner decorators or declared
        # by the command itself: --help lists the options in the order the decorators are written.
        n_args = sum(1 for p in own if isinstance(p.default, typer.models.ArgumentInfo))
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if i >= n_args else p
                  for i, p in enumerate(own[:n_args] + added + own[n_args:])]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            kwargs[dest] = {f.name: kwargs.pop(f"{dest}__{f.name}") for f in chosen}  # parsed by `check`
            return fn(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)
        annotations = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
        wrapper.__annotations__ = {k: typing.get_type_hints(fn).get(k, v) if not k.startswith(f"{dest}__") else v
                                   for k, v in annotations.items()}
        return wrapper

    return decorate
