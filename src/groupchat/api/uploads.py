"""Image upload and the /uploads/* file server."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile
from fastapi.responses import FileResponse

from groupchat.actions.uploads import STORED_NAME, upload_chat_image
from groupchat.deps import CurrentUser, Svc
from groupchat.errors import NotFound, TooLarge
from groupchat.openapi import errors
from groupchat.schemas import Upload

router = APIRouter(tags=["uploads"])

_FOLDERS = {"avatars", "chat-images"}
UPLOAD_CSP = "default-src 'none'; sandbox"
_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, refusing more than `limit` without keeping them."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"file is larger than {limit // (1024 * 1024)} MB")
    return data


@router.post("/api/upload", status_code=201, responses=errors(429))
async def upload(svc: Svc, user: CurrentUser, file: UploadFile) -> Upload:
    data = await read_upload(file, svc.settings.max_image_bytes)
    return await upload_chat_image(svc, user, data)


@router.get("/uploads/{folder}/{name}", include_in_schema=False)
async def serve_upload(svc: Svc, folder: str, name: str) -> FileResponse:
    """Only names we generated, in our two folders: no listing, no traversal."""
    match = STORED_NAME.fullmatch(name)
    if folder not in _FOLDERS or match is None:
        raise NotFound("file not found")
    path = svc.upload_dir / folder / name
    if not path.is_file():
        raise NotFound("file not found")
    return FileResponse(path, media_type=_TYPES[match.group(1)], headers=_served_headers(name))


def _served_headers(name: str) -> dict[str, str]:
    """Browser cache only (a cleared room's images must not live on in shared caches), shown
    inline under its own name, and sandboxed should a browser ever render it as a document."""
    return {
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'inline; filename="{name}"',
        "Content-Security-Policy": UPLOAD_CSP,
    }
