"""Table definitions (SQLAlchemy Core). Timestamps are RFC 3339 UTC strings (see ids.format_ts)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = sa.String(26)
TS = sa.String(24)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("username_key", sa.String(64), nullable=False, unique=True),  # lower-cased
    sa.Column("password_hash", sa.String(255)),  # null for Nostr-only accounts
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("bio", sa.Text),
    sa.Column("avatar_url", sa.String(255)),
    sa.Column("nostr_pubkey", sa.String(64), unique=True),
    sa.Column("created_at", TS, nullable=False),
    # v2 accounts (migration 0002)
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_seen_at", TS),
    # tokens issued at or before this instant are refused, except kept_jti (a password change)
    sa.Column("tokens_valid_after", TS),
    sa.Column("kept_jti", sa.String(64)),
)

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ai_mode", sa.String(16), nullable=False, server_default="mention"),
    sa.Column("ai_model", sa.String(200)),
    sa.Column("ai_system_prompt", sa.Text),
    sa.Column("created_by", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    # hash of the newest message: the chain's head, updated compare-and-set on every append
    sa.Column("head_hash", sa.String(64)),
    sa.Column("ai_budget_usd", sa.Float),  # null: the server's AI_BUDGET_ROOM_USD (migration 0003)
)

room_members = sa.Table(
    "room_members",
    metadata,
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("joined_at", TS, nullable=False),
    sa.Index(None, "user_id"),
    # v2 (migration 0007): the newest message this member has read; null before any
    sa.Column("last_read_id", ID),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author_type", sa.String(8), nullable=False),
    sa.Column("author_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_html", sa.Text, nullable=False),
    sa.Column("image_url", sa.String(255)),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("ai_meta", sa.JSON),
    sa.Index(None, "room_id", "id"),
    sa.Index(None, "image_url"),  # migration 0004: which images a room alone shows
    # v2 message lifecycle (migration 0005). A message row is also its chain entry (`hash`,
    # `prev_hash`). Once it is edited `first_content`/`first_salt` keep the text and salt the
    # entry covers; its `content_sha256` is stored when a deletion erases them.
    sa.Column("chain_v", sa.Integer, nullable=False, server_default="1"),
    sa.Column("salt", sa.String(32)),  # of the current version; null for v1 and deleted
    sa.Column("content_sha256", sa.String(64)),
    sa.Column("first_content", sa.Text),
    sa.Column("first_salt", sa.String(32)),
    sa.Column("reply_to", ID),
    sa.Column("mentions", sa.JSON),  # ids of the members the content mentions
    sa.Column("edited_at", TS),
    sa.Column("deleted_at", TS),  # texts and salts erased; the row stays for the chain
)

# the rooms' edit and delete chain entries (migration 0005); message entries are the messages
# rows. No foreign key on author_id: it is hashed.
chain_entries = sa.Table(
    "chain_entries",
    metadata,
    sa.Column("id", ID, primary_key=True),  # a message entry's id is its message's id
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("v", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("author_type", sa.String(8), nullable=False),
    sa.Column("author_id", ID),
    sa.Column("target_id", ID),
    sa.Column("reply_to", ID),
    sa.Column("image_url", sa.String(255)),
    sa.Column("content", sa.Text),  # null once the message is deleted
    sa.Column("salt", sa.String(32)),
    sa.Column("content_sha256", sa.String(64)),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prev_hash", sa.String(64)),
    sa.Index(None, "room_id", "id"),
    sa.Index(None, "target_id"),
)

# reactions (migration 0005): not chain entries; ids sort in order of use
message_reactions = sa.Table(
    "message_reactions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("message_id", ID, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("emoji", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.UniqueConstraint("message_id", "emoji", "user_id"),
)

invites = sa.Table(
    "invites",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_by", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS),
    sa.Column("max_uses", sa.Integer),
    sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "room_id"),
)

nostr_invites = sa.Table(
    "nostr_invites",
    metadata,
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("pubkey", sa.String(64), primary_key=True),
    sa.Column("created_by", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index(None, "pubkey"),
)

nostr_challenges = sa.Table(
    "nostr_challenges",
    metadata,
    sa.Column("challenge", sa.String(64), primary_key=True),
    sa.Column("expires_at", TS, nullable=False),
)

revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("expires_at", TS, nullable=False),
)

# server-wide values shared by every process, e.g. the one-time setup token (migration 0002)
server_state = sa.Table(
    "server_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# every AI answer that reached the provider (migration 0003). No foreign keys on purpose:
# clearing or deleting a room, or an account, must not erase what was spent.
ai_ledger = sa.Table(
    "ai_ledger",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("room_id", ID, nullable=False),
    sa.Column("room_name", sa.String(100), nullable=False),  # as it was when the answer ran
    sa.Column("user_id", ID),  # whose message triggered the answer
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index(None, "created_at"),
    sa.Index(None, "user_id", "created_at"),
    sa.Index(None, "room_id", "created_at"),
)

# questions waiting for the AI (migration 0006), in message order per room. A process claims
# the oldest of a room with a lease it renews; when it dies the lease runs out and another
# process takes the question over. Deleted with the answer, in the transaction storing it.
ai_triggers = sa.Table(
    "ai_triggers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room_id", ID, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("message_id", ID, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", ID),  # whose message asked: their limits apply
    sa.Column("message_at", TS, nullable=False),
    sa.Column("claimed_by", ID),  # the process answering it (Participant.owner)
    sa.Column("lease_until", sa.Float),  # Unix time the claim runs out
    sa.UniqueConstraint("message_id"),
    sa.Index(None, "room_id", "message_at", "id"),
)

# who stored which file (migration 0004): upload quotas, and deleting a cleared room's images.
# `kind` is the folder under UPLOAD_DIR: "chat-images" or "avatars".
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # the stored file name, <ULID>.<ext>
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index(None, "user_id", "created_at"),
)
