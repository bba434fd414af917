"""The launch operation: a run is granted to a validated upload at once, or
as soon as it is validated when it was asked for earlier; an upload whose
last run was interrupted (or whose command could not start) is granted a new
run of the same attempt, without sending the file again."""

from typing import Literal

from aiohttp import web

from services.common.api_models import LaunchAccepted
from services.common.app_keys import POOL, SCAN_STORE, SETTINGS
from services.common.http_errors import error_response
from services.common.progress import Progress
from services.common.request_parsing import Refusal
from services.gateway.auth.users import User
from services.gateway.uploads import records
from services.gateway.uploads.visibility import visible_upload

_WHY_NOT = {
    records.REJECTED: "it was rejected by the upload rules; correct them and upload it again",
    records.LAUNCH_REQUESTED: "its run was already granted",
    records.STARTED: "its pipeline is running",
}


async def request_launch(app: web.Application, upload_id: int, user: User) -> LaunchAccepted:
    async with app[POOL].acquire() as conn, conn.transaction():
        record = await visible_upload(conn, upload_id, user)
        starts: Literal["now", "once validated", "once recorded in LORIS"]
        if await records.grant_run(conn, upload_id, user.username):
            starts = "now"
        elif await records.launch_once_valid(conn, upload_id, user.username):
            starts = "once recorded in LORIS" if record.state == records.VALIDATED else "once validated"
        else:
            record = await records.find_by_id(conn, upload_id) or record
            file = await records.attempt_file(conn, upload_id, record.attempt)
            raise Refusal(_refusal(record, _why_file_is_gone(app, file)))
    return LaunchAccepted(upload_id=upload_id, attempt=record.attempt, starts=starts)


def _refusal(record: records.UploadRecord, why_file_is_gone: str | None):
    if record.state == records.RECEIVED:
        reason = "its launch was already requested; it starts once the upload is validated"
    elif record.state == records.FINISHED:
        reason = _why_not_again(record, why_file_is_gone)
    else:
        reason = _WHY_NOT.get(record.state, f"its state is {record.state}")
    return error_response(409, "cannot_launch", f"Upload {record.upload_id} cannot be launched: {reason}.")


def _why_not_again(record: records.UploadRecord, why_file_is_gone: str | None) -> str:
    if record.progress == Progress.SUCCESS:
        return "its pipeline already succeeded"
    if why_file_is_gone is not None:
        return f"{why_file_is_gone}; upload it again with overwrite=true"
    return "its pipeline failed for a reason of the upload's own; correct it and upload it again with overwrite=true"


def _why_file_is_gone(app: web.Application, file: records.AttemptFile | None) -> str | None:
    if file is None:
        return None
    if file.removed_at is not None:
        hours = app[SETTINGS].attempt_file_retention_hours
        return (f"its scan file was removed {_hours(hours)} after its run ended, the retention of failed uploads' "
                "files (UPLOADER_ATTEMPT_FILE_RETENTION_HOURS)")
    if app[SCAN_STORE].is_missing(file.scan_key):
        return "its scan file is missing from the scan store (it was deleted)"
    return None


def _hours(hours: float) -> str:
    return f"{hours:g} hour" if hours == 1 else f"{hours:g} hours"
