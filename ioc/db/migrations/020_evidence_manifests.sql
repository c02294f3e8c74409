-- Signed evidence manifests as they arrived from the edges, with the hub's verdict
-- (issue 4, ioc/services/evidence_verify_ingest.py). The exact canonical bytes and
-- signature are kept so an export can be verified offline years later; `public_key`
-- is the edge key the manifest was checked with (an admin may replace an edge's key).
CREATE TABLE IF NOT EXISTS evidence_manifests (
    hash        text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    edge        text NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),      -- manifest_seq: position in the edge's chain
    prev_hash   text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    event_id    uuid NOT NULL,
    event_seq   bigint,                               -- the event's seq when the edge knew it at signing
    type        text NOT NULL,
    ts          timestamptz NOT NULL,
    files       jsonb NOT NULL,                       -- [{sha256, kind, mime, size}] as signed
    manifest    bytea NOT NULL,
    signature   bytea NOT NULL,
    key_id      text NOT NULL,
    public_key  text,
    verified    boolean NOT NULL,
    problems    jsonb NOT NULL DEFAULT '[]',
    received_at timestamptz NOT NULL DEFAULT now(),
    checked_at  timestamptz NOT NULL DEFAULT now()
);
-- Not unique: a forked chain (two manifests with one seq) must be recorded to be shown.
CREATE INDEX IF NOT EXISTS evidence_manifests_edge_seq ON evidence_manifests (edge, seq);
CREATE INDEX IF NOT EXISTS evidence_manifests_event ON evidence_manifests (event_id);
CREATE INDEX IF NOT EXISTS evidence_manifests_unverified ON evidence_manifests (received_at) WHERE NOT verified;
