"""The controller's and local workers' second channel, for when the store is out of reach.

The control plane lives in the results store. When the store stays unreachable beyond the
stated outage (``--flakebench-store-outage``), the run goes on through files in a private
folder of this machine's temp directory, one per session:

- events the controller could not write (SET_PHASE, STOP …), numbered like the stored ones, so
  a worker applies each once whichever channel brought it;
- every worker's final measurements (always written: the controller may lose the store after a
  worker reported through it but before it read the report);
- the merged result, for the worker that reports the test.

Workers on other machines cannot see these files; for them the run ends as before (the
worker stops on its own after the safety margin). Files are 0600 in a 0700 folder: results
carry the run's figures and template, not secrets, but they are nobody else's business.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _name(text: str) -> str:
    return _SAFE.sub("_", text)[:120]


class Handoff:
    """The files of one session (``session_id``) on this machine."""

    def __init__(self, session_id: str, root: Path | None = None) -> None:
        base = root if root is not None else Path(tempfile.gettempdir())
        self.dir = base / f"flakebench-handoff-{_name(session_id)}"

    # -- plumbing ------------------------------------------------------------------------

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.dir / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(tmp, self.dir / name)  # readers never see half a file

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = json.loads((self.dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return found

    def active(self) -> bool:
        """Whether anything was handed off in this session (one ``stat``: cheap to poll)."""
        return self.dir.is_dir()

    # -- events ----------------------------------------------------------------------------

    def emit(self, run_id: str, seq: int, event_type: str, data: dict[str, Any],
             target: str | None, created_at: float) -> None:
        """An event the store would not take."""
        self._write(f"{_name(run_id)}.event.{seq:06d}.json",
                    {"seq": seq, "type": event_type, "data": data, "target": target,
                     "created_at": created_at})

    def events_after(self, run_id: str, seq: int, worker_id: str) -> list[dict[str, Any]]:
        """Handed-off events for ``worker_id`` (or everyone) numbered above ``seq``, in order."""
        prefix = f"{_name(run_id)}.event."
        try:
            names = sorted(n for n in os.listdir(self.dir) if n.startswith(prefix))
        except OSError:
            return []
        found = []
        for name in names:
            event = self._read(name)
            if event and int(event["seq"]) > seq and event.get("target") in (None, worker_id):
                found.append(event)
        return found

    # -- measurements and results ----------------------------------------------------------

    def put_payload(self, run_id: str, worker_id: str, payload: dict[str, Any]) -> None:
        """A worker's final measurements."""
        self._write(f"{_name(run_id)}.worker.{_name(worker_id)}.json", payload)

    def payloads(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Final measurements handed off so far, by worker id."""
        found: dict[str, dict[str, Any]] = {}
        prefix = f"{_name(run_id)}.worker."
        with contextlib.suppress(OSError):
            for name in os.listdir(self.dir):
                if name.startswith(prefix) and (payload := self._read(name)):
                    found[str(payload.get("worker_id", name[len(prefix):-5]))] = payload
        return found

    def put_result(self, run_id: str, status: str, result_json: str | None,
                   reason: str | None) -> None:
        """The run's end, for workers that cannot read it from the store."""
        self._write(f"{_name(run_id)}.result.json",
                    {"status": status, "result_json": result_json, "reason": reason})

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The handed-off end of the run, if any."""
        return self._read(f"{_name(run_id)}.result.json")

    def forget(self, run_id: str, worker_id: str) -> None:
        """Drop a worker's own payload once the run is over (remote hosts keep no litter)."""
        with contextlib.suppress(OSError):
            (self.dir / f"{_name(run_id)}.worker.{_name(worker_id)}.json").unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()  # only when empty

    def remove(self) -> None:
        """Remove the session's folder (the controller, at the end of the session)."""
        shutil.rmtree(self.dir, ignore_errors=True)
