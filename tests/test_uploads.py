"""Chat images: alice uploads pictures, they come back re-encoded without metadata and are
served only under the names the server made; oversize, fake and hostile files are refused."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from conftest import Actor, Server

MiB = 1024 * 1024
IMAGE_LIMIT = 5 * MiB
UPLOAD_URL = re.compile(r"^/uploads/chat-images/([0-9A-Z]{26}\.(png|jpg|gif|webp))$")
MARKER = b"SecretMarker42"
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a raw connection and wait for it (the server may have closed it first)."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def image_with_metadata(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    """An image whose metadata (EXIF, text chunk or comment) carries MARKER."""
    img = Image.new("RGB", size, (220, 40, 90))
    exif = Image.Exif()
    exif[0x010F] = MARKER.decode()  # Make
    options: dict[str, Any] = {
        "PNG": {"pnginfo": _png_text(), "exif": exif.tobytes()},
        "JPEG": {"exif": exif.tobytes(), "comment": MARKER},
        "GIF": {"comment": MARKER},
        "WEBP": {"exif": exif.tobytes(), "xmp": b"<x>" + MARKER + b"</x>"},
    }[fmt]
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    data = buf.getvalue()
    assert MARKER in data
    return data


def _png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER.decode())
    return info


def noise_png(side: int) -> bytes:
    """A PNG of random pixels: it does not compress, so its size is about 3 * side²."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(3 * side * side)).save(buf, "PNG")
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A grayscale PNG that declares width x height; `rows` rows of zeros are really there."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(rows or 1)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def chat_images(server: Server) -> list[str]:
    """What is stored in uploads/chat-images."""
    folder = server.settings.upload_dir / "chat-images"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def upload(
    http: httpx.AsyncClient,
    who: Actor | None,
    data: bytes,
    name: str = "picture.png",
    ctype: str = "image/png",
) -> httpx.Response:
    headers = who.headers if who else {}
    return await http.post("/api/upload", files={"file": (name, data, ctype)}, headers=headers)


def assert_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert isinstance(resp.json()["detail"], str) and resp.json()["detail"]


# ---------------------------------------------------------------- accepted images
@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_alice_uploads_an_image_stored_without_metadata(
    http, server: Server, alice: Actor, bob: Actor, fmt: str
) -> None:
    content_type, ext = FORMATS[fmt]
    resp = await upload(http, alice, image_with_metadata(fmt), f"holiday.{ext}", content_type)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"url", "content_type", "size", "width", "height"}
    match = UPLOAD_URL.match(body["url"])
    assert match and match.group(2) == ext
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == (40, 30)

    stored = server.settings.upload_dir / "chat-images" / match.group(1)
    assert chat_images(server) == [match.group(1)]
    data = stored.read_bytes()
    assert body["size"] == len(data)
    assert MARKER not in data
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == fmt and img.size == (40, 30)
        assert dict(img.getexif()) == {}
        assert not any(MARKER.decode() in str(v) for v in img.info.values())

    got = await http.get(body["url"], headers=bob.headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == content_type
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.content == data


async def test_the_format_comes_from_the_bytes_not_the_name(
    http, server: Server, alice: Actor
) -> None:
    resp = await upload(http, alice, image_with_metadata("PNG"), "cat.jpg", "image/jpeg")
    assert resp.status_code == 201, resp.text
    assert resp.json()["content_type"] == "image/png" and resp.json()["url"].endswith(".png")
    got = await http.get(resp.json()["url"])
    assert got.headers["content-type"] == "image/png"


async def test_two_uploads_of_one_image_get_two_names(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    first = await upload(http, alice, png_bytes)
    second = await upload(http, alice, png_bytes)
    assert first.status_code == second.status_code == 201
    assert first.json()["url"] != second.json()["url"]
    assert len(chat_images(server)) == 2


async def test_an_upload_of_exactly_5_mb_is_accepted(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    data = png_bytes + b"\0" * (IMAGE_LIMIT - len(png_bytes))  # trailing bytes after IEND
    resp = await upload(http, alice, data)
    assert resp.status_code == 201, resp.text
    assert resp.json()["size"] < 10_000  # re-encoded: the padding is gone


# ---------------------------------------------------------------- refused images
@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (b"hello, this is plain text\n", "notes.txt", "text/plain"),
        (b"hello, pretending to be a PNG", "notes.png", "image/png"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><script>alert(document.cookie)</script></svg>',
            "logo.svg",
            "image/svg+xml",
        ),
        (b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n", "doc.pdf", "application/pdf"),
        (b"<html><script>alert(1)</script></html>", "x.gif", "image/gif"),
        (b"", "empty.png", "image/png"),
    ],
    ids=["text", "text-named-png", "svg", "pdf", "html-named-gif", "empty"],
)
async def test_files_that_are_not_images_are_415(
    http, server: Server, alice: Actor, data: bytes, name: str, ctype: str
) -> None:
    assert_error(await upload(http, alice, data, name, ctype), 415)
    assert chat_images(server) == []


async def test_an_unsupported_image_format_is_415(http, server: Server, alice: Actor) -> None:
    for fmt, ctype in (("BMP", "image/bmp"), ("TIFF", "image/tiff")):
        buf = io.BytesIO()
        Image.new("RGB", (10, 10)).save(buf, fmt)
        assert_error(await upload(http, alice, buf.getvalue(), "x.img", ctype), 415)
    assert chat_images(server) == []


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
async def test_a_truncated_image_is_refused_without_a_500(
    http, server: Server, alice: Actor, fmt: str
) -> None:
    buf = io.BytesIO()
    Image.frombytes("RGB", (120, 120), os.urandom(3 * 120 * 120)).save(buf, fmt)
    data = buf.getvalue()
    resp = await upload(http, alice, data[: len(data) // 2], f"cut.{fmt.lower()}")
    assert 400 <= resp.status_code < 500, resp.text
    assert_error(resp, resp.status_code)
    assert chat_images(server) == []


async def test_a_decompression_bomb_is_refused(http, server: Server, alice: Actor) -> None:
    # 8000 x 8000 = 64 million pixels of zeros, about 60 KB compressed; plus a mere header
    # that claims 100000 x 100000.
    for data in (bomb_png(8000, 8000, rows=8000), bomb_png(100_000, 100_000)):
        assert len(data) < 200_000
        resp = await upload(http, alice, data, "bomb.png")
        assert 400 <= resp.status_code < 500 and resp.status_code != 413, resp.text
        assert_error(resp, resp.status_code)
    assert chat_images(server) == []


async def test_uploading_needs_a_token(http, server: Server, png_bytes: bytes) -> None:
    assert_error(await upload(http, None, png_bytes), 401)
    resp = await http.post(
        "/api/upload",
        files={"file": ("a.png", png_bytes, "image/png")},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert_error(resp, 401)
    assert chat_images(server) == []


async def test_uploading_needs_the_file_field(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    resp = await http.post(
        "/api/upload", files={"image": ("a.png", png_bytes, "image/png")}, headers=alice.headers
    )
    assert_error(resp, 422)
    resp = await http.post("/api/upload", json={"file": "aGVsbG8="}, headers=alice.headers)
    assert resp.status_code in (415, 422), resp.text
    assert chat_images(server) == []


# ---------------------------------------------------------------- oversize
async def test_an_image_a_byte_over_5_mb_is_413(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    data = png_bytes + b"\0" * (IMAGE_LIMIT + 1 - len(png_bytes))
    assert_error(await upload(http, alice, data), 413)
    assert chat_images(server) == []


async def test_a_real_6_mb_image_is_413(http, server: Server, alice: Actor) -> None:
    data = noise_png(1450)  # ~6.3 MB of incompressible pixels
    assert len(data) > 6 * MiB
    assert_error(await upload(http, alice, data), 413)
    assert chat_images(server) == []


async def test_a_streamed_upload_without_length_is_cut_at_the_limit(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    boundary = "gcTestBoundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        yield png_bytes
        for _ in range(100):  # 6.25 MiB more
            sent += 65536
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = await http.post(
        "/api/upload",
        content=body(),
        headers={**alice.headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in resp.request.headers
    assert resp.request.headers["transfer-encoding"] == "chunked"
    assert_error(resp, 413)
    assert chat_images(server) == []


async def open_raw(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (what our server sends for errors)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 5)
    return status, headers, body


PART_HEAD = (
    b"--b0und\r\n"
    b'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
    b"Content-Type: image/png\r\n\r\n"
)


def upload_head(server: Server, alice: Actor, framing: str) -> bytes:
    return (
        "POST /api/upload HTTP/1.1\r\n"
        f"Host: {server.base_url.removeprefix('http://')}\r\n"
        f"Authorization: Bearer {alice.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b0und\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


async def test_a_declared_oversize_is_answered_before_the_body_is_sent(
    server: Server, alice: Actor
) -> None:
    # Only 64 KiB of the declared 50 MB ever leave the client: the 413 must come anyway.
    reader, writer = await open_raw(server)
    try:
        writer.write(upload_head(server, alice, "Content-Length: 50000000"))
        writer.write(PART_HEAD + b"\0" * 65536)
        await writer.drain()
        status, headers, body = await read_response(reader)
    finally:
        await close_writer(writer)
    assert status == 413 and headers["content-type"] == "application/json"
    assert b'"detail"' in body
    assert chat_images(server) == []


async def test_a_chunked_oversize_is_answered_before_the_body_ends(
    server: Server, alice: Actor
) -> None:
    # Up to 6 MiB in chunks and never a final chunk: the answer must not wait for the end.
    reader, writer = await open_raw(server)

    async def send_chunks() -> None:
        writer.write(upload_head(server, alice, "Transfer-Encoding: chunked"))
        first = PART_HEAD + b"\x89PNG\r\n\x1a\n"
        writer.write(b"%x\r\n%s\r\n" % (len(first), first))
        part = b"\0" * 65536
        for _ in range(96):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        await asyncio.Event().wait()  # hold the request open

    sender = asyncio.create_task(send_chunks())
    try:
        status, headers, body = await read_response(reader)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await close_writer(writer)
    assert status == 413 and headers["content-type"] == "application/json"
    assert b'"detail"' in body
    assert chat_images(server) == []


# ---------------------------------------------------------------- serving /uploads
async def raw_get(server: Server, target: str) -> tuple[int, dict[str, str], bytes]:
    """GET a request target byte for byte (httpx would resolve `..` before sending)."""
    reader, writer = await open_raw(server)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {server.base_url.removeprefix('http://')}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        return await read_response(reader)
    finally:
        await close_writer(writer)


def plant_files(server: Server, good_name: str) -> Path:
    """Files an operator (or an attacker with disk access) left around; none is ours."""
    root = server.settings.upload_dir
    (root.parent / "secret.txt").write_text("top secret")
    (root / "secret.png").write_bytes(b"not served")
    (root / "private").mkdir()
    (root / "private" / good_name).write_bytes(b"private")
    folder = root / "chat-images"
    for name in [
        "evil.html",
        "notes.txt",
        "photo.png",
        "a" * 26 + ".png",  # our length, but lower case: never generated
        "IIIIIIIIIIIIIIIIIIIIIIIIII.png",  # I is not in Crockford base32
        "Z" + good_name[1:],  # a ULID starts with 0-7
        good_name.replace(".png", ".svg"),
        good_name.replace(".png", ".PNG"),
        good_name.replace(".png", ".png.html"),
        good_name.replace(".png", ".part"),
        good_name + ".bak",
    ]:
        (folder / name).write_bytes(b"<script>alert(1)</script>")
    return root


@pytest.mark.parametrize(
    "target",
    [
        "/uploads/chat-images/{missing}",
        "/uploads/avatars/{name}",
        "/uploads/private/{name}",
        "/uploads/",
        "/uploads",
        "/uploads/avatars/",
        "/uploads/chat-images/",
        "/uploads/avatars",
        "/uploads/secret.png",
        "/uploads/../secret.txt",
        "/uploads/chat-images/../../secret.txt",
        "/uploads/chat-images/../{name}",
        "/uploads/%2e%2e/secret.txt",
        "/uploads/chat-images/%2e%2e/%2e%2e/secret.txt",
        "/uploads/chat-images/..%2f..%2fsecret.txt",
        "/uploads/chat-images%2f..%2f..%2fsecret.txt",
        "/uploads/chat-images/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/uploads/chat-images/..%5c..%5csecret.txt",
        "/uploads/chat-images/%252e%252e%252fsecret.txt",
        "/uploads/./chat-images/{name}x",
        "/uploads/chat-images/{name}%00.png",
        "/uploads/chat-images/evil.html",
        "/uploads/chat-images/notes.txt",
        "/uploads/chat-images/photo.png",
        "/uploads/chat-images/aaaaaaaaaaaaaaaaaaaaaaaaaa.png",
        "/uploads/chat-images/IIIIIIIIIIIIIIIIIIIIIIIIII.png",
        "/uploads/chat-images/Z{tail}",
        "/uploads/chat-images/{stem}.svg",
        "/uploads/chat-images/{stem}.PNG",
        "/uploads/chat-images/{stem}.png.html",
        "/uploads/chat-images/{stem}.part",
        "/uploads/chat-images/{name}.bak",
    ],
)
async def test_only_files_we_made_are_served(
    http, server: Server, alice: Actor, png_bytes: bytes, target: str
) -> None:
    resp = await upload(http, alice, png_bytes)
    assert resp.status_code == 201, resp.text
    name = resp.json()["url"].rsplit("/", 1)[1]
    plant_files(server, name)
    missing = "01" + "Z" * 24 + ".png"
    path = target.format(name=name, missing=missing, tail=name[1:], stem=name.removesuffix(".png"))
    status, headers, body = await raw_get(server, path)
    assert status == 404, (path, status, body[:200])
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert b"secret" not in body and b"<script>" not in body and b"private" not in body
    # the real file is still served by its real name
    status, headers, body = await raw_get(server, f"/uploads/chat-images/{name}")
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")
