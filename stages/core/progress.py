"""The reporter interface the runner talks to; the CLI supplies bars and log lines
(`dscoder_cli/progress.py`). The base class is silent: what a library caller gets."""

from __future__ import annotations


class Reporter:
    """Silent (library use); the CLI's PlainReporter and RichReporter subclass it."""

    def start(self, stage: str, units_todo: int, units_mine: int, bytes_todo: int) -> None: ...

    def unit_done(self, unit: str, marker: dict, size: int) -> None: ...

    def unit_failed(self, unit: str, error: str, size: int) -> None: ...

    def log(self, message: str) -> None: ...

    def close(self) -> None: ...
