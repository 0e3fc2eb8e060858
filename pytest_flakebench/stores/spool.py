"""Runs the results store could not take: one JSON file per run, with where it was going.

A spool file (``.flakebench/spool/RUN_ID.json``, mode 0600) holds the run exactly as it would
have been stored, plus its destination: the store URL *without* its password or secret
parameters (so the file never holds a secret) and absolute for SQLite (so ``flakebench upload``
finds the same file from any folder). A PostgreSQL password comes back at upload time the way
libpq finds one (``PGPASSWORD``, ``~/.pgpass``) or from ``--store`` / ``$FLAKEBENCH_STORE``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.urls import SECRET_PARAMS

SPOOL_VERSION = 1


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a spooled run was going."""

    url: str  # password-free; absolute for SQLite
    secret_removed: bool  # the original URL carried a password or secret parameter

    def to_dict(self) -> dict[str, Any]:
        """For the spool file."""
        return {"url": self.url, "secret_removed": self.secret_removed}


def destination_of(url: str, *, base_dir: Path | None = None) -> Destination:
    """``url`` as a spool file may keep it."""
    if url.lower().startswith("sqlite:"):
        from pytest_flakebench.urls import sqlite_path

        path = sqlite_path(url, base=base_dir)
        return Destination(url=f"sqlite:///{path.resolve()}", secret_removed=False)
    parts = urlsplit(url)
    netloc, removed = parts.netloc, False
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo, removed = userinfo.split(":", 1)[0], True
        netloc = f"{userinfo}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in SECRET_PARAMS]
    removed = removed or len(kept) != len(pairs)
    return Destination(url=urlunsplit((parts.scheme, netloc, parts.path,
                                       urlencode(kept, safe="/:"), "")),
                       secret_removed=removed)


def spool_run(folder: Path, run: RunResult, *, destination: str, base_dir: Path | None = None,
              reason: str = "") -> Path:
    """Write ``run`` to ``folder/RUN_ID.json`` (0600, atomically); return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.run_id}.json"
    data = {"spool_version": SPOOL_VERSION,
            "destination": destination_of(destination, base_dir=base_dir).to_dict(),
            "reason": reason[:500], "run": run.to_dict()}
    tmp = folder / f".{run.run_id}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(tmp, path)
    return path


def read_spooled(path: Path) -> tuple[RunResult, Destination | None]:
    """A spooled run and its destination (None for files written before destinations were
    recorded: a bare run)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "spool_version" not in data:
        return RunResult.from_dict(data), None
    dest = data.get("destination") or {}
    destination = Destination(url=str(dest["url"]),
                              secret_removed=bool(dest.get("secret_removed"))) if dest else None
    return RunResult.from_dict(data["run"]), destination
