"""The ``--flakebench-json`` file: ``{"version": 1, "runs": [...]}``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pytest_flakebench.results import RunResult

JSON_VERSION = 1


def write_json(path: Path, runs: Sequence[RunResult]) -> None:
    """Write every run atomically (a reader never sees half a file)."""
    payload = {"version": JSON_VERSION, "runs": [r.to_dict(with_snapshots=True) for r in runs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".flakebench-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
