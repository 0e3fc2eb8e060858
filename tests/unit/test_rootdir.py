"""One rule for where ``.flakebench/`` lives: pytest's rootdir, for pytest and the CLI alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flakebench.cli.options import store_url
from pytest_flakebench.rootdir import project_root


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\n"),
    (".pytest.ini", "[pytest]\n"),
    ("pyproject.toml", "[tool.pytest.ini_options]\n"),
    ("tox.ini", "[pytest]\n"),
    ("setup.cfg", "[tool:pytest]\n"),
])
def test_the_nearest_pytest_config_is_the_root(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    deep = tmp_path / "tests" / "db"
    deep.mkdir(parents=True)
    assert project_root(deep) == tmp_path.resolve()


def test_files_without_a_pytest_section_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[tox]\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "setup.cfg").write_text("[metadata]\n")
    # no pytest section anywhere: the nearest pyproject.toml, else the start itself
    assert project_root(inner) == inner.resolve()
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert project_root(inner) == tmp_path.resolve()


def test_cli_default_store_is_under_the_root_from_any_subfolder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    monkeypatch.delenv("FLAKEBENCH_STORE", raising=False)
    assert store_url(None) == f"sqlite:///{tmp_path.resolve()}/.flakebench/flakebench.db"
    monkeypatch.setenv("FLAKEBENCH_STORE", "sqlite:///results/x.db?timeout=5")
    assert store_url(None) == f"sqlite:///{tmp_path.resolve()}/results/x.db?timeout=5"
    # what the user types is taken as typed
    assert store_url("sqlite:///here.db") == "sqlite:///here.db"
    monkeypatch.setenv("FLAKEBENCH_STORE", "postgresql://u@h/db")
    assert store_url(None) == "postgresql://u@h/db"
