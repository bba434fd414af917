"""The validator's one operation: decide on a received upload and announce it."""

import asyncpg

from services.common.messages import Event, UploadReceived, UploadRejected, UploadValidated
from services.common.outbox import add_to_outbox
from services.validator.registry import PostgresRegistry
from services.validator.rules import check_scan

SCHEMA = "validator"


async def decide_on_upload(event: Event, conn: asyncpg.Connection) -> None:
    if not isinstance(event, UploadReceived):
        return
    failures = await check_scan(PostgresRegistry(conn), event.scan)
    ids = {"upload_id": event.upload_id, "attempt": event.attempt}
    if failures:
        decision = UploadRejected(**ids, failures=failures)
    else:
        decision = UploadValidated(**ids, scan=event.scan)
    await add_to_outbox(conn, SCHEMA, decision)
