"""The ``--flakebench-json`` file: ``{"version": 1, "runs": [...]}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.report.files import write_report_file

JSON_VERSION = 1


def write_json(path: Path, runs: Sequence[RunResult]) -> None:
    """Write every run atomically (a reader never sees half a file)."""
    payload = {"version": JSON_VERSION, "runs": [r.to_dict(with_snapshots=True) for r in runs]}
    write_report_file(path, json.dumps(payload, indent=2))
