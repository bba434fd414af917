"""Database chores a service runs on a schedule while it runs (metric samples,
pruning): each job now, then every N seconds; a job that fails is logged and
tried again at the next turn, and never stops the service or the other jobs."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from aiohttp import web

from services.common.app_keys import POOL

log = logging.getLogger(__name__)

Job = Callable[[asyncpg.Pool], Awaitable[object]]


def every(app: web.Application, seconds: float, jobs: tuple[Job, ...], *, what: str,
          failure_level: int = logging.WARNING) -> None:
    """Run `jobs` (`what` they do, for the log) now and every `seconds` while the service runs."""

    async def periodic_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_run_forever(app[POOL], seconds, jobs, what, failure_level))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(periodic_ctx)


async def _run_forever(pool: asyncpg.Pool, seconds: float, jobs: tuple[Job, ...], what: str, level: int) -> None:
    while True:
        for job in jobs:
            try:
                await job(pool)
            except Exception as error:
                log.log(level, f"{what} failed; it will be tried again", extra={"error": repr(error)})
        await asyncio.sleep(seconds)
