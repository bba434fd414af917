"""Signing in as the web page does (POST /api/v1/session), for the tests of
sessions and of the sign-in limits (their fixtures `browser` and `new_user`
are in conftest.py)."""

import aiohttp

SESSION = "/api/v1/session"
LORIS_LOGIN = "/api/v0.0.4-dev/login"
PASSWORD = "a long enough password for the page"


async def sign_in(browser, gateway, username, password=PASSWORD, **headers) -> aiohttp.ClientResponse:
    async with browser.post(gateway + SESSION, json={"username": username, "password": password},
                            headers=headers) as answer:
        await answer.read()
        return answer


async def error_of(answer: aiohttp.ClientResponse, status: int) -> dict:
    body = await answer.json()
    assert answer.status == status, body
    assert body["errors"][0] == body["error"]
    return body["error"]
