"""The sign-in form resists cross-site request forgery (issue #16).

A page of another site must not be able to sign a browser in (login CSRF: the
victim then browses with the attacker's token). ``POST /login`` is refused
(403, no session cookie) when ``Origin``/``Referer`` names another host, or when
the form does not repeat the anti-forgery token of the page's cookie. Checked
with httpx against the real app served by uvicorn on loopback.
"""

from __future__ import annotations

import re

import httpx
import pytest

from wfaudit_web.app import COOKIE

from .conftest import TOKEN_A, Server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _signed_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and f"{COOKIE}=" in response.headers.get("set-cookie", "")


def test_a_same_site_form_signs_in(app_server: Server) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert "httponly" in page.headers["set-cookie"].lower()
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        csrf = _csrf(page.text)
        host = app_server.url.removeprefix("http://")
        response = client.post(
            "/login",
            content=f"token={TOKEN_A}&csrf={csrf}",
            headers={**FORM, "Origin": f"http://{host}", "Referer": f"http://{host}/login"},
        )
        assert _signed_in(response)
        assert client.get("/ui/pipelines/shop-api").status_code == 200
        # The token is good for one sign-in.
        again = client.post("/login", content=f"token={TOKEN_A}&csrf={csrf}", headers=FORM)
        assert again.status_code == 403


def test_the_sign_in_page_shown_for_401_carries_a_token(app_server: Server) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        refused = client.get("/ui/pipelines/shop-api")
        assert refused.status_code == 401
        csrf = _csrf(refused.text)
        response = client.post("/login", content=f"token={TOKEN_A}&csrf={csrf}", headers=FORM)
        assert _signed_in(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1.evil.example"},
        {"Referer": "https://evil.example/phish.html"},
        {"Origin": "http://evil.example", "Referer": "{url}/login"},
    ],
    ids=["origin", "null-origin", "lookalike-origin", "referer", "origin-wins"],
)
def test_a_cross_origin_post_is_refused(app_server: Server, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        csrf = _csrf(client.get("/login").text)  # even with a valid token pair
        sent = {key: value.format(url=app_server.url) for key, value in headers.items()}
        response = client.post(
            "/login", content=f"token={TOKEN_A}&csrf={csrf}", headers={**FORM, **sent}
        )
        assert response.status_code == 403
        assert "another site" in response.text
        assert f"{COOKIE}=" not in response.headers.get("set-cookie", "")
        assert client.get("/ui/pipelines/shop-api").status_code == 401


@pytest.mark.parametrize("case", ["no-cookie", "no-field", "mismatch", "empty"])
def test_a_post_without_the_matching_token_is_refused(app_server: Server, case: str) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        csrf = "" if case == "no-cookie" else _csrf(client.get("/login").text)
        field = {
            "no-cookie": "&csrf=forged-token-value",
            "no-field": "",
            "mismatch": "&csrf=" + csrf[::-1],
            "empty": "&csrf=",
        }[case]
        response = client.post("/login", content=f"token={TOKEN_A}{field}", headers=FORM)
        assert response.status_code == 403
        assert f"{COOKIE}=" not in response.headers.get("set-cookie", "")
        assert client.get("/ui/pipelines/shop-api").status_code == 401


def test_a_wrong_token_with_a_good_form_is_401(app_server: Server) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        csrf = _csrf(client.get("/login").text)
        response = client.post("/login", content=f"token=not-a-token&csrf={csrf}", headers=FORM)
        assert response.status_code == 401
        assert f"{COOKIE}=" not in response.headers.get("set-cookie", "")


def _sign_in(client: httpx.Client) -> None:
    csrf = _csrf(client.get("/login").text)
    assert _signed_in(client.post("/login", content=f"token={TOKEN_A}&csrf={csrf}", headers=FORM))


def _logout_token(page: str) -> str:
    found = re.search(r'action="/logout"><input type="hidden" name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_a_first_visit_is_greeted_without_an_error(app_server: Server) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        for path in ("/login", "/ui/pipelines/shop-api"):
            page = client.get(path).text
            assert "status status-failed" not in page and 'id="error"' not in page, path
            assert "Sign in" in page and 'action="/logout"' not in page
        csrf = _csrf(client.get("/login").text)
        failed = client.post("/login", content=f"token=not-a-token&csrf={csrf}", headers=FORM)
        assert 'class="status status-failed" id="error">that token is not valid' in failed.text


def test_signed_in_pages_have_a_sign_out_button_that_drops_the_cookie(
    app_server: Server,
) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        _sign_in(client)
        for path in ("/ui", "/ui/pipelines/shop-api", "/ui/snapshots/101:CI", "/ui/snapshots/nope"):
            assert 'action="/logout"' in client.get(path).text, path
        token = _logout_token(client.get("/ui").text)
        assert client.get("/logout").status_code == 405  # a link cannot sign out
        response = client.post("/logout", content=f"csrf={token}", headers=FORM)
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert f'{COOKIE}=""' in response.headers["set-cookie"]  # deleted
        assert client.get("/ui/pipelines/shop-api").status_code == 401


@pytest.mark.parametrize("case", ["no-field", "mismatch", "cross-origin"])
def test_a_forged_sign_out_is_refused(app_server: Server, case: str) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        _sign_in(client)
        token = _logout_token(client.get("/ui").text)
        body = {"no-field": "", "mismatch": f"csrf={token[::-1]}", "cross-origin": f"csrf={token}"}
        headers = {**FORM, **({"Origin": "http://evil.example"} if case == "cross-origin" else {})}
        response = client.post("/logout", content=body[case], headers=headers)
        assert response.status_code == 403
        assert client.get("/ui/pipelines/shop-api").status_code == 200  # still signed in
