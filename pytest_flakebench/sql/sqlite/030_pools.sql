-- Value pools: values sampled once from a target table (keys of a non-integer key column, or a
-- column a custom query samples from), cached with the table's identity and row count so later
-- runs reuse them; a pool whose table grew or shrank by more than 10 % is sampled again.
CREATE TABLE IF NOT EXISTS TEMPLATE_VALUE_POOLS (
    POOL_ID        TEXT PRIMARY KEY,
    TABLE_IDENTITY TEXT NOT NULL,      -- redacted target URL + table name
    POOL_KIND      TEXT NOT NULL,      -- KEY or COLUMN
    COLUMN_NAME    TEXT NOT NULL,
    ROW_COUNT      BIGINT NOT NULL,    -- the table's rows when sampled
    SAMPLE_SIZE    INTEGER NOT NULL,
    CREATED_AT     REAL NOT NULL,
    VALUES_JSON    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS TEMPLATE_VALUE_POOLS_IX
    ON TEMPLATE_VALUE_POOLS (TABLE_IDENTITY, POOL_KIND, COLUMN_NAME, CREATED_AT);
