-- Front-desk stay state of reservations (check-in, check-out, the room
-- given) and the night audit's no-show sweep. PostgreSQL flavour;
-- conventions as in 0001_init.sql (timestamps are BIGINT unix nanoseconds).

ALTER TABLE reservations ADD COLUMN checked_in_at BIGINT;
ALTER TABLE reservations ADD COLUMN checked_out_at BIGINT;
ALTER TABLE reservations ADD COLUMN room TEXT;

-- The no-show sweep: confirmed arrivals up to a date, per property.
CREATE INDEX reservations_arrivals ON reservations (property_id, status, check_in);
