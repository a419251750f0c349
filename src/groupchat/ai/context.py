"""What the AI sees: when it is addressed, and the conversation sent to the model."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from groupchat.schemas import Message, Room
from groupchat.store.uploads import chat_image_name

MAX_IMAGES = 4  # newest human images sent as parts; older ones are mentioned in words
_MIME = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


@cache
def _mention_pattern(ai_name: str) -> re.Pattern[str]:
    # API.md: `@name`, case-insensitive, neither preceded nor followed by a word character.
    return re.compile(rf"(?<!\w)@{re.escape(ai_name)}(?!\w)", re.IGNORECASE)


def mentions_ai(content: str, ai_name: str) -> bool:
    """Does the message address the AI (`@ai`, `(@AI,`…; not `bob@ai.com` or `@aim`)?"""
    return _mention_pattern(ai_name).search(content) is not None


def addresses_ai(message: Message, ai_name: str) -> bool:
    """Mentions the AI, or replies to one of its messages (API.md v2)."""
    replied = message.reply_to
    return (replied is not None and replied.author_type == "ai") or mentions_ai(
        message.content, ai_name
    )


def should_answer(room: Room, message: Message, ai_name: str) -> bool:
    """New human messages only (answers never trigger answers; edits never reach here), as
    the room's ai_mode says."""
    if message.author_type != "user" or room.ai_mode == "off":
        return False
    return room.ai_mode == "always" or addresses_ai(message, ai_name)


def system_prompt(room: Room, ai_name: str, server_default: str | None) -> str:
    """The room's prompt, else the server's, else one that explains the group chat."""
    if room.ai_system_prompt:
        return room.ai_system_prompt
    if server_default:
        return server_default
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        f"You are {ai_name}, a helpful participant in a group chat room called "
        f'"{room.name}". Several people talk here; each of their messages starts with the '
        "author's display name and a colon. Reply to the conversation as one member of it: "
        "be concise, write Markdown, and do not prefix your reply with your own name. "
        f"Use the tools when you need current information. Today is {today} (UTC)."
    )


def build_messages(
    history: list[Message], *, prompt: str, upload_dir: Path, with_images: bool
) -> list[dict[str, Any]]:
    """System prompt, then history oldest first: `Name: text` for humans, AI as assistant."""
    image_ids = {m.id for m in history if m.image_url and m.author_type == "user"}
    newest_images = set(sorted(image_ids)[-MAX_IMAGES:]) if with_images else set()
    messages: list[dict[str, Any]] = [{"role": "system", "content": prompt}]
    for message in history:
        if message.author_type == "ai":
            if message.content:
                messages.append({"role": "assistant", "content": message.content})
        elif message.author_type == "user":
            messages.append(_user_turn(message, upload_dir, message.id in newest_images))
    return messages


def _user_turn(message: Message, upload_dir: Path, send_image: bool) -> dict[str, Any]:
    name = message.author.display_name if message.author else "someone"
    text = f"{name}: {message.content}" if message.content else f"{name}:"
    data_url = image_data_url(message.image_url, upload_dir) if send_image else None
    if data_url is None:
        if message.image_url:
            text += " [shared an image]"
        return {"role": "user", "content": text}
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": data_url}}]
    return {"role": "user", "content": parts}


def image_data_url(image_url: str | None, upload_dir: Path) -> str | None:
    """A data URL read from our own upload store (never fetched over the network)."""
    name = chat_image_name(image_url)
    if name is None or "/" in name or name.startswith("."):
        return None
    mime = _MIME.get(name.rsplit(".", 1)[-1])
    path = upload_dir / "chat-images" / name
    if mime is None or not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
