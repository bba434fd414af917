"""LORIS's process objects, told truthfully from run records and the gateway's upload state."""

from datetime import datetime, timedelta, timezone

import pytest

from services.common.api_models import RunRecord
from services.common.progress import Progress
from services.gateway import uploads
from services.gateway.loris_api.process_state import awaited_process, processes_of_upload, run_process
from services.gateway.uploads import UploadRecord

STARTED = datetime(2024, 5, 1, 10, 20, 0, tzinfo=timezone.utc)
ENDED = datetime(2024, 5, 1, 12, 22, 13, tzinfo=timezone(timedelta(hours=2)))


def run(**changes) -> RunRecord:
    values = dict(run_id=5, attempt=1, command=["pipeline"], launcher="l", pid=24971, started_at=STARTED,
                  ended_at=ENDED, exit_code=0, outcome="succeeded", stderr_tail=[])
    return RunRecord(**{**values, **changes})


def record(state: str, launch_when_valid=False, attempt=1, launches=1) -> UploadRecord:
    return UploadRecord(upload_id=12, file_name="f.tgz", attempt=attempt, state=state, progress=Progress.NOT_STARTED,
                        launch_when_valid=launch_when_valid, launches=launches)


def test_a_success_reads_like_lorises_with_its_end_time_in_utc():
    assert run_process(run()) == {
        "ID": 5, "PID": 24971, "STATE": "SUCCESS",
        "PROGRESS": "Finished MRI uploading (pid = 24971) End time:2024-05-01 10:22:13",
        "EXIT_CODE": 0, "END_TIME": "2024-05-01 10:22:13"}


def test_a_running_run_has_no_exit_code_nor_end_time():
    assert run_process(run(ended_at=None, exit_code=None, outcome="running")) == {
        "ID": 5, "PID": 24971, "STATE": "RUNNING",
        "PROGRESS": "MRI upload task (pid = 24971) is running; it started at 2024-05-01 10:20:00.",
        "EXIT_CODE": None, "END_TIME": None}


@pytest.mark.parametrize(("changes", "progress"), [
    ({"exit_code": 151, "outcome": "failed"},
     "MRI upload task (pid = 24971) failed: error code is 151 (the PatientName in the DICOM files does not match "
     "the file name)."),
    ({"exit_code": None, "outcome": "not started", "pid": None},
     "MRI upload task failed: the pipeline command could not be started."),
    ({"exit_code": None, "outcome": "interrupted"},
     "MRI upload task (pid = 24971) failed: its launcher stopped during the run (it shut down, died or lost its "
     "database)."),
    ({"exit_code": None, "outcome": "timed out"},
     "MRI upload task (pid = 24971) failed: it ran past the pipeline's time limit and was stopped."),
    ({"exit_code": None, "outcome": "abandoned"},
     "MRI upload task (pid = 24971) failed: its launcher stopped responding, so the run was abandoned."),
])
def test_every_outcome_but_success_is_an_error_from_the_first_read(changes, progress):
    process = run_process(run(**changes))
    assert (process["STATE"], process["EXIT_CODE"], process["PROGRESS"]) == ("ERROR", changes["exit_code"], progress)
    assert process["PID"] == (changes.get("pid", 24971) or 0)
    assert process["END_TIME"] == "2024-05-01 10:22:13"


@pytest.mark.parametrize(("state", "launch_when_valid", "expected"), [
    (uploads.RECEIVED, False, None),
    (uploads.VALIDATED, False, None),
    (uploads.REJECTED, False, None),
    (uploads.RECEIVED, True, ("RUNNING", "The run of upload 12 starts as soon as the upload is validated.")),
    (uploads.LAUNCH_REQUESTED, False,
     ("RUNNING", "The run of upload 12 is granted and queued; it starts when a launcher has a free slot.")),
    (uploads.STARTED, False, ("RUNNING", "The run of upload 12 has started; its process record is not available yet.")),
    (uploads.REJECTED, True, ("ERROR", "The run of upload 12 will not start: the upload rules rejected it "
                                       "(GET /api/v1/uploads/12/log says why).")),
])
def test_a_run_wanted_but_not_recorded_yet_has_every_key_and_no_process_id(state, launch_when_valid, expected):
    process = awaited_process(record(state, launch_when_valid), [])
    if expected is None:
        assert process is None
        return
    assert process == {"ID": 0, "PID": 0, "STATE": expected[0], "PROGRESS": expected[1], "EXIT_CODE": None,
                       "END_TIME": None}


def test_the_runs_of_earlier_attempts_stay_listed_before_the_current_attempts_awaited_run():
    processes = processes_of_upload(record(uploads.LAUNCH_REQUESTED, attempt=2), [run(exit_code=1, outcome="failed")])
    assert [(p["ID"], p["STATE"]) for p in processes] == [(5, "ERROR"), (0, "RUNNING")]
    recorded = processes_of_upload(record(uploads.STARTED, attempt=1), [run(ended_at=None, exit_code=None)])
    assert [(p["ID"], p["STATE"]) for p in recorded] == [(5, "RUNNING")]


def test_a_relaunch_or_a_rerun_shows_the_interrupted_run_then_the_awaited_one_so_loris_clients_keep_waiting():
    interrupted = run(exit_code=None, outcome="interrupted")
    relaunched = record(uploads.LAUNCH_REQUESTED, attempt=1, launches=2)
    assert [(p["ID"], p["STATE"]) for p in processes_of_upload(relaunched, [interrupted])] == [(5, "ERROR"), (0, "RUNNING")]

    queued_again = processes_of_upload(record(uploads.STARTED, attempt=1, launches=1), [interrupted])
    assert [(p["ID"], p["STATE"]) for p in queued_again] == [(5, "ERROR"), (0, "RUNNING")]
    assert queued_again[1]["PROGRESS"] == ("The run of upload 12 was interrupted and is queued again; it starts when "
                                           "a launcher has a free slot.")

    given_up = processes_of_upload(record(uploads.FINISHED, attempt=1, launches=1), [interrupted])
    assert [(p["ID"], p["STATE"]) for p in given_up] == [(5, "ERROR")]
