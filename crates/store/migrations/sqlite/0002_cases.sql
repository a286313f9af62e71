-- Cases: the current state of each case (a cache of its history), the append-only history,
-- assessment counters kept in the same transaction, search terms, clock timers, categories
-- and settings (SQLite).
-- Named counters handed out in blocks: `case_id`, and `code:<yyyy-mm-dd>` for the daily
-- sequence of case codes.
CREATE TABLE case_sequences (
    name TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);

CREATE TABLE cases (
    id              BIGINT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('submitted','accepted','dispatched','in_progress','handled','revisit','closed','parked','rejected','merged')),
    category        TEXT NOT NULL,
    territory       TEXT NOT NULL REFERENCES territories(code),
    centre          TEXT NOT NULL,
    handling_unit   TEXT NOT NULL,
    handling_level  TEXT NOT NULL,
    urgency         TEXT NOT NULL CHECK (urgency IN ('normal','urgent')),
    channel         TEXT NOT NULL,
    title           TEXT,
    description     TEXT NOT NULL,
    lng             DOUBLE PRECISION,
    lat             DOUBLE PRECISION,
    reporter_name   TEXT,
    reporter_phone  TEXT,
    reporter_account BIGINT,
    routed_unit     TEXT,
    routing_reason  TEXT,
    idempotency_key TEXT UNIQUE,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    step            TEXT,
    step_started_at TIMESTAMP,
    deadline        TIMESTAMP,
    version         BIGINT NOT NULL,
    state           TEXT NOT NULL
);
CREATE INDEX cases_territory ON cases(territory, id);
CREATE INDEX cases_status ON cases(status, id);
CREATE INDEX cases_handling_unit ON cases(handling_unit, status);
CREATE INDEX cases_centre ON cases(centre, status);
CREATE INDEX cases_deadline ON cases(deadline);
CREATE INDEX cases_category ON cases(category, id);

CREATE TABLE case_events (
    case_id     BIGINT NOT NULL REFERENCES cases(id),
    seq         BIGINT NOT NULL,
    at          TIMESTAMP NOT NULL,
    action      TEXT NOT NULL,
    by_account  BIGINT,
    by_role     TEXT,
    by_level    TEXT,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_events_at ON case_events(at);

CREATE TABLE case_counters (
    unit    TEXT NOT NULL,
    day     DATE NOT NULL,
    counter TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (unit, day, counter)
);
CREATE INDEX case_counters_day ON case_counters(day);

CREATE TABLE case_terms (
    term    TEXT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    PRIMARY KEY (term, case_id)
) WITHOUT ROWID;

-- Cases whose search terms are still to be written: intake only appends the id here, and the
-- indexer writes the terms in large batches a moment later (or before any search).
CREATE TABLE search_backlog (
    case_id BIGINT PRIMARY KEY REFERENCES cases(id)
);

CREATE TABLE case_timers (
    case_id  BIGINT NOT NULL REFERENCES cases(id),
    kind     TEXT NOT NULL CHECK (kind IN ('yellow_card','red_card')),
    version  BIGINT NOT NULL,
    due_at   TIMESTAMP NOT NULL,
    fired_at TIMESTAMP,
    PRIMARY KEY (case_id, kind)
);
CREATE INDEX case_timers_due ON case_timers(fired_at, due_at);

-- The mediation record of a dispute case (DOMAIN.md §3 Disputes), as JSON.
CREATE TABLE mediation_records (
    case_id    BIGINT PRIMARY KEY REFERENCES cases(id),
    body       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by BIGINT NOT NULL
);

CREATE TABLE categories (
    code     TEXT PRIMARY KEY,
    parent   TEXT,
    position BIGINT NOT NULL,
    body     TEXT NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
