-- The live feed (SQLite): case events written in the same transaction as the case, and
-- incident events published after their commit; the server's event hub reads new rows in id
-- order (one writer: ids are in commit order) and fans them out to its event-stream clients.
-- Rows are pruned after a few days: this is a feed for live views and resumption, not history.
CREATE TABLE live_feed (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TIMESTAMP NOT NULL,
    kind      TEXT NOT NULL,
    territory TEXT NOT NULL,
    centre    TEXT,
    case_id   BIGINT,
    body      TEXT NOT NULL
);
CREATE INDEX live_feed_at ON live_feed (at);
