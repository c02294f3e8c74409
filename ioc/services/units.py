"""Administrative units: one tree (province -> district -> commune, any depth).

A user's scope is their unit's subtree. `units.ancestors` lists the codes from the root
to the unit itself, so scope checks are one indexed `= ANY(ancestors)`.

Example::

    await create(conn, Unit(code="01", name="Tỉnh Demo", level="province"))
    await in_scope(conn, "01", "0101")        # True: 0101 is inside 01's subtree
"""

from __future__ import annotations

import csv
import io
from typing import Iterable

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row
from pydantic import BaseModel, Field, ValidationError

from contract.envelope import CODE_PATTERN
from ioc.exceptions import Conflict, InvalidInput, NotFound


class Unit(BaseModel):
    """One administrative unit.

    Example::

        Unit(code="26734", name="Phường Bến Nghé", level="commune", parent_code="760")
    """

    code: str = Field(pattern=CODE_PATTERN, description="official unit code")
    name: str = Field(min_length=1, max_length=200)
    level: str = Field(pattern=r"^[a-z_]{1,32}$", description="province, district, commune, ...")
    parent_code: str | None = Field(None, pattern=CODE_PATTERN)
    ancestors: list[str] = Field(default_factory=list, description="root .. self, filled by the database")


async def in_scope(conn: AsyncConnection, user_unit: str, unit: str) -> bool:
    """True when `unit` lies in the subtree of `user_unit` (a unit is in its own scope)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM units WHERE code = %s AND %s = ANY(ancestors))", (unit, user_unit)
    )
    row = await cur.fetchone()
    return bool(row["exists"])


async def ancestors(conn: AsyncConnection, code: str) -> list[str]:
    """Codes from the root down to `code`; NotFound when the unit does not exist."""
    cur = await conn.execute("SELECT ancestors FROM units WHERE code = %s", (code,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unit {code!r} does not exist")
    return list(row["ancestors"])


async def get(conn: AsyncConnection, code: str) -> Unit:
    """One unit by code."""
    async with conn.cursor(row_factory=class_row(Unit)) as cur:
        await cur.execute("SELECT code, name, level, parent_code, ancestors FROM units WHERE code = %s", (code,))
        unit = await cur.fetchone()
    if unit is None:
        raise NotFound(f"unit {code!r} does not exist")
    return unit


async def subtree(conn: AsyncConnection, root: str) -> list[Unit]:
    """The unit `root` and everything below it, parents before children."""
    async with conn.cursor(row_factory=class_row(Unit)) as cur:
        await cur.execute(
            "SELECT code, name, level, parent_code, ancestors FROM units"
            " WHERE %s = ANY(ancestors) ORDER BY cardinality(ancestors), code",
            (root,),
        )
        return await cur.fetchall()


async def create(conn: AsyncConnection, unit: Unit) -> Unit:
    """Insert one unit (its parent must exist); Conflict when the code is taken."""
    try:
        async with conn.cursor(row_factory=class_row(Unit)) as cur:
            await cur.execute(
                "INSERT INTO units (code, name, level, parent_code) VALUES (%s, %s, %s, %s)"
                " RETURNING code, name, level, parent_code, ancestors",
                (unit.code, unit.name, unit.level, unit.parent_code),
            )
            created = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"unit {unit.code!r} already exists") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInput(f"parent unit {unit.parent_code!r} of {unit.code!r} does not exist") from exc
    assert created is not None
    return created


def parse_csv(text: str) -> list[Unit]:
    """Parse `code,name,level,parent_code` rows; parents are ordered before children.

    Raises InvalidInput naming the line of the first bad row, or a parent that is
    neither in the file nor (later) in the database is reported by `import_units`.
    """
    reader = csv.DictReader(io.StringIO(text))
    expected = {"code", "name", "level", "parent_code"}
    if reader.fieldnames is None or set(reader.fieldnames) != expected:
        raise InvalidInput(f"CSV header must be exactly code,name,level,parent_code (got {reader.fieldnames})")
    units: list[Unit] = []
    for line, row in enumerate(reader, start=2):
        try:
            units.append(
                Unit(
                    code=row["code"].strip(),
                    name=row["name"].strip(),
                    level=row["level"].strip().lower(),
                    parent_code=(row["parent_code"] or "").strip() or None,
                )
            )
        except ValidationError as exc:
            raise InvalidInput(f"line {line}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
    return _parents_first(units)


def _parents_first(units: Iterable[Unit]) -> list[Unit]:
    pending = {u.code: u for u in units}
    ordered: list[Unit] = []
    placed: set[str] = set()
    while pending:
        ready = [u for u in pending.values() if u.parent_code is None or u.parent_code not in pending]
        if not ready:
            raise InvalidInput(f"units form a cycle: {sorted(pending)[:5]}")
        for unit in ready:
            ordered.append(unit)
            placed.add(unit.code)
            del pending[unit.code]
    return ordered


async def import_units(conn: AsyncConnection, units: list[Unit]) -> tuple[int, int]:
    """Insert new units and rename existing ones, all or nothing; returns (created, updated)."""
    created = updated = 0
    async with conn.transaction():
        for unit in units:
            cur = await conn.execute("SELECT parent_code FROM units WHERE code = %s", (unit.code,))
            existing = await cur.fetchone()
            if existing is None:
                await create(conn, unit)
                created += 1
                continue
            parent = existing["parent_code"]
            if parent != unit.parent_code:
                raise Conflict(f"unit {unit.code!r} exists under {parent!r}; moving units is not supported")
            await conn.execute(
                "UPDATE units SET name = %s, level = %s WHERE code = %s", (unit.name, unit.level, unit.code)
            )
            updated += 1
    return created, updated
