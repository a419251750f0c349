"""Accounts in the browser: Nostr sign-in through window.nostr, profile edits, sign out."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coincurve
import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e.e2e_support import PASSWORD, Person, ServerProcess, png_bytes

pytestmark = pytest.mark.e2e

# A NIP-07 signer whose key stays in Python: the page only sees window.nostr.
FAKE_SIGNER = """
window.nostr = {
  getPublicKey: () => window.__nostrPubkey(),
  signEvent: (event) => window.__nostrSign(event),
};
"""


def signed(key: coincurve.PrivateKey, event: dict[str, Any]) -> dict[str, Any]:
    """The NIP-01 id and BIP-340 signature added to an unsigned event."""
    pubkey = key.public_key_xonly.format().hex()
    serialized = [0, pubkey, event["created_at"], event["kind"], event["tags"], event["content"]]
    raw = json.dumps(serialized, separators=(",", ":"), ensure_ascii=False).encode()
    event_id = hashlib.sha256(raw).digest()
    sig = key.sign_schnorr(event_id, secrets.token_bytes(32))
    return {**event, "pubkey": pubkey, "id": event_id.hex(), "sig": sig.hex()}


def test_nostr_button_only_with_a_signer_and_it_signs_in(
    server: ServerProcess, blank_page: Callable[[], Page]
) -> None:
    plain = blank_page()
    plain.goto(server.base_url)
    expect(plain.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(plain.get_by_role("button", name="Sign in with Nostr")).to_have_count(0)

    key = coincurve.PrivateKey()
    seen: list[dict[str, Any]] = []

    def sign(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return signed(key, event)

    page = blank_page()
    page.expose_function("__nostrSign", sign)
    page.expose_function("__nostrPubkey", lambda: key.public_key_xonly.format().hex())
    page.add_init_script(FAKE_SIGNER)
    page.goto(server.base_url)
    page.get_by_role("button", name="Sign in with Nostr").click()
    expect(page.get_by_role("heading", name="Welcome to GroupChat")).to_be_visible()

    assert len(seen) == 1 and seen[0]["kind"] == 22242 and seen[0]["content"] == ""
    tags = dict(seen[0]["tags"])
    assert tags["relay"] == server.base_url and len(tags["challenge"]) > 0
    token = page.evaluate("localStorage.getItem('gc.token')")
    me = httpx.get(f"{server.base_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["nostr_pubkey"] == key.public_key_xonly.format().hex()


def test_profile_edit_avatar_and_sign_out(
    server: ServerProcess, person: Callable[..., Person], tmp_path: Path
) -> None:
    alice = person(server, "alice")
    page = alice.page
    page.goto(server.base_url)
    page.get_by_role("button", name="Profile").click()
    dialog = page.get_by_role("dialog", name="Profile")
    dialog.get_by_label("Display name").fill("Alice Liddell")
    dialog.get_by_label("Bio").fill("Curiouser and curiouser")
    dialog.get_by_role("button", name="Save profile").click()
    expect(dialog.get_by_text("Saved.")).to_be_visible()
    face = tmp_path / "face.png"
    face.write_bytes(png_bytes((200, 80, 60), (96, 96)))
    dialog.get_by_label("Change avatar").set_input_files(str(face))
    expect(page.get_by_text("Avatar updated.")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("complementary").get_by_text("Alice Liddell")).to_be_visible()

    me = alice.api("GET", "/api/auth/me").json()
    assert me["display_name"] == "Alice Liddell" and me["bio"] == "Curiouser and curiouser"
    assert me["avatar_url"].startswith("/uploads/avatars/")
    footer_avatar = page.get_by_role("complementary").locator(f"img[src='{me['avatar_url']}']")
    expect(footer_avatar).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('gc.token')") is None
    assert alice.api("GET", "/api/auth/me").status_code == 401


def test_password_change_in_the_profile(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    page = alice.page
    page.goto(server.base_url)
    page.get_by_role("button", name="Profile").click()
    dialog = page.get_by_role("dialog", name="Profile")
    dialog.get_by_label("Current password").fill("not-my-password")
    dialog.get_by_label("New password").fill("a-brand-new-secret")
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog.get_by_text("The current password is not right.")).to_be_visible()
    expect(dialog).to_be_visible()  # a wrong password does not end the session

    dialog.get_by_label("Current password").fill(PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog.get_by_text("Password changed.")).to_be_visible()
    login = f"{server.base_url}/api/auth/login"
    old = httpx.post(login, json={"username": alice.username, "password": PASSWORD})
    assert old.status_code == 401
    dialog.get_by_role("button", name="Sign out", exact=True).click()

    page.get_by_label("Username").fill(alice.username)
    page.get_by_label("Password").fill("a-brand-new-secret")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Welcome to GroupChat")).to_be_visible()


def test_sign_out_everywhere(server: ServerProcess, person: Callable[..., Person]) -> None:
    alice = person(server, "alice")
    login = {"username": alice.username, "password": PASSWORD}
    other = httpx.post(f"{server.base_url}/api/auth/login", json=login).json()["token"]
    page = alice.page
    page.goto(server.base_url)
    page.get_by_role("button", name="Profile").click()
    page.get_by_role("dialog", name="Profile").get_by_role(
        "button", name="Sign out everywhere"
    ).click()
    page.get_by_role("dialog", name="Sign out everywhere?").get_by_role(
        "button", name="Sign out everywhere"
    ).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert alice.api("GET", "/api/auth/me").status_code == 401
    elsewhere = httpx.get(
        f"{server.base_url}/api/auth/me", headers={"Authorization": f"Bearer {other}"}
    )
    assert elsewhere.status_code == 401
