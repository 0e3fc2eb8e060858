-- Stored connections: the URL without its password, the password sealed with AES-256-GCM under
-- FLAKEBENCH_CREDENTIAL_KEY (base64 of nonce || ciphertext || tag, the NAME bound as associated
-- data), and the key's short id (first 8 hex digits of sha256(key)). Times are epoch seconds.
CREATE TABLE IF NOT EXISTS CONNECTIONS (
    NAME        TEXT PRIMARY KEY,
    KIND        TEXT NOT NULL,       -- postgresql, snowflake or sqlite
    URL         TEXT NOT NULL,       -- redacted: never a password
    CREDENTIALS TEXT,                -- sealed password, NULL when there is none
    KEY_ID      TEXT,
    CREATED_AT  REAL NOT NULL,
    UPDATED_AT  REAL NOT NULL
);
-- Stored templates: every pushed version is kept (`flakebench templates push|list|pull`).
CREATE TABLE IF NOT EXISTS TEST_TEMPLATES (
    NAME        TEXT NOT NULL,
    VERSION     INTEGER NOT NULL,
    CONFIG      TEXT NOT NULL,       -- the template fields as JSON
    CREATED_AT  REAL NOT NULL,
    PRIMARY KEY (NAME, VERSION)
);
