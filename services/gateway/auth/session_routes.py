"""Browser sign-in, /api/v1/session: POST signs in (a session cookie), GET
says who is signed in, DELETE signs out. The auth middleware has already
found the caller (and checked the CSRF token) for GET and DELETE."""

from datetime import timedelta

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.common.http_errors import error_response, model_response
from services.common.request_parsing import parse_json_body
from services.gateway.auth.middleware import USER, WEB_SESSION
from services.gateway.auth.session_models import SessionInfo, SignIn
from services.gateway.auth.sign_in_limit import sign_in
from services.gateway.auth.sign_in_refusals import SignInRefused
from services.gateway.auth.users import User
from services.gateway.auth.web_sessions import (clear_session_cookie, end_session, session_cookie, set_session_cookie,
                                                start_session)


async def post_session(request: web.Request) -> web.Response:
    # Requiring JSON also refuses a sign-in posted by another site's HTML form (login CSRF).
    if request.content_type != "application/json":
        return error_response(415, "unsupported_media_type",
                              "Send the sign-in as JSON, with the header Content-Type: application/json.")
    sent = await parse_json_body(request, SignIn)
    pool, settings = request.app[POOL], request.app[SETTINGS]
    try:
        user = await sign_in(request, sent.username, sent.password)
    except SignInRefused as refused:
        response = error_response(refused.status, refused.code, str(refused))
        if refused.retry_after is not None:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if user is None:
        return error_response(401, "bad_credentials", "Incorrect username or password.")
    cookie, session = await start_session(pool, user, timedelta(hours=settings.session_hours))
    response = session_response(request, user, session.csrf_token)
    set_session_cookie(response, request, cookie)
    return response


async def get_session(request: web.Request) -> web.Response:
    session = request.get(WEB_SESSION)
    return session_response(request, request[USER], session.csrf_token if session else None)


async def delete_session(request: web.Request) -> web.Response:
    """Ends the session that signed this request in, if one did; answers 204 either way."""
    if request.get(WEB_SESSION) is not None:
        await end_session(request.app[POOL], session_cookie(request))
    response = web.Response(status=204)
    clear_session_cookie(response, request)
    return response


def session_response(request: web.Request, user: User, csrf_token: str | None) -> web.Response:
    info = SessionInfo(username=user.username, permissions=sorted(user.permissions), sites=list(user.sites),
                       may_use_uploader=user.may_use_uploader, csrf_token=csrf_token,
                       max_upload_bytes=request.app[SETTINGS].max_upload_bytes)
    response = model_response(info)
    response.headers["Cache-Control"] = "no-store"  # it holds the CSRF token
    return response
