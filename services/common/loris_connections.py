"""The LORIS database's connections for a service in LORIS site mode, opened at the first use rather than at
start: a gateway starts, and accepts uploads, while MariaDB is away. A connection interrupted in a statement (a
timeout, a lost server) is closed, never given to the next user half-read.

aiomysql's pool does not wake a task waiting for a connection when a closed one is given back, nor a closing pool
waiting for it: so no more users than the pool's size ever ask it (none waits inside it), and closing terminates
what is still in use (a service stops only once its handlers have)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomysql
from aiohttp import web

from services.common.loris_db import POOL_MAX_SIZE, loris_database_reachable, open_loris_pool


class LorisConnections:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: aiomysql.Pool | None = None
        self._opening = asyncio.Lock()
        self._users = asyncio.Semaphore(POOL_MAX_SIZE)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiomysql.Connection]:
        """A connection (autocommit); its server-away errors come out as LorisDatabaseAway."""
        async with self._users:
            with loris_database_reachable():
                pool = await self._opened()
                async with pool.acquire() as conn:
                    try:
                        yield conn
                    except BaseException:
                        conn.close()
                        raise

    async def _opened(self) -> aiomysql.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await open_loris_pool(self._url, wait_seconds=0)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            await self._pool.wait_closed()


LORIS_CONNECTIONS = web.AppKey("loris_connections", LorisConnections)


def with_loris_connections(app: web.Application, url: str | None) -> None:
    """app[LORIS_CONNECTIONS] in LORIS site mode (`url` set); nothing standalone."""
    if url is None:
        return

    async def connections_ctx(app: web.Application) -> AsyncIterator[None]:
        app[LORIS_CONNECTIONS] = LorisConnections(url)
        yield
        await app[LORIS_CONNECTIONS].close()

    app.cleanup_ctx.append(connections_ctx)
