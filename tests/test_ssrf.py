"""The fetch_page guard: address policy, resolution, schemes, redirects, TLS name checks.

No test here sends traffic beyond 127.0.0.1: every non-loopback address must be refused
before a connection is attempted, and the assertions check that it was the guard that refused.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fakes.pages import FakePages
from groupchat.ai.fetch import (
    FetchError,
    address_blocked,
    check_address,
    fetch_page,
    resolve_and_check,
)

BLOCKED = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.5.4", "192.168.1.1",
    "169.254.169.254", "169.254.1.1", "100.64.0.1", "100.100.100.200", "0.0.0.0", "0.1.2.3",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fd00:ec2::254", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "2002:7f00:1::", "2002:a00:1::",  # 6to4 of 127.0.0.1 and 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of 127.0.0.1 and 169.254.169.254
    "2001:db8::1",
]  # fmt: skip
ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
    "2002:808:808::",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]  # fmt: skip


@pytest.mark.parametrize("ip", BLOCKED)
def test_special_addresses_are_refused(ip: str) -> None:
    assert address_blocked(ip)
    with pytest.raises(FetchError) as caught:
        check_address(ipaddress.ip_address(ip))
    assert "private or reserved" in caught.value.message


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses_pass(ip: str) -> None:
    assert not address_blocked(ip)
    check_address(ip)


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.0.0.1", "::1", "192.168.1.1", "fc00::1"])
def test_allow_private_opens_private_ranges(ip: str) -> None:
    assert not address_blocked(ip, allow_private=True)


@pytest.mark.parametrize(
    "ip", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "100.100.100.200"]
)
def test_metadata_endpoints_are_refused_even_when_private_is_allowed(ip: str) -> None:
    assert address_blocked(ip, allow_private=True)


def test_blocked_networks_hook() -> None:
    policy = {"allow_private": True, "blocked_networks": ["10.0.0.0/8"]}
    assert address_blocked("10.1.2.3", **policy)
    assert address_blocked("::ffff:10.1.2.3", **policy)
    assert not address_blocked("127.0.0.1", **policy)
    assert address_blocked("8.8.8.8", blocked_networks=[ipaddress.ip_network("8.8.8.0/24")])


async def test_resolution_checks_the_addresses_of_a_name() -> None:
    with pytest.raises(FetchError) as caught:
        await resolve_and_check("localhost", 80)
    assert caught.value.message == (
        "Refusing to fetch from localhost: it resolves to a private or reserved address."
    )
    addresses = await resolve_and_check("localhost", 80, allow_private=True)
    assert ipaddress.ip_address("127.0.0.1") in addresses
    assert all(a.is_loopback for a in addresses)


async def test_literal_addresses_skip_dns() -> None:
    assert await resolve_and_check("::1", 80, allow_private=True) == [ipaddress.ip_address("::1")]
    with pytest.raises(FetchError):
        await resolve_and_check("::1", 80)


@pytest.fixture
async def pages() -> AsyncIterator[FakePages]:
    async with FakePages() as fake:
        yield fake


async def test_loopback_urls_are_refused_without_connecting(pages: FakePages) -> None:
    port = pages.url.rsplit(":", 1)[1]
    for url in [
        f"http://127.0.0.1:{port}/article",
        f"http://localhost:{port}/article",
        f"http://[::1]:{port}/article",
        f"http://[::ffff:127.0.0.1]:{port}/article",
        f"http://2130706433:{port}/article",  # 127.0.0.1 written as one number
        f"http://127.1:{port}/article",
    ]:
        with pytest.raises(FetchError) as caught:
            await fetch_page(None, url)
        assert "private or reserved address" in caught.value.message, url
    assert pages.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "https://192.168.0.1/admin",
        "http://0.0.0.0:8000/",
    ],
)
async def test_private_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, url, timeout=2)
    assert caught.value.message.startswith("Refusing to fetch from ")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "example.com/no-scheme",
    ],
)
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, url, allow_private=True)
    assert caught.value.message.startswith("Only http and https pages can be fetched")


async def test_user_info_is_refused() -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, "http://user:secret@example.com/", allow_private=True)
    assert caught.value.message == "URLs with a user name or password are not fetched."


async def test_connection_goes_to_the_checked_address_with_the_original_host(pages) -> None:
    port = pages.url.rsplit(":", 1)[1]
    page = await fetch_page(None, f"http://localhost:{port}/article#part", allow_private=True)
    assert page.url == f"http://localhost:{port}/article"
    assert pages.requests[0].headers["host"] == f"localhost:{port}"
    assert pages.requests[0].headers["connection"] == "close"


@pytest.mark.parametrize(
    "target",
    ["ftp://example.com/x", "file:///etc/passwd"],
)
async def test_redirect_to_another_scheme_is_refused(pages, target) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, f"{pages.url}/redirect?to={target}", allow_private=True)
    assert caught.value.message.startswith("Only http and https pages can be fetched")


@pytest.mark.parametrize(
    ("target", "blocked"),
    [
        ("http://10.0.0.1/internal", ["10.0.0.0/8"]),
        ("http://10.0.0.1:6379/", ["10.0.0.0/8"]),
        ("http://169.254.169.254/latest/meta-data/", []),
        ("http://[fd00:ec2::254]/", []),
    ],
)
async def test_redirect_to_a_blocked_address_is_refused_before_connecting(
    pages, target, blocked
) -> None:
    url = f"{pages.url}/redirect?to={target}"
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, url, allow_private=True, blocked_networks=blocked, timeout=2)
    host = httpx.URL(target).host
    assert caught.value.message == (
        f"Refusing to fetch from {host}: it resolves to a private or reserved address."
    )
    assert len(pages.requests) == 1  # only the first hop reached our page server


async def test_redirect_to_a_name_is_resolved_and_checked(pages) -> None:
    port = pages.url.rsplit(":", 1)[1]
    url = f"{pages.url}/redirect?to=http://localhost:{port}/article"
    page = await fetch_page(None, url, allow_private=True)
    assert page.title == "Fake Article & Co"
    assert [r.headers["host"] for r in pages.requests] == [f"127.0.0.1:{port}", f"localhost:{port}"]
    # With loopback blocked the first hop itself is refused: nothing more reaches the server.
    with pytest.raises(FetchError):
        await fetch_page(None, url)
    assert len(pages.requests) == 2


# --- TLS: the certificate is checked against the URL's name, not the address we dialled --------


def _make_cert(tmp_path: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _https_pages(tmp_path: Path, name: str) -> tuple[FakePages, ssl.SSLContext]:
    cert, key = _make_cert(tmp_path, name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    fake = FakePages()
    fake.ssl_context = server_context
    client_context = ssl.create_default_context(cafile=str(cert))
    return fake, client_context


async def test_https_verifies_the_hostname_through_sni(tmp_path) -> None:
    fake, client_context = await _https_pages(tmp_path, "localhost")
    async with fake, httpx.AsyncClient(verify=client_context, trust_env=False) as http:
        port = fake.url.rsplit(":", 1)[1]
        # The certificate names only "localhost": this works only if TLS checks that name
        # although the connection was made to the IP literal 127.0.0.1.
        page = await fetch_page(http, f"https://localhost:{port}/article", allow_private=True)
    assert page.title == "Fake Article & Co"
    assert fake.requests[0].headers["host"] == f"localhost:{port}"


async def test_https_with_a_certificate_for_another_name_fails(tmp_path) -> None:
    fake, client_context = await _https_pages(tmp_path, "other.example")
    async with fake, httpx.AsyncClient(verify=client_context, trust_env=False) as http:
        port = fake.url.rsplit(":", 1)[1]
        with pytest.raises(FetchError) as caught:
            await fetch_page(http, f"https://localhost:{port}/article", allow_private=True)
    assert caught.value.message == "Could not connect to localhost."
    assert fake.requests == []
