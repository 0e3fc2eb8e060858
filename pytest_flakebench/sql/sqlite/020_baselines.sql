-- Named baselines: `flakebench baseline set NAME RUN_ID`, used by --flakebench-compare=baseline:NAME.
CREATE TABLE IF NOT EXISTS BASELINES (
    NAME        TEXT PRIMARY KEY,
    RUN_ID      TEXT NOT NULL,                -- a parent run of TEST_RESULTS
    TEST_ID     TEXT NOT NULL,                -- the run's test, for listing
    CREATED_AT  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
