"""Issue 16: the live progress line shows the phase it is in and no figure before it is known."""

from __future__ import annotations

import pytest

from pytest_flakebench.distributed.live import UNKNOWN, LiveView
from tests.plugin.test_sqlite_benchmarks import make_orders_db


def test_no_figure_before_any_snapshot_arrived() -> None:
    view = LiveView(name="test_x", total_s=4.0)
    line = view.line(phase="WARMUP", elapsed_s=1.0, alive=1, stale=0, dead=0)
    assert "WARMUP" in line
    for figure in ("qps", "p50", "p95", "p99", "errors"):
        assert f"{figure} {UNKNOWN}" in line, line
    assert " 0us" not in line
    assert "qps 0" not in line


def test_the_first_line_of_a_run_in_warmup_says_warmup(pytester: pytest.Pytester) -> None:
    make_orders_db(pytester.path / "demo.db")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                                mix={"point_lookup": 100}, concurrency=2, duration="0.5s",
                                warmup="1.5s")
        def test_live():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-store=none",
                                           "-p", "no:xdist", "-s")
    result.assert_outcomes(passed=1)
    lines = [ln for ln in result.stdout.lines if ln.startswith("flakebench test_live")]
    # not a TTY: the first live line (1 s in, during the 1.5 s warmup), then the final one
    assert len(lines) >= 2, result.stdout.str()
    first = lines[0]
    assert "  WARMUP  " in first, first
    assert "MEASUREMENT" not in first, first
    # a figure is either one a worker reported or "–": never a made-up zero
    assert "p50 0us" not in first, first
    assert "qps 0 " not in first, first
    assert "COMPLETED" in lines[-1]
