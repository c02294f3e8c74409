"""The edge worker: site config, per-camera pipelines, evidence packaging, durable outbox, delivery, heartbeats."""
