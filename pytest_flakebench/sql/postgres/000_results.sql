-- pytest-flakebench results store, PostgreSQL.
-- Applied by `flakebench store init postgresql://...`, never implicitly during a test run.
-- Every statement is idempotent, so running the file again is harmless.
-- Identifiers are unquoted (they fold to lower case), so SQL users can type them in any case.

CREATE SCHEMA IF NOT EXISTS flakebench;

-- One row per run (PARENT_RUN_ID NULL) and, for runs on more than one worker, one row per worker
-- (RUN_ID = '<run id>:<worker id>', PARENT_RUN_ID = the run id).
CREATE TABLE IF NOT EXISTS flakebench.TEST_RESULTS (
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
    STARTED_AT        TIMESTAMPTZ NOT NULL,
    ENDED_AT          TIMESTAMPTZ,
    MEASUREMENT_S     DOUBLE PRECISION,
    WARMUP_S          DOUBLE PRECISION,
    TOTAL_OPS         BIGINT,
    ERROR_COUNT       BIGINT,
    ERROR_RATE        DOUBLE PRECISION,
    QPS               DOUBLE PRECISION,
    MIN_US            BIGINT,
    MEAN_US           DOUBLE PRECISION,
    P50_US            BIGINT,
    P90_US            BIGINT,
    P95_US            BIGINT,
    P99_US            BIGINT,
    P999_US           BIGINT,
    MAX_US            BIGINT,
    SLO_JSON          JSONB,
    TEMPLATE_JSON     JSONB,
    FINGERPRINT_JSON  JSONB,
    ERRORS_JSON       JSONB,                    -- error classes (SQLSTATE / error code -> count)
    MESSAGES_JSON     JSONB,
    PLUGIN_VERSION    TEXT,
    RESULT_JSON       JSONB NOT NULL,           -- RunResult.to_dict(with_snapshots=False)
    CREATED_AT        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_TEST_ID_IX ON flakebench.TEST_RESULTS (TEST_ID, STARTED_AT);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_STARTED_AT_IX ON flakebench.TEST_RESULTS (STARTED_AT);
CREATE INDEX IF NOT EXISTS TEST_RESULTS_PARENT_IX ON flakebench.TEST_RESULTS (PARENT_RUN_ID);

-- Measurement-phase statistics per kind, plus KIND = 'overall'; HISTOGRAM is the HDR wire form,
-- so percentiles can be merged exactly across runs later.
CREATE TABLE IF NOT EXISTS flakebench.TEST_KIND_STATISTICS (
    RUN_ID              TEXT NOT NULL,
    KIND                TEXT NOT NULL,
    OPERATION           TEXT NOT NULL,
    OPS                 BIGINT NOT NULL,
    ERRORS              BIGINT NOT NULL,
    ERROR_RATE          DOUBLE PRECISION NOT NULL,
    QPS                 DOUBLE PRECISION NOT NULL,
    LATENCY_COUNT       BIGINT NOT NULL,
    MIN_US              BIGINT NOT NULL,
    MEAN_US             DOUBLE PRECISION NOT NULL,
    P50_US              BIGINT NOT NULL,
    P90_US              BIGINT NOT NULL,
    P95_US              BIGINT NOT NULL,
    P99_US              BIGINT NOT NULL,
    P999_US             BIGINT NOT NULL,
    MAX_US              BIGINT NOT NULL,
    CLAMPED             BIGINT NOT NULL DEFAULT 0,
    WARMUP_OPS          BIGINT NOT NULL DEFAULT 0,
    WARMUP_ERRORS       BIGINT NOT NULL DEFAULT 0,
    ERROR_CLASSES_JSON  JSONB,
    ERROR_SAMPLES_JSON  JSONB,
    HISTOGRAM           TEXT NOT NULL,
    PRIMARY KEY (RUN_ID, KIND)
);

-- One row per worker per second. TS is for humans and SQL; TS_EPOCH keeps the exact float the
-- run recorded (a timestamp column rounds to microseconds), ORDINAL the order of the run's list.
CREATE TABLE IF NOT EXISTS flakebench.WORKER_METRICS_SNAPSHOTS (
    RUN_ID     TEXT NOT NULL,
    WORKER_ID  TEXT NOT NULL,
    SEQ        INTEGER NOT NULL,
    ORDINAL    INTEGER NOT NULL,
    TS         TIMESTAMPTZ NOT NULL,
    TS_EPOCH   DOUBLE PRECISION NOT NULL,
    ELAPSED_S  DOUBLE PRECISION NOT NULL,
    PHASE      TEXT NOT NULL,
    OPS        BIGINT NOT NULL,
    ERRORS     BIGINT NOT NULL,
    IN_FLIGHT  INTEGER NOT NULL,
    QPS        DOUBLE PRECISION NOT NULL,
    P50_US     BIGINT NOT NULL,
    P95_US     BIGINT NOT NULL,
    P99_US     BIGINT NOT NULL,
    HISTOGRAM  TEXT NOT NULL,
    ACTIVE_CONNECTIONS INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (RUN_ID, WORKER_ID, SEQ)
);

-- Columns added after the first release of the schema.
ALTER TABLE flakebench.WORKER_METRICS_SNAPSHOTS
    ADD COLUMN IF NOT EXISTS ACTIVE_CONNECTIONS INTEGER NOT NULL DEFAULT 0;

-- ---------------------------------------------------------------------------------------------
-- Control plane: the controller (xdist controller process, or the single pytest process) drives
-- every worker through these tables. Times are epoch seconds as DOUBLE PRECISION; durations are measured
-- on each process's monotonic clock, never by subtracting timestamps written by two machines.

-- One row per run: its state machine (STATUS: PREPARED, STARTING, RUNNING, STOPPING, CANCELLING,
-- COMPLETED, PARTIAL, CANCELLED, FAILED, ABANDONED; PHASE: WARMUP, MEASUREMENT, COOLDOWN).
CREATE TABLE IF NOT EXISTS flakebench.RUN_STATUS (
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
    CREATED_AT              DOUBLE PRECISION NOT NULL,
    START_TIME              DOUBLE PRECISION,
    WARMUP_END              DOUBLE PRECISION,
    END_TIME                DOUBLE PRECISION,
    CANCELLATION_REASON     TEXT,
    RESULT_JSON             TEXT,                 -- the merged result once the run has ended
    UPDATED_AT              DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS RUN_STATUS_SESSION_TEST_UX ON flakebench.RUN_STATUS (SESSION_ID, TEST_ID);

-- Append-only control messages (START, STOP, SET_PHASE, SET_WORKER_TARGET), ordered per run by
-- SEQUENCE_ID; only the controller writes them, so sequence ids never race.
CREATE TABLE IF NOT EXISTS flakebench.RUN_CONTROL_EVENTS (
    RUN_ID         TEXT NOT NULL,
    SEQUENCE_ID    INTEGER NOT NULL,
    EVENT_TYPE     TEXT NOT NULL,
    TARGET_WORKER  TEXT,                          -- NULL: every worker
    EVENT_DATA     TEXT NOT NULL,
    CREATED_AT     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID)
);

-- Each worker applies each event once and says when: the control-plane lag.
CREATE TABLE IF NOT EXISTS flakebench.RUN_EVENT_APPLIED (
    RUN_ID       TEXT NOT NULL,
    SEQUENCE_ID  INTEGER NOT NULL,
    WORKER_ID    TEXT NOT NULL,
    APPLIED_AT   DOUBLE PRECISION NOT NULL,
    LAG_MS       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID, WORKER_ID)
);

-- Worker liveness and status, one row per worker per run, updated every second.
CREATE TABLE IF NOT EXISTS flakebench.WORKER_HEARTBEATS (
    RUN_ID              TEXT NOT NULL,
    WORKER_ID           TEXT NOT NULL,
    HOST                TEXT,
    PID                 INTEGER,                  -- the worker's process id on HOST
    STATUS              TEXT NOT NULL,            -- JOINED, READY, RUNNING, DONE, FAILED, DEAD
    PHASE               TEXT,
    JOINED_AT           DOUBLE PRECISION NOT NULL,
    LAST_HEARTBEAT      DOUBLE PRECISION NOT NULL,
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
CREATE TABLE IF NOT EXISTS flakebench.SESSION_BENCHMARKS (
    SESSION_ID  TEXT NOT NULL,
    TEST_ID     TEXT NOT NULL,
    PRIMARY KEY (SESSION_ID, TEST_ID)
);

-- Columns added after the control tables first shipped.
ALTER TABLE flakebench.WORKER_HEARTBEATS ADD COLUMN IF NOT EXISTS PID INTEGER;

-- Lets check() tell "not initialised" from "initialised", and later versions migrate.
CREATE TABLE IF NOT EXISTS flakebench.STORE_META (
    KEY    TEXT PRIMARY KEY,
    VALUE  TEXT NOT NULL
);
INSERT INTO flakebench.STORE_META (KEY, VALUE) VALUES ('schema_version', '1')
    ON CONFLICT (KEY) DO NOTHING;
