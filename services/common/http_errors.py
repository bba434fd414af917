"""JSON error responses: {"error": {"code", "message", "field"}}, and the one
middleware that turns unexpected exceptions into a logged 500."""

import logging

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.common.api_models import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return web.json_response(body.model_dump(), status=status)


def validation_error_response(error: ValidationError, status: int = 400) -> web.Response:
    """Every field error at once: the first names the field, the message lists them all."""
    problems = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
    message = "; ".join(f"{field}: {text}" for field, text in problems)
    return error_response(status, "invalid_field", message, problems[0][0] or None)


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        return error_response(http_error.status, http_error.reason.lower().replace(" ", "_"), http_error.reason)
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(500, "internal_error", "The server failed to handle this request; it was logged.")
