"""The live log (GET /api/v1/uploads/{id}/log/events): the logstore's
server-sent events for the authenticated user, passed on chunk by chunk as
they arrive, neither buffered nor parsed.

Right after a 202 the logstore may not know the upload yet: then a short
stream says where the upload is (Not Started) and closes, and the browser's
EventSource reconnects a second later.
"""

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp_sse import sse_response
from yarl import URL

from services.common.app_keys import POOL, SETTINGS
from services.common.internal_calls import internal_headers
from services.common.log_events import LAST_EVENT_ID, PROGRESS_EVENT, line_id_from, progress_data
from services.common.request_parsing import upload_id_from_path
from services.gateway.auth.middleware import USER
from services.gateway.reads.logstore_proxy import LOGSTORE_URL, logstore_unavailable
from services.gateway.uploads.visibility import visible_upload

# The logstore pings every 15 s (by default): a minute of silence means it is gone.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
FRESH_RETRY_MILLISECONDS = 1000
STREAM_SESSION = web.AppKey("log_stream_session", aiohttp.ClientSession)
# The logstore's streams being passed on, ended (closed) as the gateway starts to shut down.
OPEN_STREAMS = web.AppKey("open_log_streams", set)


def with_log_streams(app: web.Application) -> None:
    """A client of the logstore for the streams alone: each stream holds its connection for as long as a
    page shows the log, so they must not take the connections of the other queries, nor be limited by them."""

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[OPEN_STREAMS] = set()
        async with aiohttp.ClientSession(timeout=UPSTREAM_TIMEOUT, connector=aiohttp.TCPConnector(limit=0)) as session:
            app[STREAM_SESSION] = session
            yield

    async def end_streams(app: web.Application) -> None:
        for upstream in list(app[OPEN_STREAMS]):
            upstream.close()

    app.cleanup_ctx.append(session_ctx)
    app.on_shutdown.append(end_streams)


async def stream_log(request: web.Request) -> web.StreamResponse:
    async def fresh(upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        return await _fresh_stream(request, upload_id_from_path(request))

    return await stream_from_logstore(request, STREAM_HEADERS, fresh)


IfNotFound = Callable[[aiohttp.ClientResponse], Awaitable[web.StreamResponse | None]]


async def stream_from_logstore(request: web.Request, headers: dict, if_not_found: IfNotFound) -> web.StreamResponse:
    """The logstore's answer to this request, passed on chunk by chunk with `headers`; its 404 answered by
    `if_not_found` (None: passed on as it is, like any other refusal); a 503 when it cannot be reached."""
    try:
        upstream = await _open_upstream(request)
    except (aiohttp.ClientError, TimeoutError) as error:
        return logstore_unavailable(error)
    async with upstream:
        if upstream.status == 404 and (answer := await if_not_found(upstream)) is not None:
            return answer
        if upstream.status != 200:
            return await _answer_as_given(upstream)
        return await _pass_on(request, upstream, headers)


async def _open_upstream(request: web.Request) -> aiohttp.ClientResponse:
    app = request.app
    headers = internal_headers(app[SETTINGS].internal_secret, request[USER].scope)
    resume = line_id_from(request.headers.get(LAST_EVENT_ID))
    if resume is not None:
        headers[LAST_EVENT_ID] = str(resume)
    # Passed on as it was sent: decoding first would cut a value at an encoded '#'.
    url = URL(app[LOGSTORE_URL] + request.rel_url.raw_path_qs, encoded=True)
    return await app[STREAM_SESSION].get(url, headers=headers)


async def _answer_as_given(upstream: aiohttp.ClientResponse) -> web.Response:
    """The logstore's refusal (a 400 for a bad query), as it gave it."""
    try:
        body = await upstream.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        return logstore_unavailable(error)
    return web.Response(body=body, status=upstream.status, content_type=upstream.content_type)


async def _pass_on(request: web.Request, upstream: aiohttp.ClientResponse, headers: dict) -> web.StreamResponse:
    """The logstore's answer, chunk by chunk as it comes, with these headers."""
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    open_streams = request.app[OPEN_STREAMS]
    open_streams.add(upstream)
    try:
        # A client that went away is noticed at the next chunk: the logstore pings every 15 s.
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    except (ConnectionResetError, aiohttp.ClientError, TimeoutError):
        pass  # the client, or the logstore, went away: leaving closes the other side
    finally:
        open_streams.discard(upstream)
    return response


async def _fresh_stream(request: web.Request, upload_id: int) -> web.StreamResponse:
    """An upload the logstore has not recorded yet, as the gateway's own record shows it (or the 404)."""
    record = await visible_upload(request.app[POOL], upload_id, request[USER])
    async with sse_response(request, sep="\n") as stream:
        try:
            await stream.write(f"retry: {FRESH_RETRY_MILLISECONDS}\n\n".encode())
            await stream.send(progress_data(upload_id, record.progress, record.attempt), event=PROGRESS_EVENT)
        except ConnectionResetError:
            pass  # the client went away
    return stream
