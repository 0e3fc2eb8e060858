"""The ``flakebench`` command on SQLite and PostgreSQL stores, in-process and as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flakebench.cli.main import main
from pytest_flakebench.stores import open_store
from tests.conftest import stored_run
from tests.integration.factories import make_run

T0 = 1_732_680_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty, uninitialised store; the cwd is a fresh directory and $FLAKEBENCH_STORE unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLAKEBENCH_STORE", raising=False)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_empty_store")
    return url


def seed(url: str) -> list[str]:
    """Store three runs (oldest first) and return their ids."""
    store = open_store(url)
    try:
        runs = [make_run(run_id="aaaa1111-old", started_at=T0, test="tests/a.py::test_read"),
                make_run(run_id="bbbb2222-mid", started_at=T0 + 10, workers=2,
                         test="tests/b.py::test_write[16]"),
                make_run(run_id="cccc3333-new", started_at=T0 + 20, errors=0,
                         test="tests/a.py::test_read")]
        for run in runs:
            store.save_run(run)
    finally:
        store.close()
    return [r.run_id for r in runs]


def test_store_init_is_idempotent_and_says_what_it_did(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "init", store_url]) == 0
    assert main(["store", "init", store_url]) == 0
    out = capsys.readouterr().out
    assert f"initialised results store {store_url}" in out
    assert "TEST_RESULTS" in out


def test_runs_lists_newest_first_with_filters(
        store_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["store", "init", store_url]) == 0
    seed(store_url)
    capsys.readouterr()
    assert main(["runs", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert out.index("cccc3333-new") < out.index("bbbb2222-mid") < out.index("aaaa1111-old")
    assert "tests/b.py::test_write[16]" in out  # brackets are not taken for rich markup
    assert "FAILED" in out
    assert "PASSED" in out
    monkeypatch.setenv("FLAKEBENCH_STORE", store_url)  # the default store comes from the env
    assert main(["runs", "--test", "a.py", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "cccc3333-new" in out
    assert "aaaa1111-old" not in out
    assert "bbbb2222-mid" not in out


def test_show_prints_tables_and_json(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "init", store_url]) == 0
    seed(store_url)
    capsys.readouterr()
    assert main(["show", "bbbb", "--store", store_url]) == 0
    out = capsys.readouterr().out
    for text in ("bbbb2222-mid", "oltp-simple", "point_lookup", "range_scan", "insert",
                 "overall", "p95", "error_rate", "BREACHED", "gw1", "note: insert: 2 errors"):
        assert text in out
    assert "ms" in out  # latencies go through format_us
    assert main(["show", "bbbb2222-mid", "--store", store_url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == stored_run(store_url, "bbbb2222-mid").to_dict()
    assert len(data["snapshots"]) == 6


def test_show_errors_exit_2_without_traceback(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "init", store_url]) == 0
    seed(store_url)
    capsys.readouterr()
    assert main(["show", "zzzz", "--store", store_url]) == 2
    err = capsys.readouterr().err
    assert "no run 'zzzz'" in err
    assert "Traceback" not in err
    assert main(["show", "", "--store", store_url]) == 2  # every run matches: ambiguous
    assert "ambiguous" in capsys.readouterr().err


def test_default_store_is_not_created_by_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLAKEBENCH_STORE", raising=False)
    assert main(["runs"]) == 0
    # the default store lives under the project's rootdir (here: no config, so the cwd)
    default = f"sqlite:///{tmp_path.resolve()}/.flakebench/flakebench.db"
    assert f"no runs stored in {default} yet" in capsys.readouterr().out
    assert main(["show", "abc"]) == 2
    assert not (tmp_path / ".flakebench").exists()
    assert main(["store", "init", "sqlite:///.flakebench/flakebench.db"]) == 0
    assert (tmp_path / ".flakebench" / "flakebench.db").is_file()
    assert main(["runs"]) == 0
    assert f"no runs in {default}" in capsys.readouterr().out


@pytest.mark.postgres
def test_uninitialised_postgres_says_how_to_fix(
        pg_empty_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_empty_store.replace("postgres@", "postgres:s3cret-pw@", 1)
    assert main(["runs", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "is not initialised: run `flakebench store init postgresql://postgres:***@" in err
    assert "s3cret-pw" not in err
    assert main(["store", "init", url]) == 0
    out = capsys.readouterr().out
    assert "postgres:***@" in out
    assert "s3cret-pw" not in out
    down = "postgresql://u:s3cret-pw@127.0.0.1:1/x?connect_timeout=2"
    assert main(["runs", "--store", down]) == 2
    err = capsys.readouterr().err
    assert "is the server running?" in err
    assert "s3cret-pw" not in err


def test_usage_errors_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("flakebench ")
    assert main([]) == 2
    assert main(["runs", "--limit", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err
    assert main(["store", "init", "mysql://u:s3cret-pw@h/db"]) == 2
    err = capsys.readouterr().err
    assert "not a supported URL" in err
    assert "s3cret-pw" not in err


def test_as_a_process(store_url: str, tmp_path: Path) -> None:
    def flakebench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest_flakebench.cli.main", *args],
                              capture_output=True, text=True, check=False, cwd=tmp_path,
                              timeout=60)

    init = flakebench("store", "init", store_url)
    assert init.returncode == 0, init.stderr
    assert "initialised results store" in init.stdout
    seed(store_url)
    runs = flakebench("runs", "--store", store_url)
    assert runs.returncode == 0, runs.stderr
    assert "cccc3333-new" in runs.stdout
    show = flakebench("show", "cccc", "--store", store_url, "--json")
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["run_id"] == "cccc3333-new"
    missing = flakebench("show", "nope", "--store", store_url)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr


def test_upload_sends_spooled_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    spool = tmp_path / ".flakebench" / "spool"
    spool.mkdir(parents=True)
    run = make_run(run_id="spooled1")
    (spool / "spooled1.json").write_text(json.dumps(run.to_dict()))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["upload", "--store", url]) == 0
    assert "uploaded run spooled1" in capsys.readouterr().out
    assert not list(spool.glob("*.json"))
    assert stored_run(url, "spooled1").to_dict() == run.to_dict()
    assert main(["upload", "--store", url]) == 0  # nothing left: says so, exits 0
    assert "no spooled runs" in capsys.readouterr().out
