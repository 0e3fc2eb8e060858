"""Existing and new keys of a table's key column, as the workload's parameter makers draw them.

Inserted integer keys lie above the table's maximum key, one stripe per global thread slot, so
they never collide across threads, workers or hosts; a process fills its own slots in insert
order from one shared counter, so a run leaves no holes. Keys a run's inserts committed become
drawable by its lookups.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pytest_flakebench.errors import TargetError
from pytest_flakebench.profile import TableProfile
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.keys import KeySpec, key_drawer


class TableKeys:
    """Existing and new keys of the profiled key column.

    Integer keys: the profiled range plus the keys this run's inserts committed. Other keys
    (text, UUID): the key pool read in preflight (every key up to ``KEY_POOL_SIZE``, else a
    sample of that many) plus the keys this run's inserts committed, so ``latest`` reads new
    text keys too. New non-integer keys come from the seeded generator (a UUID) or from the
    ``new_key`` pattern, so two runs with one seed insert the same keys.
    """

    def __init__(self, profile: TableProfile, dialect: str, spec: KeySpec,
                 pool: list[object] | None = None, *, new_key: str | None = None) -> None:
        self.profile = profile
        self.dialect = dialect
        self.col = profile.key_column
        self.spec = spec
        self.pool = pool  # the preflight's keys of a non-integer key column
        self.new_key_pattern = new_key
        self._drawer: Callable[[ThreadContext], Any] | None = None
        # Keys this process's inserts committed, in commit order: lookups draw from the
        # profiled range plus these, so they never hit a key that was never written.
        self.inserted: list[int] = []
        # Non-integer keys: the committed keys themselves, and their positions after the pool
        # (what the distributions draw over); both appended under ``_lock``.
        self.inserted_values: list[object] = []
        self._lock = threading.Lock()

    def require_existing(self, kind: str) -> tuple[int, int]:
        """The profiled integer key range; raises ``TargetError`` if ``kind`` cannot draw keys."""
        p = self.profile
        if self.col.type_class != "int":
            raise TargetError(
                f"{kind} draws keys from the key column {self.col.name!r}, which is "
                f"{self.col.type_name}, not an integer: choose an integer key_column, or write a "
                f"custom query with its own params"
            )
        if p.key_min is None or p.key_max is None:
            raise TargetError(
                f"{kind} needs existing keys but {p.info.table} has no rows: load data first"
            )
        return p.key_min, p.key_max

    def existing(self, kind: str) -> Callable[[ThreadContext], Any]:
        """A drawer of existing keys (one per table, shared by every kind that reads keys)."""
        if self.pool is not None and self.col.type_class != "int":
            if not self.pool:
                raise TargetError(f"{kind} needs existing keys but {self.profile.info.table} "
                                  f"has no rows: load data first")
            if self._drawer is None:
                pool, base = self.pool, len(self.pool)
                added = self.inserted_values
                # The distribution runs over positions: the pool's, then the inserted keys'.
                index = key_drawer(self.spec, 0, base - 1, inserted=self.inserted)

                def draw(ctx: ThreadContext) -> object:
                    i = index(ctx)
                    return pool[i] if i < base else added[i - base]

                self._drawer = draw
            return self._drawer
        lo, hi = self.require_existing(kind)
        if self._drawer is None:
            # One drawer per plan: a zipfian table is built once and shared by every kind.
            self._drawer = key_drawer(self.spec, lo, hi, inserted=self.inserted)
        return self._drawer

    def commit(self) -> Callable[[ThreadContext], None] | None:
        """After a successful insert: its key exists."""
        inserted = self.inserted
        if self.col.type_class == "int":

            def commit(ctx: ThreadContext) -> None:
                key = ctx.pending_key
                if isinstance(key, int):
                    ctx.pending_key = None
                    inserted.append(key)  # atomic under the GIL; readers only index and len()

            return commit
        if self.pool is None:
            return None  # nothing reads existing keys in this mix
        values, base, lock = self.inserted_values, len(self.pool), self._lock

        def commit_value(ctx: ThreadContext) -> None:
            key = ctx.pending_key
            if key is not None:
                ctx.pending_key = None
                with lock:  # the value first, then its position: a drawn position exists
                    values.append(key)
                    inserted.append(base + len(values) - 1)

        return commit_value

    def new_key(self) -> Callable[[ThreadContext], object]:
        """A maker of keys for inserts that no other thread, worker or host makes."""
        tc = self.col.type_class
        if tc == "int":
            base = (self.profile.key_max or 0) + 1

            counter = itertools.count()  # shared by this process's threads (atomic next())

            def new(ctx: ThreadContext) -> int:
                if ctx.local_count:
                    # The n-th insert of this process takes its n-th key slot: one stripe per
                    # thread slot, filled in turn, so a slow thread leaves no gap behind.
                    n = next(counter)
                    key = (base + ctx.local_base + n % ctx.local_count
                           + n // ctx.local_count * ctx.stride)
                else:
                    key = base + ctx.global_index + ctx.next_insert_ordinal() * ctx.stride
                ctx.pending_key = key  # drawable by lookups once the insert succeeded
                return key

            return new
        pattern = self.new_key_pattern
        if pattern is not None and tc == "text":

            def new_text(ctx: ThreadContext) -> object:
                # the stripe ordinal: unique over every thread, worker and host, seed-free
                key = pattern.format(n=ctx.global_index + ctx.next_insert_ordinal() * ctx.stride)
                ctx.pending_key = key
                return key

            return new_text
        if tc in ("uuid", "text"):
            as_text = self.dialect == "sqlite" or tc == "text"

            def new_uuid(ctx: ThreadContext) -> object:
                # from the thread's seeded generator: one seed, the same keys
                key = uuid.UUID(int=ctx.rng.getrandbits(128), version=4)
                value: object = str(key) if as_text else key
                ctx.pending_key = value
                return value

            return new_uuid
        raise TargetError(
            f"insert cannot make new values for key column {self.col.name!r} "
            f"({self.col.type_name}): override it with sql={{'insert': ...}}"
        )
