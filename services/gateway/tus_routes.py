"""tus 1.0.0 at /api/v1/tus/ (https://tus.io/protocols/resumable-upload), with the core protocol and the
creation, creation-with-upload, termination, expiration and checksum extensions; signed in as the rest of
/api/v1. Each handler reads the headers and calls one operation of services/gateway/tus/.

When the last byte arrives, the upload becomes an attempt, as a multipart upload does: that PATCH's 204 (or the
creation's 201) carries `Uploader-Upload-Id` and `Uploader-Attempt`, and so does HEAD afterwards."""

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.common.request_parsing import Refusal
from services.gateway.auth.middleware import USER
from services.gateway.tus import tus_rows
from services.gateway.tus.tus_chunks import Written, receive_chunk
from services.gateway.tus.tus_creation import create_upload
from services.gateway.tus.tus_expiry import terminate_upload
from services.gateway.tus.tus_finish import finish_upload
from services.gateway.tus.tus_headers import (
    CHECKSUM_ALGORITHMS,
    CHUNK_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    checksum,
    http_date,
    require_chunk_content_type,
    require_tus_version,
    tus_id_from_path,
    unknown_upload,
    whole_number,
)
from services.gateway.uploads.upload_rules import UploadRefused, refusal_response

TUS_PATH = "/api/v1/tus/"
UPLOAD_ID_HEADER = "Uploader-Upload-Id"
ATTEMPT_HEADER = "Uploader-Attempt"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_tus_routes(app: web.Application) -> None:
    app.router.add_route("OPTIONS", TUS_PATH, _tus(options_tus))
    app.router.add_post(TUS_PATH, _tus(post_tus))
    one = TUS_PATH + "{tus_id}"
    app.router.add_route("HEAD", one, _tus(head_tus))
    app.router.add_patch(one, _tus(patch_tus))
    app.router.add_delete(one, _tus(delete_tus))


def _tus(handler: Handler) -> Handler:
    """Every answer carries Tus-Resumable; a refusal is /api/v1's JSON error."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Refusal as refusal:
            response = refusal.response
        except UploadRefused as refused:
            response = refusal_response(refused.failures)
        response.headers["Tus-Resumable"] = TUS_VERSION
        return response

    return answer


async def options_tus(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": str(request.app[SETTINGS].max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    })


async def post_tus(request: web.Request) -> web.Response:
    require_tus_version(request)
    with_first_chunk = request.content_type == CHUNK_CONTENT_TYPE and request.body_exists
    chunk_checksum = checksum(request) if with_first_chunk else None
    upload = await create_upload(request, request[USER])
    location = {"Location": TUS_PATH + upload.tus_id, "Upload-Expires": http_date(upload.expires_at)}
    if not with_first_chunk:
        return web.Response(status=201, headers=location)
    try:
        written = await receive_chunk(request, upload.tus_id, upload.username, 0, chunk_checksum)
        response = web.Response(status=201, headers={**location, "Upload-Offset": str(written.offset)})
        return await _finished_if_complete(request, written, response)
    except Refusal as refusal:
        refusal.response.headers.update(location)
        raise


async def head_tus(request: web.Request) -> web.Response:
    require_tus_version(request)
    tus_id = tus_id_from_path(request)
    upload = await tus_rows.find_row(request.app[POOL], tus_id, request[USER].username)
    if upload is None:
        raise unknown_upload(tus_id)
    headers = {"Upload-Offset": str(upload.upload_offset), "Upload-Length": str(upload.upload_length),
               "Upload-Expires": http_date(upload.expires_at), "Cache-Control": "no-store"}
    if upload.finished:
        headers |= {UPLOAD_ID_HEADER: str(upload.upload_id), ATTEMPT_HEADER: str(upload.attempt)}
    return web.Response(status=200, headers=headers)


async def patch_tus(request: web.Request) -> web.Response:
    require_tus_version(request)
    tus_id = tus_id_from_path(request)
    require_chunk_content_type(request)
    offset = whole_number(request, "Upload-Offset")
    written = await receive_chunk(request, tus_id, request[USER].username, offset, checksum(request))
    response = web.Response(status=204, headers={"Upload-Offset": str(written.offset),
                                                 "Upload-Expires": http_date(written.upload.expires_at)})
    return await _finished_if_complete(request, written, response)


async def delete_tus(request: web.Request) -> web.Response:
    require_tus_version(request)
    await terminate_upload(request.app, tus_id_from_path(request), request[USER].username)
    return web.Response(status=204)


async def _finished_if_complete(request: web.Request, written: Written, response: web.Response) -> web.Response:
    if written.cut_off or written.offset < written.upload.upload_length:
        return response
    accepted = await finish_upload(request.app, written.upload, request[USER])
    response.headers[UPLOAD_ID_HEADER] = str(accepted.upload_id)
    response.headers[ATTEMPT_HEADER] = str(accepted.attempt)
    return response
