"""The gateway's /api/v1 routes: each parses and authorises, then calls one operation."""

from aiohttp import web

from services.common.api_models import UploadCheck
from services.common.app_keys import POOL
from services.common.http_errors import model_response
from services.common.request_parsing import parse_json_body, upload_id_from_path
from services.gateway.auth.middleware import USER
from services.gateway.auth.session_routes import delete_session, get_session, post_session
from services.gateway.loris_api.routes import setup_loris_routes
from services.gateway.loris_record import auto_launch_wanted
from services.gateway.openapi import openapi_document
from services.gateway.reads.file_report_proxy import download_report
from services.gateway.reads.log_stream_proxy import stream_log
from services.gateway.reads.logstore_proxy import log_or_fresh, proxy_to_logstore, runs_or_fresh, upload_or_fresh
from services.gateway.status.system_status import get_status, post_replay
from services.gateway.tus_routes import setup_tus_routes
from services.gateway.uploads import idempotency
from services.gateway.uploads.cancel import request_cancel
from services.gateway.uploads.form import read_upload_form
from services.gateway.uploads.launch import request_launch
from services.gateway.uploads.preflight import check_upload
from services.gateway.uploads.receive_upload import accept_upload, refuse_declared_oversize
from services.gateway.uploads.upload_metrics import counted_upload
from services.gateway.uploads.upload_rules import UploadRefused, refusal_response
from services.gateway.web.page import setup_web_page


def setup_routes(app: web.Application) -> None:
    setup_web_page(app)
    app.router.add_post("/api/v1/uploads", post_upload)
    app.router.add_get("/api/v1/uploads", proxy_to_logstore)
    app.router.add_post("/api/v1/uploads/check", post_check)
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    app.router.add_get("/api/v1/uploads/{upload_id}", upload_or_fresh)
    app.router.add_get("/api/v1/uploads/{upload_id}/log", log_or_fresh)
    app.router.add_get("/api/v1/uploads/{upload_id}/log/events", stream_log, allow_head=False)
    app.router.add_get("/api/v1/uploads/{upload_id}/runs", runs_or_fresh)
    app.router.add_get("/api/v1/uploads/{upload_id}/report", download_report)
    app.router.add_post("/api/v1/uploads/{upload_id}/launch", post_launch)
    app.router.add_post("/api/v1/uploads/{upload_id}/cancel", post_cancel)
    app.router.add_post("/api/v1/session", post_session)
    app.router.add_get("/api/v1/session", get_session)
    app.router.add_delete("/api/v1/session", delete_session)
    app.router.add_get("/api/v1/status", get_status)
    app.router.add_post("/api/v1/status/dead-letters/replay", post_replay)
    setup_tus_routes(app)
    setup_loris_routes(app)


async def post_upload(request: web.Request) -> web.Response:
    replayed = False
    try:
        with counted_upload():
            refuse_declared_oversize(request)
            key = idempotency.key_of(request)
            form, file_part = await read_upload_form(request)
            accepted = await accept_upload(request, form, file_part, request[USER], idempotency_key=key,
                                           launch_when_valid=await auto_launch_wanted(request.app))
    except UploadRefused as refused:
        return refusal_response(refused.failures)
    except idempotency.AnswerReplayed as replay:
        accepted, replayed = replay.answer, True
    response = model_response(accepted, status=202)
    response.headers["Location"] = f"/api/v1/uploads/{accepted.upload_id}"
    if replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return response


async def post_check(request: web.Request) -> web.Response:
    check = await parse_json_body(request, UploadCheck)
    return model_response(await check_upload(request.app, check, request[USER]))


async def post_launch(request: web.Request) -> web.Response:
    accepted = await request_launch(request.app, upload_id_from_path(request), request[USER])
    return model_response(accepted, status=202)


async def post_cancel(request: web.Request) -> web.Response:
    accepted = await request_cancel(request.app[POOL], upload_id_from_path(request), request[USER])
    return model_response(accepted, status=202)


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
