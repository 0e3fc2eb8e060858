-- Named baselines: `flakebench baseline set NAME RUN_ID`, used by --flakebench-compare=baseline:NAME.
CREATE TABLE IF NOT EXISTS BASELINES (
    NAME        VARCHAR PRIMARY KEY,
    RUN_ID      VARCHAR NOT NULL,                -- a parent run of TEST_RESULTS
    TEST_ID     VARCHAR NOT NULL,                -- the run's test, for listing
    CREATED_AT  TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP()
);
