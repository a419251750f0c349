"""Stored images: chat images and avatars, validated and re-encoded before they touch disk.

Every stored file has a row in `uploads` (who, how big, which folder): the per-user quota
counts them, and clearing or deleting a room removes the chat images no other message shows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio.to_thread

from groupchat.errors import (
    AppError,
    Invalid,
    RateLimited,
    TooLarge,
    Unauthorized,
    UnsupportedMedia,
)
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.images import ImageError, ProcessedImage, process_image
from groupchat.schemas import Upload, User
from groupchat.services import Services
from groupchat.store import uploads as upload_store
from groupchat.store import users as user_store

_STATUS_ERRORS: dict[int, type[AppError]] = {413: TooLarge, 415: UnsupportedMedia}
# Exactly the names store_image makes: a ULID (Crockford base32, upper case), our extension.
STORED_NAME = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}\.(png|jpg|gif|webp)")
CHAT_IMAGES, AVATARS = "chat-images", "avatars"
AVATAR_SIDE = 512


async def store_image(
    svc: Services,
    user: User,
    data: bytes,
    *,
    folder: str,
    max_bytes: int,
    max_pixels: int,
    max_side: int | None = None,
) -> tuple[str, ProcessedImage]:
    """Check rate and quota, validate, re-encode (metadata stripped) and store; (url, image)."""
    settings = svc.settings
    wait = svc.upload_limits.allow(user.id, settings.upload_rate_per_minute)
    if wait is not None:
        raise RateLimited("too many uploads; try again later", retry_after=wait)
    if settings.upload_quota_bytes:
        await _refuse_when_full(svc, user)
    try:
        image = await svc.upload_limits.run_image_work(
            settings.image_workers,
            lambda: process_image(
                data, max_bytes=max_bytes, max_pixels=max_pixels, max_side=max_side
            ),
        )
    except ImageError as exc:
        raise _STATUS_ERRORS.get(exc.status, Invalid)(exc.detail) from None
    name = f"{new_id()}.{image.extension}"
    target = svc.upload_dir / folder / name
    await anyio.to_thread.run_sync(_write_file, target, image.data)
    try:
        await _record(svc, user, name, folder, len(image.data))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return f"/uploads/{folder}/{name}", image


async def _record(svc: Services, user: User, name: str, folder: str, size: int) -> None:
    """Remember who stored the file; over the quota the row is rolled back (caller unlinks)."""
    quota = svc.settings.upload_quota_bytes
    async with svc.db.write() as conn:
        await upload_store.insert_upload(
            conn, name=name, kind=folder, user_id=user.id, size=size, created_at=_now()
        )
        # Checked in the same transaction, so concurrent uploads cannot all slip under it.
        if quota and await upload_store.bytes_used(conn, user.id) > quota:
            raise _quota_used_up(quota)


async def _refuse_when_full(svc: Services, user: User) -> None:
    """Refuse before decoding anything when the user has no room left at all."""
    quota = svc.settings.upload_quota_bytes
    async with svc.db.read() as conn:
        if await upload_store.bytes_used(conn, user.id) >= quota:
            raise _quota_used_up(quota)


def _quota_used_up(quota: int) -> TooLarge:
    return TooLarge(f"upload quota of {quota} bytes used up; delete rooms or images to free it")


def _now() -> str:
    return format_ts(utc_now())


def _write_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


async def upload_chat_image(svc: Services, user: User, data: bytes) -> Upload:
    """A chat image (5 MB) that messages may then reference by URL."""
    url, image = await store_image(
        svc,
        user,
        data,
        folder=CHAT_IMAGES,
        max_bytes=svc.settings.max_image_bytes,
        max_pixels=svc.settings.max_image_pixels,
    )
    return Upload(
        url=url,
        content_type=image.content_type,
        size=len(image.data),
        width=image.width,
        height=image.height,
    )


async def upload_avatar(svc: Services, user: User, data: bytes) -> User:
    """A new avatar (shrunk to 512 px); the user's previous avatar files are deleted."""
    url, _ = await store_image(
        svc,
        user,
        data,
        folder=AVATARS,
        max_bytes=svc.settings.max_avatar_bytes,
        max_pixels=svc.settings.max_avatar_pixels,
        max_side=AVATAR_SIDE,
    )
    async with svc.db.write() as conn:
        updated = await user_store.update_user(conn, user.id, avatar_url=url)
        old = await upload_store.old_avatars(conn, user.id)
        await upload_store.delete_uploads(conn, AVATARS, old)
    if updated is None:
        raise Unauthorized("account no longer exists")
    await delete_files(svc, AVATARS, old)
    return updated


async def delete_room_images(svc: Services, names: set[str]) -> None:
    """Delete the chat images among `names` that no message shows any more (rows and files)."""
    if not names:
        return
    async with svc.db.write() as conn:
        gone = await upload_store.unreferenced_images(conn, names)
        await upload_store.delete_uploads(conn, CHAT_IMAGES, gone)
    await delete_files(svc, CHAT_IMAGES, gone)


async def delete_files(svc: Services, folder: str, names: set[str]) -> None:
    """Unlink stored files (names we generated only; missing ones are fine)."""
    paths = [svc.upload_dir / folder / n for n in names if STORED_NAME.fullmatch(n)]

    def unlink_all() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    if paths:
        await anyio.to_thread.run_sync(unlink_all)
