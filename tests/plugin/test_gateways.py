"""Workers through xdist ``--tx`` gateways with a shared PostgreSQL store as the control plane.

Two ``popen`` gateways stand in for two hosts: nothing but the PostgreSQL store is shared
between the controller and the workers' view of the run.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.postgres


def test_popen_gateways_with_a_postgres_control_plane(pytester: pytest.Pytester, pg_dsn: str,
                                                      pg_orders: str, pg_store: str) -> None:
    import psycopg

    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"point_lookup": 100}}, concurrency=2, duration="1.5s",
                                warmup="0s")
        def test_over_gateways():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--flakebench", "--tx", "popen", "--tx", "popen", "--dist", "load",
        f"--flakebench-store={pg_store}", "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert sorted(w["worker_id"] for w in run["workers"]) == ["gw0", "gw1"]
    with psycopg.connect(pg_store) as conn:
        status = conn.execute("SELECT status FROM flakebench.run_status WHERE run_id = %s",
                              (run["run_id"],)).fetchone()
        beats = conn.execute("SELECT count(*) FROM flakebench.worker_heartbeats "
                             "WHERE run_id = %s AND status = 'DONE'",
                             (run["run_id"],)).fetchone()
        stored = conn.execute("SELECT count(*) FROM flakebench.test_results WHERE "
                              "parent_run_id = %s", (run["run_id"],)).fetchone()
    assert status == ("COMPLETED",)
    assert beats == (2,)
    assert stored == (2,)


def test_remote_gateways_refuse_a_local_control_plane(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--flakebench", "--tx", "ssh=bench@db-host//python=python3",
                                "--dist", "load")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot reach the local control plane*--flakebench-store "
                                 "postgresql://*"])
