-- Front-desk stay state of reservations (check-in, check-out, the room
-- given) and the night audit's no-show sweep. PostgreSQL flavour;
-- conventions as in 0001_init.sql (timestamps are BIGINT unix nanoseconds).

ALTER TABLE reservations ADD COLUMN checked_in_at BIGINT;
ALTER TABLE reservations ADD COLUMN checked_out_at BIGINT;
ALTER TABLE reservations ADD COLUMN room TEXT;

-- Whether the night audit marks no-shows (decision 0004): off for every
-- property that existed before this migration and, unless asked for, for
-- new ones. Only a hotel whose check-ins reach saluran can tell a no-show
-- from an in-house guest.
ALTER TABLE properties ADD COLUMN marks_no_shows BOOLEAN NOT NULL DEFAULT FALSE;

-- The first arrival date the sweep may mark: the property's local date
-- when marking was turned on. Earlier arrivals are never swept (guests in
-- house whose check-in never reached saluran). NULL while marking is off.
ALTER TABLE properties ADD COLUMN no_shows_from DATE;

-- The no-show sweep: confirmed arrivals up to a date, per property.
CREATE INDEX reservations_arrivals ON reservations (property_id, status, check_in);
