"""Decoding cost is bounded before it is spent: a small file that decodes to a huge canvas is
refused from its header, avatars have a lower cap than chat images, big JPEG avatars are decoded
at a reduced scale, and only IMAGE_WORKERS images are processed at a time."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import httpx
from PIL import Image, ImageCms

from conftest import Actor, Server
from groupchat.images import process_image
from groupchat.upload_limits import UploadLimits

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MiB = 1024 * 1024


def flat_png(side: int, icc: bytes | None = None) -> bytes:
    """A one-colour square PNG: a few KB on the wire, side² pixels once decoded."""
    buf = io.BytesIO()
    options = {"icc_profile": icc} if icc else {}
    Image.new("RGB", (side, side), (90, 140, 200)).save(buf, "PNG", **options)
    return buf.getvalue()


def files_in(server: Server, folder: str) -> list[str]:
    return sorted(p.name for p in (server.settings.upload_dir / folder).iterdir())


async def send(http: httpx.AsyncClient, who: Actor, path: str, data: bytes) -> httpx.Response:
    files = {"file": ("big.png", data, "image/png")}
    return await http.post(path, files=files, headers=who.headers)


async def test_a_100_kb_png_of_5600x5600_pixels_is_refused_before_decoding(
    http, server: Server, alice: Actor
) -> None:
    data = flat_png(5600, SRGB_ICC)
    assert len(data) < 200 * 1024  # the finding's file: ~104 KB for 31 million pixels

    resp = await send(http, alice, "/api/upload", data)

    assert resp.status_code == 422
    assert resp.json() == {"detail": "image has too many pixels"}
    assert files_in(server, "chat-images") == []


async def test_avatars_have_a_lower_pixel_cap_than_chat_images(
    http, server: Server, alice: Actor
) -> None:
    data = flat_png(4500)  # 20.25 million pixels: under 25 M, over 16 M

    as_image = await send(http, alice, "/api/upload", data)
    as_avatar = await send(http, alice, "/api/auth/avatar", data)

    assert as_image.status_code == 201, as_image.text
    assert (as_image.json()["width"], as_image.json()["height"]) == (4500, 4500)
    assert as_avatar.status_code == 422
    assert as_avatar.json() == {"detail": "image has too many pixels"}
    assert files_in(server, "avatars") == []
    me = await http.get("/api/auth/me", headers=alice.headers)
    assert me.json()["avatar_url"] is None


async def test_a_big_jpeg_avatar_is_stored_at_512_pixels_in_its_colours(
    http, server: Server, alice: Actor
) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 40, 60)).save(buf, "JPEG", quality=90)

    resp = await send(http, alice, "/api/auth/avatar", buf.getvalue())

    assert resp.status_code == 200, resp.text
    stored = server.settings.upload_dir / "avatars" / resp.json()["avatar_url"].rsplit("/", 1)[1]
    with Image.open(stored) as img:
        assert img.format == "JPEG" and img.size == (512, 384)
        r, g, b = img.convert("RGB").getpixel((256, 192))  # type: ignore[misc]
    assert abs(r - 200) < 8 and abs(g - 40) < 8 and abs(b - 60) < 8


def test_a_drafted_jpeg_keeps_its_shape_and_orientation() -> None:
    """The reduced-scale decode still applies EXIF orientation (6: turn 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (2000, 1000), (10, 200, 10)).save(buf, "JPEG", exif=exif.tobytes())

    out = process_image(buf.getvalue(), max_bytes=5 * MiB, max_pixels=16_000_000, max_side=512)

    assert (out.width, out.height) == (256, 512)


async def test_a_burst_of_uploads_is_processed_a_few_at_a_time(
    http, server: Server, register
) -> None:
    """Eight people upload at once; all are answered (the burst queues, it is not refused)."""
    people = [await register(f"user{i}") for i in range(8)]
    data = flat_png(1200, SRGB_ICC)

    answers = await asyncio.gather(*(send(http, who, "/api/upload", data) for who in people))

    assert [r.status_code for r in answers] == [201] * 8
    assert len(files_in(server, "chat-images")) == 8


async def test_image_work_runs_at_most_workers_at_once() -> None:
    limits, lock = UploadLimits(), threading.Lock()
    running, most = 0, 0

    def work() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # long enough for unbounded threads to overlap
        with lock:
            running -= 1
        return 1

    done = await asyncio.gather(*(limits.run_image_work(2, work) for _ in range(6)))

    assert done == [1] * 6
    assert most == 2
