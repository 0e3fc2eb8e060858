"""An unusable results store is one clear error before any load, with and without xdist:
never an INTERNALERROR, never a traceback."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pgcluster import ExternalCluster, PgCluster
from tests.plugin.test_sqlite_benchmarks import make_orders_db

BENCH = """
import pytest

@pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                        mix={"point_lookup": 100}, concurrency=2, duration="1s", warmup="0s")
def test_b():
    pass
"""


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[str]:
    """A store file nobody may write, root included (immutable), else skip."""
    path = tmp_path / "ro.db"
    import sqlite3

    sqlite3.connect(path).close()
    try:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    except FileNotFoundError:
        pytest.skip("chattr is not installed: cannot make a file read-only for root")
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only file here: {done.stderr.decode().strip()}")
    try:
        yield f"sqlite:///{path}"
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _directory(pytester: pytest.Pytester) -> str:
    (pytester.path / "adir").mkdir()
    return "sqlite:///adir"


def _garbage(pytester: pytest.Pytester) -> str:
    (pytester.path / "garbage.db").write_text("not a database, just text\n" * 50)
    return "sqlite:///garbage.db"


STORES: dict[str, Callable[..., str]] = {
    "directory": _directory,
    "garbage": _garbage,
    "unknown-scheme": lambda _: "mysql://bench@db.example/bench",
    "unreachable-host": lambda _: "postgresql://bench@127.0.0.1:9/bench?connect_timeout=2",
}


def _check(pytester: pytest.Pytester, store: str, workers: str, expected: str) -> None:
    make_orders_db(pytester.path / "demo.db", rows=200)
    pytester.makepyfile(BENCH)
    result = pytester.runpytest("--flakebench", f"--flakebench-store={store}",
                                "-n", workers, "-p", "no:cacheprovider")
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    assert result.ret != 0
    lines = [line for line in text.splitlines() if expected in line]
    assert lines, text
    assert "no load was sent" in text
    assert not (pytester.path / ".flakebench" / "spool").exists()


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("kind", sorted(STORES))
def test_unusable_store_is_one_clear_error(pytester: pytest.Pytester, kind: str,
                                           workers: str) -> None:
    store = STORES[kind](pytester)
    expected = {"directory": "cannot open the database file",
                "garbage": "not a usable SQLite database",
                "unknown-scheme": "is not a supported URL",
                "unreachable-host": "is unreachable"}[kind]
    _check(pytester, store, workers, expected)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_read_only_store_is_one_clear_error(pytester: pytest.Pytester, read_only_db: str,
                                            workers: str) -> None:
    _check(pytester, read_only_db, workers, "results store")


@pytest.mark.postgres
@pytest.mark.parametrize("workers", ["0", "2"])
def test_uninitialised_postgres_store_is_one_clear_error(
        pytester: pytest.Pytester, owned_pg: PgCluster | ExternalCluster, workers: str) -> None:
    store = owned_pg.dsn(f"fb_uninit_{uuid.uuid4().hex[:8]}")
    _check(pytester, store, workers, "is not initialised: run `flakebench store init")
