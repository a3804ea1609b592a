"""Progress for humans and scripts: rich bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time

from stages.core.progress import Reporter


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class PlainReporter(Reporter):
    """One line per event on stderr: what a Slurm log or a CI log wants."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.done = 0
        self.todo = 0
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)

    def start(self, stage, units_todo, units_mine, bytes_todo):
        self.stage, self.todo, self.done = stage, units_todo, 0  # dedup's phases: one count each
        skipped = units_mine - units_todo
        self._line(f"{stage}: {units_todo} shards to do ({_mb(bytes_todo)} input)"
                   + (f", {skipped} already done" if skipped else ""))

    def unit_done(self, unit, marker, size):
        self.done += 1
        self._line(f"{self.stage}: {unit} done [{self.done}/{self.todo}] rows in {marker['rows_in']}, "
                   f"kept {marker['rows_kept']}, rejected {marker['rows_rejected']}, "
                   f"{marker['seconds']:.1f}s")

    def unit_failed(self, unit, error, size):
        self.done += 1
        self._line(f"{self.stage}: {unit} FAILED [{self.done}/{self.todo}]: {error}")

    def log(self, message):
        self._line(message)


class RichReporter(Reporter):
    """Bars for shards, rows and bytes with an ETA, on a terminal."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress,
                                   TextColumn, TimeRemainingColumn, TransferSpeedColumn)

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(),
            TextColumn("shards {task.fields[shards]}  rows {task.fields[rows]:,}"),
            console=self.console, transient=False)
        self.shards_done = 0
        self.rows = 0

    def start(self, stage, units_todo, units_mine, bytes_todo):
        self.units_todo, self.shards_done, self.rows = units_todo, 0, 0
        self.progress.start()
        self.task = self.progress.add_task(stage, total=max(bytes_todo, 1),
                                           shards=f"0/{units_todo}", rows=0)

    def _advance(self, size, rows):
        self.shards_done += 1
        self.rows += rows
        self.progress.update(self.task, advance=size, shards=f"{self.shards_done}/{self.units_todo}",
                             rows=self.rows)

    def unit_done(self, unit, marker, size):
        self._advance(size, marker["rows_in"])

    def unit_failed(self, unit, error, size):
        self.progress.console.print(f"[red]{unit} failed:[/red] {error}")
        self._advance(size, 0)

    def log(self, message):
        self.progress.console.print(message)

    def close(self):
        self.progress.stop()


def default_reporter() -> Reporter:
    return RichReporter() if sys.stderr.isatty() else PlainReporter()
