"""Regression gates end to end: real runs, a deliberate slowdown, repeats, non-comparable runs.

SQLite (a dropped index) and PostgreSQL (a function that starts sleeping, a different
``synchronous_commit``). Runs measure 3 s: the verdict tests 0.25 s windows (about 12 a run).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flakebench.cli.main import main as cli

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="{target}", table="{table}",
    mix={{"lookup": 100}},
    queries={{"lookup": {{"sql": "{sql}", "params": [{param}]}}}},
    concurrency={concurrency}, duration="{duration}", warmup="0.3s",
)
def test_lookup():
    pass
"""

SQLITE_SQL = "SELECT id, total FROM {table} WHERE customer = ?"
SQLITE_PARAM = '{"choice": ["c1", "c2", "c3", "c4", "c5"]}'


@pytest.fixture
def lookup_db(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "demo.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
                 "total REAL)")
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                     [(i, f"c{i % 500}", i * 1.5) for i in range(1, 20001)])
    conn.execute("CREATE INDEX orders_customer ON orders (customer)")
    conn.commit()
    conn.close()
    return path


def sqlite_bench(concurrency: int = 2, duration: str = "3s") -> str:
    return BENCH.format(target="sqlite:///demo.db", table="orders", sql=SQLITE_SQL,
                        param=SQLITE_PARAM, concurrency=concurrency, duration=duration)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider", *args)


def test_dropped_index_regresses_and_fails_the_test(pytester: pytest.Pytester, lookup_db: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Done-when: the second run, slower on purpose, is REGRESSED with its delta and fails."""
    pytester.makepyfile(sqlite_bench())
    first = run(pytester, "--flakebench-compare-fail=p95:+20%")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*flakebench comparisons*", "*NO BASELINE*"])
    conn = sqlite3.connect(lookup_db)
    conn.execute("DROP INDEX orders_customer")
    conn.commit()
    conn.close()
    second = run(pytester, "--flakebench-compare-fail=p95:+20%", "--junitxml=junit.xml",
                 "--flakebench-html=report.html")
    second.assert_outcomes(failed=1)
    out = second.stdout.str()
    assert "REGRESSED against last comparable run" in out
    assert "method: REGRESSED = beyond the limit AND outside the last comparable runs" in out
    second.stdout.re_match_lines([r".*p95\s+\S+\s+\S+\s+\+\d+\.\d%\s+\+20%\s.*REGRESSED.*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert "REGRESSED" in junit
    assert 'name="flakebench_compare" value="REGRESSED"' in junit
    page = (pytester.path / "report.html").read_text()
    assert "regression verdicts" in page
    assert "REGRESSED" in page

    # the same two runs through the CLI
    store = f"sqlite:///{pytester.path / '.flakebench' / 'flakebench.db'}"
    assert cli(["runs", "--store", store, "--status", "COMPLETED", "--since", "1h"]) == 0
    listing = capsys.readouterr().out
    ids = re.findall(r"^│ ([0-9a-f]{12}) ", listing, flags=re.MULTILINE)
    newest, older = ids[0], ids[1]
    assert cli(["compare", older, newest, "--store", store, "--fail", "p95:+20%"]) == 1
    assert "REGRESSED" in capsys.readouterr().out
    assert cli(["baseline", "set", "fast", older, "--store", store]) == 0
    assert cli(["baseline", "list", "--store", store]) == 0
    assert "fast" in capsys.readouterr().out
    out_csv = pytester.path / "run.csv"
    assert cli(["export", newest, "--format", "csv", "-o", str(out_csv), "--store", store]) == 0
    assert out_csv.read_text().splitlines()[0].startswith("run_id,test,kind")
    assert cli(["export", newest, "--format", "json", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["server_settings"]
    assert cli(["report", older, newest, "-o", str(pytester.path / "r.html"),
                "--store", store]) == 0
    # a named baseline as the gate's reference
    third = run(pytester, "--flakebench-compare=baseline:fast",
                "--flakebench-compare-fail=p95:+20%")
    third.assert_outcomes(failed=1)
    third.stdout.fnmatch_lines(["*REGRESSED against baseline fast*"])
    assert cli(["baseline", "remove", "fast", "--store", store]) == 0


def test_other_concurrency_is_not_comparable(pytester: pytest.Pytester, lookup_db: Path) -> None:
    """Done-when: a run with different concurrency is "not comparable", naming the field."""
    pytester.makepyfile(sqlite_bench(concurrency=2, duration="1s"))
    run(pytester).assert_outcomes(passed=1)
    pytester.makepyfile(sqlite_bench(concurrency=3, duration="1s"))
    result = run(pytester, "--flakebench-compare-fail=p95:+1%")
    result.assert_outcomes(passed=1)  # never silently compared, never failed on it
    result.stdout.fnmatch_lines(["*NOT COMPARABLE*"])
    assert "connections 2 → 3" in result.stdout.str().replace("\n", " ") or \
        "connections 2 →" in result.stdout.str()


def test_per_test_regression_limits_and_bad_ones(pytester: pytest.Pytester,
                                                 lookup_db: Path) -> None:
    bad = sqlite_bench(duration="1s").replace('warmup="0.3s",',
                                              'warmup="0.3s", regression={"qps": "+5%"},')
    pytester.makepyfile(bad)
    result = run(pytester)
    result.stdout.fnmatch_lines(["*qps regresses when it falls*-5%*"])
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-compare-fail=p97:+1%")
    result.stderr.fnmatch_lines(["*--flakebench-compare-fail*unknown regression metric 'p97'*"])


# -- PostgreSQL ---------------------------------------------------------------------------------

PG_SQL = "SELECT fb_work_{suffix}(?)"


@pytest.fixture
def pg_work(pg_dsn: str) -> Iterator[str]:
    """A function the benchmark calls; tests redefine it to make the 'code under test' slower."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE fb_work_t_{suffix} (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO fb_work_t_{suffix} SELECT generate_series(1, 1000)")
        conn.execute(f"CREATE FUNCTION fb_work_{suffix}(k int) RETURNS int LANGUAGE sql "
                     f"AS 'SELECT k'")
        try:
            yield suffix
        finally:
            conn.execute(f"DROP FUNCTION IF EXISTS fb_work_{suffix}(int)")
            conn.execute(f"DROP TABLE IF EXISTS fb_work_t_{suffix}")


def pg_bench(dsn: str, suffix: str, duration: str = "6s") -> str:
    return BENCH.format(target=dsn, table=f"public.fb_work_t_{suffix}",
                        sql=PG_SQL.format(suffix=suffix), param='{"int_range": [1, 1000]}',
                        concurrency=2, duration=duration)


@pytest.mark.postgres
def test_pg_sleep_in_the_query_regresses(pytester: pytest.Pytester, pg_dsn: str,
                                         pg_work: str) -> None:
    pytester.makepyfile(pg_bench(pg_dsn, pg_work))
    run(pytester, "--flakebench-compare").assert_outcomes(passed=1)
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE OR REPLACE FUNCTION fb_work_{pg_work}(k int) RETURNS int "
                     f"LANGUAGE sql AS 'SELECT k FROM (SELECT pg_sleep(0.002)) s'")
    result = run(pytester, "--flakebench-compare-fail=p95:+20%")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r".*p95\s+\S+\s+\S+\s+\+\d+\.\d%\s+\+20%\s.*REGRESSED.*"])


@pytest.mark.postgres
def test_pg_other_server_setting_is_not_comparable(pytester: pytest.Pytester, pg_dsn: str,
                                                   pg_work: str) -> None:
    """Done-when: a different server setting makes the run "not comparable", naming it."""
    joiner = "&" if "?" in pg_dsn else "?"
    pytester.makepyfile(pg_bench(pg_dsn + f"{joiner}options=-c%20synchronous_commit%3Don",
                                 pg_work, duration="1s"))
    run(pytester).assert_outcomes(passed=1)
    pytester.makepyfile(pg_bench(pg_dsn + f"{joiner}options=-c%20synchronous_commit%3Doff",
                                 pg_work, duration="1s"))
    result = run(pytester, "--flakebench-compare")
    result.assert_outcomes(passed=1)
    text = " ".join(result.stdout.str().split())
    assert "NOT COMPARABLE" in text
    assert "server_settings.synchronous_commit on → off" in text


@pytest.mark.postgres
def test_unchanged_benchmark_never_regresses(pytester: pytest.Pytester, pg_dsn: str,
                                             pg_work: str) -> None:
    """Done-when: five repeated runs of an unchanged benchmark never give REGRESSED.

    The operation waits on the server (``pg_sleep``) rather than burning client CPU: on a shared
    2-core CI host, other processes shift a CPU-bound in-process benchmark by tens of percent
    from one run to the next — a real change of conditions no statistic can tell from a
    regression (see the README's "False alarms").
    """
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE OR REPLACE FUNCTION fb_work_{pg_work}(k int) RETURNS int "
                     f"LANGUAGE sql AS 'SELECT k FROM (SELECT pg_sleep(0.0005)) s'")
    pytester.makepyfile(pg_bench(pg_dsn, pg_work))
    verdicts = []
    for _ in range(5):
        result = run(pytester, "--flakebench-compare-fail=p95:+20%")
        result.assert_outcomes(passed=1)
        assert "REGRESSED" not in result.stdout.str()
        verdicts.append(next(x for x in result.stdout.lines
                             if "last comparable run" in x or "NO BASELINE" in x))
    assert "NO BASELINE" in verdicts[0]
    assert all("last comparable run" in v for v in verdicts[1:])
