"""The validator's decision on a received upload, announced as upload.validated
(with the candidate's site) or upload.rejected (with every failed rule).

While the LORIS database cannot be reached no decision is made: LorisDatabaseAway
leaves the handler, and the consumer keeps the event in hand and tries again
(services/common/consumer.py), as for an outage of its own database."""

import logging

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.consumer import Handler
from services.common.messages import Event, RuleCheckRequest, UploadReceived, UploadRejected, UploadValidated
from services.common.outbox import add_to_outbox
from services.validator.registry import CandidateRegistry
from services.validator.registry_choice import open_registry
from services.validator.rules import check_upload
from services.validator.schema import SCHEMA

log = logging.getLogger(__name__)


def upload_decider(app: web.Application) -> Handler:
    """The consumer's handler: each received upload decided on the service's registry."""

    async def decide(event: Event, conn: asyncpg.Connection) -> None:
        if not isinstance(event, UploadReceived):
            return
        async with open_registry(app, conn) as registry:
            await decide_on_upload(event, conn, registry)

    return decide


async def decide_on_upload(event: UploadReceived, conn: asyncpg.Connection, registry: CandidateRegistry) -> None:
    scan = event.scan
    request = RuleCheckRequest(
        candid=scan.candid, pscid=scan.pscid, visit_label=scan.visit_label, is_phantom=scan.is_phantom,
        file_name=scan.file_name, scope=event.scope,
    )
    reply = await check_upload(registry, request)
    metrics.count_decision(metrics.VALIDATION_DECISIONS, reply.failures, ok="validated", refused="rejected")
    ids = {"upload_id": event.upload_id, "attempt": event.attempt}
    if reply.failures:
        log.info("upload rejected", extra={"rules": [failure.code for failure in reply.failures]})
        decision = UploadRejected(**ids, failures=reply.failures, site=reply.site, project=reply.project)
    else:
        decision = UploadValidated(**ids, scan=scan.model_copy(update={"site": reply.site, "project": reply.project}))
    await add_to_outbox(conn, SCHEMA, decision)
