-- Emergency response (应急预案, 一声令): plans, incidents, the instructions an activation sends,
-- the roll call of every household of the area with its full history, and per-village roll-call
-- counters kept in the same transaction as each roll-call update (PostgreSQL).

-- A plan per hazard: its levels, tasks, texts and checklists as JSON (domain::emergency::Plan).
CREATE TABLE emergency_plans (
    code       TEXT PRIMARY KEY,
    hazard     TEXT NOT NULL CHECK (hazard IN ('debris_flow','flood','earthquake','snow_disaster','fire','epidemic')),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- An activated plan. `plan_body` is the plan as it was at activation (a later edit of the plan
-- does not change what was ordered). `territories` lists the area's nodes, comma-separated.
CREATE TABLE incidents (
    id                        BIGINT PRIMARY KEY,
    plan                      TEXT NOT NULL REFERENCES emergency_plans(code),
    plan_body                 TEXT NOT NULL,
    title                     TEXT NOT NULL,
    level                     BIGINT NOT NULL CHECK (level BETWEEN 1 AND 4),
    status                    TEXT NOT NULL CHECK (status IN ('active','stood_down')),
    territories               TEXT NOT NULL,
    activated_by              BIGINT REFERENCES accounts(id),
    activated_at              TIMESTAMPTZ NOT NULL,
    stood_down_at             TIMESTAMPTZ,
    households_total          BIGINT NOT NULL,
    instructions_total        BIGINT NOT NULL,
    instructions_acknowledged BIGINT NOT NULL,
    events_last               BIGINT NOT NULL
);
CREATE INDEX incidents_status ON incidents(status, id);

-- The area's nodes, one row each, with the LIKE prefix of their subtree.
CREATE TABLE incident_territories (
    incident BIGINT NOT NULL REFERENCES incidents(id),
    code     TEXT NOT NULL REFERENCES territories(code),
    prefix   TEXT NOT NULL,
    PRIMARY KEY (incident, code)
);

-- The append-only timeline: activation, level changes, orders, situation reports (续报),
-- stand-down. `seq` counts from 1 per incident (incidents.events_last).
CREATE TABLE incident_events (
    incident BIGINT NOT NULL REFERENCES incidents(id),
    seq      BIGINT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    account  BIGINT REFERENCES accounts(id),
    kind     TEXT NOT NULL CHECK (kind IN ('activated','level_changed','report','order','stood_down')),
    level    BIGINT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (incident, seq)
);

-- One instruction per member or unit reached. `role` picks the plan's task; `level` is the
-- response level it was sent at (a level change sends it again and asks for a new
-- acknowledgement).
--
-- This table and the two below are written by set-based INSERT … SELECT from rows that exist
-- in the same transaction (the incident, members, units, households); they carry no foreign
-- keys on purpose: PostgreSQL checks a foreign key row by row, and on a whole-prefecture
-- activation those checks alone took three times the 2 s budget.
CREATE TABLE incident_instructions (
    incident        BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    member          BIGINT,
    unit            TEXT,
    role            TEXT NOT NULL CHECK (role IN ('militia','grid_worker','household_head','cadre','department','centre')),
    territory       TEXT NOT NULL,
    level           BIGINT NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by BIGINT,
    PRIMARY KEY (incident, seq),
    CHECK ((member IS NULL) <> (unit IS NULL))
);
CREATE INDEX incident_instructions_member ON incident_instructions(member, incident);
CREATE INDEX incident_instructions_unit ON incident_instructions(unit, incident);
CREATE INDEX incident_instructions_open ON incident_instructions(incident, acknowledged_at);

-- The current roll-call status of every household of the area (a cache of its history: the
-- latest observation wins). `version` counts the household's history rows.
CREATE TABLE incident_households (
    incident   BIGINT NOT NULL,
    household  BIGINT NOT NULL,
    village    TEXT NOT NULL,
    grid       TEXT NOT NULL,
    group_code TEXT,
    status     TEXT NOT NULL CHECK (status IN ('safe','evacuated','injured','missing','unreached')),
    status_at  TIMESTAMPTZ,
    updated_by BIGINT,
    note       TEXT,
    version    BIGINT NOT NULL,
    PRIMARY KEY (incident, household)
);
CREATE INDEX incident_households_status ON incident_households(incident, status, household);

-- Every roll-call report ever made, including those a later observation superseded. No
-- foreign keys either: a whole prefecture's roll call writes 200,000 rows here.
CREATE TABLE incident_rollcall_history (
    incident    BIGINT NOT NULL,
    household   BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('safe','evacuated','injured','missing','unreached')),
    observed_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    account     BIGINT,
    note        TEXT,
    -- FALSE: observed before the status already shown; kept, not shown.
    current     BOOLEAN NOT NULL,
    PRIMARY KEY (incident, household, version)
);

-- Roll-call counts per village, moved in the same transaction as every roll-call update, so
-- the board reads a few hundred rows and never scans households.
CREATE TABLE incident_village_counts (
    incident   BIGINT NOT NULL,
    village    TEXT NOT NULL,
    households BIGINT NOT NULL,
    safe       BIGINT NOT NULL,
    evacuated  BIGINT NOT NULL,
    injured    BIGINT NOT NULL,
    missing    BIGINT NOT NULL,
    unreached  BIGINT NOT NULL,
    PRIMARY KEY (incident, village)
);

-- Roll-call batches by idempotency key: the same key twice is applied once (an offline phone
-- resending its queue), and answers with the first result.
CREATE TABLE incident_rollcall_batches (
    incident        BIGINT NOT NULL REFERENCES incidents(id),
    idempotency_key TEXT NOT NULL,
    account         BIGINT REFERENCES accounts(id),
    at              TIMESTAMPTZ NOT NULL,
    result          TEXT NOT NULL,
    PRIMARY KEY (incident, idempotency_key)
);

-- Activation asks, for every member, whether he heads a group.
CREATE INDEX group_heads_member ON group_heads(member);
