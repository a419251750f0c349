"""Unit tests for groupchat.nostr: ids, BIP-340 vectors, npub keys and auth events."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from bech32 import bech32_encode, convertbits
from coincurve import PrivateKey

from groupchat.nostr import (
    AUTH_KIND,
    MAX_SKEW_SECONDS,
    AuthEvent,
    NostrError,
    check_auth_event,
    event_id,
    extract_challenge,
    new_challenge,
    npub_encode,
    parse_pubkey,
    serialize_event,
    verify_signature,
)

NOW = 1_700_000_000
# Alice's key is fixed so failures are reproducible; fresh keys are tested separately.
ALICE = PrivateKey(bytes.fromhex("11" * 32))
NPUB_EXAMPLES = [
    (
        "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
        "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6",
    ),
    (
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
    ),
    (
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "npub1lycg5qvjtrp3qjf5f7zl382j9x6nrjz9sdhenvyxq8c3808qxmus6gq266",
    ),
]
# BIP-340 vectors 5 and 14: not an x coordinate on the curve.
OFF_CURVE_KEYS = [
    "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34",
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30",
]


DATA = Path(__file__).with_name("data")  # tests/data/README.md names each file's source


def data_file(name: str) -> Path:
    """Return a file in tests/data."""
    return DATA / name


@functools.cache
def bip340_vectors() -> list[dict[str, str]]:
    with data_file("bip340-test-vectors.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@functools.cache
def nostr_cases() -> list[dict[str, Any]]:
    text = data_file("nostr-events.json").read_text("utf-8")
    cases: list[dict[str, Any]] = json.loads(text)["cases"]
    return cases


def nostr_case(name: str) -> dict[str, Any]:
    return next(c for c in nostr_cases() if c["name"] == name)


def pubkey_of(key: PrivateKey) -> str:
    return key.public_key_xonly.format().hex()


def signed_event(key: PrivateKey = ALICE, **fields: Any) -> dict[str, Any]:
    """Return a correctly signed login event; `fields` override the defaults before signing."""
    event: dict[str, Any] = {
        "pubkey": pubkey_of(key),
        "created_at": NOW,
        "kind": AUTH_KIND,
        "tags": [["relay", "http://127.0.0.1:8000"], ["challenge", "c0ffee"]],
        "content": "",
    }
    event.update(fields)
    event["id"] = event_id(
        event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]
    )
    event["sig"] = key.sign_schnorr(bytes.fromhex(event["id"]), bytes(32)).hex()
    return event


def bech32_of(hrp: str, raw: bytes) -> str:
    data = convertbits(raw, 8, 5)
    assert data is not None
    return bech32_encode(hrp, data)


def refusal(event: object, now: int = NOW) -> NostrError:
    with pytest.raises(NostrError) as info:
        check_auth_event(event, now=now)
    assert str(info.value) == info.value.reason
    return info.value


# --- BIP-340 official vectors -------------------------------------------------------------


def test_bip340_vector_file_has_19_rows() -> None:
    assert [int(row["index"]) for row in bip340_vectors()] == list(range(19))


@pytest.mark.parametrize("index", range(19))
def test_bip340_vector_verifies_as_expected(index: int) -> None:
    row = bip340_vectors()[index]
    expected = row["verification result"] == "TRUE"
    message = bytes.fromhex(row["message"])
    assert verify_signature(row["public key"], message, row["signature"]) is expected


@pytest.mark.parametrize("index", [0, 1, 2, 3, 15, 16, 17, 18])
def test_bip340_signing_rows_derive_the_listed_public_key(index: int) -> None:
    row = bip340_vectors()[index]
    key = PrivateKey(bytes.fromhex(row["secret key"]))
    assert pubkey_of(key) == row["public key"].lower()


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_bip340_signing_reproduces_the_signature(index: int) -> None:
    # coincurve signs 32-byte messages only (rows 15-18 are verify-only here).
    row = bip340_vectors()[index]
    key = PrivateKey(bytes.fromhex(row["secret key"]))
    sig = key.sign_schnorr(bytes.fromhex(row["message"]), bytes.fromhex(row["aux_rand"]))
    assert sig.hex() == row["signature"].lower()


@pytest.mark.parametrize(
    ("pubkey", "message", "sig"),
    [
        ("zz" * 32, b"\x00" * 32, "00" * 64),
        (OFF_CURVE_KEYS[1], b"\x00" * 32, "00" * 64),
        (NPUB_EXAMPLES[0][0], b"\x00" * 32, "00" * 63),
        (NPUB_EXAMPLES[0][0], b"\x00" * 32, "0 " * 64),
        (NPUB_EXAMPLES[0][0], "not bytes", "00" * 64),
        ("", b"", ""),
        (None, None, None),
    ],
)
def test_verify_signature_returns_false_on_garbage(pubkey: Any, message: Any, sig: Any) -> None:
    assert verify_signature(pubkey, message, sig) is False


# --- NIP-01 ids and signatures ------------------------------------------------------------


@pytest.mark.parametrize("index", range(7))
def test_nostr_event_case_judged_as_recorded(index: int) -> None:
    case = nostr_cases()[index]
    ev = case["event"]
    args = (ev["pubkey"], ev["created_at"], ev["kind"], ev["tags"], ev["content"])
    serialized = serialize_event(*args)
    assert serialized == case["serialized"].encode("utf-8")
    assert event_id(*args) == hashlib.sha256(serialized).hexdigest()
    assert (event_id(*args) == ev["id"]) is case["expect_id_ok"]
    assert (
        verify_signature(ev["pubkey"], bytes.fromhex(ev["id"]), ev["sig"]) is case["expect_sig_ok"]
    )


def test_nostr_event_file_has_7_cases() -> None:
    assert len(nostr_cases()) == 7


def test_generated_auth_case_is_accepted() -> None:
    ev = nostr_case("generated-nip42-style-auth")["event"]
    accepted = check_auth_event(ev, now=ev["created_at"] + 5)
    assert accepted == AuthEvent(
        pubkey="f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        challenge="b0d3c9a1f6e24c7e8a5d2f1e0c9b8a77",
        created_at=1700000000,
    )


def test_tampered_and_badly_signed_cases_are_refused() -> None:
    tampered = nostr_case("tampered-tags-id-mismatch")["event"]
    bad_sig = nostr_case("bad-signature")["event"]
    err = refusal(tampered, now=tampered["created_at"])
    assert (err.status, err.reason) == (401, "id does not match the event")
    err = refusal(bad_sig, now=bad_sig["created_at"])
    assert (err.status, err.reason) == (401, "signature does not verify")


def test_event_id_refuses_lone_surrogates() -> None:
    with pytest.raises(NostrError) as info:
        event_id(NPUB_EXAMPLES[0][0], NOW, 1, [], "bad \ud800 text")
    assert info.value.status == 422


# --- check_auth_event: acceptance ---------------------------------------------------------


def test_fresh_key_signs_an_event_that_is_accepted() -> None:
    bob = PrivateKey()
    now = int(time.time())
    challenge = new_challenge()
    event = signed_event(
        bob, created_at=now, tags=[["relay", "http://127.0.0.1:8000"], ["challenge", challenge]]
    )
    assert check_auth_event(event, now=now) == AuthEvent(pubkey_of(bob), challenge, now)


def test_challenge_may_travel_in_content() -> None:
    event = signed_event(tags=[], content="from-content")
    assert check_auth_event(event, now=NOW).challenge == "from-content"


def test_challenge_tag_wins_over_content_and_extra_keys_are_ignored() -> None:
    event = signed_event(content="ignored") | {"extra": [1, 2], "relays": None}
    assert check_auth_event(event, now=NOW).challenge == "c0ffee"


@pytest.mark.parametrize("skew", [MAX_SKEW_SECONDS, -MAX_SKEW_SECONDS])
def test_created_at_at_the_edge_of_the_window_is_accepted(skew: int) -> None:
    event = signed_event(created_at=NOW + skew)
    assert check_auth_event(event, now=NOW).created_at == NOW + skew


def test_largest_allowed_tags_and_content_are_accepted() -> None:
    tags = [["challenge", "c0ffee"]] + [["t"] + ["x" * 1024] * 9 for _ in range(99)]
    event = signed_event(tags=tags, content="é" * 8192)
    assert check_auth_event(event, now=NOW).challenge == "c0ffee"


# --- check_auth_event: refusals -----------------------------------------------------------


def test_wrong_kind_is_refused() -> None:
    err = refusal(signed_event(kind=1))
    assert (err.status, err.reason) == (401, "wrong event kind")


def test_tampered_content_is_refused() -> None:
    event = signed_event(tags=[], content="challenge-1") | {"content": "challenge-2"}
    err = refusal(event)
    assert (err.status, err.reason) == (401, "id does not match the event")


def test_tampered_id_is_refused() -> None:
    event = signed_event()
    event["id"] = ("0" if event["id"][0] != "0" else "1") + event["id"][1:]
    err = refusal(event)
    assert (err.status, err.reason) == (401, "id does not match the event")


def test_signature_by_another_key_is_refused() -> None:
    event = signed_event()
    event["sig"] = PrivateKey().sign_schnorr(bytes.fromhex(event["id"])).hex()
    err = refusal(event)
    assert (err.status, err.reason) == (401, "signature does not verify")


@pytest.mark.parametrize("pubkey", OFF_CURVE_KEYS)
def test_off_curve_pubkey_is_refused_not_crashed(pubkey: str) -> None:
    event = signed_event() | {"pubkey": pubkey}
    event["id"] = event_id(pubkey, NOW, AUTH_KIND, event["tags"], event["content"])
    err = refusal(event)
    assert (err.status, err.reason) == (401, "signature does not verify")


@pytest.mark.parametrize("skew", [MAX_SKEW_SECONDS + 1, -MAX_SKEW_SECONDS - 1, -86400, 86400])
def test_stale_or_future_event_is_refused(skew: int) -> None:
    err = refusal(signed_event(created_at=NOW + skew))
    assert (err.status, err.reason) == (401, "event is too old or too far in the future")


def test_missing_challenge_is_refused() -> None:
    err = refusal(signed_event(tags=[["relay", "x"]], content=""))
    assert (err.status, err.reason) == (401, "event has no challenge")


def test_malformed_is_reported_before_wrong_kind() -> None:
    event = signed_event(kind=1) | {"created_at": True}
    assert refusal(event).status == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "zz" * 32),
        ("id", "ab" * 31),
        ("id", 12345),
        ("pubkey", "g" * 64),
        ("pubkey", npub_encode(pubkey_of(ALICE))),
        ("sig", "xy" * 64),
        ("sig", "00" * 65),
        ("id", None),
    ],
)
def test_non_hex_fields_are_malformed(field: str, value: Any) -> None:
    err = refusal(signed_event() | {field: value})
    assert err.status == 422
    assert field in err.reason


@pytest.mark.parametrize("field", ["id", "pubkey", "sig"])
def test_uppercase_hex_is_malformed(field: str) -> None:
    event = signed_event()
    err = refusal(event | {field: event[field].upper()})
    assert err.status == 422
    assert field in err.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", True),
        ("created_at", False),
        ("created_at", float(NOW)),
        ("created_at", str(NOW)),
        ("created_at", -1),
        ("created_at", 2**53 + 1),
        ("created_at", None),
        ("kind", True),
        ("kind", "22242"),
        ("kind", 22242.0),
    ],
)
def test_non_integer_numbers_are_malformed(field: str, value: Any) -> None:
    err = refusal(signed_event() | {field: value})
    assert err.status == 422
    assert field in err.reason


@pytest.mark.parametrize(
    "tags",
    [
        "challenge",
        None,
        [["challenge", "c0ffee"], "relay"],
        [["challenge", 5]],
        [["challenge", None]],
        [["challenge", "c0ffee"], {"a": "b"}],
        [["t", "x" * 1025]],
        [["t"] + ["x"] * 10],
        [["challenge", "c0ffee"]] + [["t", "x"]] * 100,
        [["t", "bad \udc00"]],
    ],
)
def test_bad_tags_are_malformed(tags: Any) -> None:
    err = refusal(signed_event() | {"tags": tags})
    assert err.status == 422
    assert "tags" in err.reason


@pytest.mark.parametrize("content", [None, 5, ["a"], "x" * 8193, "lone \ud800"])
def test_bad_content_is_malformed(content: Any) -> None:
    err = refusal(signed_event() | {"content": content})
    assert err.status == 422
    assert "content" in err.reason


@pytest.mark.parametrize("field", ["id", "pubkey", "created_at", "kind", "tags", "content", "sig"])
def test_missing_field_is_malformed(field: str) -> None:
    event = signed_event()
    del event[field]
    err = refusal(event)
    assert err.status == 422
    assert field in err.reason


@pytest.mark.parametrize("event", [None, [], "event", 42, b"{}", [["id", "x"]]])
def test_non_object_is_malformed(event: object) -> None:
    assert refusal(event).status == 422


# --- npub / parse_pubkey ------------------------------------------------------------------


@pytest.mark.parametrize(("hex_key", "npub"), NPUB_EXAMPLES)
def test_npub_examples_both_ways(hex_key: str, npub: str) -> None:
    assert npub_encode(hex_key) == npub
    assert parse_pubkey(npub) == hex_key
    assert parse_pubkey(hex_key) == hex_key
    assert parse_pubkey(hex_key.upper()) == hex_key
    assert parse_pubkey(npub.upper()) == hex_key


def test_parse_pubkey_ignores_surrounding_whitespace() -> None:
    assert parse_pubkey(f"  {NPUB_EXAMPLES[0][1]}\n") == NPUB_EXAMPLES[0][0]


def test_parse_pubkey_refuses_bad_checksum() -> None:
    npub = NPUB_EXAMPLES[0][1]
    broken = npub[:-1] + ("q" if npub[-1] != "q" else "p")
    with pytest.raises(ValueError, match="checksum"):
        parse_pubkey(broken)


def test_parse_pubkey_refuses_a_secret_key() -> None:
    nsec = bech32_of("nsec", bytes.fromhex("11" * 32))
    with pytest.raises(ValueError, match="secret key"):
        parse_pubkey(nsec)


@pytest.mark.parametrize("hrp", ["note", "npub1x", "npubx"])
def test_parse_pubkey_refuses_other_prefixes(hrp: str) -> None:
    other = bech32_of(hrp, bytes.fromhex(NPUB_EXAMPLES[0][0]))
    with pytest.raises(ValueError):
        parse_pubkey(other)


@pytest.mark.parametrize("size", [20, 31, 33])
def test_parse_pubkey_refuses_wrong_length_npub(size: int) -> None:
    npub = bech32_of("npub", b"\x02" * size)
    with pytest.raises(ValueError, match="32 bytes"):
        parse_pubkey(npub)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "npub1",
        "ab" * 31 + "a",
        "ab" * 33,
        "xyz",
        "Npub1" + NPUB_EXAMPLES[0][1][5:],
        "npub1" * 40,
    ],
)
def test_parse_pubkey_refuses_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        parse_pubkey(value)


@pytest.mark.parametrize("hex_key", OFF_CURVE_KEYS)
def test_parse_pubkey_refuses_off_curve_keys(hex_key: str) -> None:
    with pytest.raises(ValueError, match="not a valid public key"):
        parse_pubkey(hex_key)
    with pytest.raises(ValueError, match="not a valid public key"):
        parse_pubkey(npub_encode(hex_key))


def test_npub_encode_refuses_non_hex() -> None:
    with pytest.raises(ValueError):
        npub_encode("zz" * 32)


# --- extract_challenge / new_challenge ----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, None),
        (42, None),
        ("challenge", None),
        ([["challenge", "x"]], None),
        ({}, None),
        ({"tags": "challenge", "content": 5}, None),
        ({"tags": [1, None, "challenge", {"challenge": "x"}]}, None),
        ({"tags": [["challenge"]], "content": ""}, None),
        ({"tags": [[None, "x"], ["challenge", 5]], "content": "fallback"}, "fallback"),
        ({"tags": None, "content": "abc"}, "abc"),
        ({"tags": [["challenge", "c1"], ["challenge", "c2"]], "content": "x"}, "c1"),
        ({"tags": [["challenge", 5], ["challenge", "c2"]], "content": "fb"}, "fb"),
        ({"tags": [["challenge", ""], ["challenge", "c2"]]}, None),
        ({"tags": [["relay", "r"], ["challenge", "c1", "extra"]]}, "c1"),
        ({"tags": [[]], "content": ["not", "str"]}, None),
    ],
)
def test_extract_challenge_is_best_effort(event: object, expected: str | None) -> None:
    assert extract_challenge(event) == expected


def test_new_challenge_is_64_random_hex_chars() -> None:
    first, second = new_challenge(), new_challenge()
    assert len(first) == 64
    assert int(first, 16) >= 0
    assert first == first.lower()
    assert first != second


def test_nostr_error_carries_status_and_reason() -> None:
    err = NostrError(401, "signature does not verify")
    assert (err.status, err.reason, str(err)) == (401, "signature does not verify", err.reason)
