"""LORIS's process objects, told truthfully from run records and the gateway's upload state: one process per
launch, under the process id the gateway gave the launch when it was asked for."""

from datetime import datetime, timedelta, timezone

import pytest

from services.common.api_models import RunRecord
from services.common.progress import Progress
from services.gateway.loris_api.process_state import awaited_process, processes_of_upload, run_process
from services.gateway.uploads import records
from services.gateway.uploads.records import UploadRecord

STARTED = datetime(2024, 5, 1, 10, 20, 0, tzinfo=timezone.utc)
ENDED = datetime(2024, 5, 1, 12, 22, 13, tzinfo=timezone(timedelta(hours=2)))


def run(**changes) -> RunRecord:
    values = dict(run_id=5, attempt=1, launch=1, process_id=31, command=["pipeline"], launcher="l", pid=24971,
                  started_at=STARTED, ended_at=ENDED, exit_code=0, outcome="succeeded", stderr_tail=[])
    return RunRecord(**{**values, **changes})


def record(state: str, launch_when_valid=False, attempt=1, launches=1, process_id=31) -> UploadRecord:
    return UploadRecord(upload_id=12, file_name="f.tgz", attempt=attempt, state=state, progress=Progress.NOT_STARTED,
                        launch_when_valid=launch_when_valid, launches=launches, process_id=process_id)


def test_a_success_reads_like_lorises_with_its_end_time_in_utc():
    assert run_process(run(), 31) == {
        "ID": 31, "PID": 24971, "STATE": "SUCCESS",
        "PROGRESS": "Finished MRI uploading (pid = 24971) End time:2024-05-01 10:22:13",
        "EXIT_CODE": 0, "END_TIME": "2024-05-01 10:22:13"}


def test_a_running_run_has_no_exit_code_nor_end_time():
    assert run_process(run(ended_at=None, exit_code=None, outcome="running"), 31) == {
        "ID": 31, "PID": 24971, "STATE": "RUNNING",
        "PROGRESS": "MRI upload task (pid = 24971) is running; it started at 2024-05-01 10:20:00.",
        "EXIT_CODE": None, "END_TIME": None}


@pytest.mark.parametrize(("changes", "progress"), [
    ({"exit_code": 151, "outcome": "failed"},
     "MRI upload task (pid = 24971) failed: error code is 151 (the PatientName in the DICOM files does not match "
     "the file name)."),
    ({"exit_code": -9, "outcome": "failed"},
     "MRI upload task (pid = 24971) failed: it was killed by signal 9 (SIGKILL; the system may have run out of "
     "memory)."),
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
    process = run_process(run(**changes), 31)
    assert (process["STATE"], process["EXIT_CODE"], process["PROGRESS"]) == ("ERROR", changes["exit_code"], progress)
    assert process["PID"] == (changes.get("pid", 24971) or 0)
    assert process["END_TIME"] == "2024-05-01 10:22:13"


@pytest.mark.parametrize(("state", "launch_when_valid", "expected"), [
    (records.RECEIVED, False, None),
    (records.VALIDATED, False, None),
    (records.REJECTED, False, None),
    (records.RECEIVED, True, ("RUNNING", "The run of upload 12 starts as soon as the upload is validated.")),
    (records.LAUNCH_REQUESTED, False,
     ("RUNNING", "The run of upload 12 is granted and queued; it starts when a launcher has a free slot.")),
    (records.STARTED, False, ("RUNNING", "The run of upload 12 has started; its process record is not available yet.")),
    (records.REJECTED, True, ("ERROR", "The run of upload 12 will not start: the upload rules rejected it "
                                       "(GET /api/v1/uploads/12/log says why).")),
])
def test_a_launch_wanted_but_not_running_yet_has_every_key_and_already_its_process_id(state, launch_when_valid,
                                                                                        expected):
    process = awaited_process(record(state, launch_when_valid), [])
    if expected is None:
        assert process is None
        return
    assert process == {"ID": 31, "PID": 0, "STATE": expected[0], "PROGRESS": expected[1], "EXIT_CODE": None,
                       "END_TIME": None}


def test_the_launches_of_earlier_attempts_stay_listed_before_the_current_attempts_awaited_launch():
    processes = processes_of_upload(record(records.LAUNCH_REQUESTED, attempt=2, process_id=32),
                                    [run(exit_code=1, outcome="failed")])
    assert [(p["ID"], p["STATE"]) for p in processes] == [(31, "ERROR"), (32, "RUNNING")]
    recorded = processes_of_upload(record(records.STARTED, attempt=1), [run(ended_at=None, exit_code=None)])
    assert [(p["ID"], p["STATE"]) for p in recorded] == [(31, "RUNNING")]


def test_a_relaunch_is_a_new_process_after_the_interrupted_one_so_loris_clients_keep_waiting():
    interrupted = run(exit_code=None, outcome="interrupted")
    relaunched = record(records.LAUNCH_REQUESTED, attempt=1, launches=2, process_id=32)
    assert [(p["ID"], p["STATE"]) for p in processes_of_upload(relaunched, [interrupted])] == [
        (31, "ERROR"), (32, "RUNNING")]

    given_up = processes_of_upload(record(records.FINISHED, attempt=1, launches=1), [interrupted])
    assert [(p["ID"], p["STATE"]) for p in given_up] == [(31, "ERROR")]


def test_a_run_interrupted_and_queued_again_stays_one_running_process_under_its_id_until_its_last_try_ends():
    interrupted = run(exit_code=None, outcome="interrupted", pid=100)
    queued_again = processes_of_upload(record(records.STARTED), [interrupted])
    assert [(p["ID"], p["STATE"], p["PID"]) for p in queued_again] == [(31, "RUNNING", 0)]
    assert queued_again[0]["PROGRESS"] == ("The run of upload 12 was interrupted and is queued again; it starts when "
                                           "a launcher has a free slot.")

    second_try = run(run_id=6, ended_at=None, exit_code=None, outcome="running", pid=200)
    running = processes_of_upload(record(records.STARTED), [interrupted, second_try])
    assert [(p["ID"], p["STATE"], p["PID"]) for p in running] == [(31, "RUNNING", 200)]

    done = processes_of_upload(record(records.FINISHED), [interrupted, run(run_id=6, pid=200)])
    assert [(p["ID"], p["STATE"], p["PID"]) for p in done] == [(31, "SUCCESS", 200)]


def test_a_run_whose_launch_the_logstore_has_not_recorded_takes_the_gateways_id_and_an_older_run_its_run_id():
    current = run(run_id=7, launch=2, process_id=None, ended_at=None, exit_code=None, outcome="running")
    older = run(run_id=5, process_id=None, exit_code=None, outcome="interrupted")
    processes = processes_of_upload(record(records.STARTED, launches=2, process_id=40), [older, current])
    assert [(p["ID"], p["STATE"]) for p in processes] == [(5, "ERROR"), (40, "RUNNING")]
