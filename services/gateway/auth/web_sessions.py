"""Browser sessions: a random cookie that stands for a signed-in user, kept
in PostgreSQL (only its SHA-256 digest, as of API tokens), with the CSRF
token the page must send back with every request that may change something.

A session is looked up at each request, not cached: signing out, an expiry
or a permission taken away takes effect at once on every gateway replica,
for the price of one primary-key lookup."""

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from aiohttp import web

from services.common.request_parsing import is_plain_text
from services.gateway.auth.users import User, token_digest

COOKIE_NAME = "uploader_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class WebSession:
    user: User
    csrf_token: str


async def start_session(pool: asyncpg.Pool, user: User, lifetime: timedelta) -> tuple[str, WebSession]:
    """A new session of the user, and the cookie value that stands for it; expired sessions are deleted on the way."""
    cookie, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await pool.execute(
        """WITH expired AS (DELETE FROM gateway.web_sessions WHERE expires_at <= now())
           INSERT INTO gateway.web_sessions (session_sha256, user_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval)""",
        token_digest(cookie),
        user.user_id,
        csrf_token,
        lifetime,
    )
    return cookie, WebSession(user, csrf_token)


async def find_session(pool: asyncpg.Pool, cookie: str) -> WebSession | None:
    """The session the cookie stands for; None when it ended or expired."""
    row = await pool.fetchrow(
        """SELECT u.user_id, u.username, u.permissions, u.sites, s.csrf_token FROM gateway.web_sessions s
           JOIN gateway.users u USING (user_id)
           WHERE s.session_sha256 = $1 AND s.expires_at > now()""",
        token_digest(cookie),
    )
    if row is None:
        return None
    user = User(row["user_id"], row["username"], frozenset(row["permissions"]), tuple(row["sites"]))
    return WebSession(user, row["csrf_token"])


async def end_session(pool: asyncpg.Pool, cookie: str) -> None:
    await pool.execute("DELETE FROM gateway.web_sessions WHERE session_sha256 = $1", token_digest(cookie))


def session_cookie(request: web.Request) -> str | None:
    """The session cookie the request carries, if it carries one that could be ours."""
    cookie = request.cookies.get(COOKIE_NAME)
    return cookie if cookie and is_plain_text(cookie) else None


def csrf_matches(request: web.Request, session: WebSession) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return is_plain_text(sent) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


def set_session_cookie(response: web.StreamResponse, request: web.Request, cookie: str) -> None:
    # No Max-Age: the browser forgets the cookie when it closes; the server ends the session at expires_at.
    response.set_cookie(COOKIE_NAME, cookie, path="/", httponly=True, samesite="Lax", secure=is_https(request))


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Lax", secure=is_https(request))


def is_https(request: web.Request) -> bool:
    """Whether the browser sent the request over HTTPS: to the gateway, or to a proxy in front of it."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0]
    return request.secure or forwarded.strip().lower() == "https"
