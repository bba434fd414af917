"""The shapes of /api/v1/session: what a browser sends to sign in, and what
it is told of the signed-in user."""

from pydantic import BaseModel, ConfigDict, Field

from services.common.api_models import NO_NUL


class SignIn(BaseModel):
    """POST /api/v1/session: a username and its password."""

    model_config = ConfigDict(strict=True, extra="forbid")

    username: str = Field(max_length=255, pattern=NO_NUL)
    password: str = Field(max_length=4096)


class SessionInfo(BaseModel):
    """The signed-in user: who they are, what they may do, and the token that proves a request comes from the page."""

    username: str
    permissions: list[str] = Field(description="the user's permissions, sorted")
    sites: list[str] = Field(description="the sites of the imaging_uploader_ownsites permission")
    may_use_uploader: bool = Field(description="false for a user without an imaging uploader permission: "
                                               "signed in, but refused by every other /api/v1 operation, but the "
                                               "status ones when the user has imaging_uploader_admin")
    csrf_token: str | None = Field(description="send it as the X-CSRF-Token header with every request but GET, HEAD "
                                               "and OPTIONS signed in by the session cookie; null for a caller with "
                                               "a bearer token, which needs none")
    max_upload_bytes: int
