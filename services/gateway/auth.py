"""Every API request but the LORIS login carries `Authorization: Bearer <token>`
of a user with an imaging uploader permission. A refusal is shaped like the
errors of the API asked: /api/v1's, or LORIS's under /api/v0.0.4-dev/."""

import re

from aiohttp import web

from services.common.app_keys import POOL
from services.common.http_errors import error_response
from services.common.request_parsing import is_plain_text
from services.gateway.loris_api.errors import is_loris_path, loris_error
from services.gateway.token_cache import TOKEN_CACHE
from services.gateway.users import User

USER = web.RequestKey("user", User)
PROTECTED_PREFIXES = ("/api/v1/", "/api/v0.0.4-dev/")
PUBLIC_PATHS = {"/api/v0.0.4-dev/login"}


def merged_path(path: str) -> str:
    """A path as the router sees it: doubled slashes merged (clients build URLs by joining strings)."""
    return re.sub("/{2,}", "/", path)


@web.middleware
async def require_uploader_user(request: web.Request, handler) -> web.StreamResponse:
    path = merged_path(request.path)
    if not path.startswith(PROTECTED_PREFIXES) or path.rstrip("/") in PUBLIC_PATHS:
        return await handler(request)
    token = _bearer_token(request)
    if token is None:
        return _unauthorized(path, "This request needs an 'Authorization: Bearer <token>' header.")
    # Tokens are text; header bytes that are not UTF-8 are no token of ours.
    user = await request.app[TOKEN_CACHE].user(request.app[POOL], token) if is_plain_text(token) else None
    if user is None:
        return _unauthorized(path, "The API token is not valid (or it expired).")
    if not user.may_use_uploader:
        return _refused(path, 403, "permission_denied", f"User {user.username} has no imaging uploader permission.")
    request[USER] = user
    return await handler(request)


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(path: str, message: str) -> web.Response:
    if is_loris_path(path):
        message += " Get a token from POST /api/v0.0.4-dev/login."
    response = _refused(path, 401, "unauthenticated", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="imaging-uploader"'
    return response


def _refused(path: str, status: int, code: str, message: str) -> web.Response:
    if is_loris_path(path):
        return loris_error(status, message)
    return error_response(status, code, message)


class SlashMergingRouter(web.UrlDispatcher):
    """Serves `//a//b` as `/a/b`, without a redirect; under the LORIS API also `/a/b/` as `/a/b`, as LORIS does."""

    async def resolve(self, request: web.Request):
        path = request.rel_url.path
        routed = merged_path(path)
        if is_loris_path(routed) and routed.endswith("/"):
            routed = routed.rstrip("/")
        if routed != path:
            request = request.clone(rel_url=request.rel_url.with_path(routed))
        return await super().resolve(request)
