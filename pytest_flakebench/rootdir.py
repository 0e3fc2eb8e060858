"""Where a project's ``.flakebench/`` folder lives, found the same way by pytest and the CLI.

pytest keeps the default store and the spool under its rootdir; the ``flakebench`` command,
run from anywhere inside the project, must find the same files. This mirrors pytest's rootdir
rule for the common cases: the nearest ancestor with a pytest configuration file (``pytest.ini``,
``.pytest.ini``, ``pyproject.toml`` with ``[tool.pytest.ini_options]``, ``tox.ini`` with
``[pytest]``, ``setup.cfg`` with ``[tool:pytest]``), else the nearest ancestor with a
``pyproject.toml``, else the current directory.
"""

from __future__ import annotations

from pathlib import Path

_CONFIGS: tuple[tuple[str, str | None], ...] = (
    ("pytest.ini", None),
    (".pytest.ini", None),
    ("pyproject.toml", "[tool.pytest.ini_options]"),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
)


def _declares(path: Path, section: str | None) -> bool:
    if not path.is_file():
        return False
    if section is None:
        return True
    try:
        return section in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def project_root(start: Path | None = None) -> Path:
    """The directory pytest would take as rootdir when run from ``start`` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    ancestors = [here, *here.parents]
    for folder in ancestors:
        if any(_declares(folder / name, section) for name, section in _CONFIGS):
            return folder
    for folder in ancestors:
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


__all__ = ["project_root"]
