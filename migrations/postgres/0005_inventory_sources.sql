-- Issue 8: who closed a date (stop-sell source), so saluran lifts the
-- stop-sells it set itself (auto-replenish) and never a person's.

-- 'none' (open), 'manual' (a person, ARI API), 'overbooking', 'auto_threshold'.
-- Dates closed before this migration cannot tell who closed them: they
-- count as manual, so they are never lifted automatically.
ALTER TABLE inventory_days ADD COLUMN stop_sell_source TEXT NOT NULL DEFAULT 'none'
    CHECK (stop_sell_source IN ('none', 'manual', 'overbooking', 'auto_threshold'));
UPDATE inventory_days SET stop_sell_source = 'manual' WHERE stop_sell;
