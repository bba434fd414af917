"""The LORIS REST API v0.0.4-dev routes: each parses and checks what LORIS
checks, then calls the operation /api/v1 calls (upload, launch, the
logstore's records), with the same permissions.

- POST /login                                              → {"token"}
- GET  /candidates/{CandID}/{Visit}/dicoms                 → the visit's uploads
- POST /candidates/{CandID}/{Visit}/dicoms                 → 303, Location: .../dicoms/{file}/processes
- GET  /candidates/{CandID}/{Visit}/dicoms/{file}/processes → the upload's id and its processes
- POST /candidates/{CandID}/{Visit}/dicoms/{file}/processes → 202, the process asked for, and its Link
- GET  /candidates/{CandID}/{Visit}/dicoms/{file}/processes/{ID} → that process (a client follows its ID)

An upload through this API does not start the pipeline by itself, as in
LORIS: POST .../processes launches it.
"""

from urllib.parse import quote

from aiohttp import web

from services.common.api_models import MAX_ID
from services.common.app_keys import POOL
from services.gateway.auth.middleware import USER
from services.gateway.loris_api.answers import dicoms_answer, launch_answer, mri_uploads_answer
from services.gateway.loris_api.error_middleware import loris_errors
from services.gateway.loris_api.errors import LORIS_API_ROOT, LorisError, loris_json
from services.gateway.loris_api.launch_request import upload_id_to_launch
from services.gateway.loris_api.login import post_login
from services.gateway.loris_api.process_state import awaited_process, processes_of_upload
from services.gateway.loris_api.upload_refusal import loris_upload_refusal
from services.gateway.loris_api.upload_request import read_loris_upload
from services.gateway.loris_api.visit_access import check_visit_access
from services.gateway.loris_api.visit_uploads import (runs_of_upload, tarchives_of_visit, upload_of_file,
                                                      uploads_of_visit)
from services.gateway.uploads.launch import request_launch
from services.gateway.uploads.receive_upload import UploadRefused, accept_upload, refuse_declared_oversize
from services.gateway.uploads.records import find_by_id
from services.gateway.uploads.upload_metrics import counted_upload

VISIT = LORIS_API_ROOT + "/candidates/{candid}/{visit_label}"
MISMATCHED_UPLOAD_ID = "Filename and MRIUploadID do not match"


def setup_loris_routes(app: web.Application) -> None:
    """The routes, and the innermost middleware that gives every error under the API LORIS's shape."""
    app.router.add_post(LORIS_API_ROOT + "/login", post_login)
    app.router.add_get(VISIT + "/dicoms", get_dicoms)
    app.router.add_post(VISIT + "/dicoms", post_dicoms)
    app.router.add_get(VISIT + "/dicoms/{file_name}/processes", get_processes)
    app.router.add_post(VISIT + "/dicoms/{file_name}/processes", post_processes)
    app.router.add_get(VISIT + "/dicoms/{file_name}/processes/{process_id}", get_process)
    app.middlewares.append(loris_errors)


async def post_dicoms(request: web.Request) -> web.Response:
    candid, visit_label = await visit_of(request)
    try:
        with counted_upload():
            refuse_declared_oversize(request)
            fields, file_part = await read_loris_upload(request, candid, visit_label)
            accepted = await accept_upload(request, fields, file_part, request[USER], launch_when_valid=False)
    except UploadRefused as refused:
        raise loris_upload_refusal(refused.failures) from None
    return web.Response(status=303, headers={"Location": processes_path(candid, visit_label, accepted.file_name)})


async def get_dicoms(request: web.Request) -> web.Response:
    candid, visit_label = await visit_of(request)
    found = await uploads_of_visit(request.app[POOL], candid, visit_label, request[USER])
    tarchives = await tarchives_of_visit(request, candid, visit_label) if found else {}
    return loris_json(dicoms_answer(candid, visit_label, found, tarchives))


async def get_processes(request: web.Request) -> web.Response:
    candid, visit_label = await visit_of(request)
    record = await upload_of_file(request.app[POOL], request.match_info["file_name"], candid, visit_label,
                                  request[USER])
    runs = await runs_of_upload(request, record.upload_id) if record else []
    return loris_json(mri_uploads_answer(record, runs))


async def post_processes(request: web.Request) -> web.Response:
    candid, visit_label = await visit_of(request)
    mri_upload_id = upload_id_to_launch(await request.read())
    pool, file_name = request.app[POOL], request.match_info["file_name"]
    record = await upload_of_file(pool, file_name, candid, visit_label, request[USER])
    if record is None or record.mri_upload_id != mri_upload_id:
        raise LorisError(404, MISMATCHED_UPLOAD_ID)
    await request_launch(request.app, record.upload_id, request[USER])
    process = awaited_process(await find_by_id(pool, record.upload_id), [])
    link = processes_path(candid, visit_label, file_name) + (f"/{process['ID']}" if process else "")
    return loris_json(launch_answer(link, process), status=202)


async def get_process(request: web.Request) -> web.Response:
    candid, visit_label = await visit_of(request)
    file_name, wanted = request.match_info["file_name"], request.match_info["process_id"]
    record = await upload_of_file(request.app[POOL], file_name, candid, visit_label, request[USER])
    if record is not None and wanted.isascii() and wanted.isdigit() and 0 < int(wanted) <= MAX_ID:
        runs = await runs_of_upload(request, record.upload_id)
        for process in processes_of_upload(record, runs):
            if process["ID"] == int(wanted):
                return loris_json(process)
    raise LorisError(404, f"There is no process {wanted} of {file_name}.")


async def visit_of(request: web.Request) -> tuple[str, str]:
    """The URL's CandID and visit label, once LORIS's route chain let the user reach them."""
    candid, visit_label = request.match_info["candid"], request.match_info["visit_label"]
    await check_visit_access(request.app, candid, visit_label, request[USER])
    return candid, visit_label


def processes_path(candid: str, visit_label: str, file_name: str) -> str:
    parts = (quote(part, safe="") for part in (candid, visit_label, file_name))
    return LORIS_API_ROOT + "/candidates/{}/{}/dicoms/{}/processes".format(*parts)
