"""Errors under /api/v0.0.4-dev/ in LORIS's shape, `{"error": "<sentence>"}`:
raised as LorisError by the LORIS routes, or translated from the /api/v1
refusals of the shared operations."""

import json

from aiohttp import web

LORIS_API_ROOT = "/api/v0.0.4-dev"


class LorisError(Exception):
    """Answer the request with this status and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_loris_path(path: str) -> bool:
    """Whether a path (its doubled slashes merged) is under the LORIS API."""
    return path == LORIS_API_ROOT or path.startswith(LORIS_API_ROOT + "/")


def loris_json(body, status: int = 200) -> web.Response:
    """JSON as LORIS writes it: compact, without spaces."""
    return web.json_response(body, status=status, dumps=lambda value: json.dumps(value, separators=(",", ":")))


def loris_error(status: int, message: str) -> web.Response:
    return loris_json({"error": message}, status=status)


def from_v1_error(response: web.Response) -> web.Response:
    """An /api/v1 error answer (`{"error": {...}, "errors": [...]}`) as LORIS's: every message, joined with a space."""
    try:
        body = json.loads(response.body)
        message = " ".join(error["message"] for error in body["errors"])
    except (TypeError, ValueError, KeyError):
        message = response.reason or "The request failed."
    return loris_error(response.status, message)
