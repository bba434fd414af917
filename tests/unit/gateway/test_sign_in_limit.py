"""What the sign-in throttle says and reads from the settings (the counting itself is
tested on the real database in tests/integration/test_web_sessions.py)."""

import pytest
from pydantic import ValidationError

from services.common.settings import GatewaySettings
from services.gateway.auth.session_models import SignIn
from services.gateway.auth.sign_in_limit import SignInLimit
from services.gateway.auth.sign_in_refusals import SignInBusy, TooManySignIns


SIGN_IN_SETTINGS = ("UPLOADER_SIGN_IN_MAX_FAILURES", "UPLOADER_SIGN_IN_WINDOW_SECONDS", "UPLOADER_SESSION_HOURS",
                    "UPLOADER_SIGN_IN_MAX_FAILURES_PER_ADDRESS", "UPLOADER_SIGN_IN_CHECKS_AT_ONCE",
                    "UPLOADER_TRUSTED_PROXIES")


def test_the_limit_is_five_failures_a_minute_per_user_and_30_per_address_and_a_session_lasts_12_hours_by_default(
        monkeypatch):
    for name in SIGN_IN_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    settings = GatewaySettings()

    assert SignInLimit.of(settings) == SignInLimit(max_failures=5, window_seconds=60, max_failures_per_address=30)
    assert settings.session_hours == 12
    assert settings.sign_in_checks_at_once == 2
    assert settings.trusted_proxies == ()


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("UPLOADER_SIGN_IN_MAX_FAILURES", "3")
    monkeypatch.setenv("UPLOADER_SIGN_IN_WINDOW_SECONDS", "300")
    monkeypatch.setenv("UPLOADER_SESSION_HOURS", "8")
    monkeypatch.setenv("UPLOADER_SIGN_IN_MAX_FAILURES_PER_ADDRESS", "12")
    monkeypatch.setenv("UPLOADER_SIGN_IN_CHECKS_AT_ONCE", "4")
    monkeypatch.setenv("UPLOADER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")

    settings = GatewaySettings()

    assert SignInLimit.of(settings) == SignInLimit(max_failures=3, window_seconds=300, max_failures_per_address=12)
    assert settings.session_hours == 8
    assert settings.sign_in_checks_at_once == 4
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7")


def test_a_trusted_proxy_that_is_not_an_address_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("UPLOADER_TRUSTED_PROXIES", "10.0.0.0/8,ingress")

    with pytest.raises(ValidationError, match="'ingress' does not appear to be an IPv4 or IPv6 network"):
        GatewaySettings()


def test_the_refusal_names_the_user_and_the_seconds_to_wait():
    assert str(TooManySignIns.for_user("alice", 42)) == (
        "Too many failed sign-ins for user alice; try again in 42 seconds.")


def test_the_refusal_of_an_address_names_no_user():
    refused = TooManySignIns.from_address(7)

    assert str(refused) == "Too many failed sign-ins from your address; try again in 7 seconds."
    assert (refused.status, refused.retry_after) == (429, 7)


def test_a_busy_gateway_says_so_with_a_503_and_one_second_to_wait():
    busy = SignInBusy()

    assert (busy.status, busy.retry_after) == (503, 1)
    assert str(busy) == "Too many sign-ins are being checked right now; try again in 1 second."


def test_the_refusal_shortens_a_very_long_username():
    message = str(TooManySignIns.for_user("x" * 10_000, 1))

    assert len(message) < 200
    assert "x" * 64 + "..." in message


@pytest.mark.parametrize("sent", [
    {"username": "alice"}, {"username": 1, "password": "p"}, {"username": "alice", "password": "p", "extra": 1},
    {"username": "al\x00ice", "password": "p"}, {"username": "a" * 256, "password": "p"},
])
def test_a_sign_in_is_two_strings_and_nothing_else(sent):
    with pytest.raises(ValidationError):
        SignIn.model_validate(sent)


def test_an_empty_password_is_a_sign_in_that_fails_not_a_malformed_one():
    assert SignIn.model_validate({"username": "alice", "password": ""}).password == ""
