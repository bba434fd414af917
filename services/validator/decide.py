"""The validator's decision on a received upload, announced as upload.validated
(with the candidate's site) or upload.rejected (with every failed rule)."""

import logging

import asyncpg

from services.common import metrics
from services.common.messages import Event, RuleCheckRequest, UploadReceived, UploadRejected, UploadValidated
from services.common.outbox import add_to_outbox
from services.validator.registry import PostgresRegistry
from services.validator.rules import check_upload
from services.validator.schema import SCHEMA

log = logging.getLogger(__name__)


async def decide_on_upload(event: Event, conn: asyncpg.Connection) -> None:
    if not isinstance(event, UploadReceived):
        return
    scan = event.scan
    request = RuleCheckRequest(
        candid=scan.candid, pscid=scan.pscid, visit_label=scan.visit_label, is_phantom=scan.is_phantom,
        file_name=scan.file_name, scope=event.scope,
    )
    reply = await check_upload(PostgresRegistry(conn), request)
    metrics.count_decision(metrics.VALIDATION_DECISIONS, reply.failures, ok="validated", refused="rejected")
    ids = {"upload_id": event.upload_id, "attempt": event.attempt}
    if reply.failures:
        log.info("upload rejected", extra={"rules": [failure.code for failure in reply.failures]})
        decision = UploadRejected(**ids, failures=reply.failures, site=reply.site)
    else:
        decision = UploadValidated(**ids, scan=scan.model_copy(update={"site": reply.site}))
    await add_to_outbox(conn, SCHEMA, decision)
