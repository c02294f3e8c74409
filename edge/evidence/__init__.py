"""Evidence for traffic violations: the edge's signing key, the signed manifest chain, and
the packager that renders the overview and plate images, fetches the clip and hashes it all.

The manifest format and every check of it live in `contract.evidence_verify`, shared
with the hub and the `ioc evidence verify` command.
"""
