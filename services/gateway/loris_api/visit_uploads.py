"""The uploads of one visit, from the gateway's own records (an upload is
there the moment it is accepted), limited to what the user may see; and what
the logstore recorded of them (their DICOM archive, their runs).

A phantom scan names no candidate and no visit; a phantom uploaded through
a visit's URL is found by its file name under any visit's URL.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

import asyncpg
from aiohttp import web

from services.common.api_models import RunList, RunRecord, UploadPage
from services.common.request_parsing import is_plain_text
from services.common.scope import may_see, visible_to_sql
from services.gateway.auth.users import User
from services.gateway.loris_api.errors import LorisError
from services.gateway.reads.logstore_proxy import logstore_json
from services.gateway.uploads import records

_LOGSTORE_PAGE_SIZE = 500


@dataclass(frozen=True)
class VisitUpload:
    upload_id: int
    file_name: str
    pscid: str | None


async def uploads_of_visit(pool: asyncpg.Pool, candid: str, visit_label: str, user: User) -> list[VisitUpload]:
    """The visit's uploads the user may see, oldest first."""
    visible, args = visible_to_sql(user.scope, 3)
    rows = await pool.fetch(
        f"""SELECT upload_id, file_name, pscid FROM gateway.uploads
            WHERE candid = $1 AND visit_label = $2 AND NOT is_phantom AND {visible} ORDER BY upload_id""",
        candid, visit_label, *args,
    )
    return [VisitUpload(row["upload_id"], row["file_name"], row["pscid"]) for row in rows]


async def upload_of_file(pool: asyncpg.Pool, file_name: str, candid: str, visit_label: str,
                         user: User) -> records.UploadRecord | None:
    """The upload of this file name in this visit (or a phantom), if the user may see it."""
    if not is_plain_text(file_name):
        return None
    upload_id = await pool.fetchval(
        """SELECT upload_id FROM gateway.uploads
           WHERE file_name = $1 AND (is_phantom OR (candid = $2 AND visit_label = $3))""",
        file_name, candid, visit_label,
    )
    record = await records.find_by_id(pool, upload_id) if upload_id is not None else None
    if record is None or not may_see(user.scope, site=record.site, is_phantom=record.is_phantom,
                                     uploaded_by=record.uploaded_by, project=record.project):
        return None
    return record


async def tarchives_of_visit(request: web.Request, candid: str, visit_label: str) -> dict[int, str]:
    """upload id → the DICOM archive its pipeline reported, for the visit's uploads that have one."""
    tarchives: dict[int, str] = {}
    page_number, seen, total = 1, 0, 1
    while seen < total:
        query = urlencode({"candid": candid, "visit_label": visit_label, "sort": "uploaded_at",
                           "page": page_number, "page_size": _LOGSTORE_PAGE_SIZE})
        page = UploadPage.model_validate(await _logstore_answer(request, f"/api/v1/uploads?{query}"))
        tarchives.update({item.upload_id: item.tarchive for item in page.items if item.tarchive})
        seen, total, page_number = seen + len(page.items), page.total, page_number + 1
        if not page.items:
            break
    return tarchives


async def runs_of_upload(request: web.Request, upload_id: int) -> list[RunRecord]:
    """The upload's runs, oldest first; none while the logstore has not recorded the upload yet."""
    body = await _logstore_answer(request, f"/api/v1/uploads/{upload_id}/runs", none_if_unknown=True)
    return RunList.model_validate(body).runs if body is not None else []


async def _logstore_answer(request: web.Request, path_qs: str, *, none_if_unknown: bool = False):
    status, body = await logstore_json(request, path_qs)
    if status == 200:
        return body
    if status == 404 and none_if_unknown:
        return None
    messages = [error.get("message", "") for error in body.get("errors", [])] if isinstance(body, dict) else []
    raise LorisError(status, " ".join(messages) or f"The upload log answered {status}.")
