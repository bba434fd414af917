"""The session cookie's attributes, HTTPS detection and the CSRF check
(services.gateway.auth.web_sessions), on requests built in memory."""

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.gateway.auth.users import User
from services.gateway.auth.web_sessions import (WebSession, clear_session_cookie, csrf_matches, is_https,
                                                session_cookie, set_session_cookie)

SESSION = WebSession(User(1, "alice", frozenset()), "the-csrf-token")


def request(**headers) -> web.Request:
    return make_mocked_request("GET", "/api/v1/session", headers=headers)


@pytest.mark.parametrize(("forwarded", "expected"), [
    (None, False), ("http", False), ("https", True), ("HTTPS", True), (" https , http", True), ("http, https", False),
])
def test_a_request_came_over_https_when_the_proxy_in_front_says_so(forwarded, expected):
    headers = {"X-Forwarded-Proto": forwarded} if forwarded is not None else {}

    assert is_https(request(**headers)) is expected


def test_the_cookie_is_http_only_lax_for_the_whole_site_and_secure_only_over_https():
    plain, secure = web.Response(), web.Response()

    set_session_cookie(plain, request(), "value")
    set_session_cookie(secure, request(**{"X-Forwarded-Proto": "https"}), "value")

    assert plain.cookies.output(header="") == " uploader_session=value; HttpOnly; Path=/; SameSite=Lax"
    assert secure.cookies.output(header="") == " uploader_session=value; HttpOnly; Path=/; SameSite=Lax; Secure"


def test_clearing_the_cookie_expires_it_with_the_same_attributes():
    response = web.Response()

    clear_session_cookie(response, request())

    cookie = response.cookies["uploader_session"]
    assert (cookie.value, cookie["max-age"], cookie["path"], cookie["httponly"], cookie["samesite"]) == (
        "", "0", "/", True, "Lax")


@pytest.mark.parametrize(("sent", "expected"), [
    ("the-csrf-token", True), (None, False), ("", False), ("the-csrf-toke", False), ("THE-CSRF-TOKEN", False),
    ("the-csrf-tökén", False),
])
def test_the_csrf_token_must_be_the_session_s_exactly(sent, expected):
    headers = {"X-CSRF-Token": sent} if sent is not None else {}

    assert csrf_matches(request(**headers), SESSION) is expected


@pytest.mark.parametrize(("cookie", "expected"), [
    ("uploader_session=abc", "abc"), ("other=abc", None), ("uploader_session=", None), ("", None),
])
def test_the_session_cookie_is_read_by_its_name(cookie, expected):
    assert session_cookie(request(Cookie=cookie)) == expected
