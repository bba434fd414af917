"""The shapes of the HTTP API, defined once: they validate requests, shape
responses, and generate the OpenAPI document the gateway serves."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.progress import Progress


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable name of the rule that failed")
    message: str = Field(description="one sentence a user can act on")
    field: str | None = Field(default=None, description="the request field at fault, if one is")


class ErrorBody(BaseModel):
    error: ErrorDetail


class UploadForm(BaseModel):
    """The form fields of POST /api/v1/uploads (multipart/form-data, before the file part)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candid: str | None = Field(default=None, pattern=r"^\d{6}$", description="the candidate's CandID (6 digits)")
    pscid: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9-]+$")
    visit_label: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9-]+$")
    is_phantom: bool = False
    overwrite: bool = False


class UploadAccepted(BaseModel):
    upload_id: int
    attempt: int
    file_name: str
    progress: Progress


class LaunchAccepted(BaseModel):
    upload_id: int
    attempt: int
    status: Literal["launch requested"] = "launch requested"


class UploadSummary(BaseModel):
    upload_id: int
    file_name: str | None
    candid: str | None
    pscid: str | None
    visit_label: str | None
    is_phantom: bool | None
    uploaded_by: str | None
    size_bytes: int | None
    attempt: int
    progress: Progress
    exit_code: int | None
    uploaded_at: datetime | None
    updated_at: datetime


class UploadListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candid: str | None = None
    pscid: str | None = None
    visit_label: str | None = None
    progress: Progress | None = None
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)


class UploadPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[UploadSummary]


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["summary", "detailed"] = "summary"
    after: int = Field(default=0, ge=0, description="only lines with a line_id greater than this")
    include_inactive: bool = Field(default=False, description="also the lines of earlier attempts")


class LogLine(BaseModel):
    line_id: int
    attempt: int
    logged_at: datetime
    origin: str
    message: str
    is_error: bool
    is_verbose: bool
    active: bool


class LogPage(BaseModel):
    upload_id: int
    progress: Progress
    status: str = Field(description="the status line shown under the log")
    mode: Literal["summary", "detailed"]
    last_line_id: int = Field(description="pass as `after` to get only newer lines")
    lines: list[LogLine]
