"""Nostr login primitives: NIP-01 ids, BIP-340 signatures, npub keys, auth events.

Pure functions: no database, no HTTP. The caller stores and consumes challenges.
See shared/spec/API.md ("Nostr verify") and shared/reference/wire-formats.md section 4.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from bech32 import bech32_decode, bech32_encode, convertbits
from coincurve import PublicKeyXOnly

AUTH_KIND = 22242
MAX_SKEW_SECONDS = 600
MAX_CREATED_AT = 2**53
MAX_TAGS = 100
MAX_TAG_ITEMS = 10
MAX_TAG_CHARS = 1024
MAX_CONTENT_CHARS = 8192
# An npub is 63 characters; the cap keeps hostile input from costing work.
MAX_NPUB_CHARS = 90

_LOWER_HEX = {n: re.compile(f"[0-9a-f]{{{n}}}") for n in (64, 128)}
_ANY_HEX = {n: re.compile(f"[0-9a-fA-F]{{{n}}}") for n in (64, 128)}
_REQUIRED_FIELDS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")


class NostrError(Exception):
    """A refused Nostr event: `status` is 401 (not trusted) or 422 (malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class AuthEvent:
    """The trusted facts of an accepted kind-22242 event."""

    pubkey: str
    challenge: str
    created_at: int


def serialize_event(
    pubkey: str, created_at: int, kind: int, tags: list[list[str]], content: str
) -> bytes:
    """Return the NIP-01 serialization (UTF-8 bytes) whose sha256 is the event id."""
    text = json.dumps(
        [0, pubkey, created_at, kind, tags, content], separators=(",", ":"), ensure_ascii=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # json.loads turns "\ud800" into a lone surrogate, which has no UTF-8 form.
        raise NostrError(422, "event text is not valid Unicode (lone surrogate)") from None


def event_id(pubkey: str, created_at: int, kind: int, tags: list[list[str]], content: str) -> str:
    """Return the NIP-01 event id as lowercase hex."""
    return hashlib.sha256(serialize_event(pubkey, created_at, kind, tags, content)).hexdigest()


def verify_signature(pubkey_hex: str, message: bytes, sig_hex: str) -> bool:
    """Return whether `sig_hex` is a BIP-340 signature of `message` by the key; never raises."""
    if not isinstance(pubkey_hex, str) or not isinstance(sig_hex, str):
        return False
    if not isinstance(message, bytes | bytearray):
        return False
    if not _ANY_HEX[64].fullmatch(pubkey_hex) or not _ANY_HEX[128].fullmatch(sig_hex):
        return False
    try:
        key = PublicKeyXOnly(bytes.fromhex(pubkey_hex))
        return bool(key.verify(bytes.fromhex(sig_hex), bytes(message)))
    except (ValueError, TypeError):
        # coincurve raises ValueError for a key that is not an x coordinate on the curve.
        return False


def parse_pubkey(value: str) -> str:
    """Return the lowercase hex key for a 64-hex or `npub1…` string; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("public key must be a string")
    text = value.strip()
    if _ANY_HEX[64].fullmatch(text):
        key = text.lower()
    elif text[:5].lower() == "npub1":
        key = _decode_npub(text)
    elif text[:5].lower() == "nsec1":
        raise ValueError("that is a secret key (nsec); give the public key (npub) instead")
    else:
        raise ValueError("public key must be 64 hex characters or an npub1… string")
    try:
        PublicKeyXOnly(bytes.fromhex(key))
    except ValueError:
        raise ValueError("not a valid public key") from None
    return key


def _decode_npub(text: str) -> str:
    """Decode a bech32 npub to lowercase hex, checking checksum, prefix and length."""
    if len(text) > MAX_NPUB_CHARS:
        raise ValueError("npub is too long")
    hrp, data = bech32_decode(text)
    if hrp is None or data is None:
        raise ValueError("npub is not valid bech32 (bad checksum or characters)")
    if hrp != "npub":
        raise ValueError("expected an npub public key")
    raw = convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 32:
        raise ValueError("npub must encode exactly 32 bytes")
    return bytes(raw).hex()


def npub_encode(pubkey_hex: str) -> str:
    """Return the NIP-19 `npub1…` form of a 64-hex public key."""
    if not isinstance(pubkey_hex, str) or not _ANY_HEX[64].fullmatch(pubkey_hex):
        raise ValueError("public key must be 64 hex characters")
    data = convertbits(bytes.fromhex(pubkey_hex), 8, 5)
    assert data is not None  # 8-to-5 with padding always succeeds
    return str(bech32_encode("npub", data))


def new_challenge() -> str:
    """Return a fresh random challenge: 32 random bytes as lowercase hex."""
    return secrets.token_hex(32)


def extract_challenge(event: object) -> str | None:
    """Best effort: the first `challenge` tag's value, else non-empty content, else None."""
    if not isinstance(event, dict):
        return None
    tags = event.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, list) and len(tag) >= 2 and tag[0] == "challenge":
                value = tag[1]
                if isinstance(value, str) and value:
                    return value
                break
    content = event.get("content")
    if isinstance(content, str) and content:
        return content
    return None


def check_auth_event(event: object, *, now: int) -> AuthEvent:
    """Validate a signed kind-22242 login event; raise NostrError(401 or 422) if refused."""
    fields = _check_shape(event)
    if fields["kind"] != AUTH_KIND:
        raise NostrError(401, "wrong event kind")
    if abs(now - fields["created_at"]) > MAX_SKEW_SECONDS:
        raise NostrError(401, "event is too old or too far in the future")
    challenge = extract_challenge(fields)
    if challenge is None:
        raise NostrError(401, "event has no challenge")
    computed = event_id(
        fields["pubkey"], fields["created_at"], fields["kind"], fields["tags"], fields["content"]
    )
    if computed != fields["id"]:
        raise NostrError(401, "id does not match the event")
    if not verify_signature(fields["pubkey"], bytes.fromhex(fields["id"]), fields["sig"]):
        raise NostrError(401, "signature does not verify")
    return AuthEvent(pubkey=fields["pubkey"], challenge=challenge, created_at=fields["created_at"])


def _check_shape(event: object) -> dict[str, Any]:
    """Return the seven NIP-01 fields after checking their types and sizes (422 if not)."""
    if not isinstance(event, dict):
        raise NostrError(422, "event must be a JSON object")
    for name in _REQUIRED_FIELDS:
        if name not in event:
            raise NostrError(422, f"event is missing '{name}'")
    _require_hex(event, "id", 64)
    _require_hex(event, "pubkey", 64)
    _require_hex(event, "sig", 128)
    _require_int(event, "created_at", 0, MAX_CREATED_AT)
    _require_int(event, "kind", None, None)
    _check_tags(event["tags"])
    _check_content(event["content"])
    return {name: event[name] for name in _REQUIRED_FIELDS}


def _require_hex(event: dict[Any, Any], name: str, length: int) -> None:
    value = event[name]
    if not isinstance(value, str) or not _LOWER_HEX[length].fullmatch(value):
        raise NostrError(422, f"'{name}' must be {length} lowercase hex characters")


def _require_int(event: dict[Any, Any], name: str, low: int | None, high: int | None) -> None:
    value = event[name]
    # type() rather than isinstance(): JSON true/false arrive as bool, a subclass of int.
    if type(value) is not int:
        raise NostrError(422, f"'{name}' must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise NostrError(422, f"'{name}' must be between {low} and {high}")


def _check_tags(tags: object) -> None:
    if not isinstance(tags, list):
        raise NostrError(422, "'tags' must be a list of lists of strings")
    if len(tags) > MAX_TAGS:
        raise NostrError(422, f"'tags' has more than {MAX_TAGS} entries")
    for tag in tags:
        if not isinstance(tag, list):
            raise NostrError(422, "'tags' must be a list of lists of strings")
        if len(tag) > MAX_TAG_ITEMS:
            raise NostrError(422, f"a tag in 'tags' has more than {MAX_TAG_ITEMS} items")
        for item in tag:
            if not isinstance(item, str):
                raise NostrError(422, "'tags' must be a list of lists of strings")
            if len(item) > MAX_TAG_CHARS:
                raise NostrError(422, f"a tag value in 'tags' is over {MAX_TAG_CHARS} characters")
            _require_unicode(item, "tags")


def _check_content(content: object) -> None:
    if not isinstance(content, str):
        raise NostrError(422, "'content' must be a string")
    if len(content) > MAX_CONTENT_CHARS:
        raise NostrError(422, f"'content' is over {MAX_CONTENT_CHARS} characters")
    _require_unicode(content, "content")


def _require_unicode(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NostrError(422, f"'{name}' is not valid Unicode (lone surrogate)") from None
