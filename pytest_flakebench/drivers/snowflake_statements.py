"""Every statement the Snowflake code sends, by name, in the form Snowflake receives it.

The driver (``drivers/snowflake.py``), the results store (``stores/snowflake.py``) and the
control plane's Snowflake adaptation (``stores/snowflake_control.ControlConnection``) render
their SQL from here; the DDL is ``sql/snowflake/*.sql``.
``tests/unit/test_snowflake_statements.py`` parses every entry (and every DDL statement) with
sqlglot's Snowflake dialect and checks where binds (``?``, qmark) appear.

Reviewed against the Snowflake SQL reference:

- Binds are values only, in queries and DML (SELECT, INSERT, UPDATE, DELETE, MERGE). ``SHOW``,
  ``DESCRIBE`` and ``USE`` take no bind: their patterns are string literals rendered from
  validated identifiers (``snowflake_names.string_literal``) and ``SHOW … LIKE`` results are
  filtered again by exact name, since ``_`` and ``%`` are wildcards there.
- Identifiers (``{database}``, ``{table}``, ``{column}``, ``{schema}``) are never bound either:
  they are the catalog's spelling, double-quoted (``snowflake_names.quote``), or the store's own
  upper-case names.
- Size: Snowflake recommends at most 1 MB of statement text *including bound values* per
  statement ("Limits on query text size"); a VARCHAR value holds at most 16 MB (128 MB on newer
  bundles). Bulk inserts therefore bind one JSON array of at most ``MAX_BIND_BYTES`` per
  statement (``stores/snowflake_bulk.chunk_rows``).

``needs`` says what a statement requires beyond any edition and a running warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Sender = Literal["driver", "store", "control"]

#: Largest bound JSON array per bulk INSERT: half of Snowflake's 1 MB statement-size guidance
#: (docs.snowflake.com/en/user-guide/query-size-limits), leaving room for the SQL text and for
#: multi-byte characters; far below the 16 MB VARCHAR/VARIANT value limit.
MAX_BIND_BYTES = 512 * 1024

ANY = "any edition; a warehouse (SHOW/DESCRIBE/USE need none)"
HYBRID = ("hybrid tables (AWS/Azure commercial regions, not trial accounts) when the store was "
          "initialised with them; standard tables otherwise")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: its text with ``{slot}`` placeholders for rendered identifiers/literals."""

    name: str
    sender: Sender
    sql: str
    needs: str = ANY

    def render(self, **slots: str) -> str:
        """The text with its slots filled (values must already be quoted or literals)."""
        return self.sql.format(**slots) if slots else self.sql

    @property
    def binds(self) -> int:
        """How many ``?`` binds the statement takes (slots rendered by the caller add none)."""
        return self.sql.count("?")


def _s(name: str, sender: Sender, sql: str, needs: str = ANY) -> Statement:
    return Statement(name=name, sender=sender, sql=sql, needs=needs)


# -- driver: preflight of the table under test ---------------------------------------------------

SET_QUERY_TAG = _s("set_query_tag", "driver", "ALTER SESSION SET QUERY_TAG = {tag}")
CURRENT_VERSION = _s("current_version", "driver", "SELECT CURRENT_VERSION()")
CURRENT_CONTEXT = _s("current_context", "driver",
                     "SELECT CURRENT_DATABASE(), CURRENT_SCHEMA(), CURRENT_ROLE()")
SHOW_WAREHOUSES = _s("show_warehouses", "driver", "SHOW WAREHOUSES LIKE {pattern}",
                     "any edition; lists only warehouses the role has a privilege on")
SHOW_DATABASES = _s("show_databases", "driver", "SHOW DATABASES LIKE {pattern}",
                    "any edition; lists only databases the role has a privilege on")
SHOW_SCHEMAS = _s("show_schemas", "driver", "SHOW SCHEMAS LIKE {pattern} IN DATABASE {database}",
                  "any edition; lists only schemas the role has a privilege on")
FIND_TABLE = _s("find_table", "driver",
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM {database}.INFORMATION_SCHEMA."
                "TABLES WHERE TABLE_SCHEMA = ? AND UPPER(TABLE_NAME) = UPPER(?) "
                "ORDER BY TABLE_NAME")
LIST_TABLES = _s("list_tables", "driver",
                 "SELECT TABLE_NAME FROM {database}.INFORMATION_SCHEMA.TABLES "
                 "WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME LIMIT 20")
TABLE_COLUMNS = _s("table_columns", "driver",
                   "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
                   "CHARACTER_MAXIMUM_LENGTH, NUMERIC_SCALE FROM {database}.INFORMATION_SCHEMA."
                   "COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION")
SHOW_PRIMARY_KEYS = _s("show_primary_keys", "driver", "SHOW PRIMARY KEYS IN TABLE {table}")
KEY_BOUNDS = _s("key_bounds", "driver",
                "SELECT MIN({column}), MAX({column}), COUNT(*) FROM {table}")
ROW_COUNT = _s("row_count", "driver", "SELECT COUNT(*) FROM {table}")
SAMPLE_COLUMN = _s("sample_column", "driver",
                   "SELECT v FROM (SELECT DISTINCT {column} AS v FROM {table} WHERE {column} IS "
                   "NOT NULL LIMIT {limit}) s ORDER BY RANDOM()")
# The benchmark's own statements (built-in kinds and custom queries) are compiled with a
# describe-only request (cursor.describe) and then executed with their binds: they are the
# user's workload, checked in preflight, not listed here.

# -- results store ---------------------------------------------------------------------------------

CREATE_SCHEMA = _s("create_schema", "store", "CREATE SCHEMA IF NOT EXISTS {schema}")
USE_SCHEMA = _s("use_schema", "store", "USE SCHEMA {schema}")
SCHEMA_VERSION = _s("schema_version", "store",
                    "SELECT VALUE FROM STORE_META WHERE KEY = 'schema_version'")
BEGIN = _s("begin", "store", "BEGIN")
COMMIT = _s("commit", "store", "COMMIT")
ROLLBACK = _s("rollback", "store", "ROLLBACK")
# UPDATE locks the (standard) table until the transaction ends (Snowflake "Transactions:
# resource locking"), so saves of one store run one after another and the next statement sees
# every save committed before it: the check below cannot race.
SAVE_LOCK = _s("save_lock", "store",
               "UPDATE STORE_META SET VALUE = VALUE WHERE KEY = 'schema_version'")
RUN_STORED = _s("run_stored", "store", "SELECT COUNT(*) FROM TEST_RESULTS WHERE RUN_ID = ?")
BULK_INSERT = _s("bulk_insert", "store",
                 "INSERT INTO {table} ({columns}) SELECT {picks} "
                 "FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f")
LIST_RUNS = _s("list_runs", "store",
               "SELECT {columns} FROM TEST_RESULTS WHERE PARENT_RUN_ID IS NULL{filters} "
               "ORDER BY STARTED_AT DESC, RUN_ID DESC LIMIT ?")
LIST_RUNS_FILTERS = (" AND (CONTAINS(TEST_ID, ?) OR CONTAINS(TEST_NAME, ?))",
                     " AND CONTAINS(TARGET, ?)",
                     " AND (UPPER(STATUS) = ? OR UPPER(VERDICT) = ?)",
                     " AND STARTED_AT >= ?")
FIND_RUN = _s("find_run", "store",
              "SELECT RUN_ID, RESULT_JSON FROM TEST_RESULTS WHERE PARENT_RUN_ID IS NULL "
              "AND STARTSWITH(RUN_ID, ?) ORDER BY (RUN_ID = ?) DESC, RUN_ID LIMIT 3")
RUN_SNAPSHOTS = _s("run_snapshots", "store",
                   "SELECT {columns} FROM WORKER_METRICS_SNAPSHOTS WHERE RUN_ID = ? "
                   "ORDER BY ORDINAL")
FIND_RUN_TEST = _s("find_run_test", "store",
                   "SELECT RUN_ID, TEST_ID FROM TEST_RESULTS WHERE PARENT_RUN_ID IS NULL "
                   "AND STARTSWITH(RUN_ID, ?) ORDER BY (RUN_ID = ?) DESC, RUN_ID LIMIT 3")
DELETE_BASELINE = _s("delete_baseline", "store", "DELETE FROM BASELINES WHERE NAME = ?")
INSERT_BASELINE = _s("insert_baseline", "store",
                     "INSERT INTO BASELINES (NAME, RUN_ID, TEST_ID) VALUES (?, ?, ?)")
GET_BASELINE = _s("get_baseline", "store", "SELECT RUN_ID FROM BASELINES WHERE NAME = ?")
LIST_BASELINES = _s("list_baselines", "store",
                    "SELECT NAME, RUN_ID, TEST_ID, CREATED_AT FROM BASELINES ORDER BY NAME")

# -- control plane (control/plane.py's statements as ControlConnection sends them) ----------------
# {sets} is a comma-separated list of COLUMN = ? (and HEARTBEAT_COUNT = HEARTBEAT_COUNT + 1).

CONTROL: tuple[Statement, ...] = (
    _s("ctl_begin", "control", "BEGIN", HYBRID),
    _s("ctl_commit", "control", "COMMIT", HYBRID),
    _s("ctl_rollback", "control", "ROLLBACK", HYBRID),
    _s("ctl_publish_benchmark", "control",
       "MERGE INTO SESSION_BENCHMARKS t USING (SELECT ? AS SESSION_ID, ? AS TEST_ID) s "
       "ON t.SESSION_ID = s.SESSION_ID AND t.TEST_ID = s.TEST_ID WHEN NOT MATCHED THEN "
       "INSERT (SESSION_ID, TEST_ID) VALUES (s.SESSION_ID, s.TEST_ID)", HYBRID),
    _s("ctl_benchmarks", "control",
       "SELECT TEST_ID FROM SESSION_BENCHMARKS WHERE SESSION_ID = ?", HYBRID),
    _s("ctl_create_run", "control",
       "MERGE INTO RUN_STATUS t USING (SELECT ? AS RUN_ID, ? AS SESSION_ID, ? AS TEST_ID, "
       "'PREPARED' AS STATUS, ? AS PARTICIPANTS_JSON, ? AS TOTAL_WORKERS_EXPECTED, "
       "? AS CREATED_AT, ? AS UPDATED_AT) s ON t.RUN_ID = s.RUN_ID WHEN NOT MATCHED THEN "
       "INSERT (RUN_ID, SESSION_ID, TEST_ID, STATUS, PARTICIPANTS_JSON, TOTAL_WORKERS_EXPECTED, "
       "CREATED_AT, UPDATED_AT) VALUES (s.RUN_ID, s.SESSION_ID, s.TEST_ID, s.STATUS, "
       "s.PARTICIPANTS_JSON, s.TOTAL_WORKERS_EXPECTED, s.CREATED_AT, s.UPDATED_AT)", HYBRID),
    _s("ctl_find_run", "control",
       "SELECT RUN_ID, SESSION_ID, TEST_ID, STATUS, PHASE, LEADER, PARTICIPANTS_JSON, "
       "RESULT_JSON, CANCELLATION_REASON FROM RUN_STATUS WHERE SESSION_ID = ? AND TEST_ID = ?",
       HYBRID),
    _s("ctl_get_run", "control",
       "SELECT RUN_ID, SESSION_ID, TEST_ID, STATUS, PHASE, LEADER, PARTICIPANTS_JSON, "
       "RESULT_JSON, CANCELLATION_REASON FROM RUN_STATUS WHERE RUN_ID = ?", HYBRID),
    _s("ctl_claim_leader", "control",
       "UPDATE RUN_STATUS SET LEADER = ? WHERE RUN_ID = ? AND LEADER IS NULL", HYBRID),
    _s("ctl_set_status", "control", "UPDATE RUN_STATUS SET {sets} WHERE RUN_ID = ?", HYBRID),
    _s("ctl_append_event", "control",
       "MERGE INTO RUN_CONTROL_EVENTS t USING (SELECT ? AS RUN_ID, ? AS SEQUENCE_ID, "
       "? AS EVENT_TYPE, ? AS TARGET_WORKER, ? AS EVENT_DATA, ? AS CREATED_AT) s "
       "ON t.RUN_ID = s.RUN_ID AND t.SEQUENCE_ID = s.SEQUENCE_ID WHEN NOT MATCHED THEN "
       "INSERT (RUN_ID, SEQUENCE_ID, EVENT_TYPE, TARGET_WORKER, EVENT_DATA, CREATED_AT) "
       "VALUES (s.RUN_ID, s.SEQUENCE_ID, s.EVENT_TYPE, s.TARGET_WORKER, s.EVENT_DATA, "
       "s.CREATED_AT)", HYBRID),
    _s("ctl_events_after", "control",
       "SELECT SEQUENCE_ID, EVENT_TYPE, TARGET_WORKER, EVENT_DATA, CREATED_AT FROM "
       "RUN_CONTROL_EVENTS WHERE RUN_ID = ? AND SEQUENCE_ID > ? AND "
       "(TARGET_WORKER IS NULL OR TARGET_WORKER = ?) ORDER BY SEQUENCE_ID", HYBRID),
    _s("ctl_mark_applied", "control",
       "MERGE INTO RUN_EVENT_APPLIED t USING (SELECT ? AS RUN_ID, ? AS SEQUENCE_ID, "
       "? AS WORKER_ID, ? AS APPLIED_AT, ? AS LAG_MS) s ON t.RUN_ID = s.RUN_ID AND "
       "t.SEQUENCE_ID = s.SEQUENCE_ID AND t.WORKER_ID = s.WORKER_ID WHEN NOT MATCHED THEN "
       "INSERT (RUN_ID, SEQUENCE_ID, WORKER_ID, APPLIED_AT, LAG_MS) VALUES (s.RUN_ID, "
       "s.SEQUENCE_ID, s.WORKER_ID, s.APPLIED_AT, s.LAG_MS)", HYBRID),
    _s("ctl_lags", "control", "SELECT LAG_MS FROM RUN_EVENT_APPLIED WHERE RUN_ID = ?", HYBRID),
    _s("ctl_leave", "control",
       "DELETE FROM WORKER_HEARTBEATS WHERE RUN_ID = ? AND WORKER_ID = ?", HYBRID),
    _s("ctl_join", "control",
       "INSERT INTO WORKER_HEARTBEATS (RUN_ID, WORKER_ID, HOST, PID, STATUS, JOINED_AT, "
       "LAST_HEARTBEAT, HEARTBEAT_COUNT, TEMPLATE_JSON, LAST_ERROR) "
       "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)", HYBRID),
    _s("ctl_heartbeat", "control",
       "UPDATE WORKER_HEARTBEATS SET {sets} WHERE RUN_ID = ? AND WORKER_ID = ?", HYBRID),
    _s("ctl_heartbeats", "control",
       "SELECT WORKER_ID, HOST, STATUS, PHASE, LAST_HEARTBEAT, LAST_ERROR, TEMPLATE_JSON, "
       "SNAPSHOT_JSON, RESULT_JSON FROM WORKER_HEARTBEATS WHERE RUN_ID = ? "
       "ORDER BY WORKER_ID", HYBRID),
    # Value pools: sql/snowflake has no TEMPLATE_VALUE_POOLS table, so on Snowflake these fail
    # and preflight samples every run (benchmark._pool ignores the error).
    _s("ctl_pool_get", "control",
       "SELECT ROW_COUNT, SAMPLE_SIZE, VALUES_JSON FROM TEMPLATE_VALUE_POOLS WHERE "
       "TABLE_IDENTITY = ? AND POOL_KIND = ? AND COLUMN_NAME = ? "
       "ORDER BY CREATED_AT DESC LIMIT 1"),
    _s("ctl_pool_put", "control",
       "INSERT INTO TEMPLATE_VALUE_POOLS (POOL_ID, TABLE_IDENTITY, POOL_KIND, COLUMN_NAME, "
       "ROW_COUNT, SAMPLE_SIZE, CREATED_AT, VALUES_JSON) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
)


def all_statements() -> tuple[Statement, ...]:
    """Every named statement of this module (DDL excluded: see ``sql/snowflake``)."""
    found = [v for v in globals().values() if isinstance(v, Statement)]
    return (*found, *CONTROL)
