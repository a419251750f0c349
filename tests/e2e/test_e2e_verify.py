"""'Verify history' recomputes the room's whole chain in the browser (paging with after=), and
points at the exact place where a row changed behind the server's back breaks it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.e2e_support import (
    Person,
    ServerProcess,
    add_member,
    axe_problems,
    create_room,
    open_room,
    post_message,
)

pytestmark = pytest.mark.e2e


def small_pages(page: Page, requested: list[dict[str, list[str]]]) -> None:
    """Ask the real server for 2 chain entries a page, so the browser pages with after=."""

    def shrink(route: Route) -> None:
        url = urlsplit(route.request.url)
        query = parse_qs(url.query)
        requested.append(query)
        query["limit"] = ["2"]
        route.continue_(url=url._replace(query=urlencode(query, doseq=True)).geturl())

    page.route("**/api/rooms/*/chain?*", shrink)


def verify(page: Page) -> Page:
    """Open 'Verify history' and wait for its verdict; returns the page."""
    page.get_by_role("button", name="Verify history").click()
    dialog = page.get_by_role("dialog", name="Verify history")
    expect(dialog.locator(".verify-ok, .verify-bad")).to_be_visible()
    return page


def tamper(server: ServerProcess, table: str, message_id: str, content: str) -> None:
    """Change a stored row's content in the server's SQLite database, behind its back."""
    db = sqlite3.connect(server.data_dir / "chat.db")
    with closing(db), db:
        sql = f"UPDATE {table} SET content = ? WHERE id = ?"
        assert db.execute(sql, (content, message_id)).rowcount == 1


def test_verify_history_checks_every_entry_and_shows_where_a_tampered_row_breaks_it(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Ledger")
    add_member(alice, room["id"], bob)
    first = post_message(alice, room["id"], "We pay 100 each")
    second = post_message(bob, room["id"], "Agreed, 100 each")
    gone = post_message(bob, room["id"], "typo")
    assert (
        alice.api(
            "PATCH", f"/api/messages/{first['id']}", json={"content": "We pay 120 each"}
        ).status_code
        == 200
    )
    assert bob.api("DELETE", f"/api/messages/{gone['id']}").status_code == 204
    reply = bob.api(
        "POST",
        f"/api/rooms/{room['id']}/messages",
        json={"content": "Paid", "reply_to": first["id"]},
    )
    assert reply.status_code == 201, reply.text
    # 4 messages, 1 edit, 1 deletion.
    requested: list[dict[str, list[str]]] = []
    small_pages(alice.page, requested)
    log = open_room(alice, room["id"])
    expect(log.get_by_text("Paid")).to_be_visible()

    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✓ 6 entries verified")).to_be_visible()
    assert requested[0].get("after") is None
    assert len(requested) == 3 and all(q.get("after") for q in requested[1:])
    alice.page.keyboard.press("Escape")
    expect(alice.page.get_by_role("button", name="Verify history")).to_be_focused()

    # Someone rewrites Bob's words in his stored message: the chain breaks at its entry, the 2nd.
    tamper(server, "messages", second["id"], "Agreed, 10 each")
    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✗ The history breaks at entry 2")).to_be_visible()
    expect(dialog.get_by_text("The 1 entry before it verified.")).to_be_visible()
    expect(dialog.get_by_text(second["id"])).to_be_visible()
    assert axe_problems(alice.page) == []
    dialog.get_by_role("button", name="Show the message").click()
    expect(dialog).to_have_count(0)
    expect(log.get_by_role("article").filter(has_text="Agreed, 100 each")).to_be_focused()
    tamper(server, "messages", second["id"], "Agreed, 100 each")

    # Or the text an edit stored: the break is at that edit, the 4th entry.
    chain = alice.api("GET", f"/api/rooms/{room['id']}/chain").json()["entries"]
    edit_entry = next(e for e in chain if e["kind"] == "edit")
    tamper(server, "chain_entries", edit_entry["id"], "We pay 12 each")
    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✗ The history breaks at entry 4")).to_be_visible()
    expect(dialog.get_by_text("The 3 entries before it verified.")).to_be_visible()
    expect(dialog.get_by_text(edit_entry["id"])).to_be_visible()
    alice.page.keyboard.press("Escape")
    tamper(server, "chain_entries", edit_entry["id"], "We pay 120 each")

    # Or the current text of the edited message: the chain holds, the message shown does not.
    tamper(server, "messages", first["id"], "We pay 12 each")
    log = open_room(alice, room["id"])
    expect(log.get_by_text("Paid")).to_be_visible()
    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✗ A message shown here does not match the history")).to_be_visible()
    expect(dialog.get_by_text(first["id"])).to_be_visible()


def test_the_plain_javascript_sha256_used_over_http_agrees_with_python(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    alice.page.goto(server.base_url)
    texts = ["", "abc", 'é日本🎉\n"\\', "x" * 55, "y" * 56, "z" * 64, "w" * 1000]
    got = alice.page.evaluate(
        """async (texts) => {
            const { sha256 } = await import('/sha256.js');
            return texts.map((t) => sha256(new TextEncoder().encode(t)));
        }""",
        texts,
    )
    assert got == [hashlib.sha256(t.encode()).hexdigest() for t in texts]


def v1_message(
    room_id: str, author_id: str, n: int, content: str, prev: str | None
) -> dict[str, Any]:
    """A message as a v1 server stored it, with its v1 hash (docs/hash-chain.md)."""
    fields = {
        "v": 1,
        "id": f"01JX{n:022d}",  # sorts before any id made today
        "room_id": room_id,
        "author_type": "user",
        "author_id": author_id,
        "content": content,
        "image_url": None,
        "created_at": f"2026-11-26T05:0{n}:18.123Z",
        "prev_hash": prev,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**fields, "hash": hashlib.sha256(text.encode()).hexdigest()}


def test_v1_entries_verify_by_the_v1_rule_and_a_deleted_one_by_its_links(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Since v1")
    older = v1_message(room["id"], alice.user_id, 1, "From the v1 days", None)
    newer = v1_message(room["id"], alice.user_id, 2, "Soon gone", older["hash"])
    db = sqlite3.connect(server.data_dir / "chat.db")
    with closing(db), db:  # as migration 0005 leaves a room a v1 server wrote
        for m in (older, newer):
            db.execute(
                "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
                " image_url, hash, prev_hash, created_at, chain_v) VALUES (?,?,?,?,?,?,?,?,?,?,1)",
                (m["id"], m["room_id"], "user", m["author_id"], m["content"],
                 f"<p>{m['content']}</p>", None, m["hash"], m["prev_hash"], m["created_at"]),
            )  # fmt: skip
        db.execute("UPDATE rooms SET head_hash = ? WHERE id = ?", (newer["hash"], room["id"]))
    post_message(alice, room["id"], "Now in v2")
    assert alice.api("DELETE", f"/api/messages/{newer['id']}").status_code == 204
    log = open_room(alice, room["id"])
    expect(log.get_by_text("Now in v2")).to_be_visible()

    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✓ 4 entries verified")).to_be_visible()
    expect(
        dialog.get_by_text("1 entry (messages from before version 2, since deleted)")
    ).to_be_visible()

    tamper(server, "messages", older["id"], "From the v1 days, edited by hand")
    alice.page.keyboard.press("Escape")
    dialog = verify(alice.page).get_by_role("dialog", name="Verify history")
    expect(dialog.get_by_text("✗ The history breaks at entry 1")).to_be_visible()
    expect(dialog.get_by_text("Its hash does not match its fields")).to_be_visible()
