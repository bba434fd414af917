"""Running one service's application inside the test process, on a real port."""

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tests.support.stack import free_port


@contextlib.asynccontextmanager
async def running_app(app: web.Application) -> AsyncIterator[str]:
    """Start the app (its cleanup contexts open the pool, the broker, the consumers); yield its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
