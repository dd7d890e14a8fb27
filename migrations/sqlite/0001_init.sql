-- saluran schema, SQLite flavour. The PostgreSQL migration has the same logical schema.
--
-- Storage conventions (SQLite):
--   dates       TEXT 'YYYY-MM-DD' (property-local calendar dates; sorts correctly as text)
--   decimals    TEXT holding the exact decimal string (never REAL)
--   booleans    INTEGER 0/1
--   timestamps  INTEGER, unix time in NANOSECONDS, UTC (exact round trip of jiff::Timestamp)
--   JSON        TEXT
-- Internal ids are integer surrogates; codes (what the API shows) are unique per scope.

CREATE TABLE properties (
    id               INTEGER PRIMARY KEY,
    code             TEXT    NOT NULL UNIQUE,
    tenant           TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    timezone         TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    night_audit_time TEXT    NOT NULL,
    -- Last event sequence number given out for this property (events.seq).
    event_seq        INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX properties_tenant ON properties (tenant);

CREATE TABLE room_types (
    id             INTEGER PRIMARY KEY,
    property_id    INTEGER NOT NULL REFERENCES properties (id),
    code           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    max_occupancy  INTEGER NOT NULL,
    physical_rooms INTEGER NOT NULL DEFAULT 0,
    -- Optimistic-concurrency version of the room type's calendar.
    version        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (property_id, code)
) STRICT;

CREATE TABLE rooms (
    id           INTEGER PRIMARY KEY,
    property_id  INTEGER NOT NULL REFERENCES properties (id),
    room_type_id INTEGER NOT NULL REFERENCES room_types (id),
    number       TEXT    NOT NULL,
    floor        INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    UNIQUE (property_id, number)
) STRICT;
CREATE INDEX rooms_room_type ON rooms (room_type_id);

CREATE TABLE rate_plans (
    id               INTEGER PRIMARY KEY,
    property_id      INTEGER NOT NULL REFERENCES properties (id),
    room_type_id     INTEGER NOT NULL REFERENCES room_types (id),
    code             TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    -- Derived plans: the parent plan's code and the adjustment; all three NULL for a base plan.
    derived_parent   TEXT,
    adjustment_kind  TEXT CHECK (adjustment_kind IN ('percent', 'amount')),
    adjustment_value TEXT,
    UNIQUE (property_id, code)
) STRICT;
CREATE INDEX rate_plans_room_type ON rate_plans (room_type_id);

CREATE TABLE inventory_days (
    room_type_id INTEGER NOT NULL REFERENCES room_types (id),
    day          TEXT    NOT NULL,
    out_of_order INTEGER NOT NULL DEFAULT 0,
    sold         INTEGER NOT NULL DEFAULT 0,
    held         INTEGER NOT NULL DEFAULT 0,
    allotment    INTEGER,
    stop_sell    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_type_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE rate_days (
    rate_plan_id        INTEGER NOT NULL REFERENCES rate_plans (id),
    day                 TEXT    NOT NULL,
    rate                TEXT,
    -- JSON list of [adults, "decimal"] pairs sorted by adults, e.g. [[1,"750000"],[2,"850000"]].
    occupancy_rates     TEXT,
    min_stay_arrival    INTEGER,
    min_stay_through    INTEGER,
    max_stay            INTEGER,
    closed_to_arrival   INTEGER,
    closed_to_departure INTEGER,
    stop_sell           INTEGER,
    PRIMARY KEY (rate_plan_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE reservations (
    id           TEXT    PRIMARY KEY,
    property_id  INTEGER NOT NULL REFERENCES properties (id),
    room_type_id INTEGER NOT NULL REFERENCES room_types (id),
    rate_plan    TEXT    NOT NULL,
    check_in     TEXT    NOT NULL,
    check_out    TEXT    NOT NULL,
    adults       INTEGER NOT NULL,
    guest_name   TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    total        TEXT    NOT NULL,
    -- JSON list of {"date": "YYYY-MM-DD", "rate": "decimal"}.
    nightly      TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    external_id  TEXT,
    revision     INTEGER NOT NULL,
    overbooked   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_property ON reservations (property_id);
CREATE INDEX reservations_room_type ON reservations (room_type_id, check_in);
CREATE INDEX reservations_external ON reservations (property_id, source, external_id);

CREATE TABLE reservation_revisions (
    reservation_id TEXT    NOT NULL REFERENCES reservations (id),
    revision       INTEGER NOT NULL,
    -- The whole reservation as JSON (its serde form) at this revision.
    snapshot       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (reservation_id, revision)
) STRICT;

CREATE TABLE events (
    property_id INTEGER NOT NULL REFERENCES properties (id),
    -- Per-property, gap-free, increasing; allocated from properties.event_seq.
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (property_id, seq)
) STRICT;

CREATE TABLE intents (
    id          TEXT    PRIMARY KEY,
    property_id INTEGER NOT NULL REFERENCES properties (id),
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX intents_property ON intents (property_id);

CREATE TABLE intent_room_types (
    intent_id    TEXT    NOT NULL REFERENCES intents (id),
    room_type_id INTEGER NOT NULL REFERENCES room_types (id),
    done         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (intent_id, room_type_id)
) STRICT;
CREATE INDEX intent_room_types_pending ON intent_room_types (intent_id) WHERE done = 0;

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    -- Hex SHA-256 of the bearer token; the token itself is never stored.
    hash       TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    -- JSON list of property codes; empty: every property of the tenant.
    properties TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('in_progress', 'done')),
    status       INTEGER,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
