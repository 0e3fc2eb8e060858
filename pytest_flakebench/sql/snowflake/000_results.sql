-- pytest-flakebench results store, Snowflake.
-- Applied by `flakebench store init snowflake://user@account/DATABASE/SCHEMA?warehouse=WH`, never
-- implicitly during a test run; tables land in the URL's database and schema (created if missing).
-- Every statement is idempotent, so running the file again is harmless.
-- Identifiers are unquoted (they fold to upper case), so SQL users can type them in any case.
--
-- Results tables are standard tables (written once per run, in bulk, read by analysts).
-- Control-plane tables are HYBRID tables: row locks and enforced primary keys for the
-- second-by-second heartbeats and events. Hybrid tables need a Snowflake account on an AWS or
-- Azure commercial region (not available on trial accounts, GCP, or government regions; see
-- Snowflake's "Hybrid tables: limitations"), Enterprise edition or higher recommended.
-- `flakebench store init URL --no-hybrid` creates them as standard tables instead (accounts or
-- emulators without hybrid tables, e.g. fakesnow); then keys are not enforced by the server and
-- flakebench checks them itself (MERGE instead of INSERT ... ON CONFLICT).
-- Standard tables never enforce PRIMARY KEY/UNIQUE in Snowflake: they document the key only.

-- One row per run (PARENT_RUN_ID NULL) and, for runs on more than one worker, one row per worker
-- (RUN_ID = '<run id>:<worker id>', PARENT_RUN_ID = the run id).
CREATE TABLE IF NOT EXISTS TEST_RESULTS (
    RUN_ID            VARCHAR PRIMARY KEY,
    PARENT_RUN_ID     VARCHAR,
    WORKER_ID         VARCHAR,
    HOST              VARCHAR,
    TEST_ID           VARCHAR NOT NULL,            -- pytest node id
    TEST_NAME         VARCHAR NOT NULL,            -- template name, else the node id
    STATUS            VARCHAR NOT NULL,
    VERDICT           VARCHAR,                     -- NULL on worker rows: the verdict is the run's
    TARGET_KIND       VARCHAR,
    TARGET            VARCHAR,                     -- redacted URL, never a password
    TABLE_NAME        VARCHAR,
    MODE              VARCHAR,
    CONNECTIONS       INTEGER,
    STARTED_AT        TIMESTAMP_TZ NOT NULL,
    ENDED_AT          TIMESTAMP_TZ,
    MEASUREMENT_S     FLOAT,
    WARMUP_S          FLOAT,
    TOTAL_OPS         BIGINT,
    ERROR_COUNT       BIGINT,
    ERROR_RATE        FLOAT,
    QPS               FLOAT,
    MIN_US            BIGINT,
    MEAN_US           FLOAT,
    P50_US            BIGINT,
    P90_US            BIGINT,
    P95_US            BIGINT,
    P99_US            BIGINT,
    P999_US           BIGINT,
    MAX_US            BIGINT,
    SLO_JSON          VARIANT,
    TEMPLATE_JSON     VARIANT,
    FINGERPRINT_JSON  VARIANT,
    ERRORS_JSON       VARIANT,                    -- error classes (SQLSTATE / error code -> count)
    MESSAGES_JSON     VARIANT,
    PLUGIN_VERSION    VARCHAR,
    RESULT_JSON       VARIANT NOT NULL,           -- RunResult.to_dict(with_snapshots=False)
    CREATED_AT        TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP()
);

-- Measurement-phase statistics per kind, plus KIND = 'overall'; HISTOGRAM is the HDR wire form,
-- so percentiles can be merged exactly across runs later.
CREATE TABLE IF NOT EXISTS TEST_KIND_STATISTICS (
    RUN_ID              VARCHAR NOT NULL,
    KIND                VARCHAR NOT NULL,
    OPERATION           VARCHAR NOT NULL,
    OPS                 BIGINT NOT NULL,
    ERRORS              BIGINT NOT NULL,
    ERROR_RATE          FLOAT NOT NULL,
    QPS                 FLOAT NOT NULL,
    LATENCY_COUNT       BIGINT NOT NULL,
    MIN_US              BIGINT NOT NULL,
    MEAN_US             FLOAT NOT NULL,
    P50_US              BIGINT NOT NULL,
    P90_US              BIGINT NOT NULL,
    P95_US              BIGINT NOT NULL,
    P99_US              BIGINT NOT NULL,
    P999_US             BIGINT NOT NULL,
    MAX_US              BIGINT NOT NULL,
    CLAMPED             BIGINT NOT NULL DEFAULT 0,
    WARMUP_OPS          BIGINT NOT NULL DEFAULT 0,
    WARMUP_ERRORS       BIGINT NOT NULL DEFAULT 0,
    ERROR_CLASSES_JSON  VARIANT,
    ERROR_SAMPLES_JSON  VARIANT,
    HISTOGRAM           VARCHAR NOT NULL,
    PRIMARY KEY (RUN_ID, KIND)
);

-- One row per worker per second. TS is for humans and SQL; TS_EPOCH keeps the exact float the
-- run recorded (a timestamp column rounds to microseconds), ORDINAL the order of the run's list.
CREATE TABLE IF NOT EXISTS WORKER_METRICS_SNAPSHOTS (
    RUN_ID     VARCHAR NOT NULL,
    WORKER_ID  VARCHAR NOT NULL,
    SEQ        INTEGER NOT NULL,
    ORDINAL    INTEGER NOT NULL,
    TS         TIMESTAMP_TZ NOT NULL,
    TS_EPOCH   FLOAT NOT NULL,
    ELAPSED_S  FLOAT NOT NULL,
    PHASE      VARCHAR NOT NULL,
    OPS        BIGINT NOT NULL,
    ERRORS     BIGINT NOT NULL,
    IN_FLIGHT  INTEGER NOT NULL,
    QPS        FLOAT NOT NULL,
    P50_US     BIGINT NOT NULL,
    P95_US     BIGINT NOT NULL,
    P99_US     BIGINT NOT NULL,
    HISTOGRAM  VARCHAR NOT NULL,
    ACTIVE_CONNECTIONS INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (RUN_ID, WORKER_ID, SEQ)
);


-- ---------------------------------------------------------------------------------------------
-- Control plane: the controller (xdist controller process, or the single pytest process) drives
-- every worker through these tables. Times are epoch seconds as FLOAT; durations are measured
-- on each process's monotonic clock, never by subtracting timestamps written by two machines.

-- One row per run: its state machine (STATUS: PREPARED, STARTING, RUNNING, STOPPING, CANCELLING,
-- COMPLETED, PARTIAL, CANCELLED, FAILED, ABANDONED; PHASE: WARMUP, MEASUREMENT, COOLDOWN).
CREATE HYBRID TABLE IF NOT EXISTS RUN_STATUS (
    RUN_ID                  VARCHAR PRIMARY KEY,
    SESSION_ID              VARCHAR NOT NULL,
    TEST_ID                 VARCHAR NOT NULL,
    STATUS                  VARCHAR NOT NULL,
    PHASE                   VARCHAR,
    LEADER                  VARCHAR,                 -- the worker that reports the test
    PARTICIPANTS_JSON       VARCHAR NOT NULL,        -- worker ids the run was dispatched to
    TOTAL_WORKERS_EXPECTED  INTEGER NOT NULL,
    SCENARIO_CONFIG         VARCHAR,                 -- the resolved template (JSON)
    WORKER_TARGETS_JSON     VARCHAR,                 -- connections per worker (JSON)
    CREATED_AT              FLOAT NOT NULL,
    START_TIME              FLOAT,
    WARMUP_END              FLOAT,
    END_TIME                FLOAT,
    CANCELLATION_REASON     VARCHAR,
    RESULT_JSON             VARCHAR,                 -- the merged result once the run has ended
    UPDATED_AT              FLOAT NOT NULL,
    UNIQUE (SESSION_ID, TEST_ID)
);

-- Append-only control messages (START, STOP, SET_PHASE, SET_WORKER_TARGET), ordered per run by
-- SEQUENCE_ID; only the controller writes them, so sequence ids never race.
CREATE HYBRID TABLE IF NOT EXISTS RUN_CONTROL_EVENTS (
    RUN_ID         VARCHAR NOT NULL,
    SEQUENCE_ID    INTEGER NOT NULL,
    EVENT_TYPE     VARCHAR NOT NULL,
    TARGET_WORKER  VARCHAR,                          -- NULL: every worker
    EVENT_DATA     VARCHAR NOT NULL,
    CREATED_AT     FLOAT NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID)
);

-- Each worker applies each event once and says when: the control-plane lag.
CREATE HYBRID TABLE IF NOT EXISTS RUN_EVENT_APPLIED (
    RUN_ID       VARCHAR NOT NULL,
    SEQUENCE_ID  INTEGER NOT NULL,
    WORKER_ID    VARCHAR NOT NULL,
    APPLIED_AT   FLOAT NOT NULL,
    LAG_MS       FLOAT NOT NULL,
    PRIMARY KEY (RUN_ID, SEQUENCE_ID, WORKER_ID)
);

-- Worker liveness and status, one row per worker per run, updated every second.
CREATE HYBRID TABLE IF NOT EXISTS WORKER_HEARTBEATS (
    RUN_ID              VARCHAR NOT NULL,
    WORKER_ID           VARCHAR NOT NULL,
    HOST                VARCHAR,
    PID                 INTEGER,                  -- the worker's process id on HOST
    STATUS              VARCHAR NOT NULL,            -- JOINED, READY, RUNNING, DONE, FAILED, DEAD
    PHASE               VARCHAR,
    JOINED_AT           FLOAT NOT NULL,
    LAST_HEARTBEAT      FLOAT NOT NULL,
    HEARTBEAT_COUNT     INTEGER NOT NULL DEFAULT 0,
    ACTIVE_CONNECTIONS  INTEGER,
    TARGET_CONNECTIONS  INTEGER,
    QUERIES_PROCESSED   BIGINT,
    ERROR_COUNT         BIGINT,
    LAST_EVENT_SEQ      INTEGER NOT NULL DEFAULT 0,
    LAST_ERROR          VARCHAR,
    TEMPLATE_JSON       VARCHAR,                     -- the template as this worker resolved it
    SNAPSHOT_JSON       VARCHAR,                     -- the latest one-second snapshot
    RESULT_JSON         VARCHAR,                     -- the worker's final measurements
    PRIMARY KEY (RUN_ID, WORKER_ID)
);

-- Which collected tests are benchmarks, as published by the workers (the controller collects
-- nothing under xdist).
CREATE HYBRID TABLE IF NOT EXISTS SESSION_BENCHMARKS (
    SESSION_ID  VARCHAR NOT NULL,
    TEST_ID     VARCHAR NOT NULL,
    PRIMARY KEY (SESSION_ID, TEST_ID)
);


-- Lets check() tell "not initialised" from "initialised", and later versions migrate.
CREATE TABLE IF NOT EXISTS STORE_META (
    KEY    VARCHAR PRIMARY KEY,
    VALUE  VARCHAR NOT NULL
);
INSERT INTO STORE_META (KEY, VALUE)
    SELECT 'schema_version', '1'
    WHERE NOT EXISTS (SELECT 1 FROM STORE_META WHERE KEY = 'schema_version');
