"""Units, users and the audit log. Creating users and changing roles is admin-only,
limited to the admin's own subtree, and audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import CurrentUser, Db
from ioc.api.roles import Admin
from ioc.exceptions import NotFound, PermissionDenied
from ioc.services import audit, units, users
from ioc.services.units import Unit
from ioc.services.users import USERNAME_PATTERN, Role, User

router = APIRouter(prefix="/api/v1", tags=["admin"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    unit: str = Field(max_length=64)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    unit: str = Field(max_length=64)


@router.get("/units", response_model=list[Unit], summary="Your unit and everything below it")
async def list_units(user: CurrentUser, db: Db) -> list[Unit]:
    return await units.subtree(db, user.unit)


@router.get("/users", response_model=list[User], summary="Users in your units (admin)")
async def list_users(user: Admin, db: Db) -> list[User]:
    return await users.list_in_scope(db, user.unit)


@router.post("/users", response_model=User, status_code=201, summary="Create a user in your units (admin)")
async def create_user(body: NewUser, user: Admin, db: Db) -> User:
    if not await units.in_scope(db, user.unit, body.unit):
        raise PermissionDenied(f"unit {body.unit!r} is outside your unit {user.unit!r}")
    created = await users.create(db, username=body.username, password=body.password, role=body.role, unit=body.unit)
    await audit.record(db, user.username, "user.create", f"user:{created.username}", {"role": body.role, "unit": body.unit})
    return created


@router.put("/users/{user_id}/role", response_model=User, summary="Change a user's role and unit (admin)")
async def change_role(user_id: int, body: RoleChange, user: Admin, db: Db) -> User:
    target = await users.get(db, user_id)
    if target is None or not await units.in_scope(db, user.unit, target.unit):
        raise NotFound(f"user {user_id} not found")
    if not await units.in_scope(db, user.unit, body.unit):
        raise PermissionDenied(f"unit {body.unit!r} is outside your unit {user.unit!r}")
    changed = await users.set_role(db, user_id, body.role, body.unit)
    await audit.record(
        db, user.username, "user.role_change", f"user:{changed.username}",
        {"from": {"role": target.role, "unit": target.unit}, "to": {"role": body.role, "unit": body.unit}},
    )
    return changed


@router.get("/audit", summary="Newest audit records (admin of the top unit)")
async def get_audit(
    user: Admin,
    db: Db,
    action: Annotated[str | None, Query(max_length=64, description="action prefix, e.g. evidence.")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    if (await units.get(db, user.unit)).parent_code is not None:
        raise PermissionDenied("only an admin of the top unit may read the audit log")
    rows = await audit.recent(db, limit=limit, action_prefix=action, actor=actor)
    return {"items": [r.model_dump(mode="json") for r in rows]}
