"""Issue 16: the live progress line shows the phase it is in and no figure before it is known."""

from __future__ import annotations

import json

import pytest

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.distributed.live import UNKNOWN, LiveView
from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.judge.results import Snapshot
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


def _beat(worker: str, beat: float, snaps: list[dict[str, object]]) -> Heartbeat:
    return Heartbeat(worker_id=worker, host=None, status="RUNNING", phase="MEASUREMENT",
                     last_heartbeat=beat, last_error=None, template_json=None,
                     snapshot_json=json.dumps(snaps), result_json=None)


def _ten_at_100us() -> str:
    hist = LatencyHistogram()
    hist.record(100, 10)
    return hist.encode()


TEN_AT_100US = _ten_at_100us()


def _snap(worker: str, seq: int, *, step: int = 0) -> dict[str, object]:
    return Snapshot(worker_id=worker, seq=seq, ts=1_700_000_000.0 + seq, elapsed_s=float(seq),
                    phase="MEASUREMENT", ops=10, errors=0, in_flight=1, qps=10.0, p50_us=100,
                    p95_us=100, p99_us=100, histogram=TEN_AT_100US, span_s=1.0,
                    step=step).to_dict()


def test_the_controller_keeps_no_snapshot_it_does_not_need() -> None:
    """Five minutes of 10 workers (one snapshot a second each, every heartbeat repeating the
    latest four): each counted once, in the merged histogram, and none kept (the controller's
    memory grew with every snapshot of the run, +6.1 MB in benchmarks/memory_soak.py)."""
    view = LiveView(name="t", total_s=300.0)
    for second in range(300):
        view.absorb([_beat(f"gw{w}", float(second), [_snap(f"gw{w}", s)
                                                      for s in range(max(0, second - 3),
                                                                     second + 1)])
                     for w in range(10)])
    assert view.taken == 10 * 300
    assert view.measured.count == 10 * 300 * 10
    assert view.steps == {}
    assert view.newest_ts == {f"gw{w}": 1_700_000_000.0 + 299 for w in range(10)}
    assert len(view.last_seq) == 10


def test_a_find_max_step_is_handed_over_once_then_forgotten() -> None:
    view = LiveView(name="t", total_s=60.0)
    seq = 0
    for step in (1, 2, 3):
        for _ in range(3):
            view.absorb([_beat("gw0", float(seq), [_snap("gw0", seq, step=step)])])
            seq += 1
        view.absorb([_beat("gw0", float(seq), [_snap("gw0", seq, step=0)])])  # between steps
        seq += 1
    taken = view.take_step(2)
    assert [s["seq"] for s in taken] == [4, 5, 6]
    assert sorted(view.steps) == [3]  # step 1 (never judged) and step 2 are forgotten
    assert view.take_step(2) == []
