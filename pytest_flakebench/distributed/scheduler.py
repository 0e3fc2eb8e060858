"""The xdist scheduler: ordinary tests load-balanced, then every benchmark on every worker.

xdist's own load scheduling hands each test to one worker. A benchmark must run on all of them at
once, so once the ordinary tests are handed out, every benchmark index is sent to every worker in
the same order (the run rows are created first, so workers find them). A worker needs one item
of look-ahead before it starts an item; the shutdown xdist appends after the last benchmark
serves as the last one's look-ahead. Benchmarks are never re-queued after a crash: the run they
belonged to is judged PARTIAL by the controller instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController


class BenchScheduling(LoadScheduling):
    """``--dist load`` for ordinary tests; benchmarks on every worker, one after another."""

    def __init__(self, config: pytest.Config, log: Producer | None, *,
                 benchmark_ids: Callable[[], set[str]],
                 dispatch: Callable[[Sequence[str], Sequence[str]], None],
                 is_leader: Callable[[str, str], bool]) -> None:
        super().__init__(config, log)
        self._benchmark_ids = benchmark_ids
        self._dispatch = dispatch
        self._is_leader = is_leader
        self._bench: list[int] = []
        self._bench_set: frozenset[int] = frozenset()
        self._bench_sent = False
        self.collection: list[str] | None = None  # set by schedule(); typed for our use

    @property
    def tests_finished(self) -> bool:
        """Also unfinished while benchmarks wait to be sent."""
        if self.collection is not None and self._bench and not self._bench_sent:
            return False
        return bool(super().tests_finished)

    def schedule(self) -> None:
        """Split the collection into ordinary tests and benchmarks, then hand them out."""
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = list(next(iter(self.node2collection.values())))
        self.collection = collection
        benchmarks = self._benchmark_ids()
        self._bench = [i for i, nodeid in enumerate(collection) if nodeid in benchmarks]
        self._bench_set = frozenset(self._bench)
        self.pending[:] = [i for i in range(len(collection)) if i not in self._bench_set]
        if self.maxschedchunk is None:
            self.maxschedchunk: int = len(collection)
        if self.pending:
            per_node = max(2, len(self.pending) // len(self.nodes) // 4)
            for node in self.nodes:
                self._send_tests(node, min(per_node, self.maxschedchunk))
        for node in self.nodes:
            self.check_schedule(node)

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        """Once no ordinary test is left to hand out, send every benchmark to every worker."""
        if not self.pending and not self._bench_sent and self.collection is not None:
            self._send_benchmarks()
        super().check_schedule(node, duration)

    def _send_benchmarks(self) -> None:
        assert self.collection is not None
        self._bench_sent = True
        if not self._bench:
            return
        nodes = [n for n in self.nodes if not n.shutting_down]
        self._dispatch([self.collection[i] for i in self._bench],
                       [n.gateway.id for n in nodes])
        for node in nodes:
            self.node2pending[node].extend(self._bench)
            node.send_runtest_some(self._bench)

    def remove_node(self, node: WorkerController) -> str | None:
        """A worker left: re-queue its ordinary tests; blame a benchmark only on its leader."""
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        assert self.collection is not None
        current = pending.pop(0)
        self.pending.extend(i for i in pending if i not in self._bench_set)
        for other in self.node2pending:
            self.check_schedule(other)
        crashitem = str(self.collection[current])
        if current in self._bench_set and not self._is_leader(crashitem, node.gateway.id):
            return None  # a follower died: the leader reports the run as PARTIAL
        return crashitem
