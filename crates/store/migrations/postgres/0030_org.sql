-- The "8+" organisation kept true by administrators: the history of every change, the audit of
-- every reveal of personal data, the provenance of imported legacy cases (PostgreSQL).

-- Every change to members, units, households, groups, monasteries, enterprises and pairings:
-- who, when, through which door, and the row before and after (JSON). Ids come from
-- case_sequences (`org:org_changes`), never from an engine's own sequence, so a restored copy
-- goes on numbering after its highest id.
CREATE TABLE org_changes (
    id         BIGINT PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    account    BIGINT REFERENCES accounts(id),
    via        TEXT NOT NULL CHECK (via IN ('page','api','import')),
    entity     TEXT NOT NULL CHECK (entity IN ('member','unit','household','group','monastery','enterprise','pairing','territory')),
    entity_id  TEXT NOT NULL,
    -- Where the thing is, so history reads are scoped like everything else.
    territory  TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('create','update','delete')),
    before     TEXT,
    after      TEXT
);
CREATE INDEX org_changes_entity ON org_changes(entity, entity_id, id);
CREATE INDEX org_changes_territory ON org_changes(territory, id);

-- Every disclosure of personal data (an unmasked household, an export with ID numbers): who saw
-- what, when, and why. Generic on purpose: other areas add their own `action`s.
CREATE TABLE audit_log (
    id           BIGINT PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    account      BIGINT REFERENCES accounts(id),
    role         TEXT,
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    territory    TEXT,
    detail       TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_subject ON audit_log(subject_kind, subject_id);

-- Where an imported case came from: one row per source record, so re-running an import never
-- duplicates a case, and the source's own location, type and status are kept.
CREATE TABLE case_imports (
    case_id       BIGINT PRIMARY KEY REFERENCES cases(id),
    source        TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    file          TEXT NOT NULL,
    line          BIGINT NOT NULL,
    source_type   TEXT,
    source_status TEXT,
    source_area   TEXT,
    source_lng    DOUBLE PRECISION,
    source_lat    DOUBLE PRECISION,
    imported_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (source, source_id)
);

-- Duplicate ID numbers are refused on every write and import.
CREATE INDEX households_id_number ON households(id_number);
CREATE INDEX monasteries_name ON monasteries(name);
CREATE INDEX enterprises_name ON enterprises(name);
