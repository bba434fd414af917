"""Progress of an upload, and how each event moves it.

LORIS knows four states. Events of one attempt can arrive out of order or
twice, so each event has a rank: a projection only moves to a higher
(attempt, rank), which keeps progress from ever going backwards.

An attempt whose run was interrupted may be launched again; each launch's
events rank above everything of the launch before it (LAUNCH_RANK_STEP per
launch), so a relaunch moves a Failure back to Not Started, then on.
"""

from enum import StrEnum

from services.common.messages import Event, EventType, LaunchRequested, PipelineFinished, PipelineStarted


class Progress(StrEnum):
    NOT_STARTED = "Not Started"
    IN_PROGRESS = "In Progress"
    FAILURE = "Failure"
    SUCCESS = "Success"


_RANK_BY_TYPE = {
    EventType.UPLOAD_RECEIVED: 10,
    EventType.UPLOAD_VALIDATED: 20,
    EventType.LAUNCH_REQUESTED: 30,
    EventType.PIPELINE_STARTED: 40,
    EventType.UPLOAD_REJECTED: 90,
    EventType.PIPELINE_FINISHED: 90,
}

_PROGRESS_BY_TYPE = {
    EventType.UPLOAD_RECEIVED: Progress.NOT_STARTED,
    EventType.UPLOAD_VALIDATED: Progress.NOT_STARTED,
    EventType.LAUNCH_REQUESTED: Progress.NOT_STARTED,
    EventType.PIPELINE_STARTED: Progress.IN_PROGRESS,
    EventType.UPLOAD_REJECTED: Progress.FAILURE,
}


def moves_progress(event: Event) -> bool:
    return event.type in _RANK_BY_TYPE


LAUNCH_RANK_STEP = 100
_LAUNCH_EVENT_TYPES = frozenset({EventType.LAUNCH_REQUESTED, EventType.PIPELINE_STARTED, EventType.PIPELINE_FINISHED})


def rank_of(event: Event) -> int:
    launch = event.launch if isinstance(event, LaunchRequested | PipelineStarted | PipelineFinished) else 1
    return rank_of_type(event.type, launch)


def rank_of_type(event_type: str, launch: int = 1) -> int:
    if event_type in _LAUNCH_EVENT_TYPES:
        return _RANK_BY_TYPE[event_type] + LAUNCH_RANK_STEP * (launch - 1)
    return _RANK_BY_TYPE[event_type]


def progress_after(event: Event) -> Progress:
    if isinstance(event, PipelineFinished):
        return Progress.SUCCESS if event.succeeded else Progress.FAILURE
    return _PROGRESS_BY_TYPE[event.type]


# The status line a Log Viewer shows under an upload's log.
STATUS_LINES = {
    Progress.NOT_STARTED: "The pipeline has not run yet.",
    Progress.IN_PROGRESS: "The pipeline is running.",
    Progress.FAILURE: "Finished: the upload failed.",
    Progress.SUCCESS: "Finished: the upload succeeded.",
}
