"""Every API request but the LORIS login carries `Authorization: Bearer <token>`
of a user with an imaging uploader permission."""

import re

from aiohttp import web

from services.common.app_keys import POOL
from services.common.http_errors import error_response
from services.gateway.users import User, find_user_by_token

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
        return _unauthorized("This request needs an 'Authorization: Bearer <token>' header.")
    user = await find_user_by_token(request.app[POOL], token)
    if user is None:
        return _unauthorized("The API token is not valid (or it expired).")
    if not user.may_use_uploader:
        return error_response(
            403, "permission_denied", f"User {user.username} has no imaging uploader permission."
        )
    request[USER] = user
    return await handler(request)


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> web.Response:
    response = error_response(401, "unauthenticated", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="imaging-uploader"'
    return response


class SlashMergingRouter(web.UrlDispatcher):
    """Serves `//a//b` as `/a/b`, without a redirect."""

    async def resolve(self, request: web.Request):
        path = request.rel_url.path
        if "//" in path:
            request = request.clone(rel_url=request.rel_url.with_path(merged_path(path)))
        return await super().resolve(request)
