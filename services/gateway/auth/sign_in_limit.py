"""Sign-in throttling, for both sign-ins (POST /api/v1/session and the LORIS
API's POST /api/v0.0.4-dev/login):
- after `max_failures` failed sign-ins of one username within the window,
  that username's sign-ins are refused until the failures age out;
- after `max_failures_per_address` failed sign-ins from one client address
  within the window (of any usernames), that address's sign-ins are refused
  the same way.
A refusal is answered without checking the password, and is not a failure
itself: it does not extend the lockout.

Each try is recorded as a failure before its password is checked, under a
lock of its username and of its address, and a success then clears its
username's failures. So parallel guesses cannot all pass the count: of 30
sent at once for one username, at most `max_failures` are checked.

Failures are rows in PostgreSQL (SHA-256 digests of the username and of the
address, and a time), so the limits hold across gateway replicas. Unknown
usernames are counted too, so that a refusal does not tell whether a user
exists."""

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.app_keys import POOL, SETTINGS
from services.common.settings import GatewaySettings
from services.gateway.auth.client_address import client_address, trusted_networks
from services.gateway.auth.loris_sign_in import loris_sign_in
from services.gateway.auth.loris_users import LORIS_USERS
from services.gateway.auth.password_checks import PASSWORD_CHECKS, PasswordChecks
from services.gateway.auth.sign_in_refusals import TooManySignIns
from services.gateway.auth.users import User, find_login, token_digest

# Advisory lock spaces: 1 the logstore's uploads, 2 idempotency keys, 3 outbox relays, 4 launcher runs, and these
# two: the tries of one username, and those of one address, are counted one at a time.
USERNAME_LOCK_SPACE = 5
ADDRESS_LOCK_SPACE = 6


@dataclass(frozen=True)
class SignInLimit:
    max_failures: int
    window_seconds: float
    max_failures_per_address: int

    @classmethod
    def of(cls, settings: GatewaySettings) -> "SignInLimit":
        return cls(settings.sign_in_max_failures, settings.sign_in_window_seconds,
                   settings.sign_in_max_failures_per_address)


async def sign_in(request: web.Request, username: str, password: str) -> User | None:
    """The user with this name and password, or None. Raises SignInBusy when the gateway is checking as many
    sign-ins as it may, and TooManySignIns while the username or the client's address is locked out; in LORIS
    site mode, AccountRefused and LorisDatabaseUnavailable too (loris_sign_in.py)."""
    pool, checks, settings = request.app[POOL], request.app[PASSWORD_CHECKS], request.app[SETTINGS]
    address = client_address(request, trusted_networks(settings.trusted_proxies))
    with checks.turn():
        await record_try(pool, SignInLimit.of(settings), username, address)
        if settings.loris_database_url:
            user = await loris_sign_in(pool, request.app[LORIS_USERS], checks, username, password)
        else:
            user = await _own_sign_in(pool, checks, username, password)
        if user is not None:
            await clear_failures(pool, username)
        return user


async def _own_sign_in(pool: asyncpg.Pool, checks: PasswordChecks, username: str, password: str) -> User | None:
    """Standalone: the user and its argon2 password hash are the gateway's own."""
    found = await find_login(pool, username)
    if not await checks.verify(found.password_hash if found else None, password):
        return None
    return found.user


async def record_try(pool: asyncpg.Pool, limit: SignInLimit, username: str, address: str) -> None:
    """Count this try as a failed sign-in (a success clears it); raises TooManySignIns, counting nothing, when
    the username or the address is locked out."""
    user_digest, address_digest = token_digest(username), token_digest(address)
    async with pool.acquire() as conn, conn.transaction():
        # Always the username's lock first, then the address's: two tries never wait for each other in a circle.
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", USERNAME_LOCK_SPACE, user_digest.hex())
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", ADDRESS_LOCK_SPACE, address_digest.hex())
        retry_after = await _seconds_locked_out(conn, "username_sha256", user_digest, limit.max_failures, limit)
        if retry_after is not None:
            metrics.SIGN_INS_REFUSED.labels("username_locked_out").inc()
            raise TooManySignIns.for_user(username, retry_after)
        retry_after = await _seconds_locked_out(conn, "address_sha256", address_digest,
                                                limit.max_failures_per_address, limit)
        if retry_after is not None:
            metrics.SIGN_INS_REFUSED.labels("address_locked_out").inc()
            raise TooManySignIns.from_address(retry_after)
        await conn.execute(
            """WITH aged AS (DELETE FROM gateway.sign_in_failures WHERE failed_at <= now() - make_interval(secs => $3))
               INSERT INTO gateway.sign_in_failures (username_sha256, address_sha256) VALUES ($1, $2)""",
            user_digest, address_digest, limit.window_seconds,
        )


async def _seconds_locked_out(conn: asyncpg.Connection, column: str, digest: bytes, max_failures: int,
                              limit: SignInLimit) -> int | None:
    """None when there may be one more try; otherwise the whole seconds until there may (at least 1).

    The lockout ends when the max_failures-th newest failure leaves the window: fewer than
    max_failures are in it from then on."""
    return await conn.fetchval(
        f"""SELECT greatest(1, ceil(extract(epoch FROM failed_at + make_interval(secs => $2) - now())))::int
            FROM gateway.sign_in_failures
            WHERE {column} = $1 AND failed_at > now() - make_interval(secs => $2)
            ORDER BY failed_at DESC OFFSET $3 - 1 LIMIT 1""",
        digest, limit.window_seconds, max_failures,
    )


async def clear_failures(pool: asyncpg.Pool, username: str) -> None:
    await pool.execute("DELETE FROM gateway.sign_in_failures WHERE username_sha256 = $1", token_digest(username))
