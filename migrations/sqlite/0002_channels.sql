-- Channel connections (property × OTA), their push health, dead letters and
-- the OTA deliveries received. SQLite flavour; conventions as in 0001_init.sql
-- (timestamps INTEGER unix nanoseconds, JSON TEXT, booleans INTEGER 0/1).

CREATE TABLE channels (
    id                    INTEGER PRIMARY KEY,
    property_id           INTEGER NOT NULL REFERENCES properties (id),
    code                  TEXT    NOT NULL,
    -- opentravel | alpinebits | jsonrest
    profile               TEXT    NOT NULL,
    -- Name of the OTA preset (config/ota-presets/{preset}.toml).
    preset                TEXT    NOT NULL,
    endpoint              TEXT    NOT NULL,
    hotel_code            TEXT    NOT NULL,
    -- Sealed (AES-256-GCM, by the binary) JSON of the credentials used to call the OTA.
    sealed_credentials    BLOB    NOT NULL,
    -- HTTP Basic user name the OTA uses to call our webhook.
    webhook_username      TEXT    NOT NULL,
    -- Sealed password / HMAC secret the OTA uses to call our webhook.
    sealed_webhook_secret BLOB    NOT NULL,
    created_at            INTEGER NOT NULL,
    UNIQUE (property_id, code)
) STRICT;

CREATE TABLE channel_mappings (
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    -- The mapping's place in the channel's list (0, 1, ...): lists load back in order.
    ordinal    INTEGER NOT NULL,
    -- Our codes (room_types.code, rate_plans.code of the channel's property).
    room_type  TEXT    NOT NULL,
    rate_plan  TEXT    NOT NULL,
    -- The OTA's codes.
    ota_room   TEXT    NOT NULL,
    ota_rate   TEXT    NOT NULL,
    PRIMARY KEY (channel_id, ordinal),
    UNIQUE (channel_id, room_type, rate_plan)
) STRICT;

-- A connection's push health (SyncStatus), one row per channel once saved.
CREATE TABLE channel_sync_status (
    channel_id           INTEGER PRIMARY KEY REFERENCES channels (id),
    pending_cells        INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    total_failures       INTEGER NOT NULL,
    dead_letters         INTEGER NOT NULL,
    requests_sent        INTEGER NOT NULL,
    last_success_at      INTEGER,
    last_attempt_at      INTEGER,
    last_error           TEXT
) STRICT;

CREATE TABLE channel_dead_letters (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    created_at INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    -- What could not be delivered (dates, rooms), for the operator.
    summary    TEXT    NOT NULL
) STRICT;
CREATE INDEX channel_dead_letters_channel ON channel_dead_letters (channel_id, created_at);

-- One row per delivery of one revision of an OTA booking, with the ack we gave
-- (replayed on redelivery). Written in the same transaction as its effect.
CREATE TABLE inbound_bookings (
    id                 INTEGER PRIMARY KEY,
    property_id        INTEGER NOT NULL REFERENCES properties (id),
    channel_id         INTEGER NOT NULL REFERENCES channels (id),
    ota_reservation_id TEXT    NOT NULL,
    revision           TEXT    NOT NULL,
    action             TEXT    NOT NULL CHECK (action IN ('new', 'modify', 'cancel')),
    -- Our reservation (reservations.id), when one exists.
    reservation_id     TEXT,
    -- applied | overbooked | stale | unmapped
    outcome            TEXT    NOT NULL,
    ack                TEXT    NOT NULL,
    received_at        INTEGER NOT NULL,
    UNIQUE (channel_id, ota_reservation_id, revision, action)
) STRICT;
-- One booking's history, oldest first (the rowid breaks ties).
CREATE INDEX inbound_bookings_booking ON inbound_bookings (channel_id, ota_reservation_id, received_at);
