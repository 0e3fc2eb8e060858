"""The client-bound verdict from the workers' own CPU figures (pure)."""

from __future__ import annotations

from pytest_flakebench.judge.client import judge_client, percentile_of_counts


def test_a_busy_worker_is_client_bound_and_the_note_says_how_to_spread_it() -> None:
    client, note = judge_client(
        [{"worker_id": "main", "cpu": 0.97, "cpu_wait": 0.02, "cpus": 2}],
        mode="concurrency", connections=4, qps=19_000)
    assert client["bound"] is True
    assert client["cpu"] == 0.97
    assert note.startswith("CLIENT_BOUND: worker main kept 97% of a CPU core busy")
    assert "qps (19,000/s) is the client's ceiling" in note
    assert "-n 2 (~2 each)" in note


def test_waiting_for_a_cpu_counts_as_demand_and_qps_mode_names_latency() -> None:
    client, note = judge_client(
        [{"worker_id": "gw0", "cpu": 0.3, "cpu_wait": 0.1, "cpus": 2},
         {"worker_id": "gw1", "cpu": 0.5, "cpu_wait": 0.45, "cpus": 2}],
        mode="qps", connections=16, qps=5_000)
    assert client["bound"] is True
    assert "worker gw1" in note
    assert "the latencies include waits for the client's interpreter" in note
    assert "-n 4" in note


def test_demand_leaves_out_the_open_loops_spin() -> None:
    # qps mode on a busy machine: a thread spinning before its intended time is on a CPU or
    # queued for one; that is not load the client could not carry
    client, note = judge_client(
        [{"worker_id": "main", "cpu": 0.0, "cpu_wait": 0.9, "demand": 0.2}],
        mode="qps", connections=2, qps=10_000)
    assert client["bound"] is False
    assert client["demand"] == 0.2
    assert note == ""


def test_a_client_with_room_is_not_bound_and_schedule_error_is_reported() -> None:
    client, note = judge_client(
        [{"worker_id": "main", "cpu": 0.02, "cpu_wait": 0.1,
          "schedule_error": {"0": 90, "3": 9, "40": 1}}],
        mode="qps", connections=2, qps=100)
    assert client["bound"] is False
    assert note == ""
    assert client["schedule_error_p50_us"] == 0
    assert client["schedule_error_p99_us"] == 3


def test_percentile_of_counts() -> None:
    assert percentile_of_counts({}, 0.5) == 0
    assert percentile_of_counts({1: 1, 5: 1, 9: 2}, 0.5) == 5
    assert percentile_of_counts({1: 1, 5: 1, 9: 2}, 0.99) == 9
