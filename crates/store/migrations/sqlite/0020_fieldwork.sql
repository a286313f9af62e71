-- Field work and statistics (sqlite): work logs (台账), daily reports (日报) and the rollups of
-- GET /api/v1/stats, kept per (territory node, day) for the node and every ancestor in the same
-- transaction as the case event, log or report that changes them.

-- Ids come from case_sequences ('worklog_id'), so a restored copy goes on numbering.
CREATE TABLE worklogs (
    id              BIGINT PRIMARY KEY,
    account         BIGINT NOT NULL REFERENCES accounts(id),
    kind            TEXT NOT NULL CHECK (kind IN ('propaganda','service','visit','hazard_inspection','dispute_screening')),
    territory       TEXT NOT NULL REFERENCES territories(code),
    at              TIMESTAMP NOT NULL,
    day             DATE NOT NULL,
    details         TEXT NOT NULL,
    -- The case a hazard found became.
    case_id         BIGINT REFERENCES cases(id),
    idempotency_key TEXT UNIQUE,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX worklogs_account ON worklogs(account, id);
CREATE INDEX worklogs_territory ON worklogs(territory, day);

-- One per person per day; a second one replaces the first.
CREATE TABLE daily_reports (
    account           BIGINT NOT NULL REFERENCES accounts(id),
    day               DATE NOT NULL,
    territory         TEXT NOT NULL REFERENCES territories(code),
    nothing_to_report BOOLEAN NOT NULL,
    text              TEXT,
    idempotency_key   TEXT,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (account, day)
);
CREATE INDEX daily_reports_territory ON daily_reports(territory, day);

-- category is '' for metrics that are not per category (see domain::stats::metric).
CREATE TABLE territory_day_stats (
    territory TEXT NOT NULL,
    day       DATE NOT NULL,
    metric    TEXT NOT NULL,
    category  TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (territory, day, metric, category)
);
