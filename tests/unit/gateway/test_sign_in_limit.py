"""What the sign-in throttle says and reads from the settings (the counting itself is
tested on the real database in tests/integration/test_web_sessions.py)."""

import pytest
from pydantic import ValidationError

from services.common.settings import GatewaySettings
from services.gateway.session_models import SignIn
from services.gateway.sign_in_limit import SignInLimit, TooManySignIns


def test_the_limit_is_five_failures_a_minute_and_a_session_lasts_12_hours_by_default(monkeypatch):
    for name in ("UPLOADER_SIGN_IN_MAX_FAILURES", "UPLOADER_SIGN_IN_WINDOW_SECONDS", "UPLOADER_SESSION_HOURS"):
        monkeypatch.delenv(name, raising=False)

    settings = GatewaySettings()

    assert SignInLimit.of(settings) == SignInLimit(max_failures=5, window_seconds=60)
    assert settings.session_hours == 12


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("UPLOADER_SIGN_IN_MAX_FAILURES", "3")
    monkeypatch.setenv("UPLOADER_SIGN_IN_WINDOW_SECONDS", "300")
    monkeypatch.setenv("UPLOADER_SESSION_HOURS", "8")

    settings = GatewaySettings()

    assert SignInLimit.of(settings) == SignInLimit(max_failures=3, window_seconds=300)
    assert settings.session_hours == 8


def test_the_refusal_names_the_user_and_the_seconds_to_wait():
    assert str(TooManySignIns("alice", 42)) == "Too many failed sign-ins for user alice; try again in 42 seconds."


def test_the_refusal_shortens_a_very_long_username():
    message = str(TooManySignIns("x" * 10_000, 1))

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
