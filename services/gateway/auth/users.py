"""Users, their uploader permissions and sites, and their API tokens (kept as SHA-256 digests)."""

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.common.messages import UserScope
from services.common.scope import ADMIN, UPLOADER_PERMISSIONS, scope_of
from services.gateway.auth.passwords import hash_password


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    permissions: frozenset[str]
    sites: tuple[str, ...] = ()
    projects: tuple[str, ...] | None = None  # LORIS site mode with advanced permissions only; None: not limited

    @property
    def may_use_uploader(self) -> bool:
        return bool(self.permissions & UPLOADER_PERMISSIONS)

    @property
    def is_admin(self) -> bool:
        """May see the status page and replay dead letters."""
        return ADMIN in self.permissions

    @property
    def scope(self) -> UserScope:
        return scope_of(self.username, self.permissions, self.sites, self.projects)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def find_user_by_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> User | None:
    row = await conn.fetchrow(
        """SELECT u.user_id, u.username, u.permissions, u.sites FROM gateway.api_tokens t
           JOIN gateway.users u USING (user_id)
           WHERE t.token_sha256 = $1 AND (t.expires_at IS NULL OR t.expires_at > now())""",
        token_digest(token),
    )
    return _user(row)


def _user(row: asyncpg.Record | None) -> User | None:
    if row is None:
        return None
    return User(row["user_id"], row["username"], frozenset(row["permissions"]), tuple(row["sites"]))


async def save_user(conn: asyncpg.Connection, username: str, permissions: list[str], token: str,
                    sites: list[str] = ()) -> int:
    """Create or update a user and give it this token (idempotent)."""
    user_id = await conn.fetchval(
        """INSERT INTO gateway.users (username, permissions, sites) VALUES ($1, $2, $3)
           ON CONFLICT (username) DO UPDATE SET permissions = EXCLUDED.permissions, sites = EXCLUDED.sites
           RETURNING user_id""",
        username,
        permissions,
        list(sites),
    )
    await conn.execute(
        """INSERT INTO gateway.api_tokens (token_sha256, user_id) VALUES ($1, $2)
           ON CONFLICT (token_sha256) DO UPDATE SET user_id = EXCLUDED.user_id""",
        token_digest(token),
        user_id,
    )
    return user_id


class UnknownUserError(LookupError):
    def __init__(self, username: str):
        super().__init__(f"There is no user named {username!r}.")
        self.username = username


@dataclass(frozen=True)
class UserSummary:
    username: str
    sites: tuple[str, ...]
    permissions: tuple[str, ...]
    has_password: bool
    token_count: int  # the tokens that have not expired


async def add_user(conn: asyncpg.Connection, username: str, sites: list[str], permissions: list[str]) -> User:
    """Create the user, or set an existing user's sites and permissions to exactly these (idempotent)."""
    row = await conn.fetchrow(
        """INSERT INTO gateway.users (username, sites, permissions) VALUES ($1, $2, $3)
           ON CONFLICT (username) DO UPDATE SET sites = EXCLUDED.sites, permissions = EXCLUDED.permissions
           RETURNING user_id, username, permissions, sites""",
        username,
        sorted(set(sites)),
        sorted(set(permissions)),
    )
    return _user(row)


async def change_permissions(conn: asyncpg.Connection, username: str, *, grant: list[str] = (),
                             revoke: list[str] = ()) -> User:
    """Give the user these permissions and take those away, keeping the others and the sites."""
    row = await conn.fetchrow(
        """UPDATE gateway.users
           SET permissions = ARRAY(SELECT DISTINCT p FROM unnest(permissions || $2::text[]) AS p
                                   WHERE p <> ALL($3::text[]) ORDER BY p)
           WHERE username = $1
           RETURNING user_id, username, permissions, sites""",
        username,
        list(grant),
        list(revoke),
    )
    if row is None:
        raise UnknownUserError(username)
    return _user(row)


async def user_of_username(conn: asyncpg.Connection | asyncpg.Pool, username: str) -> User:
    """LORIS site mode: the gateway's row of a LORIS user, made when missing, for its sessions and tokens to point
    to. It holds the username only: no password, and the permissions and sites are LORIS's, read at each use."""
    row = await conn.fetchrow(
        """INSERT INTO gateway.users (username) VALUES ($1)
           ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username
           RETURNING user_id, username, permissions, sites""",
        username,
    )
    return _user(row)


async def set_password(conn: asyncpg.Connection, username: str, password: str) -> None:
    if not password:
        raise ValueError(f"The password of {username!r} may not be empty.")
    # Hashing takes tens of milliseconds of CPU: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password)
    status = await conn.execute(
        "UPDATE gateway.users SET password_hash = $2 WHERE username = $1", username, password_hash
    )
    if status == "UPDATE 0":
        raise UnknownUserError(username)


@dataclass(frozen=True)
class Login:
    user: User
    password_hash: str | None


async def find_login(conn: asyncpg.Connection | asyncpg.Pool, username: str) -> Login | None:
    """The user of this name and its password hash, to be checked (services/gateway/auth/password_checks.py)."""
    row = await conn.fetchrow(
        "SELECT user_id, username, permissions, sites, password_hash FROM gateway.users WHERE username = $1",
        username,
    )
    return None if row is None else Login(_user(row), row["password_hash"])


async def issue_token(
    conn: asyncpg.Connection | asyncpg.Pool, username: str, *, lifetime: timedelta | None, issued_by: str
) -> str:
    """A new API token for the user, valid for `lifetime` (None: until revoked). Only its digest is kept."""
    token = secrets.token_urlsafe(32)
    user_id = await conn.fetchval(
        """INSERT INTO gateway.api_tokens (token_sha256, user_id, expires_at, issued_by)
           SELECT $1, user_id, now() + $3::interval, $4 FROM gateway.users WHERE username = $2
           RETURNING user_id""",
        token_digest(token),
        username,
        lifetime,
        issued_by,
    )
    if user_id is None:
        raise UnknownUserError(username)
    return token


async def revoke_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> bool:
    """Whether the token existed (it no longer does)."""
    status = await conn.execute("DELETE FROM gateway.api_tokens WHERE token_sha256 = $1", token_digest(token))
    return status != "DELETE 0"


async def list_users(conn: asyncpg.Connection | asyncpg.Pool) -> list[UserSummary]:
    rows = await conn.fetch(
        """SELECT u.username, u.sites, u.permissions, u.password_hash IS NOT NULL AS has_password,
                  count(t.token_sha256) FILTER (WHERE t.expires_at IS NULL OR t.expires_at > now()) AS token_count
           FROM gateway.users u LEFT JOIN gateway.api_tokens t USING (user_id)
           GROUP BY u.user_id ORDER BY u.username"""
    )
    return [
        UserSummary(row["username"], tuple(row["sites"]), tuple(row["permissions"]), row["has_password"], row["token_count"])
        for row in rows
    ]
