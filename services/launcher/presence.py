"""Which launchers are alive, for the status page: a launcher registers itself
in launcher.launchers when it starts, beats every heartbeat, and deletes its
row when it stops cleanly. One that died stops beating: after 3 of its
heartbeats the operations.launchers view no longer lists it, and the next
beat of any launcher deletes its row.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from services.common.app_keys import POOL, REPLICA
from services.common.settings import LauncherSettings
from services.launcher.execute import STALE_AFTER_BEATS  # as operations.launchers counts too

log = logging.getLogger(__name__)



async def beat(conn: asyncpg.Connection | asyncpg.Pool, replica: str, slots: int, heartbeat_seconds: float) -> None:
    """Say this launcher is alive (registering it on its first beat), and forget the launchers that died."""
    await conn.execute(
        """INSERT INTO launcher.launchers (replica, heartbeat_seconds, slots) VALUES ($1, $2, $3)
           ON CONFLICT (replica) DO UPDATE
           SET beat_at = now(), heartbeat_seconds = EXCLUDED.heartbeat_seconds, slots = EXCLUDED.slots""",
        replica,
        heartbeat_seconds,
        slots,
    )
    await conn.execute(
        "DELETE FROM launcher.launchers WHERE beat_at < now() - make_interval(secs => $1 * heartbeat_seconds)",
        STALE_AFTER_BEATS,
    )


async def leave(conn: asyncpg.Connection | asyncpg.Pool, replica: str) -> None:
    await conn.execute("DELETE FROM launcher.launchers WHERE replica = $1", replica)


def launcher_presence(settings: LauncherSettings):
    """The cleanup context that keeps this launcher's row while it runs."""

    async def presence_ctx(app: web.Application) -> AsyncIterator[None]:
        pool, replica = app[POOL], app[REPLICA]

        async def beat_once() -> None:
            try:
                await beat(pool, replica, settings.max_concurrent_runs, settings.heartbeat_seconds)
            except Exception as error:  # the status page is told late; the launcher's work goes on
                log.warning("could not record that this launcher is alive", extra={"error": repr(error)})

        async def beat_forever() -> None:
            while True:
                await asyncio.sleep(settings.heartbeat_seconds)
                await beat_once()

        await beat_once()
        beating = asyncio.create_task(beat_forever())
        yield
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        try:
            await leave(pool, replica)
        except Exception as error:
            log.warning("could not record that this launcher stopped", extra={"error": repr(error)})

    return presence_ctx
