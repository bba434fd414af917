"""The logstore's HTTP API: browse uploads, one upload, its log (and its live log), its runs, its report.

Internal: only the gateway may call it. Each call carries the shared secret
and the scope of the user the gateway answers for; an upload outside that
scope does not exist for the call.
"""

from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from services.common.api_models import LogQuery, RunList, UploadListQuery
from services.common.app_keys import POOL, SETTINGS
from services.common.health import OPERATIONS_PATHS
from services.common.http_errors import error_response, model_response, values_response
from services.common.internal_calls import SCOPE_HEADER, SECRET_HEADER, secret_matches
from services.common.messages import UserScope
from services.common.progress import STATUS_LINES
from services.common.request_parsing import parse_query, upload_id_from_path
from services.logstore import queries
from services.logstore.file_report_pages import latest_reporting_run, stream_report
from services.logstore.log_stream import stream_log

SCOPE = web.RequestKey("scope", UserScope)
# Where the scans are, resolved once: every upload's location is told from it.
INCOMING = web.AppKey("incoming", Path)


def setup_routes(app: web.Application) -> None:
    app[INCOMING] = app[SETTINGS].incoming_path.resolve()
    app.router.add_get("/api/v1/uploads", browse_uploads)
    app.router.add_get("/api/v1/uploads/{upload_id}", show_upload)
    app.router.add_get("/api/v1/uploads/{upload_id}/log", show_log)
    app.router.add_get("/api/v1/uploads/{upload_id}/runs", show_runs)
    app.router.add_get("/api/v1/uploads/{upload_id}/report", show_report)
    app.router.add_get("/api/v1/uploads/{upload_id}/log/events", show_log_events, allow_head=False)


@web.middleware
async def gateway_only(request: web.Request, handler) -> web.StreamResponse:
    if request.path in OPERATIONS_PATHS:
        return await handler(request)
    if not secret_matches(request.headers.get(SECRET_HEADER), request.app[SETTINGS].internal_secret):
        return error_response(403, "gateway_only", "The logstore answers only the gateway; ask the gateway instead.")
    try:
        request[SCOPE] = UserScope.model_validate_json(request.headers.get(SCOPE_HEADER, ""))
    except ValidationError:
        return error_response(400, "invalid_scope", f"The {SCOPE_HEADER} header is missing or malformed.")
    return await handler(request)


async def browse_uploads(request: web.Request) -> web.Response:
    query = parse_query(request, UploadListQuery)
    async with request.app[POOL].acquire() as conn:
        return values_response(await queries.list_uploads(conn, query, request[SCOPE], _incoming(request)))


async def show_upload(request: web.Request) -> web.Response:
    upload_id = upload_id_from_path(request)
    async with request.app[POOL].acquire() as conn:
        upload = await queries.get_upload(conn, upload_id, request[SCOPE], _incoming(request))
    if upload is None:
        return _unknown_upload(upload_id)
    return model_response(upload)


async def show_log(request: web.Request) -> web.Response:
    upload_id = upload_id_from_path(request)
    query = parse_query(request, LogQuery)
    async with request.app[POOL].acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        upload = await queries.get_upload(conn, upload_id, request[SCOPE], _incoming(request))
        if upload is None:
            return _unknown_upload(upload_id)
        lines, more = await queries.get_log_lines(conn, upload_id, upload.attempt, query)
    page = {  # a LogPage
        "upload_id": upload_id,
        "attempt": upload.attempt,
        "progress": upload.progress,
        "status": STATUS_LINES[upload.progress],
        "mode": query.mode,
        "last_line_id": max((line["line_id"] for line in lines), default=query.after),
        "more": more,
        "lines": lines,
    }
    return values_response(page)


async def show_log_events(request: web.Request) -> web.StreamResponse:
    upload_id = upload_id_from_path(request)
    return await stream_log(request, request[SCOPE], upload_id) or _unknown_upload(upload_id)


async def show_runs(request: web.Request) -> web.Response:
    upload_id = upload_id_from_path(request)
    async with request.app[POOL].acquire() as conn:
        upload = await queries.get_upload(conn, upload_id, request[SCOPE], _incoming(request))
        if upload is None:
            return _unknown_upload(upload_id)
        runs = await queries.get_runs(conn, upload_id)
    return model_response(RunList(upload_id=upload_id, runs=runs))


async def show_report(request: web.Request) -> web.StreamResponse:
    upload_id = upload_id_from_path(request)
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        upload = await queries.get_upload(conn, upload_id, request[SCOPE], _incoming(request))
        if upload is None:
            return _unknown_upload(upload_id)
        run_id = await latest_reporting_run(conn, upload_id, upload.attempt)
    return await stream_report(request, pool, upload_id, run_id)


def _incoming(request: web.Request):
    return request.app[INCOMING]


def _unknown_upload(upload_id: int) -> web.Response:
    return error_response(404, "unknown_upload", f"There is no upload with id {upload_id}.", "upload_id")
