"""Bulk writes to Snowflake: rows bound as JSON arrays and flattened server side.

``INSERT INTO T (…) SELECT f.value[0]::…, … FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f``,
in chunks of at most ``MAX_BIND_BYTES`` (512 KiB) of JSON per statement: Snowflake recommends at
most 1 MB of statement text, bound values included, per statement (see
``drivers/snowflake_statements``). ``executemany`` would be row by row on fakesnow and tens of
times slower.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.errors import StoreError


def flatten_insert(table: str, columns: Sequence[str], types: dict[str, str]) -> str:
    """``INSERT … SELECT f.value[i]::TYPE … FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f``."""
    picks = []
    for i, col in enumerate(columns):
        kind = types[col]
        picks.append(f"f.value[{i}]" if kind == "VARIANT" else f"f.value[{i}]::{kind}")
    return S.BULK_INSERT.render(table=table, columns=", ".join(columns), picks=", ".join(picks))


def chunk_rows(batch: Sequence[Sequence[Any]],
               limit: int = S.MAX_BIND_BYTES) -> Iterator[str]:
    """``batch`` as JSON arrays of at most ``limit`` bytes each (UTF-8), in order.

    A single row larger than ``limit`` is an error: it could not be bound within the limit.
    """
    parts: list[str] = []
    size = 2  # the brackets
    for row in batch:
        text = json.dumps(row, separators=(",", ":"))
        n = len(text.encode("utf-8"))
        if n + 2 > limit:
            raise StoreError(f"one row of {n} bytes exceeds the {limit}-byte bind limit per "
                             "statement")
        if parts and size + 1 + n > limit:
            yield "[" + ",".join(parts) + "]"
            parts, size = [], 2
        size += n + (1 if parts else 0)
        parts.append(text)
    if parts:
        yield "[" + ",".join(parts) + "]"
