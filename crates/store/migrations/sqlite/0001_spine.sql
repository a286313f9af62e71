-- Territory, people, organisation, accounts and sessions (SQLite).
CREATE TABLE territories (
    code            TEXT PRIMARY KEY,
    parent          TEXT REFERENCES territories(code),
    level           TEXT NOT NULL CHECK (level IN ('prefecture','county','township','village','grid','group')),
    name            TEXT NOT NULL,
    name_bo         TEXT,
    geometry        TEXT,
    geometry_source TEXT CHECK (geometry_source IN ('official','generated')),
    center_lng      DOUBLE PRECISION,
    center_lat      DOUBLE PRECISION
);
CREATE INDEX territories_parent ON territories(parent);

CREATE TABLE territory_counts (
    code       TEXT PRIMARY KEY REFERENCES territories(code),
    n_households BIGINT NOT NULL DEFAULT 0,
    n_members    BIGINT NOT NULL DEFAULT 0,
    n_groups     BIGINT NOT NULL DEFAULT 0,
    n_grids      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE units (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('center','department','grid')),
    territory TEXT NOT NULL REFERENCES territories(code)
);
CREATE INDEX units_territory ON units(territory);

CREATE TABLE members (
    id        BIGINT PRIMARY KEY,
    name      TEXT NOT NULL,
    gender    TEXT NOT NULL CHECK (gender IN ('female','male')),
    phone     TEXT NOT NULL,
    forces    TEXT NOT NULL,
    unit      TEXT NOT NULL REFERENCES units(code),
    territory TEXT NOT NULL REFERENCES territories(code),
    title     TEXT NOT NULL
);
CREATE INDEX members_territory ON members(territory);
CREATE INDEX members_unit ON members(unit);
CREATE INDEX members_name ON members(name);

CREATE TABLE households (
    id         BIGINT PRIMARY KEY,
    group_code TEXT REFERENCES territories(code),
    grid       TEXT NOT NULL REFERENCES territories(code),
    head_name  TEXT NOT NULL,
    address    TEXT NOT NULL,
    phone      TEXT NOT NULL,
    id_number  TEXT NOT NULL,
    residents  TEXT NOT NULL,
    resident_count BIGINT NOT NULL,
    care       BOOLEAN NOT NULL DEFAULT FALSE,
    lng        DOUBLE PRECISION,
    lat        DOUBLE PRECISION
);
CREATE INDEX households_grid ON households(grid);
CREATE INDEX households_group ON households(group_code);
CREATE INDEX households_head_name ON households(head_name);

CREATE TABLE group_heads (
    group_code TEXT PRIMARY KEY REFERENCES territories(code),
    member     BIGINT NOT NULL REFERENCES members(id)
);

CREATE TABLE monasteries (
    id        BIGINT PRIMARY KEY,
    name      TEXT NOT NULL,
    territory TEXT NOT NULL REFERENCES territories(code),
    monks     BIGINT NOT NULL
);
CREATE INDEX monasteries_territory ON monasteries(territory);

CREATE TABLE enterprises (
    id        BIGINT PRIMARY KEY,
    name      TEXT NOT NULL,
    territory TEXT NOT NULL REFERENCES territories(code),
    employees BIGINT NOT NULL
);
CREATE INDEX enterprises_territory ON enterprises(territory);

CREATE TABLE pairings (
    id           BIGINT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('grid_households','monastery','care','enterprise','party_branch','department_village')),
    member       BIGINT REFERENCES members(id),
    unit         TEXT REFERENCES units(code),
    target_kind  TEXT NOT NULL CHECK (target_kind IN ('territory','household','monastery','enterprise')),
    target       TEXT NOT NULL,
    start_date   DATE NOT NULL,
    end_date     DATE,
    CHECK ((member IS NULL) <> (unit IS NULL))
);
CREATE INDEX pairings_member ON pairings(member);
CREATE INDEX pairings_unit ON pairings(unit);
CREATE INDEX pairings_target ON pairings(target_kind, target);

CREATE TABLE accounts (
    id            BIGINT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin','leader','center_operator','department_handler','grid_worker','household_head')),
    scope         TEXT NOT NULL REFERENCES territories(code),
    unit          TEXT REFERENCES units(code),
    member        BIGINT REFERENCES members(id),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX accounts_scope ON accounts(scope);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account    BIGINT NOT NULL REFERENCES accounts(id),
    kind       TEXT NOT NULL CHECK (kind IN ('api','web')),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_account ON sessions(account);
