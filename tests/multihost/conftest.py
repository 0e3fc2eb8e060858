"""Fixtures for runs over ssh on namespace hosts (tests/hosts.py): the hosts, and a PostgreSQL
cluster of the tests' own that listens on the test's namespace address (target and control
plane for every host)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.hosts import NamespaceHosts, why_unavailable


@pytest.fixture(scope="module")
def hosts() -> Iterator[NamespaceHosts]:
    """Two namespace hosts reachable over ssh as root; skips with the reason where they cannot
    be made (not root, no sshd, no network namespaces)."""
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(f"namespace hosts: {reason}")
    import os

    # Each host's python must import the same code as the controller (a worktree or a CI
    # clone on PYTHONPATH): sshd hands it on with SetEnv.
    env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    made = NamespaceHosts(2, extra_env=env).start()
    try:
        yield made
    finally:
        made.close()


@dataclass(frozen=True)
class HostsDb:
    """The cluster as the hosts see it: target database and an initialised results store."""

    target: str  # postgresql://…@<gateway>:<port>/bench
    store: str  # postgresql://…@<second address>:<port>/store, flakebench schema initialised
    local: str  # the bench database over 127.0.0.1, for checks from the test itself
    local_store: str  # the store over 127.0.0.1
    table: str


@pytest.fixture(scope="module")
def hosts_db(hosts: NamespaceHosts) -> Iterator[HostsDb]:
    """A throwaway cluster listening on 127.0.0.1 and on the hosts' bridge address, with a
    100k-row table and a PostgreSQL results store (the control plane) beside it."""
    pytest.importorskip("psycopg")
    import psycopg

    from tests.pgcluster import ClusterUnavailable, PgCluster, find_binaries
    from tests.pgstore import init_store

    binaries = find_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries for the hosts' cluster")
    cluster = PgCluster(binaries)
    try:
        cluster.start()
        with open(cluster.data_dir / "pg_hba.conf", "a") as hba:
            hba.write("host all all 198.18.0.0/15 trust\n")
        cluster.set_config("listen_addresses", f"127.0.0.1,{hosts.gateway},{hosts.second}",
                           restart=True)
    except ClusterUnavailable as exc:
        cluster.destroy()
        pytest.skip(f"hosts' PostgreSQL cluster: {exc}")
    try:
        local = cluster.dsn("bench")
        cluster.dsn("store")
        table = f"orders_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(local, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, customer text, "
                         f"total numeric(12,2))")
            conn.execute(f"INSERT INTO {table} SELECT g, 'c' || (g % 1000), g * 0.5 "
                         f"FROM generate_series(1, 100000) g")
            conn.execute(f"ANALYZE {table}")
        remote = f"postgresql://postgres@{hosts.gateway}:{cluster.port}"
        # the store (control plane) on the bridge's second address: a host can lose it alone
        control = f"postgresql://postgres@{hosts.second}:{cluster.port}/store"
        init_store(control)
        yield HostsDb(target=f"{remote}/bench", store=control, local=local,
                      local_store=cluster.dsn("store"), table=table)
    finally:
        cluster.destroy()


@pytest.fixture
def python() -> str:
    """The interpreter every host runs its worker with (the shared filesystem has it)."""
    return sys.executable
