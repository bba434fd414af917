"""Calls from the gateway to the logstore: a shared secret proves the caller
is the gateway, and the user's scope travels with each call, so that the
logstore shows a user only the uploads the user may see."""

import hmac

from services.common.messages import UserScope

SECRET_HEADER = "X-Uploader-Internal-Secret"
SCOPE_HEADER = "X-Uploader-Scope"


def internal_headers(secret: str, scope: UserScope) -> dict[str, str]:
    return {SECRET_HEADER: secret, SCOPE_HEADER: scope.model_dump_json()}


def secret_matches(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
