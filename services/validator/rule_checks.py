"""Answering rule checks on request: the gateway asks before it reads an
upload's bytes, and for the pre-flight. The same rules decide again when the
upload is received (decide.py).

While the LORIS database cannot be reached, the reply says so instead of
giving a verdict: no rule is judged without the registry."""

import logging

from aiohttp import web

from services.common.loris_db import LorisDatabaseAway
from services.common.messages import RuleCheckReply, RuleCheckRequest
from services.common.request_reply import Answer
from services.validator.registry_choice import open_registry
from services.validator.rules import check_upload

log = logging.getLogger(__name__)

LORIS_AWAY_MESSAGE = ("The LORIS database cannot be reached right now, so the candidate and visit cannot be "
                      "checked and nothing was recorded; try again shortly.")


def answer_rule_checks(app: web.Application) -> Answer:
    async def answer(body: bytes) -> bytes:
        request = RuleCheckRequest.model_validate_json(body)
        try:
            async with open_registry(app) as registry:
                reply = await check_upload(registry, request)
        except LorisDatabaseAway as away:
            log.warning("rule check not judged: the LORIS database is away", extra={"error": str(away)})
            reply = RuleCheckReply(failures=[], unavailable=LORIS_AWAY_MESSAGE)
        # Unset fields left out: a gateway of the version before `unavailable` still reads the reply.
        return reply.model_dump_json(exclude_none=True).encode()

    return answer
