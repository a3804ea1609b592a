"""The runner warms a stage up once, in its own process, before it forks workers (issue #18: each
worker of each dedup phase imported pandas again -- pyarrow's first conversion of Python values --
about 1.5 s of a 7.5 s `dedup --workers 2`)."""

from __future__ import annotations

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.core.runner import RunOptions, run_stage
from stages.core.stage import Stage, Unit, UnitResult

WARMED: list[int] = []  # pids that ran warm_up; a forked worker inherits the list as it was


class _Probe(Stage):
    name = "probe"

    def options(self) -> dict:
        return {}

    def plan(self) -> list[Unit]:
        return [Unit(f"part-{i:05d}", [{"path": f"unit-{i}", "size": 10 - i}]) for i in range(4)]

    def warm_up(self) -> None:
        super().warm_up()
        WARMED.append(os.getpid())

    def process(self, unit: Unit) -> UnitResult:
        kept = pa.table({"pid": [os.getpid()], "warmed_by": [WARMED[-1] if WARMED else -1],
                         "pandas_loaded": ["pandas" in sys.modules]})
        return UnitResult(kept=kept, rows_in=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_inherit_one_warm_up_in_the_runner(tmp_path, workers):
    WARMED.clear()
    run_stage(_Probe(), RunOptions(output=tmp_path / "out", workers=workers))
    rows = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet")))
    pids, warmed_by = rows["pid"].to_pylist(), rows["warmed_by"].to_pylist()
    if workers == 1:  # in-process: nothing to inherit, nothing warmed ahead
        assert WARMED == [] and set(pids) == {os.getpid()}
        return
    assert WARMED == [os.getpid()], "warm_up runs once, in the runner, not in each worker"
    assert os.getpid() not in pids, "the units ran in forked workers"
    assert set(warmed_by) == {os.getpid()}, "every worker starts from the runner's warm state"
    assert all(rows["pandas_loaded"].to_pylist()), "the default warm-up loads pyarrow's pandas shim"
