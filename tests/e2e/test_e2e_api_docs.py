"""/docs in a real browser: Swagger UI draws the API from /openapi.json under the strict CSP."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from e2e.e2e_support import ServerProcess

pytestmark = pytest.mark.e2e


def test_swagger_ui_shows_each_operation_with_its_errors(
    server: ServerProcess, blank_page: Callable[[], Page], page_errors: list[str]
) -> None:
    page = blank_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.base_url}/docs")
    expect(page.get_by_role("heading", name=re.compile("^GroupChat"))).to_be_visible()
    login = page.locator("#operations-auth-login_api_auth_login_post")
    login.locator(".opblock-summary-control").click()
    responses = login.locator(".responses-table").first
    for status in ("200", "401", "403", "422", "429"):
        expect(responses.get_by_role("cell", name=status, exact=True)).to_be_visible()
    assert all(url.startswith(server.base_url) for url in requests), requests  # no CDN
    # page_errors (checked by its fixture) holds any CSP violation or script error
