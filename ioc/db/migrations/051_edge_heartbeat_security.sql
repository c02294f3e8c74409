-- Issue 8, defects 4 and 5.
-- outbox_rejected: events the edge's outbox parked because the hub refused them (dead
-- letters), as its last heartbeat said; shown on /metrics so a poison event is seen.
-- preview_from: the address the heartbeat that announced `preview_url` came from. The
-- preview proxy follows `preview_url` only to that address (or to a configured allow
-- list), so a heartbeat cannot point the hub at an arbitrary host.
ALTER TABLE edges ADD COLUMN IF NOT EXISTS outbox_rejected integer NOT NULL DEFAULT 0;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS preview_from text;
