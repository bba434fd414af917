"""JSON error responses: {"error": {first failure}, "errors": [every failure]},
each failure {"code", "message", "field"}; and the one middleware that turns
unexpected exceptions into a logged 500 (a 503 while the database is away: the client may try again)."""

import logging

import pydantic_core
from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from services.common.api_models import NO_NUL, ErrorBody, ErrorDetail
from services.common.db import DATABASE_AWAY_ERRORS

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return errors_response(status, [ErrorDetail(code=code, message=message, field=field)])


def errors_response(status: int, errors: list[ErrorDetail]) -> web.Response:
    body = ErrorBody(error=errors[0], errors=errors)
    return web.json_response(body.model_dump(), status=status)


def validation_error_response(error: ValidationError, status: int = 400) -> web.Response:
    """Every field error at once, one entry per field."""
    errors = [
        ErrorDetail(code="invalid_field", message=f"{_where(e['loc'])}: {field_message(e)}.", field=_where(e["loc"]) or None)
        for e in error.errors()
    ]
    return errors_response(status, errors)


def field_message(error: dict) -> str:
    """What pydantic says of one field's error, in words for the rules it cannot name itself."""
    if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NO_NUL:
        return "must not contain a NUL character"
    return error["msg"]


def _where(location: tuple) -> str:
    return ".".join(str(part) for part in location)


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")


def values_response(values: dict, status: int = 200) -> web.Response:
    """Plain values (dicts, lists, datetimes) as JSON, written the way model_response writes a model's."""
    return web.Response(body=pydantic_core.to_json(values), status=status, content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        response = error_response(http_error.status, http_error.reason.lower().replace(" ", "_"), http_error.reason)
        if hdrs.ALLOW in http_error.headers:  # a 405 names the methods the resource allows (RFC 9110)
            response.headers[hdrs.ALLOW] = http_error.headers[hdrs.ALLOW]
        return response
    except DATABASE_AWAY_ERRORS as error:
        log.warning("request refused: the database is away", extra={"path": request.path, "error": repr(error)})
        response = error_response(503, "database_unavailable",
                                  "The database cannot be reached right now, so nothing was recorded; "
                                  f"try again in {RETRY_AFTER_SECONDS} seconds.")
        response.headers[hdrs.RETRY_AFTER] = str(RETRY_AFTER_SECONDS)
        return response
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(500, "internal_error", "The server failed to handle this request; it was logged.")
