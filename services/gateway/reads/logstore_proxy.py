"""The browse, upload, log and runs queries are served by the logstore; the
gateway authenticates the user, and passes the request on with the shared
secret and the user's scope.

Right after a 202 the logstore may not have recorded the upload yet; the
user's view must not lag, so an upload the logstore does not know yet is
answered from the gateway's own record (Not Started, an empty log).
"""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from pydantic import BaseModel
from yarl import URL

from services.common.api_models import LogPage, LogQuery, RunList
from services.common.app_keys import POOL, SETTINGS
from services.common.http_errors import error_response, model_response
from services.common.internal_calls import internal_headers
from services.common.progress import STATUS_LINES
from services.common.request_parsing import parse_query, upload_id_from_path
from services.gateway.auth.middleware import USER
from services.gateway.reads.fresh_upload import fresh_summary
from services.gateway.uploads.records import UploadRecord
from services.gateway.uploads.visibility import visible_upload

log = logging.getLogger(__name__)

LOGSTORE_SESSION = web.AppKey("logstore_session", aiohttp.ClientSession)
LOGSTORE_URL = web.AppKey("logstore_url", str)
TIMEOUT = aiohttp.ClientTimeout(total=15)


def with_logstore_client(app: web.Application, logstore_url: str) -> None:
    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        app[LOGSTORE_URL] = logstore_url.rstrip("/")
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as session:
            app[LOGSTORE_SESSION] = session
            yield

    app.cleanup_ctx.append(client_ctx)


async def proxy_to_logstore(request: web.Request) -> web.Response:
    # Passed on as it was sent: decoding first would cut a value at an encoded '#'.
    status, body, content_type = await _ask_logstore(request, request.rel_url.raw_path_qs)
    return web.Response(body=body, status=status, content_type=content_type)


async def upload_or_fresh(request: web.Request) -> web.Response:
    async def fresh(record):
        return await fresh_summary(request.app[POOL], record, request.app[SETTINGS].incoming_path)

    return await _logstore_or_fresh(request, fresh)


async def log_or_fresh(request: web.Request) -> web.Response:
    async def fresh(record):
        query = parse_query(request, LogQuery)
        return LogPage(upload_id=record.upload_id, attempt=record.attempt, progress=record.progress,
                       status=STATUS_LINES[record.progress], mode=query.mode, last_line_id=query.after, lines=[])

    return await _logstore_or_fresh(request, fresh)


async def runs_or_fresh(request: web.Request) -> web.Response:
    async def fresh(record):
        return RunList(upload_id=record.upload_id, runs=[])

    return await _logstore_or_fresh(request, fresh)


async def _logstore_or_fresh(request: web.Request, fresh: Callable[[UploadRecord], Awaitable[BaseModel]]) -> web.Response:
    """The logstore's answer; when it does not know the upload (yet), the fresh view of the gateway's record."""
    answer = await proxy_to_logstore(request)
    if answer.status != 404:
        return answer
    record = await visible_upload(request.app[POOL], upload_id_from_path(request), request[USER])
    return model_response(await fresh(record))


async def logstore_json(request: web.Request, path_qs: str) -> tuple[int, object]:
    """The logstore's answer to a GET of `path_qs` (percent-encoded) for the request's user: its status and its JSON body
    (503 and an /api/v1 error body when the logstore cannot be reached)."""
    status, body, _ = await _ask_logstore(request, path_qs)
    return status, json.loads(body)


async def _ask_logstore(request: web.Request, path_qs: str) -> tuple[int, bytes, str]:
    app = request.app
    headers = internal_headers(app[SETTINGS].internal_secret, request[USER].scope)
    try:
        url = URL(app[LOGSTORE_URL] + path_qs, encoded=True)
        async with app[LOGSTORE_SESSION].get(url, headers=headers) as answer:
            return answer.status, await answer.read(), answer.content_type
    except (aiohttp.ClientError, TimeoutError) as error:
        unavailable = logstore_unavailable(error)
        return unavailable.status, unavailable.body, unavailable.content_type


def logstore_unavailable(error: Exception) -> web.Response:
    log.warning("logstore unreachable", extra={"error": repr(error)})
    return error_response(503, "logstore_unavailable", "The upload log cannot be reached right now; try again shortly.")
