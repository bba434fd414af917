"""GET /api/v1/uploads/{id}/report: the logstore's per-file report for the authenticated user, passed on
chunk by chunk (a report of a hundred thousand files is not held whole)."""

import aiohttp
from aiohttp import web

from services.common.app_keys import POOL
from services.common.file_report import no_report, report_headers
from services.common.request_parsing import upload_id_from_path
from services.gateway.auth import USER
from services.gateway.log_stream import answer_as_given, open_upstream, pass_on
from services.gateway.logstore_proxy import logstore_unavailable
from services.gateway.upload_visibility import visible_upload


async def download_report(request: web.Request) -> web.StreamResponse:
    upload_id = upload_id_from_path(request)
    try:
        upstream = await open_upstream(request)
    except (aiohttp.ClientError, TimeoutError) as error:
        return logstore_unavailable(error)
    async with upstream:
        if upstream.status == 404 and await _unknown_to_logstore(upstream):
            # Accepted, not recorded by the logstore yet: no run, so no report (or no such upload: its 404).
            await visible_upload(request.app[POOL], upload_id, request[USER])
            return no_report(upload_id)
        if upstream.status != 200:
            return await answer_as_given(upstream)
        return await pass_on(request, upstream, report_headers(upload_id))


async def _unknown_to_logstore(upstream: aiohttp.ClientResponse) -> bool:
    body = await upstream.json()
    return body["error"]["code"] == "unknown_upload"
