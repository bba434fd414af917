"""The logstore's HTTP API: browse uploads, one upload, its log. Internal:
the gateway authenticates users and proxies these paths."""

from aiohttp import web

from services.common.api_models import LogPage, LogQuery, UploadListQuery
from services.common.app_keys import POOL
from services.common.http_errors import error_response, model_response
from services.common.progress import Progress
from services.common.request_parsing import parse_query, upload_id_from_path
from services.logstore import queries

STATUS_LINES = {
    Progress.NOT_STARTED: "The pipeline has not run yet.",
    Progress.IN_PROGRESS: "The pipeline is running.",
    Progress.FAILURE: "Finished: the upload failed.",
    Progress.SUCCESS: "Finished: the upload succeeded.",
}


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/uploads", browse_uploads)
    app.router.add_get("/api/v1/uploads/{upload_id}", show_upload)
    app.router.add_get("/api/v1/uploads/{upload_id}/log", show_log)


async def browse_uploads(request: web.Request) -> web.Response:
    query = parse_query(request, UploadListQuery)
    async with request.app[POOL].acquire() as conn:
        return model_response(await queries.list_uploads(conn, query))


async def show_upload(request: web.Request) -> web.Response:
    upload_id = upload_id_from_path(request)
    async with request.app[POOL].acquire() as conn:
        upload = await queries.get_upload(conn, upload_id)
    if upload is None:
        return _unknown_upload(upload_id)
    return model_response(upload)


async def show_log(request: web.Request) -> web.Response:
    upload_id = upload_id_from_path(request)
    query = parse_query(request, LogQuery)
    async with request.app[POOL].acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        upload = await queries.get_upload(conn, upload_id)
        if upload is None:
            return _unknown_upload(upload_id)
        lines = await queries.get_log_lines(conn, upload_id, query)
    page = LogPage(
        upload_id=upload_id,
        progress=upload.progress,
        status=STATUS_LINES[upload.progress],
        mode=query.mode,
        last_line_id=max((line.line_id for line in lines), default=query.after),
        lines=lines,
    )
    return model_response(page)


def _unknown_upload(upload_id: int) -> web.Response:
    return error_response(404, "unknown_upload", f"There is no upload with id {upload_id}.", "upload_id")
