"""The admin page and AI spending in the browser: accounts, cost charts, budgets, refusals.

The usage chart test always takes its screenshot (into tmp_path); set
SCREENSHOTS_DIR=docs/screenshots to refresh the picture in the docs:
    SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest -m e2e tests/e2e -k usage_chart
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from e2e.e2e_support import (
    PASSWORD,
    Fakes,
    Person,
    ServerProcess,
    add_member,
    axe_problems,
    create_room,
    open_room,
    post_message,
    setup_url,
    unique,
)
from fakes.openrouter import text_reply, usage_dict

pytestmark = pytest.mark.e2e


def test_admin_disables_a_user_who_is_signed_out_in_their_open_tab(
    server_with: Callable[..., ServerProcess], person: Callable[..., Person]
) -> None:
    fresh = server_with()
    alice = person(fresh, "alice")  # the first account of an open server: its admin
    bob = person(fresh, "bob")
    room = create_room(alice, "Book club")
    add_member(alice, room["id"], bob)
    open_room(bob, room["id"])
    expect(bob.page.get_by_role("link", name="Server admin")).to_have_count(0)

    page = alice.page
    page.goto(f"{fresh.base_url}/admin")
    page.get_by_label("Search people").fill(bob.username)
    expect(page.get_by_text("1 account", exact=True)).to_be_visible()
    row = page.get_by_role("listitem").filter(has_text=f"@{bob.username}")
    # By keyboard: the confirmation takes the focus on Cancel; Escape changes nothing.
    disable = row.get_by_role("button", name=f"Disable {bob.display_name}")
    disable.focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name=f"Disable: {bob.display_name}?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_have_count(0)
    assert not bob.api("GET", "/api/auth/me").is_error
    disable.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(confirm.get_by_role("button", name="Disable")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row).to_contain_text("disabled")
    expect(row.get_by_role("button", name=f"Enable {bob.display_name}")).to_be_visible()

    expect(bob.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(bob.page.get_by_text("You have been signed out. Please sign in again.")).to_be_visible()
    assert bob.page.evaluate("localStorage.getItem('gc.token')") is None
    assert bob.api("GET", "/api/auth/me").status_code == 401
    bob.page.get_by_label("Username").fill(bob.username)
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Sign in", exact=True).click()
    expect(bob.page.get_by_text("This account has been disabled.")).to_be_visible()
    listed = alice.api("GET", f"/api/admin/users?query={bob.username}").json()["users"]
    assert [(u["username"], u["disabled"]) for u in listed] == [(bob.username, True)]


def test_admin_promotes_a_user_and_the_link_appears_for_them(
    server_with: Callable[..., ServerProcess], person: Callable[..., Person]
) -> None:
    fresh = server_with()
    alice = person(fresh, "alice")
    carol = person(fresh, "carol")
    alice.page.goto(f"{fresh.base_url}/admin")
    row = alice.page.get_by_role("listitem").filter(has_text=f"@{carol.username}")
    row.get_by_role("button", name=f"Make admin {carol.display_name}").click()
    alice.page.get_by_role("dialog").get_by_role("button", name="Make admin").click()
    expect(row.get_by_role("button", name=f"Remove admin {carol.display_name}")).to_be_visible()
    assert carol.api("GET", "/api/auth/me").json()["is_admin"] is True

    carol.page.goto(fresh.base_url)
    carol.page.get_by_role("link", name="Server admin").click()
    expect(carol.page.get_by_role("heading", name="Server admin")).to_be_visible()


def test_admin_creates_an_account_on_a_closed_server(
    server_with: Callable[..., ServerProcess], blank_page: Callable[[], Page]
) -> None:
    fresh = server_with(REGISTRATION_MODE="closed")
    page = blank_page()
    page.goto(setup_url(fresh))
    page.get_by_label("Username").fill(unique("root"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create admin account").click()
    page.get_by_role("link", name="Server admin").click()

    form = page.get_by_role("region", name="Create an account")
    erin = unique("erin")
    form.get_by_label("Username").fill(erin)
    form.get_by_label("Password").fill("erins-first-password")
    form.get_by_label("Display name").fill("Erin")
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Account @{erin} created.")).to_be_visible()
    row = page.get_by_role("listitem").filter(has_text=f"@{erin}")
    expect(row).to_contain_text("Erin")
    expect(form.get_by_label("Username")).to_have_value("")

    login = {"username": erin, "password": "erins-first-password"}
    signed_in = httpx.post(f"{fresh.base_url}/api/auth/login", json=login)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["is_admin"] is False


def ask_ai(author: Person, room_id: str, question: str, answer: str) -> None:
    """Post a question to the AI and wait until the author sees its answer."""
    post_message(author, room_id, f"@ai {question}")
    log = open_room(author, room_id)
    expect(log.get_by_text(answer)).to_be_visible()


def backfill_month(server: ServerProcess) -> None:
    """For the picture: the ledger rows a month of use would have left, written into the SQLite
    file next to today's real ones (same rooms, people and models, earlier days)."""
    db = sqlite3.connect(server.data_dir / "chat.db")
    with closing(db), db:
        columns = "room_id, room_name, user_id, model, prompt_tokens, completion_tokens, outcome"
        today = db.execute(f"SELECT {columns} FROM ai_ledger").fetchall()
        now = datetime.now(UTC)
        rng = random.Random(30)  # the same month every time
        for back in range(1, 30):
            for n in range(rng.choice((0, 1, 2, 3, 3, 4, 6))):
                row = rng.choice(today)
                when = now - timedelta(days=back, minutes=n * 17)
                db.execute(
                    f"INSERT INTO ai_ledger (id, {columns}, cost_usd, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f"01HISTORY{back:03d}{n:02d}".ljust(26, "0"),
                        *row,
                        round(rng.uniform(0.002, 0.014), 4),
                        when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                    ),
                )


def test_usage_chart_renders_with_its_tables(
    server_with: Callable[..., ServerProcess],
    person: Callable[..., Person],
    fakes: Fakes,
    tmp_path: Path,
) -> None:
    target = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    fresh = server_with()
    alice = person(fresh, "alice")
    bob = person(fresh, "bob")
    room = create_room(alice, "Weekend hike")
    add_member(alice, room["id"], bob)
    fakes.openrouter.queue(
        text_reply("Sunny, 18 °C.", usage=usage_dict(812, 64, 0.0125)),
        text_reply("Bring a layer.", usage=usage_dict(640, 48, 0.0075)),
    )
    ask_ai(bob, room["id"], "what's the forecast?", "Sunny, 18 °C.")
    ask_ai(alice, room["id"], "anything else?", "Bring a layer.")

    page = alice.page
    page.goto(f"{fresh.base_url}/admin")
    chart = page.get_by_role("img", name="Whole server: AI cost per day, last 30 days")
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(re.compile(r"\$0\.02 in all"))
    assert chart.locator("rect").count() == 30
    section = page.get_by_role("region", name="AI cost, last 30 days")
    expect(section.get_by_text("$0.02 spent today on 2 AI answers")).to_be_visible()
    by_room = section.get_by_role("table", name="Cost by room, last 30 days")
    expect(by_room.get_by_role("row", name="Weekend hike 2 $0.02")).to_be_visible()
    by_user = section.get_by_role("table", name="Cost by person, last 30 days")
    expect(by_user.get_by_role("row", name=re.compile(r"^Bob .* 1 \$0\.013$"))).to_be_visible()
    section.get_by_text("Show the numbers per day").click()
    days = section.get_by_role("table", name="AI use per day, newest first")
    expect(days.get_by_role("row")).to_have_count(31)
    expect(days.get_by_role("row").nth(1)).to_contain_text("$0.02")

    backfill_month(fresh)
    page.reload()
    chart = page.get_by_role("img", name="Whole server: AI cost per day, last 30 days")
    expect(chart).to_have_accessible_description(re.compile(r"highest \$0\.0[0-9]+ on"))
    section.get_by_role("heading", name="AI cost, last 30 days").evaluate(
        "el => el.scrollIntoView({block: 'start'})"
    )
    page.mouse.move(0, 0)
    shot = target / "admin-usage.png"
    page.screenshot(path=str(shot))
    with Image.open(shot) as picture:
        assert picture.size == (1280, 800)


def test_room_budget_and_a_refused_answer_under_the_message(
    server_with: Callable[..., ServerProcess], person: Callable[..., Person], fakes: Fakes
) -> None:
    fresh = server_with(AI_BUDGET_USER_USD="0.01")
    alice = person(fresh, "alice")
    room = create_room(alice, "Study group")
    fakes.openrouter.queue(text_reply("Photosynthesis.", usage=usage_dict(500, 20, 0.012)))
    ask_ai(alice, room["id"], "what turns light into sugar?", "Photosynthesis.")

    page = alice.page
    page.get_by_role("textbox", name="Message").fill("@ai and what about the night?")
    page.get_by_role("textbox", name="Message").press("Enter")
    mine = page.locator(".row").filter(has_text="and what about the night?")
    expect(mine.locator(".ai-refused")).not_to_be_empty()
    expect(page.locator(".msg.ai")).to_have_count(1)
    assert axe_problems(page) == []

    page.get_by_role("button", name="Room settings").click()
    dialog = page.get_by_role("dialog", name="Room settings")
    expect(dialog.get_by_role("img", name="Study group: AI cost per day")).to_be_visible()
    budget = dialog.get_by_label("AI budget per day (USD)")
    budget.fill("2.5")
    dialog.get_by_role("button", name="Save budget").click()
    expect(dialog.get_by_text("Saved: $2.50.")).to_be_visible()
    expect(dialog.get_by_text("Budget $2.50 per day")).to_be_visible()
    assert alice.api("GET", f"/api/rooms/{room['id']}").json()["ai_budget_usd"] == 2.5
