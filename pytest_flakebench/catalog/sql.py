"""The catalog over a DB-API cursor of a results store (SQLite, PostgreSQL or Snowflake).

The SQL is the same for the three databases apart from the placeholder (``?`` or ``%s``) and
the table prefix (``flakebench.`` on PostgreSQL). Upserts are a DELETE plus an INSERT inside one
transaction: Snowflake has no ``ON CONFLICT`` and its standard tables do not enforce primary
keys, so duplicates are checked inside the same transaction too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_flakebench.catalog import (
    ConnectionRecord,
    Reseal,
    TemplateSummary,
    TemplateVersion,
)
from pytest_flakebench.errors import StoreError
from pytest_flakebench.stores.base import CursorStore, ResultStore

T = TypeVar("T")
Body = Callable[[Any], T]

_CONNECTION_COLUMNS = "NAME, KIND, URL, CREDENTIALS, KEY_ID, CREATED_AT, UPDATED_AT"


def _record(row: Any) -> ConnectionRecord:
    return ConnectionRecord(name=str(row[0]), kind=str(row[1]), url=str(row[2]),
                            credentials=None if row[3] is None else str(row[3]),
                            key_id=None if row[4] is None else str(row[4]),
                            created_at=float(row[5]), updated_at=float(row[6]))


class SqlCatalog:
    """:class:`~pytest_flakebench.catalog.Catalog` on a results store's own connection."""

    def __init__(self, store: ResultStore) -> None:
        if not isinstance(store, CursorStore):
            raise StoreError(f"results store {store.redacted_url}: keeps no connections or "
                             "templates")
        self.store: CursorStore = store
        self.redacted_url = store.redacted_url
        m, p = store.placeholder, store.table_prefix
        self._connections = f"{p}CONNECTIONS"
        self._templates = f"{p}TEST_TEMPLATES"
        self._insert_connection = (f"INSERT INTO {self._connections} ({_CONNECTION_COLUMNS}) "
                                   f"VALUES ({', '.join([m] * 7)})")
        self._m = m

    def _run(self, action: str, body: Body[T], *, atomic: bool = False) -> T:
        return self.store.with_cursor(action, body, atomic=atomic)

    # -- connections ---------------------------------------------------------------------------

    def put_connection(self, record: ConnectionRecord, *, replace: bool = False) -> None:
        """Store ``record``; ``StoreError`` if the name exists and ``replace`` is False."""
        m = self._m

        def body(cur: Any) -> bool:
            cur.execute(f"SELECT CREATED_AT FROM {self._connections} WHERE NAME = {m}",
                        (record.name,))
            found = cur.fetchall()
            if found and not replace:
                return False
            created = float(found[0][0]) if found else record.created_at
            cur.execute(f"DELETE FROM {self._connections} WHERE NAME = {m}", (record.name,))
            cur.execute(self._insert_connection,
                        (record.name, record.kind, record.url, record.credentials,
                         record.key_id, created, record.updated_at))
            return True

        if not self._run(f"cannot store connection {record.name!r}", body, atomic=True):
            raise StoreError(f"connection {record.name!r} already exists in {self.redacted_url}: "
                             "add --replace to overwrite it, or remove it first")

    def get_connection(self, name: str) -> ConnectionRecord | None:
        """The connection called ``name``, or None."""

        def body(cur: Any) -> list[Any]:
            cur.execute(f"SELECT {_CONNECTION_COLUMNS} FROM {self._connections} "
                        f"WHERE NAME = {self._m}", (name,))
            return list(cur.fetchall())

        found = self._run(f"cannot read connection {name!r}", body)
        return _record(found[0]) if found else None

    def list_connections(self) -> list[ConnectionRecord]:
        """Every stored connection, by name."""

        def body(cur: Any) -> list[Any]:
            cur.execute(f"SELECT {_CONNECTION_COLUMNS} FROM {self._connections} ORDER BY NAME")
            return list(cur.fetchall())

        return [_record(r) for r in self._run("cannot list connections", body)]

    def remove_connection(self, name: str) -> bool:
        """Forget connection ``name``; False if there was none."""
        m = self._m

        def body(cur: Any) -> bool:
            cur.execute(f"SELECT COUNT(*) FROM {self._connections} WHERE NAME = {m}", (name,))
            count = int(cur.fetchone()[0])
            if count:
                cur.execute(f"DELETE FROM {self._connections} WHERE NAME = {m}", (name,))
            return count > 0

        return self._run(f"cannot remove connection {name!r}", body, atomic=True)

    def reseal_connections(self, reseal: Reseal) -> int:
        """Rewrite every record with credentials through ``reseal``, all or nothing."""
        m = self._m

        def body(cur: Any) -> int:
            cur.execute(f"SELECT {_CONNECTION_COLUMNS} FROM {self._connections} ORDER BY NAME")
            records = [_record(r) for r in cur.fetchall()]
            # Every record is re-sealed before anything is written: one bad record (wrong key,
            # tampered) raises here and the transaction is rolled back untouched.
            fresh = [reseal(r) for r in records if r.has_password]
            for r in fresh:
                cur.execute(f"UPDATE {self._connections} SET CREDENTIALS = {m}, KEY_ID = {m}, "
                            f"UPDATED_AT = {m} WHERE NAME = {m}",
                            (r.credentials, r.key_id, r.updated_at, r.name))
            return len(fresh)

        return self._run("cannot re-encrypt connections", body, atomic=True)

    # -- templates -----------------------------------------------------------------------------

    def push_template(self, name: str, config: str) -> int:
        """Store ``config`` as the next version of ``name``; return that version."""
        m = self._m

        def body(cur: Any) -> int:
            cur.execute(f"SELECT MAX(VERSION) FROM {self._templates} WHERE NAME = {m}", (name,))
            row = cur.fetchone()
            version = int(row[0] or 0) + 1 if row else 1
            cur.execute(f"INSERT INTO {self._templates} (NAME, VERSION, CONFIG, CREATED_AT) "
                        f"VALUES ({m}, {m}, {m}, {m})", (name, version, config, time.time()))
            return version

        return self._run(f"cannot store template {name!r}", body, atomic=True)

    def get_template(self, name: str, version: int | None = None) -> TemplateVersion | None:
        """Version ``version`` of ``name`` (default: the latest), or None."""
        m = self._m
        sql = f"SELECT NAME, VERSION, CONFIG, CREATED_AT FROM {self._templates} WHERE NAME = {m}"
        params: tuple[Any, ...] = (name,)
        if version is not None:
            sql += f" AND VERSION = {m}"
            params = (name, version)
        sql += " ORDER BY VERSION DESC LIMIT 1"

        def body(cur: Any) -> list[Any]:
            cur.execute(sql, params)
            return list(cur.fetchall())

        found = self._run(f"cannot read template {name!r}", body)
        if not found:
            return None
        row = found[0]
        return TemplateVersion(name=str(row[0]), version=int(row[1]), config=str(row[2]),
                               created_at=float(row[3]))

    def list_templates(self) -> list[TemplateSummary]:
        """Every stored template with its latest version, by name."""

        def body(cur: Any) -> list[Any]:
            cur.execute(f"SELECT NAME, MAX(VERSION), COUNT(*), MAX(CREATED_AT) "
                        f"FROM {self._templates} GROUP BY NAME ORDER BY NAME")
            return list(cur.fetchall())

        return [TemplateSummary(name=str(r[0]), latest=int(r[1]), versions=int(r[2]),
                                updated_at=float(r[3]))
                for r in self._run("cannot list templates", body)]

    def close(self) -> None:
        """Close the store; never raises."""
        self.store.close()
