-- Issue 8: who closed a date (stop-sell source), so saluran lifts the
-- stop-sells it set itself (auto-replenish) and never a person's.

-- 'none' (open), 'manual' (a person, ARI API), 'overbooking', 'auto_threshold'.
-- Dates closed before this migration cannot tell who closed them: they
-- count as manual, so they are never lifted automatically.
ALTER TABLE inventory_days ADD COLUMN stop_sell_source TEXT NOT NULL DEFAULT 'none'
    CHECK (stop_sell_source IN ('none', 'manual', 'overbooking', 'auto_threshold'));
UPDATE inventory_days SET stop_sell_source = 'manual' WHERE stop_sell;

-- Bookings an OTA took with nights outside the calendar window (before the
-- business date, past the 730-day horizon): the flag, and the nights the
-- calendar does hold (both NULL: none). Without the flag every night of
-- the stay is held, as before this migration.
ALTER TABLE reservations ADD COLUMN outside_horizon BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE reservations ADD COLUMN calendar_from DATE;
ALTER TABLE reservations ADD COLUMN calendar_to DATE;

-- Out of order by date range (inclusive): the dates a room out of order is
-- counted on in its room type's calendar, written in the same transaction
-- as those cells. NULL for rooms not out of order; a room out of order
-- since before this migration keeps NULL and is released, when it comes
-- back, from that day to the end of the horizon (what it was counted on).
ALTER TABLE rooms ADD COLUMN out_of_order_from DATE;
ALTER TABLE rooms ADD COLUMN out_of_order_to DATE;
