"""A benchmark test file as a user writes it, run through pytester against real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def make_orders_db(path: Path, rows: int = 5000) -> None:
    """A demo table like the quickstart's."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total REAL, "
            "created TEXT)"
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [(i, f"c{i % 100}", i * 1.5, "2024-01-01") for i in range(1, rows + 1)],
        )
        conn.commit()
    finally:
        conn.close()


def count_rows(path: Path, table: str = "orders") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()



def stored_runs(project: Path) -> int:
    """Runs (parent and worker rows) in ``project``'s default SQLite store; 0 when the run
    never created it."""
    db = project / ".flakebench" / "flakebench.db"
    return count_rows(db, "test_results") if db.exists() else 0

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="sqlite:///demo.db", table="orders",
    mix={{"point_lookup": 70, "range_scan": 20, "insert": 10}},
    concurrency=2, duration="{duration}", warmup="{warmup}", slo={slo},
)
def test_orders(flakebench_result):
    assert flakebench_result.kinds["insert"].errors == 0

def test_ordinary():
    assert 1 + 1 == 2
"""


@pytest.fixture
def demo_db(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "demo.db"
    make_orders_db(path)
    return path


def test_skipped_without_flag_with_reason(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyfile(BENCH.format(duration="1s", warmup="0s", slo="{}"))
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*run with --flakebench*"])
    assert count_rows(demo_db) == 5000
    assert not (pytester.path / ".flakebench").exists()


def test_plain_run_imports_no_driver(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyfile(BENCH.format(duration="1s", warmup="0s", slo="{}"))
    pytester.makeconftest(
        """
        import sys
        def pytest_sessionfinish(session):
            heavy = [m for m in ("psycopg", "snowflake", "hdrh", "rich") if m in sys.modules]
            print("HEAVY-MODULES:", heavy)
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1, skipped=1)
    assert "HEAVY-MODULES: []" in result.stdout.str()


def test_benchmark_passes_stores_and_reports(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyfile(BENCH.format(duration="1.5s", warmup="0.5s", slo='{"p99": "5s"}'))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*flakebench results*", "*concurrency*PASSED*"])
    data = json.loads((pytester.path / "out.json").read_text())
    assert data["version"] == 1
    (run,) = data["runs"]
    assert run["status"] == "COMPLETED"
    assert run["verdict"] == "PASSED"
    assert run["test"].endswith("::test_orders")
    assert set(run["kinds"]) == {"point_lookup", "range_scan", "insert"}
    for kind in run["kinds"].values():
        for key in ("ops", "errors", "qps", "p50_us", "p90_us", "p95_us", "p99_us", "p999_us",
                    "max_us"):
            assert key in kind
        assert isinstance(kind["p99_us"], int)
    assert run["template"]["concurrency"] == 2
    assert run["slo"] == [{"scope": "overall", "metric": "p99", "limit": 5_000_000.0,
                           "measured": run["overall"]["p99_us"], "ok": True}]
    # every successful insert, warmup included, is a row in the table
    inserts = run["kinds"]["insert"]
    assert count_rows(demo_db) == 5000 + inserts["ops"] + inserts["warmup_ops"]
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="flakebench_p95_us"' in junit
    assert 'name="flakebench_qps"' in junit
    assert (pytester.path / ".flakebench" / "flakebench.db").is_file()


def test_slo_breach_fails_with_table(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyfile(BENCH.format(duration="1s", warmup="0s", slo='{"p95": "1us"}'))
    result = pytester.runpytest("--flakebench", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*SLO breach*",
        "*scope*metric*limit*measured*margin*",
        "*overall*p95*<= 1us*",
    ])
    junit = (pytester.path / "junit.xml").read_text()
    assert "p95" in junit
    assert "&lt;= 1us" in junit


def test_duration_scale_shortens_runs(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyfile(BENCH.format(duration="20s", warmup="10s", slo="{}"))
    result = pytester.runpytest("--flakebench", "--flakebench-duration-scale=0.05",
                                "--flakebench-json=out.json", "--flakebench-store=none")
    result.assert_outcomes(passed=2)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert 0.9 < run["measurement_s"] < 2.5
    assert 0.4 < run["warmup_s"] < 0.6


def test_env_enables_and_cli_overrides_ini(pytester: pytest.Pytester, demo_db: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(BENCH.format(duration="20s", warmup="0s", slo="{}"))
    pytester.makeini("[pytest]\nflakebench_duration_scale = 100\nflakebench_store = none\n")
    monkeypatch.setenv("FLAKEBENCH", "1")
    monkeypatch.setenv("FLAKEBENCH_DURATION_SCALE", "0.05")
    result = pytester.runpytest("--flakebench-json=out.json")
    result.assert_outcomes(passed=2)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["measurement_s"] < 3  # env 0.05 beat ini 100
    assert not (pytester.path / ".flakebench").exists()  # ini store=none honoured


def test_bad_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--flakebench-duration-scale=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flakebench-duration-scale='fast'*positive number*"])


def test_template_file_with_marker_override(pytester: pytest.Pytester, demo_db: Path) -> None:
    (pytester.path / "oltp.toml").write_text(
        'target = "sqlite:///demo.db"\ntable = "orders"\nconcurrency = 1\nduration = "1s"\n'
        'warmup = "0s"\n[mix]\npoint_lookup = 100\n[slo]\np99 = "5s"\n'
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flakebench(template="oltp.toml", concurrency=2)
        def test_from_file(flakebench_result):
            assert flakebench_result.connections == 2
            assert flakebench_result.template["mix"] == {"point_lookup": 100.0}
        """
    )
    result = pytester.runpytest("--flakebench", "--flakebench-store=none")
    result.assert_outcomes(passed=1)


def test_named_target_from_pyproject(pytester: pytest.Pytester, demo_db: Path) -> None:
    pytester.makepyprojecttoml(
        '[tool.flakebench.targets.demo]\nurl = "sqlite:///demo.db"\n'
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flakebench(target="demo", table="orders", mix={"point_lookup": 100},
                                concurrency=1, duration="0.5s", warmup="0s")
        def test_named(flakebench_result):
            assert flakebench_result.target.endswith("demo.db")
        """
    )
    result = pytester.runpytest("--flakebench", "--flakebench-store=none")
    result.assert_outcomes(passed=1)


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([
        "*database benchmarks (pytest-flakebench)*",
        "*--flakebench *",
        "*--flakebench-store=URL*",
        "*--flakebench-json=PATH*",
        "*--flakebench-duration-scale=FACTOR*",
    ])
    for ini in ("flakebench_store", "flakebench_json", "flakebench_duration_scale",
                "flakebench_targets"):
        result.stdout.fnmatch_lines([f"*{ini}*"])


if sys.platform == "win32":  # pragma: no cover
    pytest.skip("POSIX only", allow_module_level=True)
