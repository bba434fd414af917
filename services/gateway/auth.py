"""Every /api/v1 request carries `Authorization: Bearer <token>` of a user
with an imaging uploader permission."""

from aiohttp import web

from services.common.app_keys import POOL
from services.common.http_errors import error_response
from services.gateway.users import User, find_user_by_token

USER = web.RequestKey("user", User)
PROTECTED_PREFIX = "/api/v1/"


@web.middleware
async def require_uploader_user(request: web.Request, handler) -> web.StreamResponse:
    if not request.path.startswith(PROTECTED_PREFIX):
        return await handler(request)
    token = _bearer_token(request)
    if token is None:
        return _unauthorized("This request needs an 'Authorization: Bearer <token>' header.")
    user = await find_user_by_token(request.app[POOL], token)
    if user is None:
        return _unauthorized("The API token is not valid.")
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
