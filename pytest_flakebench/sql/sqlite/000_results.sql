-- pytest-flakebench results store, SQLite (the embedded default).
-- Applied on first use of the file and by `flakebench store init sqlite:///...`.
-- Every statement is idempotent, so running the file again is harmless.
-- SQLite has no schemas, JSON or timestamp types: JSON is TEXT, timestamps are UTC ISO-8601 TEXT
-- ('YYYY-MM-DD HH:MM:SS.ffffff+00:00', fixed width so text order is time order).

-- One row per run (PARENT_RUN_ID NULL) and, for runs on more than one worker, one row per worker
-- (RUN_ID = '<run id>:<worker id>', PARENT_RUN_ID = the run id).
CREATE TABLE IF NOT EXISTS TEST_RESULTS (
    RUN_ID            TEXT PRIMARY KEY,
    PARENT_RUN_ID     TEXT,
    WORKER_ID         TEXT,
    HOST              TEXT,
    TEST_ID           TEXT NOT NULL,            -- pytest node id
    TEST_NAME         TEXT NOT NULL,            -- template name, else the node id
    STATUS            TEXT NOT NULL,
    VERDICT           TEXT,                     -- NULL on worker rows: the verdict is the run's
    TARGET_KIND       TEXT,
    TARGET            TEXT,                     -- redacted URL, never a password
    TABLE_NAME        TEXT,
    MODE              TEXT,
    CONNECTIONS       INTEGER,
    STARTED_AT        TEXT NOT NULL,
    ENDED_AT          TEXT,
    MEASUREMENT_S     REAL,
    WARMUP_S          REAL,
    TOTAL_OPS         BIGINT,
    ERROR_COUNT       BIGINT,
    ERROR_RATE        REAL,
    QPS               REAL,
    MIN_US            BIGINT,
    MEAN_US           REAL,
    P50_US            BIGINT,
    P90_US            BIGINT,
    P95_US            BIGINT,
    P99_US            BIGINT,
    P999_US           BIGINT,
    MAX_US            BIGINT,
    SLO_JSON          TEXT,
    TEMPLATE_JSON     TEXT,
    FINGERPRINT_JSON  TEXT,
    ERRORS_JSON       TEXT,                    -- error classes (SQLSTATE / error code -> count)
    MESSAGES_JSON     TEXT,
    PLUGIN_VERSION    TEXT,
    RESULT_JSON       TEXT NOT NULL,           -- RunResult.to_dict(with_snapshots=False)
    CREATED_AT        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_TEST_ID_IX ON TEST_RESULTS (TEST_ID, STARTED_AT);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_STARTED_AT_IX ON TEST_RESULTS (STARTED_AT);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_PARENT_IX ON TEST_RESULTS (PARENT_RUN_ID);

-- Measurement-phase statistics per kind, plus KIND = 'overall'; HISTOGRAM is the HDR wire form,
-- so percentiles can be merged exactly across runs later.
CREATE TABLE IF NOT EXISTS TEST_KIND_STATISTICS (
    RUN_ID              TEXT NOT NULL,
    KIND                TEXT NOT NULL,
    OPERATION           TEXT NOT NULL,
    OPS                 BIGINT NOT NULL,
    ERRORS              BIGINT NOT NULL,
    ERROR_RATE          REAL NOT NULL,
    QPS                 REAL NOT NULL,
    LATENCY_COUNT       BIGINT NOT NULL,
    MIN_US              BIGINT NOT NULL,
    MEAN_US             REAL NOT NULL,
    P50_US              BIGINT NOT NULL,
    P90_US              BIGINT NOT NULL,
    P95_US              BIGINT NOT NULL,
    P99_US              BIGINT NOT NULL,
    P999_US             BIGINT NOT NULL,
    MAX_US              BIGINT NOT NULL,
    CLAMPED             BIGINT NOT NULL DEFAULT 0,
    WARMUP_OPS          BIGINT NOT NULL DEFAULT 0,
    WARMUP_ERRORS       BIGINT NOT NULL DEFAULT 0,
    ERROR_CLASSES_JSON  TEXT,
    ERROR_SAMPLES_JSON  TEXT,
    HISTOGRAM           TEXT NOT NULL,
    PRIMARY KEY (RUN_ID, KIND)
);

-- One row per worker per second. TS is for humans and SQL; TS_EPOCH keeps the exact float the
-- run recorded (a timestamp column rounds to microseconds), ORDINAL the order of the run's list.
CREATE TABLE IF NOT EXISTS WORKER_METRICS_SNAPSHOTS (
    RUN_ID     TEXT NOT NULL,
    WORKER_ID  TEXT NOT NULL,
    SEQ        INTEGER NOT NULL,
    ORDINAL    INTEGER NOT NULL,
    TS         TEXT NOT NULL,
    TS_EPOCH   REAL NOT NULL,
    ELAPSED_S  REAL NOT NULL,
    PHASE      TEXT NOT NULL,
    OPS        BIGINT NOT NULL,
    ERRORS     BIGINT NOT NULL,
    IN_FLIGHT  INTEGER NOT NULL,
    QPS        REAL NOT NULL,
    P50_US     BIGINT NOT NULL,
    P95_US     BIGINT NOT NULL,
    P99_US     BIGINT NOT NULL,
    HISTOGRAM  TEXT NOT NULL,
    ACTIVE_CONNECTIONS INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (RUN_ID, WORKER_ID, SEQ)
);

-- ---------------------------------------------------------------------------------------------
-- Control plane: the controller (xdist controller process, or the single pytest process) drives
-- every worker through these tables. Times are epoch seconds as REAL; durations are measured
-- on each process's monotonic clock, never by subtracting timestamps written by two machines.

-- One row per run: its state machine (STATUS: PREPARED, STARTING, RUNNING, STOPPING, CANCELLING,
-- COMPLETED, PARTIAL, CANCELLED, FAILED, ABANDONED; PHASE: WARMUP, MEASUREMENT, COOLDOWN).
CREATE TABLE IF NOT EXISTS RUN_STATUS (
    RUN_ID                  TEXT PRIMARY KEY,
    SESSION_ID              TEXT NOT NULL,
    TEST_ID                 TEXT NOT NULL,
    STATUS                  TEXT NOT NULL,
    PHASE                   TEXT,
    LEADER                  TEXT,                 -- the worker that reports the test
    PARTICIPANTS_JSON       TEXT NOT NULL,        -- worker ids the run was dispatched to
    TOTAL_WORKERS_EXPECTED  INTEGER NOT NULL,
    SCENARIO_CONFIG         TEXT,                 -- the resolved template (JSON)
    WORKER_TARGETS_JSON     TEXT,                 -- connections per worker (JSON)
    CREATED_AT              REAL NOT NULL,
    START_TIME              REAL,
    WARMUP_END              REAL,
    END_TIME                REAL,
    CANCELLATION_REASON     TEXT,
    RESULT_JSON             TEXT,                 -- the merged result once the run has ended
    UPDATED_AT              REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS RUN_STATUS_SESSION_TEST_UX ON RUN_STATUS (SESSION_ID, TEST_ID);

-- Append-only control messages (START, STOP, SET_PHASE, SET_WORKER_TARGET), ordered per run by
-- SEQUENCE_ID; only the controller writes them, so sequence ids never race.
CREATE TABLE IF NOT EXISTS RUN_CONTROL_EVENTS (
    RUN_ID         TEXT NOT NULL,
    SEQUENCE_ID    INTEGER NOT NULL,
    EVENT_TYPE     TEXT NOT NULL,
    TARGET_WORKER  TEXT,                          -- NULL: every worker
    EVENT_DATA     TEXT NOT NULL,
    CREATED_AT     REAL NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID)
);

-- Each worker applies each event once and says when: the control-plane lag.
CREATE TABLE IF NOT EXISTS RUN_EVENT_APPLIED (
    RUN_ID       TEXT NOT NULL,
    SEQUENCE_ID  INTEGER NOT NULL,
    WORKER_ID    TEXT NOT NULL,
    APPLIED_AT   REAL NOT NULL,
    LAG_MS       REAL NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID, WORKER_ID)
);

-- Worker liveness and status, one row per worker per run, updated every second.
CREATE TABLE IF NOT EXISTS WORKER_HEARTBEATS (
    RUN_ID              TEXT NOT NULL,
    WORKER_ID           TEXT NOT NULL,
    HOST                TEXT,
    PID                 INTEGER,                  -- the worker's process id on HOST
    STATUS              TEXT NOT NULL,            -- JOINED, READY, RUNNING, DONE, FAILED, DEAD
    PHASE               TEXT,
    JOINED_AT           REAL NOT NULL,
    LAST_HEARTBEAT      REAL NOT NULL,
    HEARTBEAT_COUNT     INTEGER NOT NULL DEFAULT 0,
    ACTIVE_CONNECTIONS  INTEGER,
    TARGET_CONNECTIONS  INTEGER,
    QUERIES_PROCESSED   BIGINT,
    ERROR_COUNT         BIGINT,
    LAST_EVENT_SEQ      INTEGER NOT NULL DEFAULT 0,
    LAST_ERROR          TEXT,
    TEMPLATE_JSON       TEXT,                     -- the template as this worker resolved it
    SNAPSHOT_JSON       TEXT,                     -- the latest one-second snapshot
    RESULT_JSON         TEXT,                     -- the worker's final measurements
    PRIMARY KEY (RUN_ID, WORKER_ID)
);

-- Which collected tests are benchmarks, as published by the workers (the controller collects
-- nothing under xdist).
CREATE TABLE IF NOT EXISTS SESSION_BENCHMARKS (
    SESSION_ID  TEXT NOT NULL,
    TEST_ID     TEXT NOT NULL,
    PRIMARY KEY (SESSION_ID, TEST_ID)
);

-- Lets check() tell "not initialised" from "initialised", and later versions migrate.
CREATE TABLE IF NOT EXISTS STORE_META (
    KEY    TEXT PRIMARY KEY,
    VALUE  TEXT NOT NULL
);
INSERT INTO STORE_META (KEY, VALUE) VALUES ('schema_version', '1')
    ON CONFLICT (KEY) DO NOTHING;
