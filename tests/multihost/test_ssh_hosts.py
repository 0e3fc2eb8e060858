"""One benchmark with xdist workers on two hosts over ssh (tests/hosts.py), as the README's
multi-host section says to run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hosts import NamespaceHosts
from tests.multihost.conftest import HostsDb

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

BENCH = """
import pytest

@pytest.mark.flakebench(target="{target}", table="{table}", mix={{"point_lookup": 100}},
                        concurrency=4, duration="{duration}", warmup="0.5s")
def test_point_lookups_from_two_hosts():
    pass
"""


def _args(hosts: NamespaceHosts, db: HostsDb, python: str, where: Path) -> list[str]:
    args = ["--flakebench", "-p", "no:cacheprovider", "--dist", "load",
            f"--flakebench-store={db.store}", "--flakebench-json=out.json"]
    for host in hosts.hosts:
        args += ["--tx", hosts.tx(host, python=python, chdir=where)]
    return args


def test_two_hosts_one_report_connections_split_histograms_exact(
        pytester: pytest.Pytester, hosts: NamespaceHosts, hosts_db: HostsDb,
        python: str) -> None:
    import psycopg

    from pytest_flakebench.histogram import LatencyHistogram

    pytester.makepyfile(test_hosts=BENCH.format(target=hosts_db.target, table=hosts_db.table,
                                                duration="5s"))
    result = pytester.runpytest_subprocess(*_args(hosts, hosts_db, python, pytester.path),
                                           timeout=180)
    result.assert_outcomes(passed=1)
    # one report: one test line, one JSON entry
    assert result.stdout.str().count("test_point_lookups_from_two_hosts PASSED") <= 1
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["status"] == "COMPLETED"
    workers = run["workers"]
    assert sorted(w["host"] for w in workers) == sorted(h.name for h in hosts.hosts)
    assert sum(w["connections"] for w in workers) == 4
    assert all(w["connections"] == 2 for w in workers)
    ops = [w["ops"] for w in workers]
    assert min(ops) >= 0.8 * max(ops), ops
    assert sum(ops) == run["overall"]["ops"]
    merged = LatencyHistogram()
    for w in workers:
        merged.add(LatencyHistogram.decode(w["histogram"]))
    for q in (50.0, 95.0, 99.0):
        assert merged.percentile_us(q) == run["overall"][f"p{int(q)}_us"]
    # the store names the hosts too: one row per worker beside the parent
    with psycopg.connect(hosts_db.local_store) as conn:
        stored = conn.execute("SELECT host FROM flakebench.test_results "
                              "WHERE parent_run_id = %s", (run["run_id"],)).fetchall()
    assert sorted(h for (h,) in stored) == sorted(h.name for h in hosts.hosts)
