"""Spool files: where a run was going, without its secrets; older bare files still read."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from pytest_flakebench.stores.spool import destination_of, read_spooled, spool_run
from tests.unit.test_results import run_result


def test_destination_drops_password_and_secret_parameters() -> None:
    dest = destination_of("postgresql://bench:hunter2@db:5432/bench?sslmode=require"
                          "&sslpassword=k3y")
    assert dest.url == "postgresql://bench@db:5432/bench?sslmode=require"
    assert dest.secret_removed
    plain = destination_of("postgresql://bench@db:5432/bench")
    assert plain.url == "postgresql://bench@db:5432/bench"
    assert not plain.secret_removed


def test_sqlite_destination_is_absolute(tmp_path: Path) -> None:
    dest = destination_of("sqlite:///.flakebench/flakebench.db", base_dir=tmp_path)
    assert dest.url == f"sqlite:///{tmp_path.resolve()}/.flakebench/flakebench.db"
    assert not dest.secret_removed


def test_spool_file_is_private_and_round_trips(tmp_path: Path) -> None:
    run = run_result()
    path = spool_run(tmp_path / "spool", run, destination="postgresql://u:pw-x1@h/db",
                     reason="results store postgresql://u:***@h/db is unreachable")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pw-x1" not in path.read_text()
    back, dest = read_spooled(path)
    assert back.run_id == run.run_id
    assert back.overall.ops == run.overall.ops
    assert dest is not None
    assert dest.url == "postgresql://u@h/db"


def test_bare_spool_files_of_older_versions_still_read(tmp_path: Path) -> None:
    run = run_result()
    path = tmp_path / f"{run.run_id}.json"
    path.write_text(json.dumps(run.to_dict()))
    back, dest = read_spooled(path)
    assert back.run_id == run.run_id
    assert dest is None  # upload then asks for --store instead of guessing
