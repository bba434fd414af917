"""The limits of sign-in, on both sign-ins (POST /api/v1/session and the LORIS
API's login): failures lock a username out, and a client address; parallel
guesses cannot pass the count; a gateway checks a bounded number of passwords
at once and refuses one more with 503, without hashing. The gateway runs
in-process (with a logstore and a validator) on the real database and broker.
The flood of sign-ins during an upload is tests/e2e/test_sign_in_flood.py."""

import asyncio
import contextlib
import uuid
from collections import Counter

import aiohttp
import pytest

from services.common import metrics
from tests.integration.web_sign_in import LORIS_LOGIN, PASSWORD, error_of, sign_in

# Long enough for five failed sign-ins on a busy machine (password checks run at a low priority), short enough
# to wait for a lockout to end.
WINDOW_SECONDS = 5
PROXY = "127.0.0.1"  # the tests' own address: a trusted proxy, when the test says so


@pytest.fixture
async def gateway(gateway_stack):
    """A gateway whose sign-in throttle forgets failures after WINDOW_SECONDS (yields its URL)."""
    async with gateway_stack(sign_in_window_seconds=WINDOW_SECONDS) as (url, _):
        yield url


async def fail_to_sign_in(browser, gateway, username: str, times: int) -> None:
    for _ in range(times):
        answer = await sign_in(browser, gateway, username, "wrong password")
        assert answer.status == 401, await answer.text()


async def test_five_failures_lock_the_username_out_with_429_until_they_age_out(gateway, browser, new_user):
    username, bystander = await new_user(), await new_user()
    await fail_to_sign_in(browser, gateway, username, 5)

    for password in ("wrong password", PASSWORD):
        refused = await sign_in(browser, gateway, username, password)
        error = await error_of(refused, 429)
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW_SECONDS
        assert error == {"code": "too_many_sign_ins", "field": None,
                         "message": f"Too many failed sign-ins for user {username}; try again in {retry_after} seconds."}
        assert "Set-Cookie" not in refused.headers
    assert (await sign_in(browser, gateway, bystander)).status == 200

    await asyncio.sleep(retry_after)

    assert (await sign_in(browser, gateway, username)).status == 200


async def test_an_unknown_username_is_locked_out_too(gateway, browser):
    username = f"nobody-{uuid.uuid4().hex[:8]}"
    await fail_to_sign_in(browser, gateway, username, 5)

    assert (await sign_in(browser, gateway, username, "wrong password")).status == 429


async def test_a_successful_sign_in_clears_the_failures(gateway, browser, new_user):
    username = await new_user()
    await fail_to_sign_in(browser, gateway, username, 4)
    assert (await sign_in(browser, gateway, username)).status == 200

    await fail_to_sign_in(browser, gateway, username, 4)

    assert (await sign_in(browser, gateway, username)).status == 200


async def test_the_loris_login_is_throttled_too_and_counts_the_same_failures(gateway, browser, new_user):
    username = await new_user()
    await fail_to_sign_in(browser, gateway, username, 3)
    for _ in range(2):
        async with browser.post(gateway + LORIS_LOGIN, json={"username": username, "password": "wrong"}) as answer:
            assert answer.status == 401

    async with browser.post(gateway + LORIS_LOGIN, json={"username": username, "password": PASSWORD}) as answer:
        body = await answer.json()
        assert answer.status == 429
        retry_after = int(answer.headers["Retry-After"])
    assert body == {"error": f"Too many failed sign-ins for user {username}; try again in {retry_after} seconds."}
    assert (await sign_in(browser, gateway, username)).status == 429


async def test_a_loris_login_clears_the_failures_of_the_page(gateway, browser, new_user):
    username = await new_user()
    await fail_to_sign_in(browser, gateway, username, 4)

    async with browser.post(gateway + LORIS_LOGIN, json={"username": username, "password": PASSWORD}) as answer:
        assert answer.status == 200

    await fail_to_sign_in(browser, gateway, username, 4)


# --- parallel guesses --------------------------------------------------------------------------------------------


async def test_thirty_guesses_at_once_for_one_username_check_five_passwords_and_refuse_the_rest(
        gateway_stack, browser, new_user):
    username = await new_user()
    checked_before = password_checks()
    async with gateway_stack(sign_in_window_seconds=60, sign_in_checks_at_once=30) as (gateway, _):
        answers = await asyncio.gather(*(sign_in(browser, gateway, username, f"guess {n}") for n in range(30)))

    assert Counter(answer.status for answer in answers) == {401: 5, 429: 25}
    assert password_checks() - checked_before == 5


async def test_a_gateway_checking_as_many_sign_ins_as_it_may_refuses_one_more_with_503_without_hashing(
        gateway_stack, browser, new_user):
    username = await new_user()
    async with gateway_stack(sign_in_checks_at_once=1) as (gateway, _):
        checked_before = password_checks()
        answers = await asyncio.gather(*(sign_in(browser, gateway, f"nobody-{uuid.uuid4().hex}", "guess")
                                         for _ in range(10)))
        checked = password_checks() - checked_before
        busy = [answer for answer in answers if answer.status == 503]

        assert busy, [answer.status for answer in answers]
        assert {answer.status for answer in answers} == {401, 503}
        assert checked == 10 - len(busy)
        for answer in busy:
            assert await error_of(answer, 503) == {
                "code": "sign_in_busy", "field": None,
                "message": "Too many sign-ins are being checked right now; try again in 1 second."}
            assert answer.headers["Retry-After"] == "1"
        assert (await sign_in(browser, gateway, username)).status == 200


def password_checks() -> float:
    """The passwords checked by the gateways of this process, as /metrics counts them."""
    return sum(metrics.PASSWORD_CHECKS.labels(result)._value.get() for result in ("match", "mismatch"))


# --- the client's address ----------------------------------------------------------------------------------------


async def test_failures_from_one_address_lock_that_address_out_whatever_the_username_and_not_another(
        gateway_stack, browser, new_user):
    username = await new_user()
    guesser, colleague = new_address(), new_address()
    async with gateway_stack(sign_in_max_failures_per_address=3, trusted_proxies=[PROXY]) as (gateway, _):
        for _ in range(3):
            answer = await sign_in(browser, gateway, f"nobody-{uuid.uuid4().hex}", "guess", **forwarded(guesser))
            assert answer.status == 401

        refused = await sign_in(browser, gateway, username, PASSWORD, **forwarded(guesser))
        retry_after = int(refused.headers["Retry-After"])
        assert await error_of(refused, 429) == {
            "code": "too_many_sign_ins", "field": None,
            "message": f"Too many failed sign-ins from your address; try again in {retry_after} seconds."}
        assert (await sign_in(browser, gateway, username, PASSWORD, **forwarded(colleague))).status == 200


async def test_a_client_that_is_not_a_trusted_proxy_cannot_choose_its_address(gateway_stack, new_user):
    username = await new_user()
    settings = {"sign_in_max_failures_per_address": 3, "trusted_proxies": [PROXY]}
    async with gateway_stack(**settings) as (gateway, _), client_at(new_loopback_address()) as direct:
        before = await sign_in(direct, gateway, username, PASSWORD, **forwarded(new_address()))
        for _ in range(3):
            answer = await sign_in(direct, gateway, f"nobody-{uuid.uuid4().hex}", "guess", **forwarded(new_address()))
            assert answer.status == 401

        after = await sign_in(direct, gateway, username, PASSWORD, **forwarded(new_address()))

    assert (before.status, after.status) == (200, 429)


@contextlib.asynccontextmanager
async def client_at(address: str):
    """An HTTP client whose connections come from this address (any 127.x.y.z is this machine's)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def new_loopback_address() -> str:
    return "127." + ".".join(str(part) for part in uuid.uuid4().bytes[:2]) + ".2"


def new_address() -> str:
    """A client address no other test uses (in 10.0.0.0/8)."""
    return "10." + ".".join(str(part) for part in uuid.uuid4().bytes[:3])


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}
