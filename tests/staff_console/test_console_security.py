"""Login, sessions, cookies, CSRF, throttling and roles, through the aiohttp test client."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.staff_console import security
from bot.staff_console.app import SESSION_COOKIE, ConsoleConfig, create_app
from bot.staff_console.security import LOCK_SECONDS, SESSION_IDLE_SECONDS
from tests.staff_console.conftest import FAST_HASHER, PASSWORD, Client, FakeClock, csrf_token, log_in

EDITOR_AR = "/cities/brussels/answers/ar/rental_deposit"
EDITOR_PL = "/cities/brussels/answers/pl/rental_deposit"


async def test_pages_need_a_session(client: Client) -> None:
    response = await client.get("/cities/brussels", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login?next=/cities/brussels"
    response = await client.post("/cities/brussels/retrain", data={"csrf_token": "x"}, allow_redirects=False)
    assert response.status == 403


async def test_login_sets_a_strict_http_only_cookie_and_a_new_session_id(client: Client) -> None:
    await client.get("/login")
    before = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]  # plain http in the test; see the https test below
    assert cookie.value != before  # no session fixation
    page = await client.get("/cities/brussels")
    assert page.status == 200
    assert "rental_deposit" in await page.text()
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


async def test_cookies_are_secure_when_the_console_is_behind_https(
    console_config: ConsoleConfig, users: object, clock: FakeClock
) -> None:
    config = ConsoleConfig(**{**console_config.__dict__, "secure_cookies": True})
    async with TestClient(TestServer(create_app(config, clock=clock, hasher=FAST_HASHER))) as secure_client:
        response = await secure_client.get("/login")
        assert response.cookies[SESSION_COOKIE]["secure"] is True


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client: Client) -> None:
    assert await log_in(client, "rita", "wrong password") == 401
    assert await log_in(client, "nobody", PASSWORD) == 401
    response = await client.get("/cities/brussels", allow_redirects=False)
    assert response.status == 303


async def test_five_wrong_passwords_lock_the_name_for_a_while(client: Client, clock: FakeClock) -> None:
    for _attempt in range(5):
        assert await log_in(client, "rita", "wrong password") == 401
    assert await log_in(client, "rita", PASSWORD) == 429  # even the right password, while locked
    token = await csrf_token(client, "/login")
    page = await client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token})
    assert "Too many wrong passwords" in await page.text()
    assert await log_in(client, "ada", PASSWORD) == 303  # other names are not locked
    clock.advance(LOCK_SECONDS + 1)
    assert await log_in(client, "rita", PASSWORD) == 303


async def test_forms_without_their_csrf_token_are_refused(client: Client, content_dir: Path) -> None:
    await client.get("/login")
    response = await client.post("/login", data={"name": "rita", "password": PASSWORD})
    assert response.status == 403
    assert await log_in(client, "rita") == 303
    before = (content_dir / "brussels" / "ar" / "housing.yml").read_bytes()
    form = {"title": "x", "text": "changed", "source": "s", "version": "anything", "action": "save"}
    response = await client.post(EDITOR_AR, data=form)
    assert response.status == 403
    response = await client.post(EDITOR_AR, data={**form, "csrf_token": "forged"})
    assert response.status == 403
    assert (content_dir / "brussels" / "ar" / "housing.yml").read_bytes() == before
    assert (await client.post("/logout", data={})).status == 403


async def test_logout_ends_the_session_on_the_server(client: Client) -> None:
    assert await log_in(client, "rita") == 303
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    token = await csrf_token(client, "/cities/brussels")
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.headers["Location"] == "/login"
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})  # replaying the old cookie
    response = await client.get("/cities/brussels", allow_redirects=False)
    assert response.status == 303


async def test_an_idle_session_expires(client: Client, clock: FakeClock) -> None:
    assert await log_in(client, "rita") == 303
    clock.advance(SESSION_IDLE_SECONDS + 1)
    response = await client.get("/cities/brussels", allow_redirects=False)
    assert response.status == 303


async def test_login_only_returns_to_pages_of_the_console(client: Client) -> None:
    token = await csrf_token(client, "/login")
    data = {"name": "rita", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/"}
    response = await client.post("/login", data=data, allow_redirects=False)
    assert response.headers["Location"] == "/"
    token = await csrf_token(client, "/login")
    response = await client.post("/login", data={**data, "csrf_token": token, "next": EDITOR_AR}, allow_redirects=False)
    assert response.headers["Location"] == EDITOR_AR


async def test_a_translator_reaches_only_their_languages(client: Client) -> None:
    assert await log_in(client, "amina") == 303
    assert (await client.get(EDITOR_AR)).status == 200
    refused = await client.get(EDITOR_PL)
    assert refused.status == 403
    assert "You do not translate into this language" in await refused.text()
    token = await csrf_token(client, EDITOR_AR)
    form = {"title": "x", "text": "y", "source": "z", "version": "v", "action": "save", "csrf_token": token}
    assert (await client.post(EDITOR_PL, data=form)).status == 403
    coverage = await (await client.get("/cities/brussels")).text()
    assert 'href="/cities/brussels/answers/ar/rental_deposit"' in coverage
    assert 'href="/cities/brussels/answers/pl/rental_deposit"' not in coverage


async def test_only_admins_manage_users(client: Client) -> None:
    assert await log_in(client, "amina") == 303
    assert (await client.get("/users")).status == 403
    assert (await client.get("/audit")).status == 403
    token = await csrf_token(client, EDITOR_AR)
    response = await client.post(
        "/users", data={"csrf_token": token, "name": "eve", "role": "admin", "password": "x" * 12}
    )
    assert response.status == 403


async def test_an_admin_adds_a_user_who_can_then_log_in(client: Client, console_app: web.Application) -> None:
    assert await log_in(client, "ada") == 303
    token = await csrf_token(client, "/users")
    form = {"csrf_token": token, "name": "tomas", "role": "translator", "languages": "uk, ru", "password": "p" * 12}
    response = await client.post("/users", data=form, allow_redirects=False)
    assert response.status == 303
    refused = await client.post("/users", data={**form, "name": "nolang", "languages": ""})
    assert refused.status == 422
    assert "a translator needs --languages" in await refused.text()
    audit = await (await client.get("/audit")).text()
    assert "user_saved" in audit
    assert "tomas" in audit
    token = await csrf_token(client, "/users")
    await client.post("/logout", data={"csrf_token": token})
    assert await log_in(client, "tomas", "p" * 12) == 303
    assert (await client.get("/cities/brussels/answers/uk/greet")).status == 200


def test_sessions_opened_by_strangers_stay_bounded(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(security, "MAX_SESSIONS", 3)
    sessions = security.SessionStore(clock)
    first = sessions.new()
    later = [sessions.new() for _n in range(3)]
    assert sessions.get(first.id) is None  # the oldest made room
    assert all(sessions.get(session.id) is not None for session in later)


def test_a_lock_ends_by_itself_and_a_good_password_clears_the_count(clock: FakeClock) -> None:
    throttle = security.LoginThrottle(clock)
    for _n in range(4):
        throttle.failed("Rita")
    assert throttle.locked_for("rita") == 0
    throttle.succeeded("rita")
    throttle.failed("rita")
    assert throttle.locked_for("rita") == 0  # the count started again
    for _n in range(4):
        throttle.failed("rita")
    assert throttle.locked_for("RITA ") == LOCK_SECONDS
    clock.advance(LOCK_SECONDS)
    assert throttle.locked_for("rita") == 0
