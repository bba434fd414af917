"""Connecting at start-up (services.common.startup_retry), as the database pool and the broker connection do."""

import asyncio
import logging

import pytest

from services.common.startup_retry import connect_when_reachable

LOG = logging.getLogger("tests.startup_retry")


def failing(times: int, error: BaseException):
    """A connect that fails `times` times with `error`, then answers "connected"; it counts its calls."""
    calls = []

    async def connect() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "connected"

    return connect, calls


def test_a_server_away_at_first_is_connected_to_once_it_answers_and_each_retry_is_logged(caplog):
    connect, calls = failing(2, ConnectionRefusedError("refused"))

    with caplog.at_level(logging.WARNING, logger=LOG.name):
        connection = asyncio.run(connect_when_reachable(connect, (OSError,), what="database", wait_seconds=30,
                                                        log=LOG))

    assert connection == "connected" and len(calls) == 3
    assert [(record.message, record.error) for record in caplog.records] == [
        ("database not reachable, retrying", "refused")] * 2


def test_an_error_that_does_not_mean_the_server_is_away_is_raised_at_once():
    connect, calls = failing(5, ValueError("bad address"))

    with pytest.raises(ValueError, match="bad address"):
        asyncio.run(connect_when_reachable(connect, (OSError,), what="broker", wait_seconds=30, log=LOG))
    assert len(calls) == 1


def test_a_server_still_away_after_the_wait_raises_its_last_error():
    connect, calls = failing(1_000, ConnectionRefusedError("still refused"))

    with pytest.raises(ConnectionRefusedError, match="still refused"):
        asyncio.run(connect_when_reachable(connect, (OSError,), what="broker", wait_seconds=0.5, log=LOG))
    assert 2 <= len(calls) < 10
