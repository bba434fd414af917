"""The messages the services exchange, defined once.

Every message is an event: it says what happened to one attempt of one
upload. The routing key of an event is its `type`.
"""

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Literal, Union
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1


def _now() -> datetime:
    return datetime.now(timezone.utc)


class EventType(StrEnum):
    """Every event's type, named here only: the `type` of its JSON and its routing key."""

    UPLOAD_RECEIVED = "upload.received"
    UPLOAD_VALIDATED = "upload.validated"
    UPLOAD_REJECTED = "upload.rejected"
    LAUNCH_REQUESTED = "upload.launch_requested"
    CANCEL_REQUESTED = "upload.cancel_requested"
    LORIS_UPLOAD_RECORDED = "upload.loris_recorded"
    PIPELINE_STARTED = "pipeline.started"
    PIPELINE_LOG = "pipeline.log"  # from older launchers, still read
    PIPELINE_LOG_LINES = "pipeline.log_lines"
    PIPELINE_FINISHED = "pipeline.finished"
    PIPELINE_RERUN_QUEUED = "pipeline.rerun_queued"
    PIPELINE_FINISHED_LATE = "pipeline.finished_late"
    PIPELINE_REPORTED = "pipeline.reported"
    PIPELINE_FILE_OUTCOMES = "pipeline.file_outcomes"

    def __repr__(self) -> str:
        # The plain name, as in the JSON: an event's repr, and the reason pydantic gives for an unknown type,
        # list the types so.
        return repr(self.value)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    upload_id: int
    attempt: int = Field(ge=1)
    occurred_at: datetime = Field(default_factory=_now)
    version: Literal[1] = SCHEMA_VERSION


class ScanIdentity(BaseModel):
    """Whose scan it is: a candidate's visit, or a phantom."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candid: str | None = None
    pscid: str | None = None
    visit_label: str | None = None
    is_phantom: bool = False


class ScanFacts(ScanIdentity):
    """What every later step needs to know about the scan of one attempt."""

    file_name: str
    scan_key: str
    # The alias of the candidate's site; none for a phantom, or until the validator found it.
    site: str | None = None
    # LORIS site mode: the name of the candidate's project (Project.Name), as the site. Left out of the JSON when
    # None, so that a standalone uploader's messages stay as they were.
    project: str | None = Field(default=None, exclude_if=lambda project: project is None)

    @property
    def patient_name(self) -> str:
        """The PatientName LORIS expects in the DICOM headers (none for a phantom)."""
        if self.is_phantom:
            return ""
        return f"{self.pscid}_{self.candid}_{self.visit_label}"


class UserScope(BaseModel):
    """What a user may upload and see, from their LORIS permissions and sites."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    all_sites: bool = False
    own_sites: tuple[str, ...] = ()
    # LORIS site mode with LORIS's useAdvancedPermissions: own sites also means own projects (Project.Name), as in
    # LORIS: a candidate of the user's site is theirs only when its project is one of these too.
    # None: projects do not limit. Left out of the JSON when None, so that a standalone uploader's messages stay as they were.
    own_projects: tuple[str, ...] | None = Field(default=None, exclude_if=lambda projects: projects is None)
    no_session: bool = False


class UploadReceived(Event):
    type: Literal[EventType.UPLOAD_RECEIVED] = EventType.UPLOAD_RECEIVED
    scan: ScanFacts
    size_bytes: int = Field(ge=0)
    uploaded_by: str
    overwrite: bool = False
    # Whose permissions the validator checks the upload against.
    scope: UserScope


class RuleFailure(BaseModel):
    """One broken rule: the request field at fault, a stable code and a sentence naming the values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    code: str
    message: str
    # True when the rule is a permission (the user may not do this), not a data error.
    forbidden: bool = False


class UploadValidated(Event):
    type: Literal[EventType.UPLOAD_VALIDATED] = EventType.UPLOAD_VALIDATED
    scan: ScanFacts


class UploadRejected(Event):
    type: Literal[EventType.UPLOAD_REJECTED] = EventType.UPLOAD_REJECTED
    failures: list[RuleFailure] = Field(min_length=1)
    site: str | None = None
    project: str | None = Field(default=None, exclude_if=lambda project: project is None)


# `requested_by` of a run granted on its own, as soon as the upload was validated.
AUTO_LAUNCH = "auto-launch"


class LaunchRequested(Event):
    """The gateway granted a run to this attempt; the launcher queues it."""

    type: Literal[EventType.LAUNCH_REQUESTED] = EventType.LAUNCH_REQUESTED
    scan: ScanFacts
    requested_by: str
    launch: int = Field(default=1, ge=1, description="1 for the attempt's first launch, 2 for a relaunch after an "
                                                     "interrupted run, and so on")
    process_id: int | None = Field(default=None, ge=1, description="the launch's process ID in the LORIS REST API, "
                                                                   "unique across uploads (none in older events)")
    loris_upload_id: int | None = Field(default=None, ge=1, description="LORIS site mode: the upload's row in LORIS's "
                                        "mri_upload (its UploadID), which LORIS-MRI is given; none otherwise")


class LorisUploadRecorded(Event):
    """LORIS site mode: the gateway wrote this attempt's row in LORIS's mri_upload (inserted for a first attempt,
    updated for an overwrite); its UploadID is the one LORIS's pages, its REST API and LORIS-MRI know it by."""

    type: Literal[EventType.LORIS_UPLOAD_RECORDED] = EventType.LORIS_UPLOAD_RECORDED
    loris_upload_id: int = Field(ge=1)


class RunCancelRequested(Event):
    """A user asked to stop the run of this launch (queued or running); the launcher stops it."""

    type: Literal[EventType.CANCEL_REQUESTED] = EventType.CANCEL_REQUESTED
    requested_by: str
    launch: int = Field(default=1, ge=1)


# Which run of the attempt an event is about (None from older launchers).
RunNumber = Annotated[int | None, Field(ge=1, description="which run of the attempt: 1, then 2 for a rerun or a "
                                                          "relaunch...")]


class PipelineStarted(Event):
    type: Literal[EventType.PIPELINE_STARTED] = EventType.PIPELINE_STARTED
    run_id: int
    command: list[str]
    launcher: str = Field(description="the launcher process that runs it, unique per process")
    pid: int
    launch: int = Field(default=1, ge=1)
    run: RunNumber = None


class PipelineLogLine(Event):
    """One line of output, as launchers sent them before PipelineLogLines; still read, so that events
    queued by an older launcher are recorded after an upgrade."""

    type: Literal[EventType.PIPELINE_LOG] = EventType.PIPELINE_LOG
    line_number: int = Field(ge=1)
    message: str
    is_error: bool = False
    is_verbose: bool = False


class LogEntry(BaseModel):
    """One line of a pipeline's output, in the order the launcher read it."""

    line_number: int = Field(ge=1)
    message: str
    is_error: bool = False
    is_verbose: bool = False
    stream: Literal["stdout", "stderr"] | None = Field(default=None, description="None from older launchers")
    origin: str | None = Field(default=None, description="which step wrote it, when the pipeline says (LORIS-MRI's "
                               "notification_spool.Origin); None: the pipeline")
    logged_at: datetime | None = Field(default=None, description="when the pipeline wrote it, when it says "
                                       "(notification_spool.TimeSpooled); None: when the event was sent")


class PipelineLogLines(Event):
    """Lines of a run's output, sent together (by count and time, see services/launcher/output_batches.py)."""

    type: Literal[EventType.PIPELINE_LOG_LINES] = EventType.PIPELINE_LOG_LINES
    lines: list[LogEntry] = Field(min_length=1)
    run: RunNumber = None


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed out"  # stopped after the pipeline's time limit
    CANCELLED = "cancelled"  # a user cancelled it (POST .../cancel)
    NOT_STARTED = "not started"  # the command could not be started
    INTERRUPTED = "interrupted"  # the launcher shut down, died, lost its database or failed during the run
    ABANDONED = "abandoned"  # the launcher stopped beating (events of older launchers; now "interrupted")

    @property
    def may_launch_again(self) -> bool:
        """The run ended for the launcher's reasons, not the upload's: the same attempt may be launched again."""
        return self in (RunOutcome.NOT_STARTED, RunOutcome.INTERRUPTED, RunOutcome.ABANDONED, RunOutcome.CANCELLED)


class LorisUploadRecord(BaseModel):
    """LORIS site mode: the upload's row in LORIS's mri_upload as the launcher read it back at the run's end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inserting: bool | None = Field(description="mri_upload.Inserting (None: not set)")
    insertion_complete: bool = Field(description="mri_upload.InsertionComplete")
    tarchive_id: int | None = Field(default=None, description="mri_upload.TarchiveID: the DICOM archive LORIS-MRI made")
    minc_created: int | None = Field(default=None, ge=0, description="mri_upload.number_of_mincCreated")
    minc_inserted: int | None = Field(default=None, ge=0, description="mri_upload.number_of_mincInserted")


class PipelineFinished(Event):
    type: Literal[EventType.PIPELINE_FINISHED] = EventType.PIPELINE_FINISHED
    run_id: int
    exit_code: int | None
    outcome: RunOutcome
    message: str
    launcher: str
    stderr_tail: list[str] = Field(default_factory=list, description="the last lines of its error output")
    launch: int = Field(default=1, ge=1)
    recorded_by: str | None = Field(default=None, description="the launcher that recorded this end, from the exit "
                                    "code the run's guard kept, when `launcher` stopped before it could")
    run: RunNumber = None
    loris_record: LorisUploadRecord | None = Field(default=None, description="LORIS site mode: the upload's mri_upload "
                                                   "row read back at the end; None otherwise, or when it could not be read")

    @property
    def succeeded(self) -> bool:
        return self.outcome == RunOutcome.SUCCEEDED


class PipelineRerunQueued(Event):
    """A run was interrupted (its launcher shut down, died or failed) and, the pipeline being safe to run
    again, the same launch is queued once more for any launcher to take."""

    type: Literal[EventType.PIPELINE_RERUN_QUEUED] = EventType.PIPELINE_RERUN_QUEUED
    run_id: int = Field(description="the interrupted run")
    next_run_id: int
    launcher: str = Field(description="the launcher of the interrupted run")
    message: str
    launch: int = Field(default=1, ge=1)
    run: RunNumber = None


class PipelineFinishedLate(Event):
    """A run's pipeline ended after the run had been given up (its launcher lost its heartbeat): the end is
    told, but it changes nothing."""

    type: Literal[EventType.PIPELINE_FINISHED_LATE] = EventType.PIPELINE_FINISHED_LATE
    run_id: int
    exit_code: int | None
    launcher: str
    message: str
    run: RunNumber = None


class TarchiveSeries(BaseModel):
    number: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=1024)
    modality: str | None = Field(default=None, max_length=64)
    files: int = Field(ge=0)


class TarchiveInfo(BaseModel):
    """The DICOM archive summary a pipeline reports (LORIS's tarchive): the study, its series, the archive's md5.

    No patient name: the upload's candid, pscid and visit label say whose scan it is, and a name read from the
    files (a phantom's, or a wrong one) may be anyone's. A "patient_name" a pipeline reports is dropped, unread.
    """

    study_date: str | None = Field(default=None, max_length=64)
    md5: str | None = Field(default=None, max_length=128)
    files: int | None = Field(default=None, ge=0)
    series: list[TarchiveSeries] = Field(default_factory=list, max_length=10_000)


class PipelineReported(Event):
    """What the pipeline reports of a run (the fields it reported since the last such event; the others None):
    its current step and percentage, the DICOM archive it made, the images it created and inserted, its summary."""

    type: Literal[EventType.PIPELINE_REPORTED] = EventType.PIPELINE_REPORTED
    run_id: int | None = Field(default=None, description="None from launchers before steps were reported")
    step: str | None = Field(default=None, max_length=1024)
    percent: int | None = Field(default=None, ge=0, le=100)
    tarchive: str | None = None
    tarchive_info: TarchiveInfo | None = None
    minc_created: int | None = Field(default=None, ge=0)
    minc_inserted: int | None = Field(default=None, ge=0)
    summary: str | None = None


class FileOutcome(BaseModel):
    """What a run did with one file of the archive: a line of the upload's per-file report."""

    file: str
    series: str | None = None
    outcome: str = Field(min_length=1, max_length=64, description="e.g. inserted, not converted, rejected, "
                                                                   "not DICOM, not processed")
    reason: str | None = None


class PipelineFileOutcomes(Event):
    """Per-file outcomes a run reported, in the order it reported them (a batch, like the log lines)."""

    type: Literal[EventType.PIPELINE_FILE_OUTCOMES] = EventType.PIPELINE_FILE_OUTCOMES
    run_id: int
    files: list[FileOutcome] = Field(min_length=1)


AnyEvent = Annotated[
    Union[
        UploadReceived,
        UploadValidated,
        UploadRejected,
        LaunchRequested,
        LorisUploadRecorded,
        RunCancelRequested,
        PipelineStarted,
        PipelineLogLine,
        PipelineLogLines,
        PipelineFinished,
        PipelineRerunQueued,
        PipelineFinishedLate,
        PipelineReported,
        PipelineFileOutcomes,
    ],
    Field(discriminator="type"),
]

_any_event = TypeAdapter(AnyEvent)


class RuleCheckRequest(ScanIdentity):
    """Asked of the validator (request/reply) before an upload's bytes are sent, and by the pre-flight.

    With purpose "visit_access", only whether the user may reach the candidate and visit is checked
    (they exist, and the candidate's site is the user's): the LORIS API asks it of a URL."""

    purpose: Literal["upload", "visit_access"] = "upload"
    file_name: str | None = None
    scope: UserScope


class RuleCheckReply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: list[RuleFailure]
    site: str | None = None
    project: str | None = Field(default=None, exclude_if=lambda project: project is None)
    # Set instead of a verdict when the registry cannot be read (the LORIS database is away): the sentence to
    # show; the failures are then empty and mean nothing.
    unavailable: str | None = None


def parse_event(body: bytes) -> Event:
    """Parse a message body; raises pydantic.ValidationError when it is not a known event."""
    return _any_event.validate_json(body)


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
