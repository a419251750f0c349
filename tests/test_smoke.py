"""A first conversation: the server starts, people register, talk, and see each other live."""

from conftest import Actor, add_member, create_room


async def test_two_clients_see_each_other(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    await a.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    typing = await b.expect("user_typing")
    assert typing["user"]["username"] == "alice" and typing["is_typing"] is True
    await a.send(
        {"type": "send_message", "room_id": room["id"], "content": "hi **bob**", "client_id": "c1"}
    )
    got_a = await a.expect("new_message")
    got_b = await b.expect("new_message")
    assert got_a["client_id"] == "c1" and "client_id" not in got_b
    assert got_b["message"]["content_html"] == "<p>hi <strong>bob</strong></p>\n"
    assert got_b["message"]["prev_hash"] is None
    await a.silent()
