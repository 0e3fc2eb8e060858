"""The Snowflake results schema as shipped (``sql/snowflake/*.sql``), and what the store and
the control plane read from it: column types, primary keys, and the error a key that is
enforced (hybrid tables; the emulator) gives for a duplicate."""

from __future__ import annotations

import re

from pytest_flakebench.sql import ddl

_COLUMN_RE = re.compile(r"^\s+([A-Z_0-9]+)\s+(VARCHAR|FLOAT|BIGINT|INTEGER|TIMESTAMP_TZ|VARIANT)",
                        re.M)

DUPLICATE_RE = re.compile(r"duplicate key|primary key.*(already|violat)|unique.*violat", re.I)
"""A duplicate-key error of a table that enforces its primary key."""


def schema_sql(*, hybrid: bool = True) -> str:
    """The Snowflake DDL (``sql/snowflake/*.sql``); standard control tables if not ``hybrid``."""
    script = ddl("snowflake")
    return script if hybrid else script.replace("CREATE HYBRID TABLE", "CREATE TABLE")


def column_types() -> dict[str, dict[str, str]]:
    """``{table: {column: type}}`` of the results tables, read from the shipped DDL."""
    found: dict[str, dict[str, str]] = {}
    for block in re.split(r"CREATE (?:HYBRID )?TABLE IF NOT EXISTS ", ddl("snowflake"))[1:]:
        name, _, body = block.partition("(")
        found[name.strip()] = dict(_COLUMN_RE.findall(body.split(");", 1)[0]))
    return found


def primary_keys() -> dict[str, list[str]]:
    """``{table: [key column, …]}`` of the shipped tables, read from the DDL."""
    found: dict[str, list[str]] = {}
    for block in re.split(r"CREATE (?:HYBRID )?TABLE IF NOT EXISTS ", ddl("snowflake"))[1:]:
        name, _, body = block.partition("(")
        body = body.split(");", 1)[0]
        m = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
        inline = re.search(r"^\s*(\w+)\s+\w+[^,\n]*\bPRIMARY KEY\b", body, re.M)
        if m:
            found[name.strip()] = [c.strip() for c in m.group(1).split(",")]
        elif inline:  # RUN_ID VARCHAR PRIMARY KEY
            found[name.strip()] = [inline.group(1)]
    return found
