"""Answering rule checks on request: the gateway asks before it reads an
upload's bytes, and for the pre-flight. The same rules decide again when the
upload is received (decide.py)."""

from aiohttp import web

from services.common.app_keys import POOL
from services.common.messages import RuleCheckRequest
from services.common.request_reply import Answer
from services.validator.registry import PostgresRegistry
from services.validator.rules import check_upload


def answer_rule_checks(app: web.Application) -> Answer:
    async def answer(body: bytes) -> bytes:
        request = RuleCheckRequest.model_validate_json(body)
        async with app[POOL].acquire() as conn:
            reply = await check_upload(PostgresRegistry(conn), request)
        return reply.model_dump_json().encode()

    return answer
