"""The hub's commands, run in-process with typer's CliRunner against the real database."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from ioc.cli import hub as hub_cli
from ioc.services import edges
from tests.ioc.conftest import Factory, Hub


@pytest.fixture
def cli(database_url: str):
    app = typer.Typer()
    hub_cli.register(app)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={"IOC_DATABASE_URL": database_url})
        return result.exit_code, result.output

    return run


def test_db_upgrade_is_idempotent(cli) -> None:
    assert cli("db", "upgrade") == (0, "database is up to date\n")


async def test_unit_import_user_create_edge_register(cli, db: psycopg.AsyncConnection, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    csv = tmp_path / "units.csv"
    # children before parents on purpose: the importer orders them
    csv.write_text(f"code,name,level,parent_code\n{tag}-c,Phường Một,commune,{tag}-d\n{tag}-d,Quận Một,district,{tag}\n{tag},Tỉnh,province,\n")
    code, out = await asyncio.to_thread(cli, "unit", "import", str(csv))
    assert (code, out) == (0, "units: 3 created, 0 updated\n")
    csv.write_text(f"code,name,level,parent_code\n{tag}-c,Phường Hai,commune,{tag}-d\n")
    assert (await asyncio.to_thread(cli, "unit", "import", str(csv)))[1] == "units: 0 created, 1 updated\n"
    row = await (await db.execute("SELECT name, ancestors FROM units WHERE code = %s", (f"{tag}-c",))).fetchone()
    assert row == {"name": "Phường Hai", "ancestors": [tag, f"{tag}-d", f"{tag}-c"]}

    code, out = await asyncio.to_thread(cli, "user", "create", "--username", f"op_{tag}", "--password", "long-password",
                                        "--role", "operator", "--unit", f"{tag}-d")
    assert code == 0 and f"created user op_{tag}" in out
    code, out = await asyncio.to_thread(cli, "user", "create", "--username", f"op_{tag}", "--password", "long-password",
                                        "--role", "operator", "--unit", f"{tag}-d")
    assert code == 1 and "already exists" in out

    code, out = await asyncio.to_thread(cli, "edge", "register", "--id", f"edge-{tag}", "--unit", tag)
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert (await edges.authenticate(db, token)).id == f"edge-{tag}"
    row = await (await db.execute("SELECT token_hash FROM edges WHERE id = %s", (f"edge-{tag}",))).fetchone()
    assert row["token_hash"] == edges.hash_token(token) and token not in row["token_hash"]
    audit = await (await db.execute("SELECT action FROM audit_log WHERE target IN (%s, %s) ORDER BY id",
                                    (f"user:op_{tag}", f"edge:edge-{tag}"))).fetchall()
    assert [a["action"] for a in audit] == ["user.create", "edge.register"]


@pytest.mark.parametrize(("text", "words"), [
    ("code,name\nx,y\n", "CSV header must be exactly"),
    ("code,name,level,parent_code\nbad code!,Tên,commune,\n", "line 2: code"),
    ("code,name,level,parent_code\na,A,commune,b\nb,B,commune,a\n", "cycle"),
    ("code,name,level,parent_code\nzz-orphan,A,commune,no-such-parent\n", "parent unit 'no-such-parent'"),
])
async def test_bad_unit_files_change_nothing(cli, db: psycopg.AsyncConnection, tmp_path: Path, text: str, words: str) -> None:
    csv = tmp_path / "units.csv"
    csv.write_text(text)
    before = (await (await db.execute("SELECT count(*) AS n FROM units")).fetchone())["n"]
    code, out = await asyncio.to_thread(cli, "unit", "import", str(csv))
    assert code == 1 and words in out
    assert (await (await db.execute("SELECT count(*) AS n FROM units")).fetchone())["n"] == before


async def test_replay_posts_a_recording(cli, hub: Hub, make: Factory, tmp_path: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.province)
    cam = f"cam-{secrets.token_hex(3)}"
    edge.cameras[cam] = tree.communes[3]
    events = [make.event(edge, cam, seq=i) for i in range(7)]
    recording = tmp_path / "events.jsonl"
    recording.write_text("".join(json.dumps(e) + "\n" for e in events))
    args = ("replay", str(recording), "--hub", hub.base_url, "--token", edge.token, "--batch", "3", "--declare-cameras")
    code, out = await asyncio.to_thread(cli, *args)
    assert (code, out.strip()) == (0, "7 events: 7 accepted, 0 duplicates, 0 rejected")
    code, out = await asyncio.to_thread(cli, *args)
    assert (code, out.strip()) == (0, "7 events: 0 accepted, 7 duplicates, 0 rejected")
