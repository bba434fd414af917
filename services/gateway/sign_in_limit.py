"""Sign-in throttling, for both sign-ins (POST /api/v1/session and the LORIS
API's POST /api/v0.0.4-dev/login): after `max_failures` failed sign-ins of
one username within the window, that username's sign-ins are refused,
without checking the password, until the failures age out of the window.

Failures are rows in PostgreSQL (a username's SHA-256 digest and a time), so
the limit holds across gateway replicas. Unknown usernames are counted too,
so that a refusal does not tell whether a user exists. A refused try is not
a failure: it does not extend the lockout."""

from dataclasses import dataclass

import asyncpg

from services.common.settings import GatewaySettings
from services.gateway.users import User, token_digest, verify_login


@dataclass(frozen=True)
class SignInLimit:
    max_failures: int
    window_seconds: float

    @classmethod
    def of(cls, settings: GatewaySettings) -> "SignInLimit":
        return cls(settings.sign_in_max_failures, settings.sign_in_window_seconds)


class TooManySignIns(Exception):
    def __init__(self, username: str, retry_after: int) -> None:
        shown = username if len(username) <= 64 else username[:64] + "..."
        super().__init__(f"Too many failed sign-ins for user {shown}; try again in {retry_after} seconds.")
        self.retry_after = retry_after


async def sign_in(pool: asyncpg.Pool, limit: SignInLimit, username: str, password: str) -> User | None:
    """The user with this name and password, or None; raises TooManySignIns while the username is locked out."""
    retry_after = await seconds_locked_out(pool, limit, username)
    if retry_after is not None:
        raise TooManySignIns(username, retry_after)
    user = await verify_login(pool, username, password)
    if user is None:
        await record_failure(pool, limit, username)
    else:
        await clear_failures(pool, username)
    return user


async def seconds_locked_out(pool: asyncpg.Pool, limit: SignInLimit, username: str) -> int | None:
    """None when the username may try; otherwise the whole seconds until it may (at least 1).

    The lockout ends when the max_failures-th newest failure leaves the window: fewer than
    max_failures are in it from then on."""
    return await pool.fetchval(
        """SELECT greatest(1, ceil(extract(epoch FROM failed_at + make_interval(secs => $2) - now())))::int
           FROM gateway.sign_in_failures
           WHERE username_sha256 = $1 AND failed_at > now() - make_interval(secs => $2)
           ORDER BY failed_at DESC OFFSET $3 - 1 LIMIT 1""",
        token_digest(username),
        limit.window_seconds,
        limit.max_failures,
    )


async def record_failure(pool: asyncpg.Pool, limit: SignInLimit, username: str) -> None:
    """Count a failed sign-in, and forget every failure (of any username) that left the window."""
    await pool.execute(
        """WITH aged AS (DELETE FROM gateway.sign_in_failures WHERE failed_at <= now() - make_interval(secs => $2))
           INSERT INTO gateway.sign_in_failures (username_sha256) VALUES ($1)""",
        token_digest(username),
        limit.window_seconds,
    )


async def clear_failures(pool: asyncpg.Pool, username: str) -> None:
    await pool.execute("DELETE FROM gateway.sign_in_failures WHERE username_sha256 = $1", token_digest(username))
