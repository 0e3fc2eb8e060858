-- Per-query records, sampled (--flakebench-query-sample RATE; off by default). Recorded by each
-- worker outside the timed region, sent with its final report and bulk loaded by the controller
-- in the run's transaction. STARTED_AT is epoch seconds on the worker's clock.
CREATE TABLE IF NOT EXISTS QUERY_EXECUTIONS (
    RUN_ID      TEXT NOT NULL,
    WORKER_ID   TEXT NOT NULL,
    SEQ         INTEGER NOT NULL,
    KIND        TEXT NOT NULL,
    PHASE       TEXT NOT NULL,
    STARTED_AT  REAL NOT NULL,
    LATENCY_US  BIGINT NOT NULL,
    OK          INTEGER NOT NULL,
    ERROR_CODE  TEXT,
    PRIMARY KEY (RUN_ID, WORKER_ID, SEQ)
);
