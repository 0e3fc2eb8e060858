"""The end-of-session summary (a row per kind, names never wrapped) and the user hooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.plugin.test_sqlite_benchmarks import make_orders_db

LONG_NAME = "test_" + "orders_with_a_really_long_descriptive_name_" * 3 + "end"

BENCH = f"""
import pytest

@pytest.mark.flakebench(
    target="sqlite:///demo.db", table="orders",
    mix={{"point_lookup": 70, "range_scan": 20, "insert": 10}},
    concurrency=2, duration="1s", warmup="0.2s",
)
def {LONG_NAME}(flakebench_result):
    pass
"""

HOOKS = """
import json

SEEN = []

def pytest_flakebench_fingerprint(config, test, template):
    return {"schema_version": config.getoption("--schema-version")}

def pytest_flakebench_run_finished(config, result, stored):
    with open("finished.jsonl", "a") as out:
        out.write(json.dumps({"run": result.run_id, "stored": stored,
                              "user": result.fingerprint.get("user")}) + "\\n")

def pytest_flakebench_summary_row(config, result):
    return {"schema": config.getoption("--schema-version")}

def pytest_addoption(parser):
    parser.addoption("--schema-version", default="41")
"""


@pytest.fixture
def bench(pytester: pytest.Pytester) -> pytest.Pytester:
    make_orders_db(pytester.path / "demo.db")
    pytester.makepyfile(test_bench=BENCH)
    return pytester


def _summary(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "flakebench results" in line)
    out = [lines[start]]
    for line in lines[start + 1:]:
        # the table: its header and kind rows (indented) and one line per test; the notes
        # and server lines that follow are free text
        if not line.startswith(("  ", "test_bench.py::")):
            break
        out.append(line)
    return out


@pytest.mark.parametrize("columns", [80, 200])
def test_summary_has_a_row_per_kind_and_never_wraps_names(
        bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = bench.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                        "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    summary = _summary(result.stdout.str())
    assert all(len(line) <= columns for line in summary), "\n".join(summary)
    test_line = next(line for line in summary if "PASSED" in line)
    # shortened in the middle: the file at the start, the test's own end at the end
    assert test_line.startswith("test_bench.py::")
    assert re.search(r"end\s+concurrency\s+2 conns\s+PASSED$", test_line), test_line
    if columns >= len(LONG_NAME) + 60:
        assert f"test_bench.py::{LONG_NAME}" in test_line
    else:
        assert "…" in test_line
    run = json.loads((bench.path / "out.json").read_text())["runs"][0]
    rows = {line.split()[0]: line.split() for line in summary[2:] if line.startswith("  ")}
    assert set(rows) == {"overall", "point_lookup", "range_scan", "insert"}
    for kind in ("point_lookup", "range_scan", "insert"):
        # the ops column is the run's own count of that kind, as in the JSON
        assert rows[kind][1] == f"{run['kinds'][kind]['ops']:,}"
    assert rows["overall"][1] == f"{run['overall']['ops']:,}"
    header = summary[1].split()
    assert header[:6] == ["kind", "ops", "qps", "p50", "p95", "p99"]
    assert ("max" in header) == (columns >= 100)


def test_user_hooks_add_fingerprint_fields_columns_and_see_every_run(
        bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    bench.makeconftest(HOOKS)
    first = bench.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                       "--flakebench-json=one.json")
    first.assert_outcomes(passed=1)
    summary = _summary(first.stdout.str())
    assert summary[1].split()[-1] == "schema"
    assert summary[2 + 1].split()[-1] == "41" or any(
        line.split()[0] == "overall" and line.split()[-1] == "41" for line in summary)
    finished = [json.loads(x) for x in (bench.path / "finished.jsonl").read_text().splitlines()]
    assert len(finished) == 1
    assert finished[0]["stored"] is True
    assert finished[0]["user"] == {"schema_version": "41"}
    run = json.loads((bench.path / "one.json").read_text())["runs"][0]
    assert run["fingerprint"]["user"] == {"schema_version": "41"}

    # a run whose user field differs is never compared with the first, and says why
    second = bench.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                        "--flakebench-compare", "--schema-version=42")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*not comparable*user.schema_version 41 → 42*"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_run_finished_hook_runs_once_per_run_under_xdist(
        bench: pytest.Pytester, workers: str) -> None:
    bench.makeconftest(HOOKS)
    result = bench.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                        "-n", workers)
    result.assert_outcomes(passed=1)
    lines = (bench.path / "finished.jsonl").read_text().splitlines()
    assert len(lines) == 1, lines


def test_report_files_are_shareable(bench: pytest.Pytester) -> None:
    """JSON and HTML reports hold no secret: they are written 0644, like CI artifacts."""
    result = bench.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                        "--flakebench-json=out.json",
                                        "--flakebench-html=out.html")
    result.assert_outcomes(passed=1)
    for name in ("out.json", "out.html"):
        assert Path(bench.path / name).stat().st_mode & 0o777 == 0o644, name
