"""Browser sign-in, as the web page uses it: POST /api/v1/session sets an
HttpOnly session cookie, the cookie then signs in every /api/v1 request (with
the session's CSRF token on anything but GET), DELETE signs out everywhere,
and the LORIS API's login takes no cookie (the limits of sign-in are in
test_sign_in_limits.py). The gateway runs in-process (with a logstore and a
validator) on the real database and broker."""

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from services.common.scope import ALL_PERMISSIONS, UPLOADER_PERMISSIONS
from services.gateway.__main__ import build_app as build_gateway
from tests.conftest import DEMO_TOKEN
from tests.integration.web_sign_in import PASSWORD, SESSION, error_of, sign_in
from tests.support.inprocess import running_app

COOKIE = "uploader_session"
MAX_UPLOAD_BYTES = 2 * 1024**2
CHECK = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "is_phantom": False, "overwrite": False,
         "file_name": "MTL0001_300001_V1.tgz", "file_size": 1024}


@pytest.fixture
async def gateway(gateway_stack):
    """A gateway (yields its URL)."""
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES) as (url, _):
        yield url


async def signed_in(browser, gateway, username) -> tuple[str, str]:
    """Sign in; the session cookie and the CSRF token."""
    answer = await sign_in(browser, gateway, username)
    assert answer.status == 200, await answer.text()
    return answer.cookies[COOKIE].value, (await answer.json())["csrf_token"]


def cookie_header(cookie: str, **headers) -> dict:
    return {"Cookie": f"{COOKIE}={cookie}", **headers}


async def session_row(pool, cookie: str):
    return await pool.fetchrow("SELECT * FROM gateway.web_sessions WHERE session_sha256 = $1",
                               hashlib.sha256(cookie.encode()).digest())


# --- signing in ------------------------------------------------------------------------------------------------


async def test_signing_in_answers_the_session_and_sets_an_http_only_lax_cookie_for_the_whole_site(
        gateway, browser, new_user, pool):
    username = await new_user(sites=("OTT", "MTL"))

    answer = await sign_in(browser, gateway, username)

    assert answer.status == 200
    body = await answer.json()
    assert body == {"username": username, "permissions": sorted(UPLOADER_PERMISSIONS), "sites": ["MTL", "OTT"],
                    "may_use_uploader": True, "csrf_token": body["csrf_token"], "max_upload_bytes": MAX_UPLOAD_BYTES}
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) >= 32
    assert answer.headers["Cache-Control"] == "no-store"
    (set_cookie,) = answer.headers.getall("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
    assert attributes == {"httponly", "samesite", "path"}
    cookie = answer.cookies[COOKIE]
    assert (cookie["httponly"], cookie["samesite"], cookie["path"], cookie["secure"]) == (True, "Lax", "/", "")
    row = await session_row(pool, cookie.value)
    assert row["csrf_token"] == body["csrf_token"]
    assert abs(row["expires_at"] - (datetime.now(timezone.utc) + timedelta(hours=12))) < timedelta(minutes=1)
    assert await pool.fetchval("SELECT count(*) FROM gateway.web_sessions WHERE session_sha256 = $1",
                               cookie.value.encode()) == 0


async def test_the_cookie_is_secure_when_the_browser_came_over_https(gateway, browser, new_user):
    username = await new_user()

    over_https = await sign_in(browser, gateway, username, **{"X-Forwarded-Proto": "https"})
    over_http = await sign_in(browser, gateway, username, **{"X-Forwarded-Proto": "http"})

    assert over_https.cookies[COOKIE]["secure"] is True
    assert "Secure" in over_https.headers["Set-Cookie"]
    assert over_http.cookies[COOKIE]["secure"] == ""


async def test_each_sign_in_is_a_session_of_its_own(gateway, browser, new_user):
    username = await new_user()

    first, second = await signed_in(browser, gateway, username), await signed_in(browser, gateway, username)

    assert first[0] != second[0] and first[1] != second[1]


@pytest.mark.parametrize("credentials", [
    {"password": "wrong password"},
    {"password": ""},
    {"username": "nobody-of-that-name"},
])
async def test_a_wrong_password_or_an_unknown_user_is_a_401(gateway, browser, new_user, credentials):
    username = await new_user()
    sent = {"username": username, "password": PASSWORD, **credentials}

    async with browser.post(gateway + SESSION, json=sent) as answer:
        error = await error_of(answer, 401)
        assert "Set-Cookie" not in answer.headers

    assert error == {"code": "bad_credentials", "message": "Incorrect username or password.", "field": None}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
async def test_a_sign_in_not_sent_as_json_is_a_415_as_from_another_site_s_form(gateway, browser, new_user,
                                                                                 content_type):
    username = await new_user()
    body = json.dumps({"username": username, "password": PASSWORD})

    async with browser.post(gateway + SESSION, data=body, headers={"Content-Type": content_type}) as answer:
        error = await error_of(answer, 415)
        assert "Set-Cookie" not in answer.headers

    assert error["code"] == "unsupported_media_type"


@pytest.mark.parametrize("body", [
    "", "not json", "[]", "null", '{"username": "demo"}', '{"password": "x"}', '{"username": 1, "password": "x"}',
    '{"username": "demo", "password": null}', '{"username": "demo", "password": "x", "remember": true}',
    '{"username": "de\\u0000mo", "password": "x"}', '{"username": "\\ud800", "password": "x"}',
    json.dumps({"username": "u" * 256, "password": "x"}),
])
async def test_a_malformed_sign_in_is_a_400(gateway, browser, body):
    async with browser.post(gateway + SESSION, data=body, headers={"Content-Type": "application/json"}) as answer:
        error = await error_of(answer, 400)

    assert error["code"] in {"invalid_json", "invalid_field"}


# --- the cookie signs requests in --------------------------------------------------------------------------------


async def test_the_session_answers_who_is_signed_in_by_the_cookie_or_by_a_bearer_token(gateway, browser, new_user):
    username = await new_user()
    cookie, csrf_token = await signed_in(browser, gateway, username)

    async with browser.get(gateway + SESSION, headers=cookie_header(cookie)) as by_cookie:
        assert by_cookie.status == 200
        assert (await by_cookie.json())["username"] == username
        assert (await by_cookie.json())["csrf_token"] == csrf_token
    async with browser.get(gateway + SESSION, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as by_token:
        assert by_token.status == 200
        assert await by_token.json() == {
            "username": "demo", "permissions": sorted(ALL_PERMISSIONS), "sites": [], "may_use_uploader": True,
            "csrf_token": None, "max_upload_bytes": MAX_UPLOAD_BYTES}


@pytest.mark.parametrize("headers", [{}, cookie_header("not-a-session"), cookie_header("")])
async def test_without_a_session_the_session_is_a_401(gateway, browser, headers):
    async with browser.get(gateway + SESSION, headers=headers) as answer:
        assert (await error_of(answer, 401))["code"] == "unauthenticated"


async def test_the_cookie_opens_browse(gateway, browser, new_user):
    cookie, _ = await signed_in(browser, gateway, await new_user())

    async with browser.get(gateway + "/api/v1/uploads", headers=cookie_header(cookie)) as answer:
        assert answer.status == 200, await answer.text()
        assert "items" in await answer.json()


async def test_a_post_signed_in_by_the_cookie_needs_the_session_s_csrf_token(gateway, browser, new_user):
    cookie, csrf_token = await signed_in(browser, gateway, await new_user())
    other_cookie, other_csrf_token = await signed_in(browser, gateway, await new_user())
    check = gateway + "/api/v1/uploads/check"

    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "guessed"}, {"X-CSRF-Token": other_csrf_token}):
        async with browser.post(check, json=CHECK, headers=cookie_header(cookie, **headers)) as refused:
            error = await error_of(refused, 403)
        assert error["code"] == "csrf_failed"
        assert "X-CSRF-Token" in error["message"]
    async with browser.post(check, json=CHECK, headers=cookie_header(cookie, **{"X-CSRF-Token": csrf_token})) as ok:
        assert ok.status == 200, await ok.text()
        assert (await ok.json())["max_upload_bytes"] == MAX_UPLOAD_BYTES


async def test_a_bearer_token_needs_no_csrf_token_and_takes_precedence_over_the_cookie(gateway, browser, new_user):
    cookie, _ = await signed_in(browser, gateway, await new_user())
    check = gateway + "/api/v1/uploads/check"

    for headers in ({"Authorization": f"Bearer {DEMO_TOKEN}"},
                    cookie_header(cookie, Authorization=f"Bearer {DEMO_TOKEN}")):
        async with browser.post(check, json=CHECK, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
    async with browser.get(gateway + SESSION, headers=cookie_header(cookie, Authorization="Bearer not-a-token")) as bad:
        assert (await error_of(bad, 401))["message"] == "The API token is not valid (or it expired)."


async def test_the_loris_api_takes_no_cookie(gateway, browser, new_user):
    cookie, csrf_token = await signed_in(browser, gateway, await new_user())

    async with browser.get(gateway + "/api/v0.0.4-dev/candidates/300001/V1/dicoms",
                           headers=cookie_header(cookie, **{"X-CSRF-Token": csrf_token})) as answer:
        body = await answer.json()

    assert answer.status == 401
    assert set(body) == {"error"}


async def test_a_user_without_uploader_permission_signs_in_to_be_told_so(gateway, browser, new_user):
    username = await new_user(permissions=["data_entry"], sites=())

    answer = await sign_in(browser, gateway, username)

    assert answer.status == 200
    assert (await answer.json())["may_use_uploader"] is False
    cookie, csrf_token = answer.cookies[COOKIE].value, (await answer.json())["csrf_token"]
    async with browser.get(gateway + SESSION, headers=cookie_header(cookie)) as session:
        assert session.status == 200
        assert (await session.json())["permissions"] == ["data_entry"]
        assert (await session.json())["may_use_uploader"] is False
    async with browser.get(gateway + "/api/v1/uploads", headers=cookie_header(cookie)) as browse:
        assert await error_of(browse, 403) == {
            "code": "permission_denied", "message": f"User {username} has no imaging uploader permission.",
            "field": None}
    async with browser.delete(gateway + SESSION, headers=cookie_header(cookie, **{"X-CSRF-Token": csrf_token})) as out:
        assert out.status == 204


async def test_an_expired_session_is_refused_and_deleted_at_a_later_sign_in(gateway, browser, new_user, pool):
    username = await new_user()
    cookie, _ = await signed_in(browser, gateway, username)
    await pool.execute("UPDATE gateway.web_sessions SET expires_at = now() - interval '1 second' "
                       "WHERE session_sha256 = $1", hashlib.sha256(cookie.encode()).digest())

    async with browser.get(gateway + SESSION, headers=cookie_header(cookie)) as answer:
        error = await error_of(answer, 401)
    assert error == {"code": "unauthenticated", "message": "The session ended or expired: sign in again.",
                     "field": None}

    await signed_in(browser, gateway, username)
    assert await session_row(pool, cookie) is None


async def test_a_session_lasts_uploader_session_hours(gateway_stack, browser, new_user, pool):
    async with gateway_stack(session_hours=0.5) as (gateway, _):
        cookie, _ = await signed_in(browser, gateway, await new_user())

    expires_at = (await session_row(pool, cookie))["expires_at"]
    assert abs(expires_at - (datetime.now(timezone.utc) + timedelta(minutes=30))) < timedelta(minutes=1)


# --- signing out -------------------------------------------------------------------------------------------------


async def test_signing_out_ends_the_session_on_every_gateway_and_clears_the_cookie(
        gateway_stack, gateway_settings, browser, new_user, pool):
    async with gateway_stack() as (gateway, logstore_url), \
            running_app(build_gateway(gateway_settings(logstore_url=logstore_url, auto_launch=False))) as replica:
        cookie, csrf_token = await signed_in(browser, gateway, await new_user())
        async with browser.get(replica + SESSION, headers=cookie_header(cookie)) as before:
            assert before.status == 200

        async with browser.delete(gateway + SESSION, headers=cookie_header(cookie)) as without_csrf:
            assert (await error_of(without_csrf, 403))["code"] == "csrf_failed"
        async with browser.delete(gateway + SESSION,
                                  headers=cookie_header(cookie, **{"X-CSRF-Token": csrf_token})) as answer:
            assert answer.status == 204
            cleared = answer.cookies[COOKIE]
            assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/")

        assert await session_row(pool, cookie) is None
        for url in (gateway, replica):
            async with browser.get(url + SESSION, headers=cookie_header(cookie)) as after:
                assert (await error_of(after, 401))["code"] == "unauthenticated"
            async with browser.get(url + "/api/v1/uploads", headers=cookie_header(cookie)) as browse:
                assert browse.status == 401


@pytest.mark.parametrize("headers", [{}, cookie_header("not-a-session"), {"Authorization": f"Bearer {DEMO_TOKEN}"},
                                     {"Authorization": "Bearer not-a-token"}])
async def test_signing_out_without_a_session_is_a_204_that_clears_the_cookie(gateway, browser, headers):
    async with browser.delete(gateway + SESSION, headers=headers) as answer:
        assert answer.status == 204
        assert answer.cookies[COOKIE]["max-age"] == "0"
        assert await answer.read() == b""
