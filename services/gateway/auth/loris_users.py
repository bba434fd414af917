"""LORIS site mode: what the gateway last read of each LORIS user, read again once it is `reread_seconds` old.

Every request of a session or an API token asks for its user here, so a change in LORIS (a permission or a
site taken away, an account deactivated) holds for every session and token within `reread_seconds`, with no
restart. While LORIS's database is away, a user read less than `reread_seconds` ago is still known; one that
must be read again raises LorisDatabaseAway (the request answers 503)."""

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from services.common.loris_connections import LORIS_CONNECTIONS, LorisConnections
from services.gateway.auth.loris_accounts import LorisAccount, read_account

MAX_USERS = 10_000


@dataclass(frozen=True)
class _Remembered:
    until: float
    account: LorisAccount | None


class LorisUsers:
    def __init__(self, loris: LorisConnections, reread_seconds: float, *, max_users: int = MAX_USERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loris, self._reread_seconds, self._max_users, self._clock = loris, reread_seconds, max_users, clock
        self._accounts: dict[str, _Remembered] = {}

    async def current(self, username: str) -> LorisAccount | None:
        """The account as LORIS said at most `reread_seconds` ago; None when LORIS has no such user."""
        remembered = self._accounts.get(username)
        if remembered is not None and remembered.until > self._clock():
            return remembered.account
        return await self.read(username)

    async def read(self, username: str) -> LorisAccount | None:
        """The account as LORIS says now (a sign-in checks the password hash of now), remembered."""
        account = await read_account(self._loris, username)
        self._remember(username, account)
        if account is not None and account.username != username:
            self._remember(account.username, account)  # LORIS matched another spelling of the name
        return account

    def _remember(self, username: str, account: LorisAccount | None) -> None:
        now = self._clock()
        if len(self._accounts) >= self._max_users:
            self._forget_stale(now)
        self._accounts[username] = _Remembered(now + self._reread_seconds, account)

    def _forget_stale(self, now: float) -> None:
        for username in [name for name, remembered in self._accounts.items() if remembered.until <= now]:
            del self._accounts[username]
        if len(self._accounts) >= self._max_users:
            self._accounts.clear()


LORIS_USERS = web.AppKey("loris_users", LorisUsers)


def with_loris_users(app: web.Application, reread_seconds: float) -> None:
    """app[LORIS_USERS] while the service runs; after with_loris_connections."""

    async def loris_users_ctx(app: web.Application) -> AsyncIterator[None]:
        app[LORIS_USERS] = LorisUsers(app[LORIS_CONNECTIONS], reread_seconds)
        yield

    app.cleanup_ctx.append(loris_users_ctx)
