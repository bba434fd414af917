"""The innermost middleware of the gateway for paths under /api/v0.0.4-dev/:
every error of a LORIS route, and of an unknown path or method under it,
answered in LORIS's shape (`{"error": "<sentence>"}`), before the /api/v1
middlewares could shape it their way."""

import logging

from aiohttp import web

from services.common.request_parsing import Refusal
from services.gateway.auth.middleware import merged_path
from services.gateway.loris_api.errors import LorisError, from_v1_error, is_loris_path, loris_error

log = logging.getLogger(__name__)


@web.middleware
async def loris_errors(request: web.Request, handler) -> web.StreamResponse:
    path = merged_path(request.path)
    if not is_loris_path(path):
        return await handler(request)
    try:
        return await handler(request)
    except LorisError as error:
        return loris_error(error.status, error.message)
    except Refusal as refusal:
        return from_v1_error(refusal.response)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        return _http_error(request.method, path, http_error)
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return loris_error(500, "The server failed to handle this request; it was logged.")


def _http_error(method: str, path: str, http_error: web.HTTPException) -> web.Response:
    if isinstance(http_error, web.HTTPNotFound):
        return loris_error(404, f"There is no LORIS API endpoint at {path}.")
    if isinstance(http_error, web.HTTPMethodNotAllowed):
        allowed = sorted(http_error.allowed_methods)
        response = loris_error(405, f"Method {method} is not allowed on {path}; use {' or '.join(allowed)}.")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return loris_error(http_error.status, f"{http_error.reason}.")
