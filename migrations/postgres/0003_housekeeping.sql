-- Housekeeping tasks and the night audit's business date. PostgreSQL
-- flavour; conventions as in 0001_init.sql.

ALTER TABLE properties ADD COLUMN business_date DATE;

CREATE TABLE housekeeping_tasks (
    id          TEXT   PRIMARY KEY,
    property_id BIGINT NOT NULL REFERENCES properties (id),
    room        TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    -- open | assigned | in_progress | done | inspected
    status      TEXT   NOT NULL,
    assignee    TEXT,
    note        TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX housekeeping_tasks_property ON housekeeping_tasks (property_id, created_at);
