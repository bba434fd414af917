"""GET /api/v1/uploads/{id}/report: the logstore's per-file report for the authenticated user, passed on
chunk by chunk (a report of a hundred thousand files is not held whole)."""

import aiohttp
from aiohttp import web

from services.common.app_keys import POOL
from services.common.file_report import no_report, report_headers
from services.common.request_parsing import upload_id_from_path
from services.gateway.auth.middleware import USER
from services.gateway.reads.log_stream_proxy import stream_from_logstore
from services.gateway.uploads.visibility import visible_upload


async def download_report(request: web.Request) -> web.StreamResponse:
    upload_id = upload_id_from_path(request)

    async def not_recorded_yet(upstream: aiohttp.ClientResponse) -> web.Response | None:
        """Accepted, not recorded by the logstore yet: no run, so no report (or no such upload: its 404)."""
        if (await upstream.json())["error"]["code"] != "unknown_upload":
            return None
        await visible_upload(request.app[POOL], upload_id, request[USER])
        return no_report(upload_id)

    return await stream_from_logstore(request, report_headers(upload_id), not_recorded_yet)
