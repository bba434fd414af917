"""Waking the live log streams when an upload's log or progress changes.

The consumer recording an event NOTIFYs in its transaction, so the notification
is delivered at commit, once the change can be read. One LISTEN connection per
logstore process wakes the streams that follow that upload. It reconnects
whenever it is lost (a database restart); the streams also read again on a
timer, so a notification lost meanwhile only delays them.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import asyncpg
from aiohttp import web

from services.common.app_keys import SETTINGS

log = logging.getLogger(__name__)

CHANNEL = "uploader_log"
# How the listener shows in pg_stat_activity.
LISTENER_NAME = "uploader-logstore-log-listener"
RECONNECT_SECONDS = 1.0
MAX_RECONNECT_SECONDS = 10.0
# A connection lost without a word (a network cut) is noticed by asking it something this often.
CHECK_SECONDS = 30.0


async def notify_log_changed(conn: asyncpg.Connection, upload_id: int) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(upload_id))


class LogWakeups:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._watchers: dict[int, set[asyncio.Event]] = {}
        self.stopping = False

    @contextlib.contextmanager
    def watch(self, upload_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever the upload may have changed (and when the service stops)."""
        wake = asyncio.Event()
        self._watchers.setdefault(upload_id, set()).add(wake)
        try:
            yield wake
        finally:
            watchers = self._watchers[upload_id]
            watchers.discard(wake)
            if not watchers:
                del self._watchers[upload_id]

    def watching(self) -> int:
        """How many streams are open."""
        return sum(len(watchers) for watchers in self._watchers.values())

    def stop(self) -> None:
        self.stopping = True
        self._wake_all()

    async def listen(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost (less often while it fails)."""
        delay = RECONNECT_SECONDS
        while True:
            try:
                await self._listen_until_lost()
                log.warning("log listener lost its database connection; reconnecting")
                delay = RECONNECT_SECONDS
            except Exception as error:
                log.warning("log listener cannot listen; retrying", extra={"error": repr(error), "seconds": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)

    async def _listen_until_lost(self) -> None:
        conn = await asyncpg.connect(self._database_url, timeout=10,
                                     server_settings={"application_name": LISTENER_NAME})
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self._wake_all()  # what was committed while nobody listened is read now, not at the next timer
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHECK_SECONDS):
                        await lost.wait()
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=10)
        finally:
            conn.terminate()

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            upload_id = int(payload)
        except ValueError:
            return
        for wake in self._watchers.get(upload_id, ()):
            wake.set()

    def _wake_all(self) -> None:
        for watchers in self._watchers.values():
            for wake in watchers:
                wake.set()


LOG_WAKEUPS = web.AppKey("log_wakeups", LogWakeups)


def with_log_wakeups(app: web.Application) -> None:
    """The listener runs while the service runs; the streams end as the service starts to shut down."""

    async def listener_ctx(app: web.Application) -> AsyncIterator[None]:
        wakeups = LogWakeups(app[SETTINGS].database_url)
        app[LOG_WAKEUPS] = wakeups
        task = asyncio.create_task(wakeups.listen())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def end_streams(app: web.Application) -> None:
        app[LOG_WAKEUPS].stop()

    app.cleanup_ctx.append(listener_ctx)
    app.on_shutdown.append(end_streams)
