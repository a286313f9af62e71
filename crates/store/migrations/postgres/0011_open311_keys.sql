-- Open311 API keys issued by administrators: only the SHA-256 of a key is kept. A key names
-- the client system it was issued to; revoking it stops its POSTs at once.
CREATE TABLE open311_keys (
    key_hash   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT,
    revoked_at TIMESTAMPTZ
);
