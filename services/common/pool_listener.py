"""A LISTEN on a connection taken from the pool, taken again once it was lost.

The listening connection dies with the database (a restart, an outage). Its
owner calls `keep()` before each wait: that listens again as soon as the
database is back. Notifications sent meanwhile are lost; every owner also
polls, so a lost one only delays it.
"""

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg


class PoolListener:
    def __init__(self, pool: asyncpg.Pool, channel: str, callback: Callable) -> None:
        self._pool = pool
        self._channel = channel
        self._callback = callback
        self._connection: asyncpg.Connection | None = None
        self._one_at_a_time = asyncio.Lock()

    @property
    def listening(self) -> bool:
        """Whether the listening connection is held and open (False once the database took it away)."""
        return self._connection is not None and _alive(self._connection)

    async def keep(self) -> None:
        """Listen, unless listening already; quietly does nothing while the database is away."""
        async with self._one_at_a_time:
            if self.listening:
                return
            await self._let_go()
            try:
                connection = await self._pool.acquire()
            except Exception:
                return
            try:
                await connection.add_listener(self._channel, self._callback)
            except Exception:
                with contextlib.suppress(Exception):
                    await self._pool.release(connection)
                return
            self._connection = connection

    async def close(self) -> None:
        async with self._one_at_a_time:
            await self._let_go()

    async def _let_go(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):  # a connection that died needs no UNLISTEN
            await connection.remove_listener(self._channel, self._callback)
        with contextlib.suppress(Exception):
            await self._pool.release(connection)


def _alive(connection: asyncpg.Connection) -> bool:
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:  # the pool took back a connection that died
        return False
