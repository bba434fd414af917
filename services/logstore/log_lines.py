"""What each event adds to an upload's log, in words a user reads."""

from dataclasses import dataclass, replace
from datetime import datetime

from services.common.messages import (
    AUTO_LAUNCH,
    Event,
    LaunchRequested,
    PipelineFinished,
    PipelineFinishedLate,
    PipelineLogLine,
    PipelineLogLines,
    PipelineRerunQueued,
    PipelineStarted,
    RunCancelRequested,
    UploadReceived,
    UploadRejected,
    UploadValidated,
)
from services.common.readable_text import without_nul
from services.common.sizes import human_size


@dataclass(frozen=True)
class Line:
    origin: str
    message: str
    is_error: bool = False
    is_verbose: bool = False
    stream: str | None = None  # a pipeline's own line: stdout or stderr
    run: int | None = None  # which run of the attempt printed it, or told of it; None for lines of no run
    logged_at: datetime | None = None  # when the pipeline says it wrote it; None: when the event was sent


def lines_for(event: Event) -> list[Line]:
    lines = _lines_for(event)
    run = getattr(event, "run", None)
    # A batch's lines are made with their run already: a replace() of each of thousands of lines would cost more
    # than making them.
    return lines if run is None else [line if line.run == run else replace(line, run=run) for line in lines]


def _lines_for(event: Event) -> list[Line]:
    match event:
        case UploadReceived():
            return _received(event)
        case UploadValidated():
            return [Line("validator", _validated_message(event))]
        case UploadRejected():
            reasons = [Line("validator", failure.message, is_error=True) for failure in event.failures]
            return reasons + [Line("validator", "The upload was rejected: correct the values above and upload it again.", True)]
        case LaunchRequested():
            return [Line("gateway", _launch_message(event))]
        case RunCancelRequested():
            return [Line("gateway", f"Cancel requested by {event.requested_by}; the run is being stopped.")]
        case PipelineStarted():
            return [
                Line("launcher", "Pipeline started."),
                Line("launcher", f"Command (pid {event.pid} on {event.launcher}): " + " ".join(event.command),
                     is_verbose=True),
            ]
        case PipelineLogLines():
            return [Line(without_nul(entry.origin or "pipeline"), without_nul(entry.message), entry.is_error,
                         entry.is_verbose, entry.stream, event.run, entry.logged_at)
                    for entry in event.lines]
        case PipelineLogLine():
            return [Line("pipeline", without_nul(event.message), event.is_error, event.is_verbose)]
        case PipelineFinished():
            return _left_behind(event) + [Line("launcher", event.message, is_error=not event.succeeded)]
        case PipelineRerunQueued() | PipelineFinishedLate():
            return [Line("launcher", event.message)]
    return []


def _received(event: UploadReceived) -> list[Line]:
    message = f"Upload received: {event.scan.file_name} ({human_size(event.size_bytes)}) from {event.uploaded_by}"
    if event.attempt > 1:
        message += f"; it replaces attempt {event.attempt - 1}"
    return [Line("gateway", message + ".")]


def _left_behind(event: PipelineFinished) -> list[Line]:
    if event.recorded_by is None:
        return []
    return [Line("launcher", f"The launcher {event.launcher} stopped after the pipeline ended, before it recorded "
                             f"the end; {event.recorded_by} recorded it from the exit code the pipeline left (the "
                             "last lines the pipeline printed may be missing above).")]


def _validated_message(event: UploadValidated) -> str:
    scan = event.scan
    if scan.is_phantom:
        return "Phantom scan: no candidate checks apply."
    return f"Candidate checked: CandID {scan.candid}, PSCID {scan.pscid}, visit {scan.visit_label} are valid and active."


def _launch_message(event: LaunchRequested) -> str:
    if event.requested_by == AUTO_LAUNCH:
        return "The upload is valid: its pipeline run is queued (auto-launch)."
    if event.launch > 1:
        return f"Pipeline launched again by {event.requested_by} after its interrupted run; the run is queued."
    return f"Pipeline launch requested by {event.requested_by}; the run is queued."

