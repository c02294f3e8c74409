"""Page rendering: language, roles, escaping and security headers of ioc.api.pages.

These tests render the real templates through the real router; only the login
lookup is replaced (FastAPI dependency override) so that each role can be tried
without a database. The full path (real login, real hub, real database) is covered
by tests/e2e.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from ioc.api import deps, pages
from ioc.services.users import User
from web import STATIC_DIR


def _client(role: str = "operator", username: str = "op1", unit: str = "01") -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    user = User(id=7, username=username, role=role, unit=unit)
    app.dependency_overrides[deps.get_page_user] = lambda: user
    return TestClient(app, follow_redirects=False)


def _page_json(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="ioc-page">(.*?)</script>', html, re.S)
    assert match, "page JSON missing"
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/wall/1", "admin", 200),
        ("/wall/1", "operator", 200),
        ("/wall/2", "official", 200),
        ("/wall/3", "viewer", 200),
        ("/wall/1", "police", 200),
        ("/console", "admin", 200),
        ("/console", "operator", 200),
        ("/console", "police", 403),
        ("/console", "official", 403),
        ("/console", "viewer", 403),
        ("/wall/0", "admin", 422),
        ("/wall/abc", "admin", 422),
    ],
)
def test_roles(path: str, role: str, status: int) -> None:
    response = _client(role).get(path)
    assert response.status_code == status
    if status == 403:
        assert "Bạn không có quyền xem trang này" in response.text


@pytest.mark.parametrize(
    ("query", "cookie", "expect_lang", "expect_text", "sets_cookie"),
    [
        ("", None, "vi", "Sự kiện trực tiếp", False),
        ("?lang=en", None, "en", "Live events", True),
        ("", "en", "en", "Live events", False),
        ("?lang=vi", "en", "vi", "Sự kiện trực tiếp", True),
        ("?lang=xx", None, "vi", "Sự kiện trực tiếp", False),
    ],
)
def test_language_switch(query: str, cookie: str | None, expect_lang: str, expect_text: str, sets_cookie: bool) -> None:
    client = _client()
    if cookie:
        client.cookies.set("ioc_lang", cookie)
    response = client.get("/wall/1" + query)
    assert response.status_code == 200
    assert f'<html lang="{expect_lang}">' in response.text
    assert expect_text in response.text
    assert _page_json(response.text)["lang"] == expect_lang
    assert ("ioc_lang=" in response.headers.get("set-cookie", "")) is sets_cookie


def test_lang_links_keep_the_query() -> None:
    html = _client().get("/wall/2?types=traffic.&lang=en").text
    assert 'href="/wall/2?types=traffic.&amp;lang=vi"' in html
    assert 'href="/wall/2?types=traffic.&amp;lang=en"' in html


def test_wall_page_json_carries_display_user_and_only_valid_filters() -> None:
    html = _client("viewer", "viewer1", "26734").get("/wall/4?types=traffic.,security.&unit=26734&cameras=x'%3E").text
    page = _page_json(html)
    assert page["display"] == 4
    assert page["user"] == {"username": "viewer1", "role": "viewer", "unit": "26734"}
    assert page["filters"] == {"types": "traffic.,security.", "unit": "26734"}
    assert page["timezone"] == "Asia/Ho_Chi_Minh"
    assert "Màn hình 4" in html


def test_data_is_escaped_in_html_and_script_json() -> None:
    evil = "a<b>&'\"x"
    html = _client("operator", "op.x@y", evil).get("/console").text
    assert evil not in html
    assert "a&lt;b&gt;&amp;&#39;&#34;x" in html
    page = _page_json(html)
    assert page["user"]["unit"] == evil


def test_security_headers() -> None:
    response = _client().get("/console")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script or style may exist, or the policy would break the page.
    assert not re.search(r"<script(?![^>]*(type=\"application/json\"|src=))", response.text)
    assert " style=" not in response.text


@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/console", "/console"),
        ("/wall/2?lang=en", "/wall/2?lang=en"),
        ("//evil.example/x", "/wall/1"),
        ("https://evil.example/", "/wall/1"),
        ("/\\evil.example", "/wall/1"),
        ("javascript:alert(1)", "/wall/1"),
        ("", "/wall/1"),
    ],
)
def test_login_page_next_is_local(next_value: str, expected: str) -> None:
    response = TestClient(_client().app).get("/login", params={"next": next_value})
    assert response.status_code == 200
    assert _page_json(response.text)["next"] == expected
    assert 'id="login-form"' in response.text


def test_logout_drops_the_session_cookie() -> None:
    response = _client().get("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert re.search(r"ioc_session=\"?\"?;", response.headers["set-cookie"])


def test_console_offers_type_prefixes() -> None:
    html = _client().get("/console").text
    assert '<option value="traffic.">' in html
    assert '<option value="traffic.wrong_way">Đi ngược chiều</option>' in html


@pytest.mark.parametrize("path", ["/static/css/ioc.css", "/static/js/common.js", "/static/js/live.js",
                                  "/static/js/wall.js", "/static/js/console.js", "/static/js/login.js"])
def test_static_files_referenced_by_pages_exist(path: str) -> None:
    client = _client()
    html = client.get("/wall/1").text + client.get("/console").text + client.get("/login").text
    assert path in html
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("query", "cookie", "expected"),
    [
        ({"next": "/wall/1?lang=en"}, None, "en"),
        ({"next": "/wall/1?lang=en", "lang": "vi"}, None, "vi"),
        ({"next": "/wall/1?lang=en"}, "vi", "vi"),
        ({"next": "/wall/1"}, None, "vi"),
    ],
)
def test_login_page_speaks_the_language_of_the_page_asked_for(
    query: dict[str, str], cookie: str | None, expected: str
) -> None:
    client = _client()
    if cookie:
        client.cookies.set("ioc_lang", cookie)
    assert f'<html lang="{expected}">' in client.get("/login", params=query).text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"types": "traffic.,security."}, {"types": "traffic.,security."}),
        ({"types": "Traffic."}, {}),  # types are lower-case
        ({"types": "traffic.;DROP TABLE events"}, {}),
        ({"cameras": "cam-01,cam-02", "unit": "26734"}, {"cameras": "cam-01,cam-02", "unit": "26734"}),
        ({"cameras": "cam 01"}, {}),
        ({"unit": "x" * 65}, {}),
        ({"unit": "  26734 "}, {"unit": "26734"}),
        ({"other": "1", "lang": "en"}, {}),
    ],
)
def test_wall_filters(params: dict[str, str], expected: dict[str, str]) -> None:
    assert pages.wall_filters(params) == expected


def test_type_options_lists_families_first() -> None:
    options = pages.type_options()
    assert options[:5] == ["camera.", "count.", "security.", "system.", "traffic."]
    assert "traffic.red_light" in options and all(not o.startswith("type.") for o in options)
