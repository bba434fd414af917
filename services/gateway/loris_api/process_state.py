"""LORIS's process objects, `{"ID", "PID", "STATE", "PROGRESS", "EXIT_CODE",
"END_TIME"}`, told truthfully from our records; every key is always present.

A process is a launch: ID is the launch's process id, given by the gateway
when the launch is asked for, so the answer to POST .../processes names the
ID the listing shows from its first read to the run's end. A run interrupted
and queued again on its own is the same process (the client launched once);
a launch asked for again is a new one. The listing shows each launch once,
as its latest run tells it:
- a run the launcher recorded: PID its process id (0 if it had none), STATE
  RUNNING until it ends, then SUCCESS or ERROR (any outcome but success: a
  failed exit code, a command that could not start, a run interrupted or
  abandoned), EXIT_CODE its exit code (null while running, or when it ended
  without one), END_TIME "YYYY-MM-DD HH:MM:SS" in UTC (null while running),
  PROGRESS a sentence in the words of LORIS's exit text;
- a launch asked for, granted or queued again after an interruption, but not
  running yet (it waits for a free launcher, or for the upload's
  validation): PID 0 (no process yet; LORIS clients read it as a number),
  STATE RUNNING, because the launch is under way and LORIS clients wait
  while a process is RUNNING, and a PROGRESS sentence that says what it
  waits for;
- a launch asked for an upload the rules then rejected: PID 0, STATE ERROR,
  and a PROGRESS that says it will never run.
A run of a launch older than process ids is shown under its run id (new
process ids start above every such run id); one asked for then and not yet
running has ID 0.
"""

from datetime import datetime, timezone

from services.common.api_models import RunRecord
from services.common.exit_codes import describe_exit_code, describe_signal
from services.gateway.uploads import records
from services.gateway.uploads.records import UploadRecord

RUNNING, SUCCESS, ERROR = "RUNNING", "SUCCESS", "ERROR"
NO_PROCESS = 0
END_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_FAILURE_WITHOUT_CODE = {
    "not started": "the pipeline command could not be started",
    "timed out": "it ran past the pipeline's time limit and was stopped",
    "cancelled": "a user cancelled it",
    "interrupted": "its launcher stopped during the run (it shut down, died or lost its database)",
    "abandoned": "its launcher stopped responding, so the run was abandoned",
}


def process_object(id_: int, pid: int, state: str, progress: str, exit_code: int | None,
                   end_time: str | None) -> dict:
    return {"ID": id_, "PID": pid, "STATE": state, "PROGRESS": progress, "EXIT_CODE": exit_code,
            "END_TIME": end_time}


def processes_of_upload(record: UploadRecord, runs: list[RunRecord]) -> list[dict]:
    """Every launch of the upload, in the order of their first runs (earlier attempts' included, as LORIS keeps
    them), as its latest run tells it; the current launch, while it is wanted but not running, as it waits."""
    processes: dict[int, dict] = {}
    for run in runs:  # oldest first: a later try of a launch takes its earlier try's place
        process_id = _process_id(run, record)
        processes[process_id] = run_process(run, process_id)
    current = [run for run in runs if _of_current_launch(run, record)]
    if not any(run.ended_at is None for run in current):
        awaited = awaited_process(record, current)
        if awaited is not None:
            processes[awaited["ID"]] = awaited
    return list(processes.values())


def run_process(run: RunRecord, process_id: int) -> dict:
    pid = run.pid or NO_PROCESS
    if run.ended_at is None:
        return process_object(process_id, pid, RUNNING, _running_text(run), None, None)
    end_time = loris_time(run.ended_at)
    if run.outcome == "succeeded":
        return process_object(process_id, pid, SUCCESS, f"Finished MRI uploading (pid = {pid}) End time:{end_time}",
                              run.exit_code, end_time)
    return process_object(process_id, pid, ERROR, _failure_text(run), run.exit_code, end_time)


def awaited_process(record: UploadRecord, current: list[RunRecord]) -> dict | None:
    """The current launch, asked for, granted or queued again but not running yet; None when none is wanted.
    `current` are the launch's runs already recorded, all ended."""
    process_id = record.process_id or NO_PROCESS
    upload = f"upload {record.upload_id}"
    if record.state == records.LAUNCH_REQUESTED:
        text = f"The run of {upload} is granted and queued; it starts when a launcher has a free slot."
    elif record.state == records.STARTED and current:
        text = (f"The run of {upload} was interrupted and is queued again; it starts when a launcher has a "
                "free slot.")
    elif record.state in (records.STARTED, records.FINISHED) and not current:
        text = f"The run of {upload} has started; its process record is not available yet."
    elif record.launch_when_valid and record.state in (records.RECEIVED, records.VALIDATED):
        text = f"The run of {upload} starts as soon as the upload is validated."
    elif record.launch_when_valid and record.state == records.REJECTED:
        return process_object(process_id, NO_PROCESS, ERROR,
                              f"The run of {upload} will not start: the upload rules rejected it "
                              f"(GET /api/v1/uploads/{record.upload_id}/log says why).", None, None)
    else:
        return None
    return process_object(process_id, NO_PROCESS, RUNNING, text, None, None)


def _process_id(run: RunRecord, record: UploadRecord) -> int:
    if run.process_id is not None:
        return run.process_id
    if _of_current_launch(run, record) and record.process_id is not None:
        return record.process_id  # the logstore has not recorded the launch (yet)
    return run.run_id  # a run of a launch older than process ids


def _of_current_launch(run: RunRecord, record: UploadRecord) -> bool:
    return run.attempt == record.attempt and run.launch == max(record.launches, 1)


def loris_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(END_TIME_FORMAT)


def _running_text(run: RunRecord) -> str:
    task = f"MRI upload task (pid = {run.pid})" if run.pid else "MRI upload task"
    if run.started_at is None:
        return f"{task} is running."
    return f"{task} is running; it started at {loris_time(run.started_at)}."


def _failure_text(run: RunRecord) -> str:
    task = f"MRI upload task (pid = {run.pid})" if run.pid else "MRI upload task"
    if run.exit_code is not None and run.exit_code < 0:
        return f"{task} failed: it was killed by {describe_signal(-run.exit_code)}."
    if run.exit_code is not None:
        return f"{task} failed: error code is {run.exit_code} ({describe_exit_code(run.exit_code)})."
    reason = _FAILURE_WITHOUT_CODE.get(run.outcome, f"its outcome is {run.outcome}")
    return f"{task} failed: {reason}."
