"""Hooks users implement in a ``conftest.py`` (or a plugin) to extend flakebench.

Each is called in the controlling process (the xdist controller, or the single pytest process),
so an implementation runs once per benchmark run, whatever ``-n`` is:

- ``pytest_flakebench_fingerprint``: add fields to a run's fingerprint (schema version, data set
  checksum, a feature flag) so runs that differ on them are never compared.
- ``pytest_flakebench_run_finished``: send each finished run to your own metrics system.
- ``pytest_flakebench_summary_row``: add columns to the end-of-session summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flakebench.judge.results import RunResult

hookspec = pytest.hookspec


@hookspec
def pytest_flakebench_fingerprint(config: pytest.Config, test: str,
                                  template: dict[str, Any]) -> dict[str, Any] | None:
    """Return extra fingerprint fields for the run of ``test`` (or None).

    ``template`` is the run's resolved template as JSON-ready builtins (target redacted). The
    fields of every implementation are merged under ``fingerprint["user"]``; two runs whose
    ``user`` fields differ are NOT COMPARABLE, and the difference is named
    (``user.schema_version 41 → 42``). Values must be JSON-serialisable.
    """


@hookspec
def pytest_flakebench_run_finished(config: pytest.Config, result: RunResult,
                                   stored: bool) -> None:
    """Called once per run after it was stored (``stored``) or spooled/kept in memory only.

    Runs on the controller's thread; keep it short (it delays the next benchmark) and do not
    raise: an exception is logged and the run is not affected.
    """


@hookspec
def pytest_flakebench_summary_row(config: pytest.Config,
                                  result: RunResult) -> dict[str, str] | None:
    """Extra cells for ``result``'s row of the end-of-session summary, by column header.

    Columns are shown after the built-in figures, in the order they are first returned.
    """
