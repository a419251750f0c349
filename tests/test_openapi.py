"""The OpenAPI document and /docs: every answer documented in our error model, which
schemathesis (`--checks all`, signed in as alice) then holds the running server to."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from conftest import Actor, Server
from groupchat.schemas import RoomName, Text
from groupchat.text_rules import TEXT_PATTERN, line_pattern

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Small and fixed, so the run is quick and repeatable (~1 minute); raise -n locally to dig.
EXAMPLES, SEED = "8", "20261205"


async def test_docs_page_is_swagger_ui_served_here_under_the_strict_csp(http) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    strict = (await http.get("/healthz")).headers["content-security-policy"]
    assert page.headers["content-security-policy"] == strict  # the server's, not relaxed
    assert "script-src 'self';" in strict and "unsafe" not in strict
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page.text and "style=" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/docs/assets/") for url in assets)  # no CDN
    for url in assets:
        resp = await http.get(url)
        assert resp.status_code == 200, url
        assert resp.content
    start = (await http.get("/docs/assets/start.js")).text
    assert '"/openapi.json"' in start and "validatorUrl: null" in start


async def test_docs_paths_are_not_the_web_client(http) -> None:
    for path in ("/docs/assets/missing.js", "/docs/anything", "/docs/assets/../../app.py"):
        resp = await http.get(path)
        assert resp.status_code == 404, path
        assert resp.json() == {"detail": "not found"}
    assert (await http.post("/docs")).status_code == 405


async def test_every_error_answer_is_documented_in_the_error_model(http) -> None:
    doc = (await http.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Error"]["required"] == ["detail"]
    assert set(schemas["InvalidInput"]["properties"]) == {"detail", "errors"}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            for status, answer in op["responses"].items():
                if int(status) < 400:
                    continue
                model = "InvalidInput" if status == "422" else "Error"
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{model}"}, where
            if op.get("security"):
                assert "401" in op["responses"], where
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(op["responses"]), where
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                assert "404" in op["responses"], where


async def test_each_route_lists_the_errors_it_declares_and_derives(http) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return {s for s in paths[path][method]["responses"] if int(s) >= 400}

    assert statuses("/api/auth/login", "post") == {"400", "401", "403", "413", "422", "429"}
    assert statuses("/api/invites/{token}/accept", "post") == {"401", "404", "410", "422"}
    assert statuses("/api/auth/me", "get") == {"401"}
    assert statuses("/api/upload", "post") == {"400", "401", "413", "415", "422", "429"}
    assert statuses("/readyz", "get") == {"503"}
    retry = paths["/api/auth/login"]["post"]["responses"]["429"]["headers"]
    assert set(retry) == {"Retry-After"}


async def test_a_real_422_has_the_documented_shape(http, alice: Actor) -> None:
    resp = await http.post("/api/rooms", json={"name": 5}, headers=alice.headers)
    assert resp.status_code == 422
    body = resp.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str)
    assert body["errors"] == [
        {"loc": ["body", "name"], "msg": "Input should be a valid string", "type": "string_type"}
    ]


async def test_before_and_after_are_documented_as_one_or_the_other(http, alice: Actor) -> None:
    doc = (await http.get("/openapi.json")).json()
    params = doc["paths"]["/api/rooms/{room_id}/messages"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["room_id", "query"]
    query = params[1]
    assert (query["in"], query["style"], query["explode"]) == ("query", "form", True)
    assert set(query["schema"]["properties"]) == {"limit", "before", "after"}
    assert query["schema"]["not"] == {"required": ["before", "after"]}
    room = (await http.post("/api/rooms", json={"name": "r"}, headers=alice.headers)).json()
    both = await http.get(
        f"/api/rooms/{room['id']}/messages?before=A&after=B", headers=alice.headers
    )
    assert both.status_code == 422  # what the document says: at most one of them


async def test_a_declared_query_parameter_given_twice_is_422(http, alice: Actor) -> None:
    room = (await http.post("/api/rooms", json={"name": "r"}, headers=alice.headers)).json()
    url = f"/api/rooms/{room['id']}/messages"
    twice = await http.get(f"{url}?limit=5&limit=6", headers=alice.headers)
    assert twice.status_code == 422
    assert twice.json()["errors"] == [
        {"loc": ["query", "limit"], "msg": "give it once", "type": "repeated"}
    ]
    unknown = await http.get(f"{url}?limit=5&x=1&x=2", headers=alice.headers)
    assert unknown.status_code == 200  # names the route does not know are ignored, as documented


async def test_a_nostr_event_is_documented_as_a_nip01_event(http) -> None:
    doc = (await http.get("/openapi.json")).json()
    event = doc["components"]["schemas"]["NostrEventIn"]["properties"]["event"]
    assert event["type"] == "object"
    fields = {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"}
    assert set(event["required"]) == fields == set(event["properties"])
    assert event["properties"]["sig"]["pattern"] == "^[0-9a-f]{128}$"


_NAME = TypeAdapter(RoomName)
_TEXT = TypeAdapter(Text)


def _accepts(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@given(st.text(max_size=6) | st.sampled_from([" ", "\u200b", "a\u0300", " \tx ", "x\ty", "\xad"]))
def test_the_documented_line_pattern_is_what_validation_accepts(value: str) -> None:
    assert (re.fullmatch(line_pattern(), value) is not None) == _accepts(_NAME, value)


@given(st.text(max_size=6))
def test_the_documented_text_pattern_is_what_validation_accepts(value: str) -> None:
    assert (re.fullmatch(TEXT_PATTERN, value) is not None) == _accepts(_TEXT, value)


async def test_schemathesis_finds_no_failure(
    server: Server, alice: Actor, bob: Actor, tmp_path: Path
) -> None:
    """Every check schemathesis has, signed in as alice, a server admin (bob's token is the one
    signed out). The admin calls run last: they may disable alice, whose token then stops."""
    env = {
        **os.environ,
        "GROUPCHAT_ALICE_TOKEN": alice.token,
        "GROUPCHAT_BOB_TOKEN": bob.token,
        "NO_COLOR": "1",
    }
    await _schemathesis(server, env, tmp_path, "--exclude-path-regex", "^/api/admin/")
    assert await _still_signed_in(server, alice)
    await _schemathesis(server, env, tmp_path, "--include-path-regex", "^/api/admin/")


async def _schemathesis(server: Server, env: dict[str, str], cwd: Path, *only: str) -> None:
    """One schemathesis run over the operations `only` selects: no failure, no error."""
    args = ["--config-file", str(CONFIG), "run", f"{server.base_url}/openapi.json", *only]
    # No --checks: every check is on by default, and the option would override the config's
    # per-operation exceptions. --workers 1: 2 crashes on Python 3.11.7 (DESIGN.md).
    args += ["--workers", "1", "-n", EXAMPLES, "--seed", SEED]
    args += ["--generation-database", "none", "--no-color"]
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 300)
    report = output.decode()
    assert proc.returncode == 0, report
    summary = report.rsplit("SUMMARY", 1)[-1]
    assert "Failures:" not in summary and "Errors:" not in summary, report
    assert re.search(r"(\d+) generated, \1 passed", summary), report


async def _still_signed_in(server: Server, who: Actor) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        me: Any = await client.get("/api/auth/me", headers=who.headers)
    return bool(me.status_code == 200)
