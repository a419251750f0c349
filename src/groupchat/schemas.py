"""Wire models: the objects of API.md, and the bodies the API accepts."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from groupchat import nostr, text_rules

Role = Literal["owner", "admin", "member"]
AiMode = Literal["mention", "always", "off"]
AuthorType = Literal["user", "ai", "system"]

_BAD_CHARS = text_rules.BAD_CHARS


def _clean_text(value: str) -> str:
    """Refuse NUL and other control characters and lone surrogates (not storable as UTF-8)."""
    if _BAD_CHARS.search(value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


_INVISIBLE = text_rules.INVISIBLE


def _single_line(value: str) -> str:
    value = _clean_text(value).strip()
    if any(unicodedata.category(ch) in {"Zl", "Zp"} or ch in "\r\n\t" for ch in value):
        raise ValueError("must be a single line")
    if value and all(unicodedata.category(ch) in _INVISIBLE for ch in value):
        raise ValueError("must contain a visible character")
    return value


# The document states these rules as patterns (text_rules); the validators enforce them.
Text = Annotated[
    str, AfterValidator(_clean_text), Field(json_schema_extra=text_rules.document_text)
]
Line = Annotated[
    str, AfterValidator(_single_line), Field(json_schema_extra=text_rules.document_line)
]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{3,32}$")]
Password = Annotated[Text, StringConstraints(min_length=8, max_length=256)]
# Names: at most N characters as sent (so the document's maxLength is exact), then trimmed,
# then at least one character left.
_NAME = Field(min_length=1, json_schema_extra=text_rules.document_line)
DisplayName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_single_line), _NAME]
Bio = Annotated[Text, StringConstraints(max_length=500)]
RoomName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_single_line), _NAME]
Description = Annotated[Text, StringConstraints(max_length=1000)]
SystemPrompt = Annotated[Text, StringConstraints(max_length=8000)]
ModelId = Annotated[str, StringConstraints(max_length=200), AfterValidator(_single_line), _NAME]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
BudgetUsd = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


def _whole(value: object) -> object:
    """JSON has one number type: 3.0 is the integer 3 (as JSON Schema says); 3.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)  # after an int's constraints: Annotated[int, Field(...), WHOLE]


class Input(BaseModel):
    """Request bodies: strict types (a number as a string is 422), unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


# ---------------------------------------------------------------- inputs
InviteToken = Annotated[Text, StringConstraints(max_length=200)]


class RegisterIn(Input):
    username: Username
    password: Password
    display_name: DisplayName | None = None
    invite_token: InviteToken | None = None  # v2: needed when REGISTRATION_MODE=invite
    setup_token: InviteToken | None = None  # v2: creates the first account (the admin)


class PasswordChange(Input):
    current_password: Annotated[Text, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class AdminUserCreate(Input):
    username: Username
    password: Password
    display_name: DisplayName | None = None
    is_admin: bool = False


class AdminUserUpdate(Input):
    is_admin: bool = None  # type: ignore[assignment]  # omitted: unchanged
    disabled: bool = None  # type: ignore[assignment]


class LoginIn(Input):
    username: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class ProfileUpdate(Input):
    username: Username = None  # type: ignore[assignment]  # omitted: unchanged
    display_name: DisplayName = None  # type: ignore[assignment]
    bio: Bio | None = None


class RoomCreate(Input):
    name: RoomName
    description: Description = ""
    is_public: bool = False
    ai_mode: AiMode = "mention"
    ai_model: ModelId | None = None
    ai_system_prompt: SystemPrompt | None = None
    ai_budget_usd: BudgetUsd | None = None


class RoomUpdate(Input):
    name: RoomName = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]
    is_public: bool = None  # type: ignore[assignment]
    ai_mode: AiMode = None  # type: ignore[assignment]
    ai_model: ModelId | None = None
    ai_system_prompt: SystemPrompt | None = None
    ai_budget_usd: BudgetUsd | None = None


class RoleUpdate(Input):
    role: Literal["admin", "member"]


class MessageCreate(Input):
    content: Text
    image_url: Annotated[str, StringConstraints(max_length=255)] | None = None
    reply_to: Id | None = None  # v2: a message of the same room, not deleted


class MessageEdit(Input):
    content: Text


class InviteCreate(Input):
    room_id: Id
    max_uses: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = None
    expires_in_hours: Annotated[float, Field(gt=0, le=8760)] | None = 168


class NostrInviteCreate(Input):
    room_id: Id
    pubkey: Annotated[str, StringConstraints(max_length=100)]


def _hex(length: int) -> dict[str, object]:
    return {"type": "string", "pattern": f"^[0-9a-f]{{{length}}}$"}


# What nostr.check_auth_event accepts (its own checks, after the challenge is used up, answer 422
# otherwise): the document describes it, the action enforces it.
NIP01_EVENT = {
    "title": "NostrEvent",
    "description": "A signed NIP-01 event (kind 22242 with a `challenge` tag to sign in)",
    "type": "object",
    "required": ["id", "pubkey", "created_at", "kind", "tags", "content", "sig"],
    "properties": {
        "id": _hex(64),
        "pubkey": _hex(64),
        "created_at": {"type": "integer", "minimum": 0, "maximum": nostr.MAX_CREATED_AT},
        "kind": {"type": "integer"},
        "tags": {
            "type": "array",
            "maxItems": nostr.MAX_TAGS,
            "items": {
                "type": "array",
                "maxItems": nostr.MAX_TAG_ITEMS,
                "items": {"type": "string", "maxLength": nostr.MAX_TAG_CHARS},
            },
        },
        "content": {"type": "string", "maxLength": nostr.MAX_CONTENT_CHARS},
        "sig": _hex(128),
    },
}


def _whole_event_numbers(event: object) -> object:
    """`created_at` and `kind` sent as 3.0 are the integer 3, as for every other integer."""
    if not isinstance(event, dict):
        return event
    return {k: _whole(v) if k in ("created_at", "kind") else v for k, v in event.items()}


class NostrEventIn(Input):
    model_config = ConfigDict(strict=False, extra="forbid")
    event: Annotated[object, BeforeValidator(_whole_event_numbers), WithJsonSchema(NIP01_EVENT)]


class NostrVerifyIn(NostrEventIn):
    invite_token: InviteToken | None = None  # v2: a first login in REGISTRATION_MODE=invite


# ---------------------------------------------------------------- outputs
class UserPublic(BaseModel):
    id: str
    username: str
    display_name: str
    avatar_url: str | None
    nostr_pubkey: str | None


class User(UserPublic):
    bio: str | None
    created_at: str
    is_admin: bool  # server admin (v2)


class AuthOut(BaseModel):
    token: str
    user: User


class AdminUser(User):
    """A user as server admins see it (v2)."""

    disabled: bool
    last_seen_at: str | None
    ai_cost_period: float


class AdminUserList(BaseModel):
    users: list[AdminUser]
    total: int


class ServerInfo(BaseModel):
    """GET /api/server: what a sign-in page needs to know."""

    registration: Literal["open", "invite", "closed"]
    needs_setup: bool
    ai_enabled: bool
    ai_name: str
    version: str


class Room(BaseModel):
    id: str
    name: str
    description: str
    is_public: bool
    ai_mode: AiMode
    ai_model: str | None
    ai_system_prompt: str | None
    ai_budget_usd: float | None = None  # v2: null = the server's AI_BUDGET_ROOM_USD
    created_by: str
    created_at: str
    member_count: int
    my_role: Role | None
    # v2 catching up: a member's own view (null in broadcasts and for visitors)
    unread_count: int | None = None
    mention_count: int | None = None
    last_read_id: str | None = None
    last_message: Message | None = None


class ReadMarker(BaseModel):
    message_id: str = Field(min_length=1, max_length=64)


class SearchResult(BaseModel):
    message: Message
    snippet_html: str  # the text escaped, the matches in <mark>


class SearchResults(BaseModel):
    results: list[SearchResult]
    has_more: bool


class Member(BaseModel):
    user: UserPublic
    role: Role
    joined_at: str


class RoomDetail(Room):
    members: list[Member]


class RoomList(BaseModel):
    rooms: list[Room]


class ToolUse(BaseModel):
    name: str
    input: dict[str, object]
    ok: bool


class AiMeta(BaseModel):
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float | None
    latency_ms: int
    first_token_ms: int | None = None
    finish_reason: str
    tools: list[ToolUse]


class ReplyRef(BaseModel):
    id: str
    author_type: AuthorType
    author: UserPublic | None
    excerpt: str  # the first 140 characters of the current content; "" once deleted
    deleted: bool


class Reaction(BaseModel):
    emoji: str
    count: int
    user_ids: list[str]


class Message(BaseModel):
    id: str
    room_id: str
    author_type: AuthorType
    author: UserPublic | None
    content: str
    content_html: str
    image_url: str | None
    hash: str
    prev_hash: str | None
    created_at: str
    ai: AiMeta | None
    # v2 (API.md "Edits, deletions, replies and reactions")
    edited_at: str | None
    reply_to: ReplyRef | None
    mentions: list[str]
    reactions: list[Reaction]
    chain_v: Literal[1, 2]
    salt: str | None


class MessageVersion(BaseModel):
    content: str
    content_html: str
    at: str


class MessageHistory(BaseModel):
    versions: list[MessageVersion]


class ChainEntry(BaseModel):
    hash: str
    prev_hash: str | None
    v: Literal[1, 2]
    id: str
    room_id: str
    kind: Literal["message", "edit", "delete"]
    author_type: AuthorType
    author_id: str | None
    target_id: str | None
    reply_to: str | None
    image_url: str | None
    content_sha256: str | None
    created_at: str
    content: str | None
    salt: str | None


class ChainPage(BaseModel):
    entries: list[ChainEntry]
    has_more: bool


class MessagePage(BaseModel):
    messages: list[Message]
    has_more: bool


class Invite(BaseModel):
    token: str
    room_id: str
    created_by: str
    created_at: str
    expires_at: str | None
    max_uses: int | None
    uses: int
    url: str


class InviteList(BaseModel):
    invites: list[Invite]


class InviteRoom(BaseModel):
    id: str
    name: str
    description: str
    member_count: int


class InvitePreview(BaseModel):
    room: InviteRoom
    expires_at: str | None


class NostrChallenge(BaseModel):
    challenge: str
    expires_at: str


class NostrInvite(BaseModel):
    room_id: str
    pubkey: str


class Upload(BaseModel):
    url: str
    content_type: str
    size: int
    width: int
    height: int


class Status(BaseModel):
    status: str


class UsagePeriod(BaseModel):
    """GET /api/usage: the caller's own AI spending this period."""

    period: str
    period_start: str
    resets_at: str
    cost: float
    answers: int
    limit: float | None


class UsageDay(BaseModel):
    date: str
    answers: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageByModel(BaseModel):
    model: str
    answers: int
    cost: float


class UsageByUser(BaseModel):
    user: UserPublic
    answers: int
    cost: float


class UsageByRoom(BaseModel):
    room_id: str
    name: str
    answers: int
    cost: float


class UsageReport(BaseModel):
    """A room's or the server's AI spending; optional parts are omitted, not null."""

    currency: Literal["USD"] = "USD"
    period: str
    period_start: str
    resets_at: str
    period_cost: float
    answers_period: int
    days: list[UsageDay]
    by_model: list[UsageByModel]
    by_user: list[UsageByUser] | None = None
    by_room: list[UsageByRoom] | None = None
    budget: float | None = None
    remaining: float | None = None


def public(user: UserPublic) -> UserPublic:
    """Only the public fields of a user (a User carries more). The values were validated when
    `user` was made, so they are copied without validating them again."""
    if type(user) is UserPublic:
        return user
    return _public(user.id, user.username, user.display_name, user.avatar_url, user.nostr_pubkey)


@lru_cache(maxsize=4096)  # a poster's public self, once (not at every post); never mutated
def _public(
    user_id: str, username: str, display_name: str, avatar_url: str | None, pubkey: str | None
) -> UserPublic:
    return UserPublic.model_construct(
        id=user_id,
        username=username,
        display_name=display_name,
        avatar_url=avatar_url,
        nostr_pubkey=pubkey,
    )
