"""Every API request but the sign-ins carries `Authorization: Bearer <token>`
of a user with an imaging uploader permission; under /api/v1, a browser's
session cookie does too, with the session's CSRF token on every request
that may change something. A refusal is shaped like the errors of the API
asked: /api/v1's, or LORIS's under /api/v0.0.4-dev/ (token only).

/api/v1/session is open to any signed-in user, with an uploader permission
or without (the page says "no access"); signing in needs nobody, and
signing out without a session just clears the cookie. /api/v1/status and
below need the permission imaging_uploader_admin, and no other.

In LORIS site mode (UPLOADER_LORIS_DATABASE_URL set) the token or session
names a LORIS user, whose account state, permissions and sites are LORIS's,
read again every UPLOADER_LORIS_USER_REREAD_SECONDS (loris_users.py)."""

import re
from datetime import date

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.common.loris_db import LorisDatabaseAway
from services.common.http_errors import error_response
from services.common.request_parsing import is_plain_text
from services.common.scope import ADMIN
from services.gateway.auth.account_states import account_refusal
from services.gateway.auth.loris_users import LORIS_USERS
from services.gateway.auth.token_cache import TOKEN_CACHE
from services.gateway.auth.users import User
from services.gateway.auth.web_sessions import CSRF_HEADER, WebSession, csrf_matches, find_session, session_cookie
from services.gateway.loris_api.errors import is_loris_path, loris_error

USER = web.RequestKey("user", User)
WEB_SESSION = web.RequestKey("web_session", WebSession)  # set when the session cookie signed the request in
PROTECTED_PREFIXES = ("/api/v1/", "/api/v0.0.4-dev/")
PUBLIC_PATHS = {"/api/v0.0.4-dev/login"}
SESSION_PATH = "/api/v1/session"
STATUS_PATH = "/api/v1/status"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def merged_path(path: str) -> str:
    """A path as the router sees it: doubled slashes merged (clients build URLs by joining strings)."""
    return re.sub("/{2,}", "/", path)


@web.middleware
async def require_uploader_user(request: web.Request, handler) -> web.StreamResponse:
    path = merged_path(request.path)
    if not path.startswith(PROTECTED_PREFIXES) or path.rstrip("/") in PUBLIC_PATHS or _is_sign_in(request, path):
        return await handler(request)
    caller = await _caller(request, path)
    if isinstance(caller, web.Response):
        return await handler(request) if _is_sign_out(request, path) else caller
    user, session = caller
    if session is not None and request.method not in SAFE_METHODS and not csrf_matches(request, session):
        return error_response(403, "csrf_failed", f"This request came with the session cookie but without the "
                              f"session's CSRF token: send the csrf_token of GET {SESSION_PATH} as the {CSRF_HEADER} "
                              "header.")
    refusal = _permission_refusal(user, path, in_loris=request.app[SETTINGS].loris_database_url is not None)
    if refusal is not None:
        return refusal
    request[USER] = user
    if session is not None:
        request[WEB_SESSION] = session
    return await handler(request)


async def _caller(request: web.Request, path: str) -> tuple[User, WebSession | None] | web.Response:
    """Who sent the request, and in LORIS site mode with what LORIS lets that user do now; the refusal that says
    why not otherwise."""
    caller = await _token_or_session(request, path)
    if isinstance(caller, web.Response) or not request.app[SETTINGS].loris_database_url:
        return caller
    user, session = caller
    loris_user = await _as_loris_user(request, user, path)
    return loris_user if isinstance(loris_user, web.Response) else (loris_user, session)


async def _as_loris_user(request: web.Request, user: User, path: str) -> User | web.Response:
    """The user with the permissions, sites and projects LORIS gives it (as read at most a re-read interval ago);
    401 when LORIS no longer lets the account in, 503 when it must be read again and LORIS's database is away."""
    try:
        account = await request.app[LORIS_USERS].current(user.username)
    except LorisDatabaseAway:
        return _refused(path, 503, "loris_database_unavailable", "The LORIS database cannot be reached right now, "
                        "so your LORIS account cannot be checked; try again in a moment.")
    if account is None:
        return _unauthorized(path, f"There is no LORIS account {user.username} any more.")
    refusal = account_refusal(account, date.today())
    if refusal is not None:
        return _unauthorized(path, refusal)
    return account.as_user(user.user_id)


async def _token_or_session(request: web.Request, path: str) -> tuple[User, WebSession | None] | web.Response:
    """Who sent the request: by its bearer token (first), or else by its session cookie (not under the LORIS
    API); the 401 that says why not otherwise."""
    token = _bearer_token(request)
    if token is not None:
        # Tokens are text; header bytes that are not UTF-8 are no token of ours.
        user = await request.app[TOKEN_CACHE].user(request.app[POOL], token) if is_plain_text(token) else None
        return (user, None) if user else _unauthorized(path, "The API token is not valid (or it expired).")
    cookie = None if is_loris_path(path) else session_cookie(request)
    if cookie is not None:
        session = await find_session(request.app[POOL], cookie)
        if session is None:
            return _unauthorized(path, "The session ended or expired: sign in again.")
        return session.user, session
    return _unauthorized(path, "This request needs an 'Authorization: Bearer <token>' header.")


def _permission_refusal(user: User, path: str, *, in_loris: bool) -> web.Response | None:
    """The 403 for a user without the permission this path needs; None when the user has it."""
    if path == SESSION_PATH:
        return None
    if path == STATUS_PATH or path.startswith(STATUS_PATH + "/"):
        if user.is_admin:
            return None
        how = (f"a LORIS administrator gives it in LORIS: the permission {ADMIN}, or superuser" if in_loris
               else f"an administrator grants it with: uploader-admin user grant {user.username} {ADMIN}")
        return error_response(403, "permission_denied", f"User {user.username} lacks the permission {ADMIN}, "
                              f"which the status page needs ({how}).")
    if not user.may_use_uploader:
        return _refused(path, 403, "permission_denied", f"User {user.username} has no imaging uploader permission.")
    return None


def _is_sign_in(request: web.Request, path: str) -> bool:
    return request.method == "POST" and path == SESSION_PATH


def _is_sign_out(request: web.Request, path: str) -> bool:
    return request.method == "DELETE" and path == SESSION_PATH


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
