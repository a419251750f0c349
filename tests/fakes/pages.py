"""Fake web pages on 127.0.0.1 for fetch_page: HTML, text, JSON, huge, slow, redirects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fakes.server import FakeService, Request, Response

ARTICLE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8"><title>  Fake   Article &amp; Co </title>
<style>body { color: red; }</style>
<script>var secret = "script text must not appear";</script>
</head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About us</a></nav>
<h1>Hello,&nbsp;world</h1>
<p>First    paragraph with <a href="https://example.org/x">a link</a> and <b>bold</b> text.</p>
<noscript>Enable JavaScript</noscript>
<svg><text>svg text</text></svg>
<ul><li>one</li><li>two &lt;3</li></ul>
<script type="module">document.write("nope")</script>
<p>Caf\u00e9 \u2014 \u65e5\u672c</p>
</body></html>
"""

HUGE_CHUNK = b"<p>" + b"lorem ipsum dolor sit amet " * 2400 + b"</p>\n"  # about 64 KiB


@dataclass
class Page:
    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] | None = None


class FakePages(FakeService):
    """A small web site. `pages` can be extended per test; special paths are listed in handle()."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, Page] = {
            "/article": Page(200, "text/html; charset=utf-8", ARTICLE.encode()),
            "/no-head": Page(200, "text/html", b"<html><head><title>T</title><body><p>Body kept"),
            "/plain": Page(200, "text/plain", b"just   text\nline two"),
            "/data.json": Page(200, "application/json", b'{"answer": 42}'),
            "/latin1": Page(
                200, "text/html; charset=iso-8859-1", "<p>caf\u00e9</p>".encode("latin-1")
            ),
            "/xhtml": Page(
                200, "application/xhtml+xml", b"<html><title>X</title><p>xhtml body</p></html>"
            ),
            "/image.png": Page(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
            "/no-type": Page(200, None, b"mystery"),
            "/missing": Page(404, "text/html", b"<p>not here</p>"),
        }
        self.huge_size = 200 * 1024 * 1024
        self.huge_bytes_sent = 0
        self.huge_complete = False
        self.huge_aborted = False
        self.slow_delay = 5.0

    async def handle(self, request: Request, response: Response) -> None:
        path = request.path
        if path == "/huge":
            await self._huge(response)
        elif path == "/slow":
            await response.start(200, {"Content-Type": "text/html"})
            await asyncio.sleep(self.slow_delay)
            await response.write(b"<p>finally</p>")
        elif path == "/redirect":
            status = int(request.arg("status", "302") or 302)
            await response.send(status, b"", headers={"Location": request.arg("to", "/") or "/"})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/chain/{left - 1}" if left > 0 else "/article"
            await response.send(301, b"", headers={"Location": target})
        elif path == "/loop":
            await response.send(302, b"", headers={"Location": "/loop"})
        elif path in self.pages:
            await self._page(self.pages[path], response)
        else:
            await response.send(404, "no such page")

    async def _page(self, page: Page, response: Response) -> None:
        headers = dict(page.headers or {})
        headers["Content-Length"] = str(len(page.body))
        if page.content_type is not None:
            headers["Content-Type"] = page.content_type
        await response.start(page.status, headers, chunked=False)
        await response.write(page.body)

    async def _huge(self, response: Response) -> None:
        """Stream a very large page; a client that stops reading makes the writes fail."""
        await response.start(200, {"Content-Type": "text/html; charset=utf-8"})
        await response.write(b"<html><head><title>Huge</title></head><body>")
        sent = 0
        while sent < self.huge_size:
            try:
                await response.write(HUGE_CHUNK)
            except ConnectionResetError:
                self.huge_aborted = True
                raise
            sent += len(HUGE_CHUNK)
            self.huge_bytes_sent = sent
        await response.write(b"</body></html>")
        self.huge_complete = True
