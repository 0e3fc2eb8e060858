"""Issue 12 "What was seen" (bad input) and issue 16 (one bad template errors that test only).

Every case is one clear error at setup of its own test, naming the field, the value and the fix,
before any load (the target table is unchanged, nothing is stored), under ``-n 0`` and ``-n 2``,
never an INTERNALERROR; the ordinary tests of the session run.
"""

from __future__ import annotations

import pytest

from tests.plugin.test_sqlite_benchmarks import count_rows, make_orders_db, stored_runs

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

# Each case's keywords override these (written into the test file as BASE).
BASE = 'dict(target="sqlite:///demo.db", table="orders", mix={"point_lookup": 50, "insert": 50},' \
       ' concurrency=1, duration="1s", warmup="0s")'

# (test name, marker keywords, expected line in the error): each bad input of issue 12.
SEEN: list[tuple[str, str, str]] = [
    ("duration_1e308", "duration=1e308",
     "*duration: expected a duration of at most 24h, got 1e+308: give e.g.*"),
    ("warmup_1e308", "warmup=1e308",
     "*warmup: expected a duration of at most 24h, got 1e+308*"),
    ("duration_99999999h", 'duration="99999999h"',
     "*duration: expected a duration of at most 24h, got '99999999h'*"),
    ("slo_p95_1e308", 'slo={"p95": 1e308}',
     "*slo.p95: expected a latency of at most 1h*got 1e+308*"),
    ("qps_inf", 'mode="qps", qps=float("inf")',
     "*qps=inf: must be a finite number*"),
    ("qps_1e308", 'mode="qps", qps=1e308',
     "*qps=1e+308: must be at most 10000000*Bounds*"),
    ("qps_1e_300", 'mode="qps", qps=1e-300',
     "*qps=1e-300: must be at least 0.01*"),
    ("nan_weight", 'target="sqlite:///demo.db", table="orders", '
                   'mix={"insert": 100, "point_lookup": float("nan")}',
     "*mix.point_lookup=nan: must be a finite number*"),
    ("range_size_1e30", "range_size=10**30",
     "*range_size=*: must be at most 2147483647*"),
    ("min_qps_inf", 'slo={"min_qps": float("inf")}',
     "*slo.min_qps=inf: must be a finite number*"),
    ("target_without_scheme", 'target="127.0.0.1:5433/bench", table="orders", '
                              'mix={"insert": 100}',
     "*target '127.0.0.1:5433/bench' is neither a URL nor a target name*"
     "'postgresql://127.0.0.1:5433/bench'*named target*"),
    ("yaml_alias_bomb", 'template="bomb.yaml"',
     "*bomb.yaml: not valid YAML*aliases (*name) are not allowed*repeat the value*"),
    ("huge_template_file", 'template="huge.json"',
     "*huge.json: larger than 1024 KiB*keep it smaller*"),
]


SLO_TYPO = """
import pytest

@pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                        mix={"point_lookup": 100}, duration="1s", warmup="0s",
                        slo={"p95": "20ms", "p99x": "50ms"})
def test_typo():
    pass
"""


def _bomb() -> str:
    """The 700-byte YAML alias bomb of issue 12 (a billion-laughs: 9 levels of 9 aliases)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append('target: "sqlite:///demo.db"\ntable: orders\nmix: {insert: 100}')
    return "\n".join(lines) + "\n"


def _write_session(pytester: pytest.Pytester) -> None:
    make_orders_db(pytester.path / "demo.db")
    (pytester.path / "bomb.yaml").write_text(_bomb(), encoding="utf-8")
    (pytester.path / "huge.json").write_text('{"name": "' + "x" * (2 * 1024 * 1024) + '"}',
                                             encoding="utf-8")
    body = ["import pytest", "", f"BASE = {BASE}", ""]
    for name, kwargs, _ in SEEN:
        body += [f"@pytest.mark.flakebench(**{{**BASE, **dict({kwargs})}})",
                 f"def test_{name}():", "    pass", ""]
    body += ["def test_ordinary():", "    assert True", ""]
    # issue 16: a misspelled SLO key in one file, an ordinary test in another
    pytester.makepyfile(test_seen="\n".join(body), test_typo=SLO_TYPO,
                        test_other="def test_other_file():\n    assert True\n")


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_every_bad_input_seen_is_one_clear_error_before_load(
        pytester: pytest.Pytester, xdist: list[str]) -> None:
    _write_session(pytester)
    run = pytester.runpytest_subprocess if xdist else pytester.runpytest
    result = run("--flakebench", "-p", "no:cacheprovider", *xdist)
    result.assert_outcomes(passed=2, errors=len(SEEN) + 1)
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    for name, _, expected in [*SEEN, ("typo", "", "*unknown SLO metric 'p99x': did you mean*")]:
        result.stdout.fnmatch_lines([f"*ERROR at setup of test_{name}*", expected])
    assert count_rows(pytester.path / "demo.db") == 5000  # no insert was sent
    assert stored_runs(pytester.path) == 0
    # No error echoes more than an excerpt of its input (the 2 MB file, the expanded bomb).
    assert len(text) < 40_000, len(text)


@pytest.mark.parametrize("args", [[], ["--flakebench"]], ids=["plain", "flakebench"])
def test_a_bad_template_in_one_file_errors_that_test_only(pytester: pytest.Pytester,
                                                          args: list[str]) -> None:
    """Issue 16's case; under ``-n 2`` it is part of the session of the test above."""
    make_orders_db(pytester.path / "demo.db")
    pytester.makepyfile(test_a=SLO_TYPO, test_b="def test_ordinary():\n    assert True\n")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # not INTERRUPTED: the session ran
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_typo*",
        "*test_a.py::test_typo: invalid flakebench template:",
        "*unknown SLO metric 'p99x': did you mean 'p99'?*",
    ])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


PLAIN = """
import pytest

@pytest.mark.flakebench(target="orders_pg", table="orders", mix={"point_lookup": 100})
def test_named_target():
    pass

@pytest.mark.flakebench(template="store:oltp")
def test_stored_template():
    pass

def test_ordinary():
    pass
"""


def test_plain_run_opens_no_store_decrypts_nothing_imports_no_driver(
        pytester: pytest.Pytester) -> None:
    """A named target (a stored connection, maybe) and a stored template under a plain
    ``pytest``: skipped, the store (here garbage) never opened, nothing decrypted."""
    store = pytester.path / ".flakebench" / "flakebench.db"
    store.parent.mkdir()
    store.write_bytes(b"not a database")
    pytester.makepyfile(PLAIN)
    pytester.makeconftest(
        """
        import sys
        def pytest_sessionfinish(session):
            heavy = [m for m in ("psycopg", "snowflake", "cryptography", "sqlite3")
                     if m in sys.modules]
            print("HEAVY-MODULES:", heavy)
        """
    )
    result = pytester.runpytest_subprocess("-s", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*HEAVY-MODULES: []*"])
    assert store.read_bytes() == b"not a database"
    assert sorted(p.name for p in store.parent.iterdir()) == ["flakebench.db"]


@pytest.mark.parametrize(("option", "expected"), [
    ("--flakebench-duration-scale=1e308", "*expected a positive number up to 1000*"),
    ("--flakebench-duration-scale=inf", "*expected a positive number up to 1000*"),
    ("--flakebench-duration-scale=nan", "*expected a positive number up to 1000*"),
    ("--flakebench-join-timeout=inf", "*positive number of seconds, at most 86400 (24 h)*"),
    ("--flakebench-drain-timeout=1e308", "*positive number of seconds, at most 86400*"),
    ("--flakebench-partial=wran", "*expected 'fail' or 'warn' (did you mean 'warn'?)*"),
])
def test_option_numbers_are_bounded_and_names_get_did_you_mean(
        pytester: pytest.Pytester, option: str, expected: str) -> None:
    pytester.makepyfile("def test_ordinary():\n    pass\n")
    result = pytester.runpytest("--flakebench", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert "Traceback" not in result.stderr.str()
