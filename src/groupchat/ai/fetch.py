"""`fetch_page`: read a public web page as text, guarded against server-side request forgery.

The guard resolves the host itself, refuses if any address is private or special, then connects
to the checked address (sending the real Host header and TLS server name), so a DNS answer cannot
change between the check and the connection. Every redirect hop is checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from groupchat.ai.html_text import html_to_text

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_TYPES = frozenset({"text/html", "text/plain", "application/xhtml+xml", "application/json"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Mozilla/5.0 (compatible; GroupChat/0.1; page fetch for a chat assistant)"

# Cloud metadata endpoints: refused even when private addresses are allowed (tests, dev setups).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# Belt and braces next to `is_global`, whose exact table has shifted between Python releases.
SPECIAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class PageText:
    """A fetched page: final URL, title (HTML only), readable text, whether it was cut."""

    url: str
    title: str
    text: str
    truncated: bool


class FetchError(Exception):
    """A page that could not or may not be fetched, with a readable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _is_special(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in SPECIAL_NETWORKS if net.version == ip.version)
    )


def address_blocked(
    ip: IPAddress | str,
    *,
    allow_private: bool = False,
    blocked_networks: Iterable[Network | str] = (),
) -> bool:
    """Whether the guard refuses to connect to `ip` under this policy."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    networks = [ipaddress.ip_network(n, strict=False) for n in blocked_networks]
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        candidates.extend(_embedded_ipv4(address))
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return True
        if any(candidate in net for net in networks if net.version == candidate.version):
            return True
        # A NAT64 address (inside the reserved ::/8) is as public as the IPv4 one it carries.
        if not allow_private and candidate not in NAT64 and _is_special(candidate):
            return True
    return False


def check_address(
    ip: IPAddress | str,
    *,
    allow_private: bool = False,
    blocked_networks: Iterable[Network | str] = (),
) -> None:
    """Raise FetchError if the guard refuses `ip`."""
    if address_blocked(ip, allow_private=allow_private, blocked_networks=blocked_networks):
        raise FetchError(f"Refusing to fetch from {ip}: it is a private or reserved address.")


async def resolve_and_check(
    host: str,
    port: int,
    *,
    allow_private: bool = False,
    blocked_networks: Iterable[Network | str] = (),
) -> list[IPAddress]:
    """Resolve `host`; refuse if ANY of its addresses is blocked; return them all, in order."""
    networks = list(blocked_networks)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port)
    for address in addresses:
        if address_blocked(address, allow_private=allow_private, blocked_networks=networks):
            raise FetchError(
                f"Refusing to fetch from {host}: it resolves to a private or reserved address."
            )
    return addresses


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"The host name {host} could not be resolved.") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"The host name {host} could not be resolved.")
    return addresses


def parse_url(raw: str | httpx.URL) -> httpx.URL:
    """Validate a URL for fetching: http(s), a host, no user name or password."""
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError):
        raise FetchError("That is not a valid URL.") from None
    if url.scheme not in ("http", "https"):
        shown = f"{url.scheme}:" if url.scheme else "a URL without a scheme"
        raise FetchError(f"Only http and https pages can be fetched, not {shown}.")
    if url.userinfo:
        raise FetchError("URLs with a user name or password are not fetched.")
    if not url.host:
        raise FetchError("That URL has no host.")
    return url.copy_with(fragment=None)


def make_fetch_client() -> httpx.AsyncClient:
    """A client suited to fetch_page: no proxies from the environment, never keeps cookies."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(trust_env=False, follow_redirects=False, cookies=no_cookies)


@dataclass(frozen=True)
class _Options:
    allow_private: bool
    blocked_networks: tuple[Network | str, ...]
    max_bytes: int
    max_chars: int
    timeout: float
    max_redirects: int


async def fetch_page(
    http: httpx.AsyncClient | None,
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = 2_000_000,
    max_chars: int = 20_000,
    timeout: float = 15,  # noqa: ASYNC109 - one deadline for every hop, DNS included
    max_redirects: int = 5,
    blocked_networks: Iterable[Network | str] = (),
) -> PageText:
    """Fetch `url` as readable text, or raise FetchError with a readable reason."""
    options = _Options(
        allow_private, tuple(blocked_networks), max_bytes, max_chars, timeout, max_redirects
    )
    start = parse_url(url)
    try:
        async with asyncio.timeout(timeout):
            if http is not None:
                return await _follow(http, start, options)
            async with make_fetch_client() as own:
                return await _follow(own, start, options)
    except TimeoutError:
        raise FetchError(f"The page did not load within {timeout:g} s.") from None


async def _follow(http: httpx.AsyncClient, url: httpx.URL, options: _Options) -> PageText:
    """Request `url`, following at most max_redirects redirects, each hop checked."""
    for _hop in range(options.max_redirects + 1):
        response = await _open(http, url, options)
        try:
            target = _redirect_target(response, url)
            if target is None:
                return await _read_page(response, url, options)
        finally:
            await response.aclose()
        url = target
    raise FetchError(f"The page redirected more than {options.max_redirects} times.")


def _redirect_target(response: httpx.Response, url: httpx.URL) -> httpx.URL | None:
    location = response.headers.get("location")
    if response.status_code not in REDIRECTS or not location:
        return None
    try:
        joined = url.join(location)
    except httpx.InvalidURL:
        raise FetchError("The page redirected to an invalid URL.") from None
    return parse_url(joined)


async def _open(http: httpx.AsyncClient, url: httpx.URL, options: _Options) -> httpx.Response:
    """Connect to the checked address of `url` and send the request (body not read yet)."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve_and_check(
        host,
        port,
        allow_private=options.allow_private,
        blocked_networks=options.blocked_networks,
    )
    failure: httpx.HTTPError | None = None
    for address in addresses:  # all checked; try the next one only if connecting fails
        try:
            return await _send_to(http, url, address, options)
        except httpx.ConnectError as exc:
            failure = exc
    logger.info("fetch of %s failed: %r", url, failure)
    raise FetchError(f"Could not connect to {url.host}.")


async def _send_to(
    http: httpx.AsyncClient, url: httpx.URL, address: IPAddress, options: _Options
) -> httpx.Response:
    """GET `url` over a connection to `address`, with the URL's own Host and TLS name."""
    host = url.raw_host.decode("ascii")
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8",
        "Accept-Encoding": "identity",
        # No reuse: a pooled connection to this address was verified for another name.
        "Connection": "close",
    }
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    request = http.build_request(
        "GET",
        url.copy_with(host=str(address)),
        headers=headers,
        extensions=extensions,
        timeout=options.timeout,
    )
    try:
        return await http.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        raise FetchError(f"The page did not load within {options.timeout:g} s.") from None
    except httpx.ConnectError:
        raise
    except httpx.HTTPError as exc:
        logger.info("fetch of %s failed: %r", url, exc)
        raise FetchError(f"Fetching {url.host} failed.") from None


async def _read_page(response: httpx.Response, url: httpx.URL, options: _Options) -> PageText:
    if not 200 <= response.status_code < 300:
        raise FetchError(f"The page answered HTTP {response.status_code}.")
    content_type = response.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime not in ALLOWED_TYPES:
        raise FetchError(f"The page has an unsupported content type ({mime or 'none given'}).")
    body, truncated = await _read_capped(response, options.max_bytes)
    text = _decode(body, content_type, mime in HTML_TYPES)
    title = ""
    if mime in HTML_TYPES:
        title, text = html_to_text(text)
    if len(text) > options.max_chars:
        text, truncated = text[: options.max_chars], True
    return PageText(url=str(url), title=title, text=text, truncated=truncated)


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read at most max_bytes of the body; stop reading (and say so) when there is more."""
    body = bytearray()
    try:
        async for piece in response.aiter_bytes():
            body.extend(piece)
            if len(body) > max_bytes:
                return bytes(body[:max_bytes]), True
    except httpx.HTTPError:
        if not body:
            raise FetchError("The connection broke while reading the page.") from None
        return bytes(body), True
    return bytes(body), False


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)


def _decode(body: bytes, content_type: str, is_html: bool) -> str:
    charset = None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    if charset is None and is_html:
        match = _CHARSET.search(body[:4096])
        charset = match.group(1).decode("ascii") if match else None
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
