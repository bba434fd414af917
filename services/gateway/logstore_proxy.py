"""The browse, upload and log queries are served by the logstore; the gateway
authenticates the user and passes the request on."""

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.common.http_errors import error_response

log = logging.getLogger(__name__)

LOGSTORE_SESSION = web.AppKey("logstore_session", aiohttp.ClientSession)
LOGSTORE_URL = web.AppKey("logstore_url", str)
TIMEOUT = aiohttp.ClientTimeout(total=15)


def with_logstore_client(app: web.Application, logstore_url: str) -> None:
    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        app[LOGSTORE_URL] = logstore_url.rstrip("/")
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            app[LOGSTORE_SESSION] = session
            yield

    app.cleanup_ctx.append(client_ctx)


async def proxy_to_logstore(request: web.Request) -> web.Response:
    url = request.app[LOGSTORE_URL] + request.rel_url.path_qs
    try:
        async with request.app[LOGSTORE_SESSION].get(url) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("logstore unreachable", extra={"error": repr(error)})
        return error_response(503, "logstore_unavailable", "The upload log cannot be reached right now; try again shortly.")
