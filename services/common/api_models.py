"""The shapes of the HTTP API, defined once: they validate requests, shape
responses, and generate the OpenAPI document the gateway serves."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.messages import LorisUploadRecord, TarchiveInfo
from services.common.progress import Progress


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable name of the rule that failed")
    message: str = Field(description="one sentence a user can act on")
    field: str | None = Field(default=None, description="the request field at fault, if one is")


class ErrorBody(BaseModel):
    error: ErrorDetail = Field(description="the first failure")
    errors: list[ErrorDetail] = Field(description="every failure, the first included")


# PostgreSQL text cannot hold a NUL character: a value with one is refused like any other bad value.
NO_NUL = r"^[^\x00]*$"


def _blank_is_none(value):
    return None if isinstance(value, str) and not value.strip() else value


class UploadFields(BaseModel):
    """The fields that name what a scan is, as a user fills them in (values are trimmed).

    Their rules (CandID, PSCID, visit label, site scope, file name) are the
    validator's; here they are only read."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candid: str | None = Field(default=None, max_length=255, pattern=NO_NUL,
                               description="the candidate's CandID (6 digits)")
    pscid: str | None = Field(default=None, max_length=255, pattern=NO_NUL, description="the candidate's PSCID")
    visit_label: str | None = Field(default=None, max_length=255, pattern=NO_NUL,
                                    description="the visit label, e.g. V1")
    is_phantom: bool = Field(default=False, description="a phantom scan: no candidate, no session")
    overwrite: bool = Field(default=False, description="replace an earlier upload of the same file name")

    _blanks = field_validator("candid", "pscid", "visit_label", mode="before")(_blank_is_none)


class UploadForm(UploadFields):
    """The form fields of POST /api/v1/uploads (multipart/form-data, before the file part)."""


class UploadCheck(UploadFields):
    """POST /api/v1/uploads/check: would this upload be accepted? Asked before sending the file."""

    model_config = ConfigDict(strict=True)  # a JSON body: each value of its JSON type (no "true", no false for 0)

    file_name: str = Field(min_length=1, max_length=255, pattern=NO_NUL)
    file_size: int = Field(ge=0, le=2**63 - 1, description="the file's size in bytes")


class ExistingUpload(BaseModel):
    upload_id: int
    progress: Progress
    may_overwrite: bool = Field(description="whether overwrite=true would replace it now")


class UploadCheckAnswer(BaseModel):
    ok: bool = Field(description="true when the upload would be accepted")
    errors: list[ErrorDetail] = Field(description="every rule the upload would break")
    existing: ExistingUpload | None = Field(description="the upload already under this file name, if any")
    max_upload_bytes: int


class UploadAccepted(BaseModel):
    upload_id: int
    attempt: int
    file_name: str
    progress: Progress
    loris_upload_id: int | None = Field(default=None, description="LORIS site mode: the upload's UploadID in "
                                        "LORIS's mri_upload, when it was written by the time of the answer (null "
                                        "otherwise, and standalone)")


class LaunchAccepted(BaseModel):
    upload_id: int
    attempt: int
    status: Literal["launch requested"] = "launch requested"
    starts: Literal["now", "once validated", "once recorded in LORIS"] = Field(
        description="now, or as soon as the upload is validated, or (LORIS site mode) as soon as its row in "
                    "LORIS's mri_upload is written, when the LORIS database could not be reached yet")


class CancelAccepted(BaseModel):
    upload_id: int
    attempt: int
    status: Literal["cancel requested"] = "cancel requested"


class UploadSummary(BaseModel):
    """One upload, with what LORIS's Browse tab shows of it."""

    upload_id: int
    progress: Progress
    candid: str | None
    pscid: str | None
    visit_label: str | None
    site: str | None = Field(description="the alias of the candidate's site; null for a phantom")
    is_phantom: bool | None
    file_name: str | None
    upload_location: str | None = Field(description="where the current attempt's file is kept")
    uploaded_at: datetime | None
    uploaded_by: str | None
    tarchive: str | None = Field(description="the DICOM archive the pipeline made, once it reports it")
    tarchive_info: TarchiveInfo | None = Field(default=None, description="that archive's summary: study date, "
                                               "series, files, md5")
    minc_inserted: int | None = Field(description="null until the pipeline reports it")
    minc_created: int | None = Field(description="null until the pipeline reports it")
    size_bytes: int | None
    attempt: int
    exit_code: int | None
    failure: str | None = Field(default=None, description="why it failed, in one sentence (null unless Failure)")
    step: str | None = Field(default=None, description="the current run's last reported step")
    percent: int | None = Field(default=None, description="the current run's last reported percentage (0-100)")
    summary: str | None = Field(default=None, description="the current run's summary sentence, once reported")
    loris_record: LorisUploadRecord | None = Field(
        default=None, description="LORIS site mode: the upload's row in LORIS's mri_upload (Inserting, "
        "InsertionComplete, TarchiveID, the MINC counts) as the launcher read it back at the end of the current run")
    updated_at: datetime
    loris_upload_id: int | None = Field(default=None, description="LORIS site mode: the upload's UploadID in "
                                        "LORIS's mri_upload, once written (null until then, and standalone)")


MAX_ID = 2**63 - 1


class UploadListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candid: str | None = Field(default=None, max_length=255, pattern=NO_NUL)
    pscid: str | None = Field(default=None, max_length=255, pattern=NO_NUL)
    visit_label: str | None = Field(default=None, max_length=255, pattern=NO_NUL)
    site: str | None = Field(default=None, max_length=255, pattern=NO_NUL, description="a site alias, e.g. MTL")
    is_phantom: bool | None = None
    progress: Progress | None = None
    sort: Literal["uploaded_at", "-uploaded_at"] = Field(default="-uploaded_at", description="newest first by default")
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


class UploadPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[UploadSummary]


# A log is read in pages: a pipeline may print a hundred thousand lines.
LOG_PAGE_LINES = 1000
MAX_LOG_PAGE_LINES = 10_000


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["summary", "detailed"] = "summary"
    after: int = Field(default=0, ge=0, le=MAX_ID, description="only lines with a line_id greater than this")
    include_inactive: bool = Field(default=False, description="also the lines of earlier attempts")
    limit: int = Field(default=LOG_PAGE_LINES, ge=1, le=MAX_LOG_PAGE_LINES,
                       description="the most lines in one answer; when more follow, `more` is true: ask again with "
                                   "after=last_line_id")


class LogStreamQuery(BaseModel):
    """GET /api/v1/uploads/{upload_id}/log/events: the live log, as server-sent events."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["summary", "detailed"] = Field(default="summary", description="summary hides the verbose lines")
    after: int = Field(default=0, ge=0, le=MAX_ID,
                       description="only lines with a line_id greater than this (a Last-Event-ID header wins)")


class LogLine(BaseModel):
    line_id: int
    attempt: int
    run: int | None = Field(default=None, description="which run of the attempt printed the line (or the launcher's "
                            "line about it): 1, then 2 for a rerun or a relaunch...; null for a line of no run "
                            "(received, validated, queued...)")
    logged_at: datetime
    origin: str
    message: str
    is_error: bool
    is_verbose: bool
    stream: Literal["stdout", "stderr"] | None = Field(
        default=None, description="where a pipeline printed the line; null for the services' own lines")
    active: bool


class LogPage(BaseModel):
    upload_id: int
    attempt: int = Field(description="the attempt whose log this is: the upload's current one")
    progress: Progress
    status: str = Field(description="the status line shown under the log")
    mode: Literal["summary", "detailed"]
    last_line_id: int = Field(description="pass as `after` to get only newer lines")
    more: bool = Field(default=False, description="more lines follow this page: ask again with after=last_line_id")
    lines: list[LogLine]


class RunRecord(BaseModel):
    """One run of the pipeline for an upload, like a row of LORIS's server process manager."""

    run_id: int
    attempt: int
    launch: int = Field(default=1, description="1 for the attempt's first launch, 2 after a relaunch of an "
                                               "interrupted run...; an interrupted run queued again on its own "
                                               "keeps its launch")
    process_id: int | None = Field(default=None, description="its launch's process ID in the LORIS REST API (every "
                                                             "run of a launch has the same; null for runs of launches "
                                                             "older than process ids)")
    run: int | None = Field(default=None, description="which run of the attempt it is, as its log lines say: 1, "
                            "then 2 for a rerun or a relaunch...")
    command: list[str] | None = Field(description="the pipeline's arguments")
    launcher: str | None = Field(description="the launcher process that ran it")
    pid: int | None = Field(description="the pipeline's process id")
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    outcome: str = Field(description="running, succeeded, failed, timed out, not started, interrupted (or "
                                     "abandoned, from older launchers)")
    stderr_tail: list[str] = Field(description="the last lines of its error output")


class RunList(BaseModel):
    upload_id: int
    runs: list[RunRecord]
