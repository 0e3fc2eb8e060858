"""What a PostgreSQL target's catalog says: a table's columns and key, the server's settings.

Read on the driver's metadata connection before the load starts (never in the timed region);
kept apart from ``postgres`` (connecting, checking and executing statements).
"""

from __future__ import annotations

from typing import Any

import psycopg

from pytest_flakebench.drivers.base import near_first
from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName
from pytest_flakebench.profile import Column, TableInfo, TypeClass

# Catalog type name (pg_type.typname, domains resolved to their base type) -> generator class.
_TYPE_CLASSES: dict[str, TypeClass] = {
    "int2": "int", "int4": "int", "int8": "int",
    "float4": "float", "float8": "float", "numeric": "decimal",
    "text": "text", "varchar": "text", "bpchar": "text", "char": "text", "name": "text",
    "bool": "bool", "date": "date", "timestamp": "timestamp", "timestamptz": "timestamp",
    "uuid": "uuid", "bytea": "bytes", "json": "json", "jsonb": "json",
}

_FIND_RELATION = """
SELECT n.nspname, c.relname, c.relkind, c.oid
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND lower(c.relname) = lower(%(name)s)
  AND CASE WHEN %(schema)s::text IS NULL THEN n.nspname = (current_schemas(false))[1]
           ELSE lower(n.nspname) = lower(%(schema)s::text) END
ORDER BY (n.nspname = %(schema)s::text) DESC, (c.relname = %(name)s) DESC,
         (c.relname = lower(%(name)s)) DESC
LIMIT 1
"""

_COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       NOT a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_PRIMARY_KEY = """
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY k.pos
"""

_TABLES_IN_SCHEMA = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND CASE WHEN %(schema)s::text IS NULL THEN n.nspname = (current_schemas(false))[1]
           ELSE lower(n.nspname) = lower(%(schema)s::text) END
ORDER BY c.relname
LIMIT 1000
"""

# Settings that change benchmark results (memory, durability, planner, parallelism, JIT).
RESULT_SETTINGS: tuple[str, ...] = (
    "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
    "synchronous_commit", "fsync", "full_page_writes", "wal_level", "wal_buffers",
    "commit_delay", "max_connections", "max_parallel_workers_per_gather",
    "max_parallel_workers", "random_page_cost", "effective_io_concurrency", "jit",
    "default_transaction_isolation", "huge_pages", "enable_seqscan", "enable_indexscan",
)


def _scaled(setting: str, unit: str | None) -> str:
    """``pg_settings`` gives e.g. ``16384`` with unit ``8kB``: show ``128MB``-style totals."""
    if not unit or not setting.lstrip("-").isdigit():
        return setting
    number = "".join(ch for ch in unit if ch.isdigit())
    factor = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3}.get(unit[len(number):])
    if factor is None:
        return f"{setting}{unit}"  # ms, s, …
    total = int(setting) * int(number or "1") * factor
    for suffix, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if total % size == 0:
            return f"{total // size}{suffix}"
    return f"{total}B"


def read_settings(meta: psycopg.Connection[Any]) -> dict[str, str]:
    """The settings in ``RESULT_SETTINGS`` as ``meta``'s session sees them ({} on failure)."""
    try:
        found = meta.execute(
            "SELECT name, setting, unit FROM pg_catalog.pg_settings WHERE name = ANY(%s)",
            (list(RESULT_SETTINGS),),
        ).fetchall()
    except psycopg.Error:
        return {}
    return {str(name): _scaled(str(setting), unit) for name, setting, unit in found}


def describe_table(meta: psycopg.Connection[Any], table: TableName,
                   redacted_url: str) -> TableInfo:
    """Columns and primary key of ``table`` (case-insensitive); ``TargetError`` if absent."""
    _check_database(meta, table, redacted_url)
    args = {"name": table.name, "schema": table.schema}
    row = meta.execute(_FIND_RELATION, args).fetchone()
    if row is None:
        raise TargetError(_not_found(meta, table, redacted_url))
    schema, name, relkind, oid = row
    columns = tuple(
        Column(name=col, type_name=type_name, type_class=_TYPE_CLASSES.get(typ, "other"),
               nullable=nullable, has_default=has_default,
               max_length=typmod - 4 if typ in ("varchar", "bpchar") and typmod > 4 else None)
        for col, type_name, typ, typmod, nullable, has_default
        in meta.execute(_COLUMNS, (oid,)).fetchall()
    )
    pk = tuple(r[0] for r in meta.execute(_PRIMARY_KEY, (oid,)).fetchall())
    return TableInfo(table=TableName(name=name, schema=schema), columns=columns,
                     primary_key=pk, is_view=relkind in ("v", "m"))


def _check_database(meta: psycopg.Connection[Any], table: TableName, redacted_url: str) -> None:
    """A three-part name is accepted only when it names the database connected to."""
    if table.database is None:
        return
    current = meta.info.dbname
    if table.database.lower() != current.lower():
        raise TargetError(
            f"table '{table}' names database {table.database!r}, but {redacted_url} "
            f"is connected to {current!r}: use 'schema.table' and put the database in the URL"
        )


def _not_found(meta: psycopg.Connection[Any], table: TableName, redacted_url: str) -> str:
    """The message for an unknown table, with the closest names in its schema."""
    rows = meta.execute(_TABLES_IN_SCHEMA, {"schema": table.schema}).fetchall()
    where = f"'{table}' not found in {redacted_url}"
    if not rows:
        schema = table.schema or "the default schema (first of search_path)"
        return f"table {where}; {schema} has no tables or does not exist"
    schema, names = rows[0][0], [r[1] for r in rows]
    shown = near_first(table.name, names)
    more = ", ..." if len(names) > len(shown) else ""
    return f"table {where}; tables in schema {schema}: {', '.join(shown)}{more}"
