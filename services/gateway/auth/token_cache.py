"""A few seconds' memory of whose each bearer token is, so that a Browse page
or a Log Viewer polling every second does not cost a database lookup (and a
pool round trip) per request.

A token that is revoked or expires, or whose user loses a permission, is
noticed within TTL_SECONDS. A token that is not valid is not remembered, so
a token issued a moment ago works at once. Tokens are kept as their SHA-256
digests, like the table they come from.
"""

import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from services.gateway.auth.users import User, find_user_by_token, token_digest

TTL_SECONDS = 5.0
MAX_TOKENS = 10_000

Lookup = Callable[[asyncpg.Pool, str], Awaitable[User | None]]


class TokenCache:
    def __init__(self, *, ttl: float = TTL_SECONDS, max_tokens: int = MAX_TOKENS,
                 lookup: Lookup = find_user_by_token, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._max_tokens, self._lookup, self._clock = ttl, max_tokens, lookup, clock
        self._users: dict[bytes, tuple[float, User]] = {}

    async def user(self, pool: asyncpg.Pool, token: str) -> User | None:
        """The token's user, as the database said at most `ttl` seconds ago; None for a token that is not valid."""
        key = token_digest(token)
        remembered = self._users.get(key)
        if remembered is not None and remembered[0] > self._clock():
            return remembered[1]
        user = await self._lookup(pool, token)
        if user is None:
            self._users.pop(key, None)
            return None
        now = self._clock()
        if len(self._users) >= self._max_tokens:
            self._forget_expired(now)
        self._users[key] = (now + self._ttl, user)
        return user

    def _forget_expired(self, now: float) -> None:
        for key in [key for key, (until, _) in self._users.items() if until <= now]:
            del self._users[key]
        if len(self._users) >= self._max_tokens:
            self._users.clear()


TOKEN_CACHE = web.AppKey("token_cache", TokenCache)
