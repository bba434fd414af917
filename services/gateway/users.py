"""Users, their uploader permissions, and their API tokens (kept as SHA-256 digests)."""

import hashlib
from dataclasses import dataclass

import asyncpg

# The LORIS 27+ permissions of the imaging uploader.
UPLOADER_PERMISSIONS = frozenset(
    {"imaging_uploader_allsites", "imaging_uploader_ownsites", "imaging_uploader_nosessionid"}
)


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    permissions: frozenset[str]

    @property
    def may_use_uploader(self) -> bool:
        return bool(self.permissions & UPLOADER_PERMISSIONS)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def find_user_by_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> User | None:
    row = await conn.fetchrow(
        """SELECT u.user_id, u.username, u.permissions FROM gateway.api_tokens t
           JOIN gateway.users u USING (user_id) WHERE t.token_sha256 = $1""",
        token_digest(token),
    )
    return User(row["user_id"], row["username"], frozenset(row["permissions"])) if row else None


async def save_user(conn: asyncpg.Connection, username: str, permissions: list[str], token: str) -> int:
    """Create or update a user and give it this token (idempotent)."""
    user_id = await conn.fetchval(
        """INSERT INTO gateway.users (username, permissions) VALUES ($1, $2)
           ON CONFLICT (username) DO UPDATE SET permissions = EXCLUDED.permissions RETURNING user_id""",
        username,
        permissions,
    )
    await conn.execute(
        """INSERT INTO gateway.api_tokens (token_sha256, user_id) VALUES ($1, $2)
           ON CONFLICT (token_sha256) DO UPDATE SET user_id = EXCLUDED.user_id""",
        token_digest(token),
        user_id,
    )
    return user_id
