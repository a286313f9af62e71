-- Notices (通知) from a level's centre to the grid workers and household heads of some nodes,
-- with each recipient's read and acknowledgement; and the idempotency keys of case actions and
-- uploads (issue 5), stored in the transaction of what they name so that a key sent twice, to
-- any server process on the same database, applies once.

CREATE TABLE notices (
    id               BIGINT PRIMARY KEY,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL,
    title_bo         TEXT,
    body_bo          TEXT,
    -- The target nodes, comma-separated.
    territories      TEXT NOT NULL,
    to_workers       BOOLEAN NOT NULL,
    to_heads         BOOLEAN NOT NULL,
    sender           BIGINT NOT NULL REFERENCES accounts(id),
    -- The sender's node when sending: the notice belongs to that desk.
    sender_scope     TEXT NOT NULL,
    sent_at          TIMESTAMPTZ NOT NULL,
    recipients_total BIGINT NOT NULL,
    acknowledged     BIGINT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    CHECK (to_workers OR to_heads)
);
CREATE INDEX notices_sender_scope ON notices(sender_scope, id);

-- One row per account reached, written when the notice is sent.
CREATE TABLE notice_recipients (
    notice          BIGINT NOT NULL REFERENCES notices(id),
    account         BIGINT NOT NULL REFERENCES accounts(id),
    read_at         TIMESTAMPTZ,
    acknowledged_at TIMESTAMPTZ,
    PRIMARY KEY (notice, account)
);
CREATE INDEX notice_recipients_account ON notice_recipients(account, notice);

-- A client's key (account-scoped: "<account>:<key>") for a case action or an upload, with the
-- answer it got, so that the same key again answers the same without acting again.
CREATE TABLE request_keys (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('case_action','case_attachments')),
    target     BIGINT NOT NULL,
    answer     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
