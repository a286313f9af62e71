-- Attachments: photos and audio notes of cases (optionally one event of the history) and of
-- work logs, stored in the database so that every server on one database serves them (SQLite).
-- `position` numbers the files of one kind per owner from 1; the unique key makes two writers
-- racing for the last free place fail instead of both exceeding the limit. The bytes are the
-- last column, so listing the metadata never reads them.
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    owner_kind   TEXT NOT NULL,
    owner_id     BIGINT NOT NULL,
    event_seq    BIGINT,
    kind         TEXT NOT NULL CHECK (kind IN ('photo','audio')),
    position     BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    width        BIGINT,
    height       BIGINT,
    created_at   TIMESTAMP NOT NULL,
    created_by   BIGINT,
    data         BLOB NOT NULL,
    UNIQUE (owner_kind, owner_id, kind, position)
);
