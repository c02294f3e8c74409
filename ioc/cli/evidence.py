"""`ioc evidence verify FILE.zip`: check an exported evidence bundle with no database and no network."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from contract.evidence_verify import (
    Report, key_fingerprint, load_public_key, parse_trusted_keys, verify_chain, verify_zip,
)

_FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def _trusted(values: list[str]) -> list[str]:
    """Each --expect-key value as a fingerprint: a fingerprint, a key (base64/PEM) or a key file."""
    out: list[str] = []
    for value in values:
        if _FINGERPRINT_RE.match(value):
            out.append(value)
            continue
        path = Path(value)
        data = path.read_bytes() if len(value) < 4096 and path.is_file() else value.encode()
        try:
            out.append(key_fingerprint(load_public_key(data)))
        except ValueError as exc:
            raise typer.BadParameter(f"--expect-key {value!r}: {exc}") from exc
    return out


def _print_human(path: Path, report: Report) -> None:
    m = report.manifest
    typer.echo(f"{path}")
    if m is not None:
        plate = m.plate.text if m.plate and m.plate.text else "(unread)"
        typer.echo(f"  event     {m.event_id}  {m.type}  {m.ts}")
        typer.echo(f"  camera    {m.camera}  {m.camera_name or ''}  unit {m.unit}")
        typer.echo(f"  plate     {plate}   calibration {m.calibration_id or '-'}")
        typer.echo(f"  edge      {m.edge}  manifest #{m.manifest_seq}")
    typer.echo(f"  manifest  sha256:{report.manifest_hash}")
    typer.echo(f"  key       {report.key_fingerprint}")
    typer.echo(f"  checked   {', '.join(report.checked) or '-'}")
    if report.signed:
        typer.echo(f"  signed    {', '.join(report.signed)}")
    for item in report.unsigned:
        typer.secho(f"  UNSIGNED  {item['name']} sha256:{item['sha256']}: {item['why']}", fg=typer.colors.YELLOW)
    if report.ok:
        typer.secho(f"  OK: {_what_verified(report)}", fg=typer.colors.GREEN)
        return
    typer.secho(f"  FAILED: {len(report.problems)} problem(s)", fg=typer.colors.RED, err=False)
    for p in report.problems:
        typer.echo(f"   - {p.code}: {p.message} {json.dumps(p.detail, ensure_ascii=False) if p.detail else ''}")


def _what_verified(report: Report) -> str:
    """Exactly what was checked, never more: 'chain link' only when a link was checked."""
    parts = ["signature by a trusted key"]
    m = report.manifest
    if "chain" in report.checked and m is not None:
        parts.append(f"chain link to manifest #{m.manifest_seq - 1}")
    elif m is not None and m.prev_hash is None:
        parts.append("first manifest of its chain (no link to check)")
    if "files" in report.checked and m is not None:
        parts.append(f"all {len(m.files)} evidence files")
    return ", ".join(parts) + " verify"


def _trusted_file(paths: list[Path]) -> tuple[list[str], dict[str, list[str]]]:
    anywhere: list[str] = []
    pinned: dict[str, list[str]] = {}
    for path in paths:
        try:
            more, edges = parse_trusted_keys(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise typer.BadParameter(f"--trusted-keys {path}: {exc}") from exc
        anywhere += more
        for edge, keys in edges.items():
            pinned.setdefault(edge, []).extend(keys)
    return anywhere, pinned


def register(app: typer.Typer) -> None:
    """Add the `evidence` command group to the `ioc` app."""
    group = typer.Typer(help="Evidence bundles: signatures, manifest chain, file hashes.", no_args_is_help=True)

    @group.command("verify")
    def verify(
        files: list[Path] = typer.Argument(..., help="exported evidence ZIP file(s)", exists=True, dir_okay=False),
        expect_key: list[str] = typer.Option(
            [], "--expect-key",
            help="trusted edge key: sha256:<fingerprint>, base64/PEM key, or a key file (repeatable)",
        ),
        trusted_keys: list[Path] = typer.Option(
            [], "--trusted-keys", exists=True, dir_okay=False,
            help="file of trusted keys, 'EDGE-ID KEY' per line (pinned per edge), as GET /api/v1/edges/keys "
                 "gives it (repeatable). Without this or --expect-key nothing is trusted and verify fails.",
        ),
        as_json: bool = typer.Option(False, "--json", help="print one JSON report per file"),
    ) -> None:
        """Verify signature, trusted key, chain link, every member and file hash of evidence ZIPs, offline.
        Exit 1 if any fails."""
        trusted = _trusted(expect_key)
        more, pinned = _trusted_file(trusted_keys)
        failed = 0
        for path in files:
            report = verify_zip(path, trusted_keys=trusted + more, edge_keys=pinned)
            failed += not report.ok
            if as_json:
                typer.echo(json.dumps({"file": str(path), **report.to_dict()}, ensure_ascii=False))
            else:
                _print_human(path, report)
        raise typer.Exit(1 if failed else 0)

    @group.command("chain")
    def chain(
        manifests_dir: Path = typer.Argument(..., help="an edge's <data_dir>/evidence/manifests folder",
                                             exists=True, file_okay=False),
        key: str = typer.Option(..., "--key", help="the edge public key: base64, PEM or a key file"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        """Verify an edge's whole local manifest chain (signatures, links, no gaps) on site. Exit 1 if it fails."""
        path = Path(key)
        try:
            public = load_public_key(path.read_bytes() if len(key) < 4096 and path.is_file() else key)
        except ValueError as exc:
            raise typer.BadParameter(f"--key: {exc}") from exc
        names = sorted(p for p in manifests_dir.glob("*.json") if p.stem.isdigit())
        seqs = [int(p.stem) for p in names]
        entries = []
        for p in names:
            sig = p.with_suffix(".sig")
            entries.append((p.read_bytes(), sig.read_bytes() if sig.exists() else b""))
        report = verify_chain(entries, public)
        if seqs and seqs[0] != 1:
            report.add("chain_gap", "the chain does not start at manifest 1", first=seqs[0])
        if as_json:
            typer.echo(json.dumps({"manifests": len(entries), **report.to_dict()}, ensure_ascii=False))
        else:
            typer.echo(f"{manifests_dir}: {len(entries)} manifest(s), key {report.key_fingerprint}")
            if report.ok:
                typer.secho("  OK: every signature and link verifies", fg=typer.colors.GREEN)
            for p in report.problems:
                typer.echo(f"   - {p.code}: {p.message} {json.dumps(p.detail, ensure_ascii=False) if p.detail else ''}")
        raise typer.Exit(0 if report.ok and entries else 1)

    app.add_typer(group, name="evidence")
