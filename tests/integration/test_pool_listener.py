"""A LISTEN kept on a pool's connection hears notifications again once the database is back."""

import asyncio
from urllib.parse import urlsplit

from services.common.db import open_pool
from services.common.pool_listener import PoolListener
from tests.support.tcp_proxy import TcpProxy

CHANNEL = "test_pool_listener"


async def test_after_the_database_was_away_keep_listens_again(database_url, pool):
    heard: list[str] = []
    async with TcpProxy("127.0.0.1", urlsplit(database_url).port or 5432) as proxy:
        proxied = await open_pool(proxy.through(database_url))
        listener = PoolListener(proxied, CHANNEL, lambda *args: heard.append(args[-1]))
        try:
            await listener.keep()
            await pool.execute("SELECT pg_notify($1, 'before')", CHANNEL)
            await _until(lambda: heard == ["before"])

            await proxy.cut()
            await _until(lambda: not listener.listening)  # the listening connection saw the database go
            await listener.keep()  # the database is away: nothing to do, and no error
            assert not listener.listening
            await proxy.restore()
            await listener.keep()
            assert listener.listening
            await pool.execute("SELECT pg_notify($1, 'after')", CHANNEL)
            await _until(lambda: heard == ["before", "after"])
        finally:
            await listener.close()
            await proxied.close()


async def _until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
