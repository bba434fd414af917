"""Turning a request's query string, path or JSON body into a validated model,
or a 400 that names the field; and the Refusal exception that answers a
request with the error of the rule it broke."""

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.common.api_models import MAX_ID
from services.common.http_errors import error_response, validation_error_response

M = TypeVar("M", bound=BaseModel)


class Refusal(Exception):
    """Raised to answer a request with an error response (a rule the request broke)."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise Refusal(validation_error_response(error)) from None


async def parse_json_body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as error:
        if error.errors()[0]["type"] == "json_invalid":
            raise Refusal(error_response(400, "invalid_json", "The request body is not valid JSON.")) from None
        raise Refusal(validation_error_response(error)) from None


def is_plain_text(value: str) -> bool:
    """Whether a text taken from a request can be stored and sent on: PostgreSQL refuses NUL, and no database
    or JSON encoder takes a lone surrogate (what aiohttp makes of header bytes that are not UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def upload_id_from_path(request: web.Request) -> int:
    raw = request.match_info["upload_id"]
    digits = raw.lstrip("0")  # too many digits is refused before a conversion that would refuse it with a 500
    if not (raw.isascii() and raw.isdigit()) or len(digits) > len(str(MAX_ID)) or not 1 <= int(digits or 0) <= MAX_ID:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise Refusal(error_response(400, "invalid_upload_id", f"Upload id {shown!r} is not a valid upload id "
                                     f"(a whole number from 1 to {MAX_ID}).", "upload_id"))
    return int(digits)


@web.middleware
async def refusals(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response
