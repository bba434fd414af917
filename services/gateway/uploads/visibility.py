"""An upload a user may not see does not exist for them: the same 404 as an unknown id."""

import asyncpg

from services.common.http_errors import error_response
from services.common.request_parsing import Refusal
from services.common.scope import may_see
from services.gateway.auth.users import User
from services.gateway.uploads import records


def unknown_upload(upload_id: int) -> Refusal:
    return Refusal(error_response(404, "unknown_upload", f"There is no upload with id {upload_id}.", "upload_id"))


async def visible_upload(conn: asyncpg.Connection | asyncpg.Pool, upload_id: int, user: User) -> records.UploadRecord:
    record = await records.find_by_id(conn, upload_id)
    if record is None or not may_see(user.scope, site=record.site, is_phantom=record.is_phantom,
                                     uploaded_by=record.uploaded_by, project=record.project):
        raise unknown_upload(upload_id)
    return record
