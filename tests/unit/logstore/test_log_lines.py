"""What each event adds to an upload's log (services.logstore.log_lines)."""

import pytest

from services.common.messages import (
    LaunchRequested,
    PipelineFinished,
    PipelineLogLine,
    PipelineReported,
    PipelineStarted,
    RuleFailure,
    RunOutcome,
    ScanFacts,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    UserScope,
)
from services.logstore.log_lines import Line, lines_for

SCAN = ScanFacts(
    file_name="MTL0001_300001_V1.tgz", scan_key="demo/7/attempt-1/MTL0001_300001_V1.tgz",
    candid="300001", pscid="MTL0001", visit_label="V1",
)
PHANTOM = ScanFacts(file_name="phantom.tgz", scan_key="demo/8/attempt-1/phantom.tgz", is_phantom=True)


def received(attempt: int = 1, size_bytes: int = 5 * 1024**2) -> UploadReceived:
    return UploadReceived(upload_id=7, attempt=attempt, scan=SCAN, size_bytes=size_bytes, uploaded_by="demo",
                          scope=UserScope(username="demo", all_sites=True))


def test_a_received_upload_is_logged_by_the_gateway_with_its_name_size_in_mib_and_uploader():
    assert lines_for(received()) == [
        Line("gateway", "Upload received: MTL0001_300001_V1.tgz (5.0 MiB) from demo.", is_error=False, is_verbose=False)
    ]


@pytest.mark.parametrize(
    ("size_bytes", "shown"),
    [(0, "0 bytes"), (645, "645 bytes"), (1024**2 // 2, "512.0 KiB"), (1536 * 1024, "1.5 MiB"), (3 * 1024**3, "3.0 GiB")],
)
def test_the_size_of_a_received_upload_is_shown_in_the_largest_unit_that_keeps_it_above_one(size_bytes, shown):
    assert f"({shown})" in lines_for(received(size_bytes=size_bytes))[0].message


def test_a_second_attempt_says_it_replaces_the_first():
    assert [line.message for line in lines_for(received(attempt=2))] == [
        "Upload received: MTL0001_300001_V1.tgz (5.0 MiB) from demo; it replaces attempt 1."
    ]


def test_a_fifth_attempt_says_it_replaces_the_fourth():
    assert lines_for(received(attempt=5))[0].message.endswith("; it replaces attempt 4.")


def test_a_validated_candidate_scan_names_its_candid_pscid_and_visit():
    assert lines_for(UploadValidated(upload_id=7, attempt=1, scan=SCAN)) == [
        Line("validator", "Candidate checked: CandID 300001, PSCID MTL0001, visit V1 are valid and active.")
    ]


def test_a_validated_phantom_says_no_candidate_checks_apply():
    assert lines_for(UploadValidated(upload_id=8, attempt=1, scan=PHANTOM)) == [
        Line("validator", "Phantom scan: no candidate checks apply.")
    ]


def test_a_rejection_logs_one_error_per_failed_rule_then_tells_the_user_what_to_do():
    event = UploadRejected(
        upload_id=7, attempt=1,
        failures=[
            RuleFailure(field="pscid", code="pscid_matches_candid", message="PSCID MTL0001 does not belong to CandID 300001; check both values."),
            RuleFailure(field="visit_label", code="visit_exists", message="Visit label V1 does not exist for CandID 300001; check both values."),
        ],
    )

    assert lines_for(event) == [
        Line("validator", "PSCID MTL0001 does not belong to CandID 300001; check both values.", is_error=True),
        Line("validator", "Visit label V1 does not exist for CandID 300001; check both values.", is_error=True),
        Line("validator", "The upload was rejected: correct the values above and upload it again.", is_error=True),
    ]


def test_no_line_of_a_rejection_is_hidden_from_the_summary_log():
    event = UploadRejected(upload_id=7, attempt=1, failures=[RuleFailure(field="candid", code="candid_exists", message="CandID 300001 does not exist.")])

    assert [line.is_verbose for line in lines_for(event)] == [False, False]


def test_a_launch_request_names_who_asked():
    event = LaunchRequested(upload_id=7, attempt=1, scan=SCAN, requested_by="alice")

    assert lines_for(event) == [Line("gateway", "Pipeline launch requested by alice; the run is queued.")]


def test_an_automatic_launch_says_the_upload_is_valid_and_queued():
    event = LaunchRequested(upload_id=7, attempt=1, scan=SCAN, requested_by="auto-launch")

    assert lines_for(event) == [Line("gateway", "The upload is valid: its pipeline run is queued (auto-launch).")]


def test_a_started_pipeline_logs_a_summary_line_and_its_command_pid_and_launcher_in_the_detailed_log():
    event = PipelineStarted(upload_id=7, attempt=1, run_id=2, command=["/usr/bin/python3", "-m", "pipeline", "7"],
                            launcher="host:42:abcdef", pid=4321)

    assert lines_for(event) == [
        Line("launcher", "Pipeline started.", is_error=False, is_verbose=False),
        Line("launcher", "Command (pid 4321 on host:42:abcdef): /usr/bin/python3 -m pipeline 7", is_error=False,
             is_verbose=True),
    ]


def test_a_pipeline_report_adds_no_line_of_its_own_the_launcher_logged_it_in_words_with_the_output():
    event = PipelineReported(upload_id=7, attempt=1, run_id=3, tarchive="DCM_x.tar", minc_created=3, minc_inserted=2)

    assert lines_for(event) == []


@pytest.mark.parametrize(("is_error", "is_verbose"), [(False, False), (False, True), (True, False)])
def test_a_pipeline_output_line_is_logged_as_the_pipeline_said(is_error, is_verbose):
    event = PipelineLogLine(upload_id=7, attempt=1, line_number=4, message="12 DICOM files found",
                            is_error=is_error, is_verbose=is_verbose)

    assert lines_for(event) == [Line("pipeline", "12 DICOM files found", is_error=is_error, is_verbose=is_verbose)]


def test_a_successful_run_is_logged_as_its_message_without_error():
    event = PipelineFinished(upload_id=7, attempt=1, run_id=1, exit_code=0, outcome=RunOutcome.SUCCEEDED, message="The scan was inserted.", launcher="l")

    assert lines_for(event) == [Line("launcher", "The scan was inserted.", is_error=False, is_verbose=False)]


@pytest.mark.parametrize("exit_code", [62, None, -9])
def test_a_failed_run_is_logged_as_an_error(exit_code):
    event = PipelineFinished(upload_id=7, attempt=1, run_id=1, exit_code=exit_code, outcome=RunOutcome.FAILED, message="The pipeline failed.", launcher="l")

    assert lines_for(event) == [Line("launcher", "The pipeline failed.", is_error=True, is_verbose=False)]
