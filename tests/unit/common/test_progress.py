"""How events move an upload's progress (services.common.progress)."""

import pytest

from services.common.messages import (
    LaunchRequested,
    PipelineFinished,
    PipelineLogLine,
    PipelineReported,
    PipelineStarted,
    RuleFailure,
    ScanFacts,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    UserScope,
)
from services.common.progress import Progress, moves_progress, progress_after, rank_of, rank_of_type

SCAN = ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key="k", candid="300001", pscid="MTL0001", visit_label="V1")
RECEIVED = UploadReceived(upload_id=1, attempt=1, scan=SCAN, size_bytes=10, uploaded_by="demo",
                          scope=UserScope(username="demo", all_sites=True))
VALIDATED = UploadValidated(upload_id=1, attempt=1, scan=SCAN)
REJECTED = UploadRejected(upload_id=1, attempt=1, failures=[RuleFailure(field="candid", code="r", message="m")])
LAUNCH_REQUESTED = LaunchRequested(upload_id=1, attempt=1, scan=SCAN, requested_by="demo")
STARTED = PipelineStarted(upload_id=1, attempt=1, run_id=1, command=["x"], launcher="l", pid=2)
SUCCEEDED = PipelineFinished(upload_id=1, attempt=1, run_id=1, exit_code=0, outcome="succeeded",
                             message="ok", launcher="l")
FAILED = PipelineFinished(upload_id=1, attempt=1, run_id=1, exit_code=62, outcome="failed",
                          message="bad", launcher="l")
LOG_LINE = PipelineLogLine(upload_id=1, attempt=1, line_number=1, message="hello")


def test_the_progress_states_are_the_four_loris_words():
    assert [p.value for p in Progress] == ["Not Started", "In Progress", "Failure", "Success"]


def test_an_upload_moves_forward_from_received_to_validated_to_launch_requested_to_started():
    assert rank_of(RECEIVED) < rank_of(VALIDATED) < rank_of(LAUNCH_REQUESTED) < rank_of(STARTED)


@pytest.mark.parametrize("last", [SUCCEEDED, FAILED, REJECTED], ids=["succeeded", "failed", "rejected"])
def test_a_finished_or_rejected_upload_ranks_above_every_earlier_step(last):
    assert rank_of(last) > max(rank_of(e) for e in (RECEIVED, VALIDATED, LAUNCH_REQUESTED, STARTED))


def test_a_rejection_and_a_finished_run_rank_the_same():
    assert rank_of(REJECTED) == rank_of(SUCCEEDED) == rank_of(FAILED) == rank_of_type("pipeline.finished")


def test_rank_of_type_gives_the_rank_of_the_event_of_that_type():
    assert rank_of_type("upload.received") == rank_of(RECEIVED)
    assert rank_of_type("pipeline.started") == rank_of(STARTED)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (RECEIVED, Progress.NOT_STARTED),
        (VALIDATED, Progress.NOT_STARTED),
        (LAUNCH_REQUESTED, Progress.NOT_STARTED),
        (STARTED, Progress.IN_PROGRESS),
        (REJECTED, Progress.FAILURE),
        (SUCCEEDED, Progress.SUCCESS),
        (FAILED, Progress.FAILURE),
    ],
    ids=["received", "validated", "launch_requested", "started", "rejected", "succeeded", "failed"],
)
def test_each_event_leaves_the_upload_in_the_progress_loris_shows(event, expected):
    assert progress_after(event) is expected


def test_a_log_line_or_a_report_does_not_move_progress_but_every_other_event_does():
    assert not moves_progress(LOG_LINE)
    assert not moves_progress(PipelineReported(upload_id=1, attempt=1, minc_created=2))
    assert all(moves_progress(e) for e in (RECEIVED, VALIDATED, REJECTED, LAUNCH_REQUESTED, STARTED, SUCCEEDED, FAILED))


def test_a_relaunch_of_an_interrupted_run_moves_a_failure_back_to_not_started_then_on():
    interrupted = PipelineFinished(upload_id=1, attempt=1, run_id=1, exit_code=None, outcome="interrupted",
                                   message="m", launcher="l")
    relaunched = LaunchRequested(upload_id=1, attempt=1, scan=SCAN, requested_by="demo", launch=2)
    started_again = PipelineStarted(upload_id=1, attempt=1, run_id=2, command=["x"], launcher="l", pid=3, launch=2)
    succeeded = PipelineFinished(upload_id=1, attempt=1, run_id=2, exit_code=0, outcome="succeeded", message="ok",
                                 launcher="l", launch=2)

    ranks = [rank_of(event) for event in (interrupted, relaunched, started_again, succeeded)]

    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert [progress_after(e) for e in (relaunched, started_again, succeeded)] == [
        Progress.NOT_STARTED, Progress.IN_PROGRESS, Progress.SUCCESS]
    assert rank_of(relaunched) == rank_of_type("upload.launch_requested", launch=2)


def test_a_rerun_of_the_same_launch_ranks_its_start_like_the_first_so_progress_stays_in_progress():
    rerun_started = PipelineStarted(upload_id=1, attempt=1, run_id=9, command=["x"], launcher="other", pid=5)
    assert rank_of(rerun_started) == rank_of(STARTED)
    assert rank_of(FAILED) > rank_of(rerun_started)
