"""Report files (JSON, HTML, CSV exports): written atomically, readable by the CI that shares them.

A report never holds a secret (targets are redacted before a result exists), so it is written
0644 like any build artifact; the spool, which feeds a store, is the only 0600 file we write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPORT_MODE = 0o644


def write_report_file(path: Path, text: str, *, mode: int = REPORT_MODE) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a file) with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".flakebench-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)  # mkstemp makes 0600; the report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["REPORT_MODE", "write_report_file"]
