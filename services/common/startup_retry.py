"""Connecting at start-up with retries, so that a service may start before its database or its broker."""

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

Connection = TypeVar("Connection")


async def connect_when_reachable(
    connect: Callable[[], Awaitable[Connection]],
    away_errors: tuple[type[BaseException], ...],
    *,
    what: str,
    wait_seconds: float,
    log: logging.Logger,
) -> Connection:
    """Call `connect` until it succeeds, backing off, while it fails with one of `away_errors`; after
    `wait_seconds`, or on any other error, raise it. Each retry is logged as a warning on `log`."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(away_errors),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(wait_seconds),
        reraise=True,
        before_sleep=lambda state: log.warning(
            f"{what} not reachable, retrying", extra={"error": str(state.outcome.exception())}
        ),
    ):
        with attempt:
            return await connect()
    raise AssertionError("unreachable")
