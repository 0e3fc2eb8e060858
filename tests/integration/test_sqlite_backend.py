"""SQLite files opened by several processes at once, as the xdist workers of a session open the
control plane (``stores.backend.SQLiteBackend``) and the embedded results store
(``stores.sqlite.SQLiteStore``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Each trial: a new file in the rollback journal, then 6 processes that each open it 3 times
# through the backend at the same moment (every open switches it to WAL). Before the fix, 15
# of 3,600 opens over 200 trials failed "database is locked" (both switchers deadlocked on
# the exclusive lock; SQLite breaks that at once, without the busy timeout).
RACE = r"""
import json, multiprocessing as mp, os, sqlite3, sys, tempfile
from pytest_flakebench.stores.backend import SQLiteBackend
from pytest_flakebench.stores.sqlite import SQLiteStore

def open_backend(path):
    return SQLiteBackend(f"sqlite:///{path}").connect()

def open_store(path):
    store = SQLiteStore(f"sqlite:///{path}")
    store.check()  # opens the file (and creates the schema on first use)
    return store._conn()

OPEN = {"backend": open_backend, "store": open_store}[sys.argv[2]]

def opener(path, go, out):
    go.wait()
    failed = []
    for i in range(3):
        try:
            conn = OPEN(path)
            conn.execute("INSERT INTO t VALUES (?)", (i,))
            conn.close()
        except Exception as exc:
            failed.append(repr(exc))
    out.put(failed)

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    failed, modes = [], set()
    for _ in range(int(sys.argv[1])):
        path = os.path.join(tempfile.mkdtemp(), "control.db")
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE t (x)")
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=opener, args=(path, go, out)) for _ in range(6)]
        for p in procs:
            p.start()
        go.set()
        for _ in procs:
            failed.extend(out.get(timeout=60))
        for p in procs:
            p.join()
        with sqlite3.connect(path) as db:
            modes.add(db.execute("PRAGMA journal_mode").fetchone()[0])
            rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
        if rows != 18 and not failed:
            failed.append(f"{rows} rows of 18")
    print(json.dumps({"failed": failed, "modes": sorted(modes)}))
"""


@pytest.mark.parametrize("opened_by", ["backend", "store"])
def test_processes_opening_a_new_file_at_once_all_get_in(tmp_path: Path, opened_by: str) -> None:
    # The results store opened the file on its own until 2026-12-08, switching it to WAL
    # without surviving that race: 19 and 32 of 3,600 opens failed ("not a usable SQLite
    # database: database is locked") in two runs of 200 trials; 60 trials passed once.
    trials = {"backend": 60, "store": 200}[opened_by]
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", RACE, str(trials), opened_by], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180,
                          env={"PYTHONPATH": str(root), "PATH": ""})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["failed"] == [], seen
    assert seen["modes"] == ["wal"]
