"""POST /api/v0.0.4-dev/login: a username and password for an API token that
expires (like LORIS's JWT, after `login_token_hours`). Throttled like the
browser's sign-in: 429 with Retry-After after too many failures."""

import json
from datetime import timedelta

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.common.request_parsing import is_plain_text
from services.gateway.auth.sign_in_limit import sign_in
from services.gateway.auth.sign_in_refusals import SignInRefused
from services.gateway.auth.users import issue_token
from services.gateway.loris_api.errors import LorisError, loris_error, loris_json

CREDENTIALS = ("username", "password")


async def post_login(request: web.Request) -> web.Response:
    username, password = credentials_of(await request.read())
    pool, settings = request.app[POOL], request.app[SETTINGS]
    if not is_plain_text(username + password):
        raise LorisError(401, "Incorrect username or password.")
    try:
        user = await sign_in(request, username, password)
    except SignInRefused as refused:
        response = loris_error(refused.status, str(refused))
        if refused.retry_after is not None:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if user is None:
        raise LorisError(401, "Incorrect username or password.")
    lifetime = timedelta(hours=settings.login_token_hours)
    token = await issue_token(pool, user.username, lifetime=lifetime, issued_by="login")
    return loris_json({"token": token})


def credentials_of(body: bytes) -> tuple[str, str]:
    try:
        sent = json.loads(body)
    except ValueError:
        sent = None
    if not isinstance(sent, dict):
        raise LorisError(400, 'Send the login as a JSON object: {"username": "...", "password": "..."}.')
    missing = [f'"{name}"' for name in CREDENTIALS if not isinstance(sent.get(name), str)]
    if missing:
        what = " and ".join(missing) + (" as strings" if len(missing) > 1 else " as a string")
        raise LorisError(400, f"The login needs {what}.")
    return sent["username"], sent["password"]
