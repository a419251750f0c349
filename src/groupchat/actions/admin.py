"""Server administration: list, create, promote, demote, disable and enable accounts."""

from __future__ import annotations

import anyio
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions.auth import close_sockets, insert_password_user
from groupchat.actions.budget import period_bounds
from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.errors import Conflict, Invalid, NotFound
from groupchat.ids import format_ts, utc_now
from groupchat.schemas import AdminUser, AdminUserCreate, AdminUserList, AdminUserUpdate
from groupchat.security import Passwords
from groupchat.services import Services
from groupchat.store import ledger, server_state
from groupchat.store import users as user_store
from groupchat.store.rooms import storable

LAST_ADMIN = "the server needs at least one enabled admin"
USER_NOT_FOUND = "user not found"


async def list_users(svc: Services, query: str, limit: int, offset: int) -> AdminUserList:
    """A page of accounts, newest first, with what each spent on the AI this period."""
    if not storable(query):  # matches no stored name
        return AdminUserList(users=[], total=0)
    async with svc.db.read() as conn:
        found, total = await user_store.list_admin_users(conn, query, limit, offset)
        costs = await ai_cost_this_period(conn, svc.settings, [u.id for u in found])
    users = [u.model_copy(update={"ai_cost_period": costs.get(u.id, 0.0)}) for u in found]
    return AdminUserList(users=users, total=total)


async def ai_cost_this_period(
    conn: AsyncConnection, settings: Settings, user_ids: list[str]
) -> dict[str, float]:
    """USD of the AI answers each user triggered in the current AI_BUDGET_PERIOD."""
    start, _ = period_bounds(settings.ai_budget_period, utc_now())
    return await ledger.costs_by_user(conn, format_ts(start), user_ids)


async def create_user(svc: Services, body: AdminUserCreate) -> AdminUser:
    """An account made by an admin, in every REGISTRATION_MODE."""
    password_hash = await anyio.to_thread.run_sync(svc.passwords.hash, body.password)
    async with svc.db.write() as conn:
        user = await insert_password_user(
            conn,
            username=body.username,
            display_name=body.display_name,
            password_hash=password_hash,
            is_admin=body.is_admin,
            now=format_ts(utc_now()),
            signed_in=False,
        )
        created = await user_store.get_admin_user(conn, user.id)
    assert created is not None  # just inserted, in this transaction
    return created


async def update_user(svc: Services, user_id: str, body: AdminUserUpdate) -> AdminUser:
    """Promote, demote, disable or enable; 409 if no enabled admin would be left."""
    values = body.model_dump(include=body.model_fields_set)
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        before = await user_store.get_admin_user(conn, user_id) if storable(user_id) else None
        if before is None:
            raise NotFound(USER_NOT_FOUND)
        admins = await user_store.lock_enabled_admins(conn)  # concurrent demotions queue here
        steps_down = values.get("is_admin") is False or values.get("disabled") is True
        if steps_down and admins == [user_id]:
            raise Conflict(LAST_ADMIN)
        await user_store.update_user(conn, user_id, **values)
        newly_disabled = values.get("disabled") is True and not before.disabled
        if newly_disabled:  # its tokens stay refused even after it is enabled again
            await user_store.revoke_tokens(conn, user_id, now)
        after = await user_store.get_admin_user(conn, user_id)
        costs = await ai_cost_this_period(conn, svc.settings, [user_id])
    if newly_disabled:
        await close_sockets(svc, user_id)
    assert after is not None
    return after.model_copy(update={"ai_cost_period": costs.get(user_id, 0.0)})


# ---------------------------------------------------------------- the command line


async def create_first_admin(
    db: Database, settings: Settings, username: str, password: str
) -> None:
    """`groupchat admin create`: a server admin account, in every mode; the setup token goes."""
    try:
        body = AdminUserCreate(username=username, password=password, is_admin=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Invalid(f"{err['loc'][0]}: {err['msg']}") from None
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    password_hash = await anyio.to_thread.run_sync(passwords.hash, body.password)
    async with db.write() as conn:
        await insert_password_user(
            conn,
            username=body.username,
            display_name=None,
            password_hash=password_hash,
            is_admin=True,
            now=format_ts(utc_now()),
            signed_in=False,
        )
        await server_state.drop_setup_token(conn)


async def grant_admin(db: Database, username: str) -> None:
    """`groupchat admin grant`: make an existing account a server admin."""
    async with db.write() as conn:
        found = await user_store.get_login(conn, username)
        if found is None:
            raise NotFound(f"no account named {username}")
        await user_store.update_user(conn, found[0], is_admin=True)
