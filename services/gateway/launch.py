"""The launch operation: a run is granted to a validated upload at once, or
as soon as it is validated when it was asked for earlier; an upload whose
last run was interrupted (or whose command could not start) is granted a new
run of the same attempt, without sending the file again."""

from typing import Literal

import asyncpg

from services.common.api_models import LaunchAccepted
from services.common.http_errors import error_response
from services.common.progress import Progress
from services.common.request_parsing import Refusal
from services.gateway import uploads
from services.gateway.upload_visibility import visible_upload
from services.gateway.users import User

_WHY_NOT = {
    uploads.REJECTED: "it was rejected by the upload rules; correct them and upload it again",
    uploads.LAUNCH_REQUESTED: "its run was already granted",
    uploads.STARTED: "its pipeline is running",
}


async def request_launch(pool: asyncpg.Pool, upload_id: int, user: User) -> LaunchAccepted:
    async with pool.acquire() as conn, conn.transaction():
        record = await visible_upload(conn, upload_id, user)
        starts: Literal["now", "once validated"]
        if await uploads.grant_run(conn, upload_id, user.username):
            starts = "now"
        elif await uploads.launch_once_valid(conn, upload_id, user.username):
            starts = "once validated"
        else:
            raise Refusal(_refusal(await uploads.find_by_id(conn, upload_id) or record))
    return LaunchAccepted(upload_id=upload_id, attempt=record.attempt, starts=starts)


def _refusal(record: uploads.UploadRecord):
    if record.state == uploads.RECEIVED:
        reason = "its launch was already requested; it starts once the upload is validated"
    elif record.state == uploads.FINISHED:
        reason = _why_not_again(record)
    else:
        reason = _WHY_NOT.get(record.state, f"its state is {record.state}")
    return error_response(409, "cannot_launch", f"Upload {record.upload_id} cannot be launched: {reason}.")


def _why_not_again(record: uploads.UploadRecord) -> str:
    if record.progress == Progress.SUCCESS:
        return "its pipeline already succeeded"
    if record.run_outcome in uploads.RELAUNCHABLE_OUTCOMES:
        return ("its file was removed after the retention for failed uploads (UPLOADER_ATTEMPT_FILE_RETENTION_HOURS); "
                "upload it again with overwrite=true")
    return "its pipeline failed for a reason of the upload's own; correct it and upload it again with overwrite=true"
