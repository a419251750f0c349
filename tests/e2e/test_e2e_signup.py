"""Who may sign up, in the browser: first-run setup, invite-only sign-up, closed sign-up."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e.e2e_support import PASSWORD, ServerProcess, axe_problems, setup_url, unique

pytestmark = pytest.mark.e2e


def fill_account(page: Page, username: str, display_name: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Display name").fill(display_name)


def me(server: ServerProcess, page: Page) -> dict[str, object]:
    token = page.evaluate("localStorage.getItem('gc.token')")
    resp = httpx.get(f"{server.base_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    user: dict[str, object] = resp.json()
    return user


def test_first_run_setup_page_creates_a_working_admin_account(
    server_with: Callable[..., ServerProcess], blank_page: Callable[[], Page]
) -> None:
    fresh = server_with(REGISTRATION_MODE="invite")
    page = blank_page()
    page.goto(fresh.base_url)
    expect(page.get_by_text("This server has no account yet")).to_be_visible()
    expect(page.get_by_role("button", name="Create an account")).to_have_count(0)

    link = setup_url(fresh)
    page.goto(link)
    expect(page.get_by_role("heading", name="Set up GroupChat")).to_be_visible()
    admin = unique("admin")
    fill_account(page, admin, "Ada Admin")
    page.get_by_role("button", name="Create admin account").click()
    expect(page.get_by_role("heading", name="Welcome to GroupChat")).to_be_visible()
    assert page.url == f"{fresh.base_url}/"
    assert me(fresh, page)["is_admin"] is True

    page.get_by_role("link", name="Server admin").click()
    expect(page.get_by_role("heading", name="Server admin")).to_be_visible()
    row = page.get_by_role("listitem").filter(has_text=f"@{admin}")
    expect(row).to_contain_text("Ada Admin (you)")
    expect(row).to_contain_text("admin")

    # The link is single use: a second visit says the server is set up.
    again = blank_page()
    again.goto(link)
    expect(again.get_by_role("heading", name="This server is set up")).to_be_visible()
    again.get_by_role("link", name="Go to sign in").click()
    expect(again.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(again.get_by_text("You need an invite link to create an account")).to_be_visible()


def admin_with_room(server: ServerProcess) -> tuple[dict[str, str], str, str]:
    """The first account (through the setup token), a room of theirs, and an invite link to it."""
    token = setup_url(server).rsplit("/", 1)[1]
    body = {"username": unique("owner"), "password": PASSWORD, "setup_token": token}
    created = httpx.post(f"{server.base_url}/api/auth/register", json=body)
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['token']}"}
    room = httpx.post(f"{server.base_url}/api/rooms", json={"name": "Garden club"}, headers=auth)
    assert room.status_code == 201, room.text
    invite = httpx.post(
        f"{server.base_url}/api/invites", json={"room_id": room.json()["id"]}, headers=auth
    )
    assert invite.status_code == 201, invite.text
    return auth, room.json()["id"], invite.json()["token"]


def test_invite_only_sign_up_through_an_invite_link(
    server_with: Callable[..., ServerProcess], blank_page: Callable[[], Page]
) -> None:
    fresh = server_with(REGISTRATION_MODE="invite")
    auth, room_id, token = admin_with_room(fresh)
    page = blank_page()
    page.goto(fresh.base_url)
    expect(page.get_by_text("You need an invite link to create an account")).to_be_visible()
    expect(page.get_by_role("button", name="Create an account")).to_have_count(0)

    page.goto(f"{fresh.base_url}/invite/{token}")
    expect(page.get_by_role("heading", name="Garden club", exact=True)).to_be_visible()
    page.get_by_role("button", name="Create an account").click()
    assert axe_problems(page) == []
    newcomer = unique("dana")
    fill_account(page, newcomer, "Dana")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("log", name="Messages")).to_be_visible()
    expect(page.get_by_role("heading", name="Garden club", exact=True)).to_be_visible()
    assert page.url == f"{fresh.base_url}/rooms/{room_id}"

    room = httpx.get(f"{fresh.base_url}/api/rooms/{room_id}", headers=auth).json()
    assert newcomer in [m["user"]["username"] for m in room["members"]]
    assert me(fresh, page)["is_admin"] is False


def test_closed_server_offers_no_sign_up(
    server_with: Callable[..., ServerProcess], blank_page: Callable[[], Page]
) -> None:
    fresh = server_with(REGISTRATION_MODE="closed")
    admin_with_room(fresh)
    page = blank_page()
    page.goto(fresh.base_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Accounts on this server are created by its admin.")).to_be_visible()
    expect(page.get_by_role("button", name="Create an account")).to_have_count(0)
