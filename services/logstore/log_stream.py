"""One upload's live log as server-sent events (services/common/log_events.py
says which): its progress, then its lines as they are recorded, until it
finishes.

A stream reads once at its start, then once per wake-up: a notification that
the upload changed (services/logstore/log_wakeups.py) or the recheck timer.
It ends when the upload finishes, when the client goes away, or when the
service shuts down. When a new attempt starts (an overwrite), the stream says
so with a progress event, and goes on with that attempt's lines from its first.
"""

import asyncio
import contextlib
import logging

import asyncpg
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from services.common.api_models import LogStreamQuery
from services.common.app_keys import POOL, SETTINGS
from services.common.db import TRANSIENT_DB_ERRORS
from services.common.log_events import (
    END_EVENT,
    LAST_EVENT_ID,
    LINE_EVENT,
    PROGRESS_EVENT,
    end_data,
    line_data,
    line_id_from,
    progress_data,
)
from services.common.messages import UserScope
from services.common.progress import Progress
from services.common.request_parsing import parse_query
from services.logstore import queries
from services.logstore.log_wakeups import LOG_WAKEUPS

log = logging.getLogger(__name__)

FINISHED = (Progress.SUCCESS, Progress.FAILURE)
RETRY_MILLISECONDS = 2000
# After a notification, a stream waits this long before it reads, so that a burst of
# lines (a chatty pipeline) costs one read, not one per line.
GATHER_SECONDS = 0.1
# Lines read at once: a long log (a chatty pipeline's, in detailed mode) is sent in parts, not held whole.
READ_LINES = 1000


async def stream_log(request: web.Request, scope: UserScope, upload_id: int) -> web.StreamResponse | None:
    """The stream; None when the user may not see the upload (or there is none)."""
    query = parse_query(request, LogStreamQuery)
    resume = line_id_from(request.headers.get(LAST_EVENT_ID))
    after = query.after if resume is None else resume
    with request.app[LOG_WAKEUPS].watch(upload_id) as wake:  # before the first read: no change is missed
        stream = _LogStream(request, scope, upload_id, query.mode == "detailed", after, wake)
        news = await stream.read()
        return None if news is None else await stream.run(news)


class _LogStream:
    def __init__(self, request: web.Request, scope: UserScope, upload_id: int, detailed: bool, after: int,
                 wake: asyncio.Event) -> None:
        self.request = request
        self.scope = scope
        self.upload_id = upload_id
        self.detailed = detailed
        self.after = after
        self.wake = wake
        self.attempt: int | None = None
        self.shown: tuple[str, int] | None = None
        settings = request.app[SETTINGS]
        self.recheck_seconds = settings.log_stream_recheck_seconds
        self.response = EventSourceResponse(sep="\n", ping_interval=settings.log_stream_ping_seconds)

    async def read(self) -> queries.LogNews | None:
        async with self.request.app[POOL].acquire() as conn:
            return await queries.get_log_news(conn, self.upload_id, self.scope, after=self.after,
                                              attempt=self.attempt, detailed=self.detailed, limit=READ_LINES)

    async def run(self, news: queries.LogNews) -> web.StreamResponse:
        await self.response.prepare(self.request)
        # A client that went away, or stopped reading (aiohttp-sse's send timeout), ends the stream.
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            async with self.response:
                await self.response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
                await self._follow(news)
        return self.response

    async def _follow(self, news: queries.LogNews) -> None:
        while True:
            await self._send(news)
            more = len(news.lines) == READ_LINES  # then read on at once
            if not more and news.progress in FINISHED:
                await self.response.send(end_data(news.progress), event=END_EVENT)
                return
            if not more and not await self._next_wake():
                return
            news = await self._read_again()
            if news is None:
                return  # no longer an upload the user may see

    async def _send(self, news: queries.LogNews) -> None:
        if news.attempt != self.attempt and self.attempt is not None:
            self.after = 0  # a new attempt: its lines from the first
        self.attempt = news.attempt
        if (news.progress, news.attempt) != self.shown:
            self.shown = (news.progress, news.attempt)
            await self.response.send(progress_data(self.upload_id, news.progress, news.attempt), event=PROGRESS_EVENT)
        for line in news.lines:
            await self.response.send(line_data(line), id=str(line["line_id"]), event=LINE_EVENT)
            self.after = line["line_id"]

    async def _next_wake(self) -> bool:
        """Wait for a notification or the recheck timer; False when the stream is to end instead."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.recheck_seconds):
                await self.wake.wait()
            await asyncio.sleep(GATHER_SECONDS)
        self.wake.clear()
        transport = self.request.transport
        gone = transport is None or transport.is_closing() or not self.response.is_connected()
        return not (gone or self.request.app[LOG_WAKEUPS].stopping)

    async def _read_again(self) -> queries.LogNews | None:
        """The news; while the database is away, nothing new: the stream stays open and reads at the next wake."""
        try:
            return await self.read()
        except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as error:
            log.warning("live log not read; will read again", extra={"upload_id": self.upload_id,
                                                                     "error": repr(error)})
            progress, attempt = self.shown
            return queries.LogNews(progress=progress, attempt=attempt, lines=[])
