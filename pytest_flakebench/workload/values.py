"""Values for non-key columns: one generator per column, chosen by the column's type class.

Drawn outside the timed region from the thread's seeded generator; a dialect without a native
type (SQLite's dates, UUIDs, booleans) gets the value as it stores it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

from pytest_flakebench.errors import TargetError
from pytest_flakebench.profile import Column
from pytest_flakebench.workload.context import ThreadContext

DEFAULT_TEXT_SIZE = 100  # a declared text length above this still gets 100 characters


def text_size(col: Column, value_size: int | None) -> int | None:
    """Characters of a generated text value: ``value_size``, else the column's declared
    length up to 100 (a YCSB field), else None (a short value)."""
    if value_size is not None:
        if col.max_length is not None and value_size > col.max_length:
            raise TargetError(
                f"value_size={value_size} does not fit column {col.name!r} "
                f"({col.type_name}, at most {col.max_length}): lower value_size or name the "
                f"columns to write with update_columns")
        return value_size
    return min(col.max_length, DEFAULT_TEXT_SIZE) if col.max_length else None


def value_maker(col: Column, dialect: str,
                value_size: int | None = None) -> Callable[[ThreadContext], object]:
    """A generator of plausible values for a non-key column, by its type class."""
    tc = col.type_class
    if tc == "int":
        return lambda ctx: ctx.rng.randint(1, 1_000_000)
    if tc == "float":
        return lambda ctx: round(ctx.rng.random() * 1000, 3)
    if tc == "decimal":
        if dialect == "sqlite":
            return lambda ctx: round(ctx.rng.random() * 1000, 2)
        return lambda ctx: Decimal(ctx.rng.randint(0, 100_000)) / 100
    if tc == "text":
        size = text_size(col, value_size)
        if size is None:
            return lambda ctx: f"fb-{ctx.rng.getrandbits(40):x}"
        half = (size + 1) // 2
        # randbytes + hex: ~1 µs for 100 characters, outside the timed region
        return lambda ctx: ctx.rng.randbytes(half).hex()[:size]
    if tc == "bool":
        if dialect == "sqlite":
            return lambda ctx: int(ctx.rng.random() < 0.5)
        return lambda ctx: ctx.rng.random() < 0.5
    if tc == "date":
        if dialect == "sqlite":
            return lambda ctx: dt.date.today().isoformat()
        return lambda ctx: dt.date.today()
    if tc == "timestamp":
        if dialect == "sqlite":  # sqlite3's datetime adapter is deprecated: send ISO text
            return lambda ctx: dt.datetime.now(dt.UTC).isoformat(sep=" ")
        return lambda ctx: dt.datetime.now(dt.UTC)
    if tc == "uuid":
        if dialect == "sqlite":
            return lambda ctx: str(uuid.UUID(int=ctx.rng.getrandbits(128)))
        return lambda ctx: uuid.UUID(int=ctx.rng.getrandbits(128))
    if tc == "json":
        return lambda ctx: f'{{"fb": {ctx.rng.randint(1, 1_000_000)}}}'
    if tc == "bytes":
        size = value_size or 16
        return lambda ctx: ctx.rng.randbytes(size)
    if col.nullable:
        return lambda ctx: None
    raise TargetError(
        f"column {col.name!r} ({col.type_name}) is NOT NULL, has no default and flakebench "
        f"cannot generate its values: give the insert yourself, e.g. "
        f"sql={{'insert': 'INSERT INTO {{table}} (...) VALUES (?, ...)'}}"
    )
