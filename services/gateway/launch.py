"""The manual launch operation: a validated upload waits for it when auto-launch is off."""

import asyncpg
from aiohttp import web

from services.common.api_models import LaunchAccepted
from services.common.http_errors import error_response
from services.common.messages import LaunchRequested
from services.common.outbox import add_to_outbox
from services.common.request_parsing import Refusal
from services.gateway import uploads
from services.gateway.users import User

SCHEMA = "gateway"

_WHY_NOT = {
    "upload.received": "it has not been validated yet",
    "upload.rejected": "it was rejected by the candidate checks",
    "upload.launch_requested": "its launch was already requested",
    "pipeline.started": "its pipeline is running",
    "pipeline.finished": "its pipeline already ran",
}


async def request_launch(pool: asyncpg.Pool, upload_id: int, user: User) -> LaunchAccepted:
    async with pool.acquire() as conn, conn.transaction():
        claimed = await uploads.claim_launch(conn, upload_id)
        if claimed is None:
            raise Refusal(await _refusal(conn, upload_id))
        attempt, scan = claimed
        event = LaunchRequested(upload_id=upload_id, attempt=attempt, scan=scan, requested_by=user.username)
        await add_to_outbox(conn, SCHEMA, event)
    return LaunchAccepted(upload_id=upload_id, attempt=attempt)


async def _refusal(conn: asyncpg.Connection, upload_id: int) -> web.Response:
    record = await uploads.find_by_id(conn, upload_id)
    if record is None:
        return error_response(404, "unknown_upload", f"There is no upload with id {upload_id}.", "upload_id")
    reason = _WHY_NOT.get(record.state, f"its state is {record.state}")
    return error_response(409, "cannot_launch", f"Upload {upload_id} cannot be launched: {reason}.")
