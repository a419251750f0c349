"""Stored images: chat images and avatars, validated and re-encoded before they touch disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio

from groupchat.errors import AppError, Invalid, TooLarge, UnsupportedMedia
from groupchat.ids import new_id
from groupchat.images import ImageError, ProcessedImage, process_image
from groupchat.schemas import Upload, User
from groupchat.services import Services

_STATUS_ERRORS: dict[int, type[AppError]] = {413: TooLarge, 415: UnsupportedMedia}
# Exactly the names store_image makes: a ULID (Crockford base32, upper case), our extension.
STORED_NAME = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}\.(png|jpg|gif|webp)")


async def store_image(
    svc: Services, data: bytes, *, folder: str, max_bytes: int, max_side: int | None = None
) -> tuple[str, ProcessedImage]:
    """Validate, re-encode (metadata stripped) and store; returns (url, image)."""
    try:
        image = await anyio.to_thread.run_sync(
            lambda: process_image(
                data,
                max_bytes=max_bytes,
                max_pixels=svc.settings.max_image_pixels,
                max_side=max_side,
            )
        )
    except ImageError as exc:
        raise _STATUS_ERRORS.get(exc.status, Invalid)(exc.detail) from None
    name = f"{new_id()}.{image.extension}"
    target = svc.upload_dir / folder / name
    await anyio.to_thread.run_sync(_write_file, target, image.data)
    return f"/uploads/{folder}/{name}", image


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
        svc, data, folder="chat-images", max_bytes=svc.settings.max_image_bytes
    )
    return Upload(
        url=url,
        content_type=image.content_type,
        size=len(image.data),
        width=image.width,
        height=image.height,
    )
