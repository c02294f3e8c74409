-- Every edge that uploaded an evidence file's bytes (issue 8, defect 6). Content
-- addressing keeps one file per sha256, and `evidence_files.uploaded_by` names only the
-- first uploader; an edge may name in its events only a file it (or an edge of its
-- units) uploaded itself, i.e. whose bytes it proved to have, so that naming another
-- unit's sha256 cannot pull that unit's evidence into the edge's scope.
CREATE TABLE IF NOT EXISTS evidence_uploads (
    sha256 text NOT NULL REFERENCES evidence_files (sha256) ON DELETE CASCADE,
    edge   text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sha256, edge)
);
CREATE INDEX IF NOT EXISTS evidence_uploads_edge ON evidence_uploads (edge);
INSERT INTO evidence_uploads (sha256, edge, at)
SELECT sha256, uploaded_by, created_at FROM evidence_files WHERE uploaded_by IS NOT NULL
ON CONFLICT DO NOTHING;
