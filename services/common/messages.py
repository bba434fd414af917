"""The messages the services exchange, defined once.

Every message is an event: it says what happened to one attempt of one
upload. The routing key of an event is its `type`.
"""

from datetime import datetime, timezone
from typing import Annotated, Literal, Union
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    upload_id: int
    attempt: int = Field(ge=1)
    occurred_at: datetime = Field(default_factory=_now)
    version: Literal[1] = SCHEMA_VERSION


class ScanFacts(BaseModel):
    """What every later step needs to know about the scan of one attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_name: str
    scan_key: str
    candid: str | None = None
    pscid: str | None = None
    visit_label: str | None = None
    is_phantom: bool = False

    @property
    def patient_name(self) -> str:
        """The PatientName LORIS expects in the DICOM headers (none for a phantom)."""
        if self.is_phantom:
            return ""
        return f"{self.pscid}_{self.candid}_{self.visit_label}"


class UploadReceived(Event):
    type: Literal["upload.received"] = "upload.received"
    scan: ScanFacts
    size_bytes: int = Field(ge=0)
    uploaded_by: str
    overwrite: bool = False


class RuleFailure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    message: str


class UploadValidated(Event):
    type: Literal["upload.validated"] = "upload.validated"
    scan: ScanFacts


class UploadRejected(Event):
    type: Literal["upload.rejected"] = "upload.rejected"
    failures: list[RuleFailure] = Field(min_length=1)


class LaunchRequested(Event):
    type: Literal["upload.launch_requested"] = "upload.launch_requested"
    scan: ScanFacts
    requested_by: str


class PipelineStarted(Event):
    type: Literal["pipeline.started"] = "pipeline.started"
    command: list[str]


class PipelineLogLine(Event):
    type: Literal["pipeline.log"] = "pipeline.log"
    line_number: int = Field(ge=1)
    message: str
    is_error: bool = False
    is_verbose: bool = False


class PipelineFinished(Event):
    type: Literal["pipeline.finished"] = "pipeline.finished"
    exit_code: int | None
    succeeded: bool
    message: str


AnyEvent = Annotated[
    Union[
        UploadReceived,
        UploadValidated,
        UploadRejected,
        LaunchRequested,
        PipelineStarted,
        PipelineLogLine,
        PipelineFinished,
    ],
    Field(discriminator="type"),
]

_any_event = TypeAdapter(AnyEvent)


def parse_event(body: bytes) -> Event:
    """Parse a message body; raises pydantic.ValidationError when it is not a known event."""
    return _any_event.validate_json(body)


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
