-- How each generation was routed: every provider attempt (provider, outcome, detail, latency,
-- error, and the estimated cost of a cancelled hedge) as a JSON array, and the total estimated
-- cost of the hedges cancelled for it (recorded for the operator; never charged to the user).
ALTER TABLE generations ADD COLUMN hedge_cost_usd REAL;
ALTER TABLE generations ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';

-- `canvasbot providers` reads the recent generations of every user.
CREATE INDEX generations_created ON generations (created_at);
