"""The gateway's routes: each parses and authorises, then calls one operation."""

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.common.http_errors import model_response
from services.common.request_parsing import upload_id_from_path
from services.common.scan_store import ScanStore
from services.gateway.auth import USER
from services.gateway.launch import request_launch
from services.gateway.logstore_proxy import proxy_to_logstore
from services.gateway.openapi import openapi_document
from services.gateway.receive_upload import receive_upload

SCAN_STORE = web.AppKey("scan_store", ScanStore)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_post("/api/v1/uploads", post_upload)
    app.router.add_get("/api/v1/uploads", proxy_to_logstore)
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    app.router.add_get("/api/v1/uploads/{upload_id}", proxy_to_logstore)
    app.router.add_get("/api/v1/uploads/{upload_id}/log", proxy_to_logstore)
    app.router.add_post("/api/v1/uploads/{upload_id}/launch", post_launch)


async def post_upload(request: web.Request) -> web.Response:
    app = request.app
    return await receive_upload(request, app[POOL], app[SCAN_STORE], app[SETTINGS].max_upload_bytes, request[USER])


async def post_launch(request: web.Request) -> web.Response:
    accepted = await request_launch(request.app[POOL], upload_id_from_path(request), request[USER])
    return model_response(accepted, status=202)


async def index(request: web.Request) -> web.Response:
    return web.json_response({
        "service": "LORIS imaging uploader",
        "uploads": "/api/v1/uploads",
        "openapi": "/api/v1/openapi.json",
        "authentication": "Authorization: Bearer <token>",
    })


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
