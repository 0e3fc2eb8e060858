"""``flakebench connections …`` and benchmarks that name a stored connection; the password
never reaches anything the run prints or writes."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from pytest_flakebench.cli.main import main

KEY_ENV = "FLAKEBENCH_CREDENTIAL_KEY"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store URL (absolute path) and a fresh credential key in the environment."""
    monkeypatch.setenv(KEY_ENV, secrets.token_hex(32))
    monkeypatch.delenv("FLAKEBENCH_STORE", raising=False)
    return f"sqlite:///{tmp_path / 'store.db'}"


def _add(store: str, name: str, url: str, *extra: str) -> int:
    return main(["connections", "add", name, "--url", url, "--store", store, *extra])


def test_add_list_remove(store: str, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    password = f"s3cret-pw-{secrets.token_hex(6)}"
    monkeypatch.setenv("BENCH_PW", password)
    assert _add(store, "orders_pg", "postgresql://bench@db.example:5432/orders",
                "--password-env", "BENCH_PW") == 0
    assert _add(store, "local_lite", "sqlite:///demo.db") == 0
    assert main(["connections", "list", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "orders_pg" in out
    assert "postgresql://bench@db.example:5432/orders" in out
    assert "local_lite" in out
    assert "yes" in out
    assert "no" in out
    assert password not in out
    assert _add(store, "orders_pg", "postgresql://bench@db.example:5432/orders",
                "--password-env", "BENCH_PW") == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["connections", "remove", "local_lite", "--store", store]) == 0
    assert main(["connections", "remove", "local_lite", "--store", store]) == 2
    assert "no stored connection 'local_lite'" in capsys.readouterr().err


def test_passwords_are_never_command_line_arguments(store: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert _add(store, "orders_pg", "postgresql://bench:hunter2@db:5432/orders") == 2
    err = capsys.readouterr().err
    assert "contains a password" in err
    assert "hunter2" not in err
    assert _add(store, "orders_sf", "snowflake://u@acct/DB/S?password=hunter2") == 2
    assert "hunter2" not in capsys.readouterr().err
    assert _add(store, "orders_pg", "postgresql://bench@db/orders", "--password", "x") == 2
    # not a terminal and no --password-env: refused, with the ways that work
    assert _add(store, "orders_pg", "postgresql://bench@db/orders") == 2
    assert "--password-env" in capsys.readouterr().err


def test_storing_a_password_without_a_key_is_refused(store: str,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("BENCH_PW", "pw")
    assert _add(store, "orders_pg", "postgresql://bench@db/orders",
                "--password-env", "BENCH_PW") == 2
    err = capsys.readouterr().err
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in err
    assert main(["connections", "list", "--store", store]) == 0
    assert "no stored connections" in capsys.readouterr().out


def test_rotate_key_re_encrypts_everything(store: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_flakebench.catalog.lookup import stored_target
    from pytest_flakebench.credentials import parse_key

    monkeypatch.setenv("BENCH_PW", "pw-one")
    assert _add(store, "a_pg", "postgresql://u@h/db", "--password-env", "BENCH_PW") == 0
    assert _add(store, "b_pg", "postgresql://u@h/db", "--password-env", "BENCH_PW") == 0
    assert main(["connections", "rotate-key", "--store", store]) == 2
    assert "FLAKEBENCH_NEW_CREDENTIAL_KEY is not set" in capsys.readouterr().err
    new = secrets.token_hex(32)
    monkeypatch.setenv("FLAKEBENCH_NEW_CREDENTIAL_KEY", new)
    assert main(["connections", "rotate-key", "--store", store]) == 0
    assert f"to key id {parse_key(new).key_id}" in capsys.readouterr().out
    with pytest.raises(Exception, match="cannot be decrypted with this"):
        stored_target("a_pg", store_url=store)
    monkeypatch.setenv(KEY_ENV, new)
    found = stored_target("b_pg", store_url=store)
    assert found is not None
    assert found.password == "pw-one"


BENCH = """
import pytest

@pytest.mark.flakebench(
    target="bench_pg", table="public.{table}",
    mix={{"point_lookup": 80, "insert": 20}},
    concurrency=2, duration="1s", warmup="0s", slo={{"p95": "5s"}},
)
def test_through_stored_connection(flakebench_result):
    assert flakebench_result.kinds["point_lookup"].ops > 0
"""


@pytest.mark.postgres
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_benchmark_through_a_stored_connection_never_leaks_the_password(
        pytester: pytest.Pytester, pg_dsn: str, pg_orders: str, store: str,
        monkeypatch: pytest.MonkeyPatch, xdist: list[str]) -> None:
    password = f"s3cret-pw-{secrets.token_hex(8)}"
    monkeypatch.setenv("BENCH_PW", password)
    store_file = pytester.path / "results.db"
    store_url = f"sqlite:///{store_file}"
    assert _add(store_url, "bench_pg", pg_dsn, "--password-env", "BENCH_PW") == 0
    monkeypatch.delenv("BENCH_PW")
    pytester.makepyfile(BENCH.format(table=pg_orders))
    run_pytest = pytester.runpytest_subprocess if xdist else pytester.runpytest
    result = run_pytest("--flakebench", f"--flakebench-store={store_url}",
                                "--flakebench-json=out.json", "--junitxml=junit.xml", "-rA",
                                "-v", "-o", "log_cli=true", "--log-cli-level=DEBUG", *xdist)
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["verdict"] == "PASSED"
    assert run["target_kind"] == "postgresql"

    printed = result.stdout.str() + result.stderr.str()
    assert password not in printed
    for name in ("out.json", "junit.xml"):
        assert password not in (pytester.path / name).read_text(encoding="utf-8")
    conn = sqlite3.connect(store_file)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "TEST_RESULTS" in tables
        assert conn.execute(
            "SELECT COUNT(*) FROM TEST_RESULTS").fetchone()[0] >= 1
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    assert password not in text, table
    finally:
        conn.close()
    for path in pytester.path.glob("results.db*"):  # the file, its WAL and shared memory
        assert password.encode() not in path.read_bytes(), path.name
