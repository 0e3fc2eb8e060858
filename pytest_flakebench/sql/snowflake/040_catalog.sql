-- Standard tables (not hybrid): Snowflake does not enforce these primary keys, so the
-- catalog code checks for duplicates itself inside its transactions.
-- Stored connections: the URL without its password, the password sealed with AES-256-GCM under
-- FLAKEBENCH_CREDENTIAL_KEY (base64 of nonce || ciphertext || tag, the NAME bound as associated
-- data), and the key's short id (first 8 hex digits of sha256(key)). Times are epoch seconds.
CREATE TABLE IF NOT EXISTS CONNECTIONS (
    NAME        VARCHAR PRIMARY KEY,
    KIND        VARCHAR NOT NULL,       -- postgresql, snowflake or sqlite
    URL         VARCHAR NOT NULL,       -- redacted: never a password
    CREDENTIALS VARCHAR,                -- sealed password, NULL when there is none
    KEY_ID      VARCHAR,
    CREATED_AT  FLOAT NOT NULL,
    UPDATED_AT  FLOAT NOT NULL
);
-- Stored templates: every pushed version is kept (`flakebench templates push|list|pull`).
CREATE TABLE IF NOT EXISTS TEST_TEMPLATES (
    NAME        VARCHAR NOT NULL,
    VERSION     INTEGER NOT NULL,
    CONFIG      VARCHAR NOT NULL,       -- the template fields as JSON
    CREATED_AT  FLOAT NOT NULL,
    PRIMARY KEY (NAME, VERSION)
);
