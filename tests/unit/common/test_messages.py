"""The events the services exchange (services.common.messages)."""

import json
from datetime import datetime, timezone
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.common.messages import (
    SCHEMA_VERSION,
    LaunchRequested,
    PipelineFinished,
    LogEntry,
    PipelineLogLine,
    PipelineLogLines,
    PipelineStarted,
    PipelineReported,
    RuleCheckRequest,
    RuleFailure,
    RunOutcome,
    ScanFacts,
    UserScope,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    encode_event,
    parse_event,
)

SCAN = ScanFacts(
    file_name="MTL0001_300001_V1.tgz",
    scan_key="demo/7/attempt-1/MTL0001_300001_V1.tgz",
    candid="300001",
    pscid="MTL0001",
    visit_label="V1",
)
PHANTOM = ScanFacts(file_name="phantom.tgz", scan_key="demo/8/attempt-1/phantom.tgz", is_phantom=True)

SCOPE = UserScope(username="demo", own_sites=("MTL",), no_session=True)
FAILURE = RuleFailure(field="candid", code="candid_exists", message="CandID 300001 does not exist.")
EVENTS = [
    UploadReceived(upload_id=7, attempt=1, scan=SCAN, size_bytes=1234, uploaded_by="demo", overwrite=True, scope=SCOPE),
    UploadValidated(upload_id=7, attempt=1, scan=SCAN.model_copy(update={"site": "MTL"})),
    UploadRejected(upload_id=7, attempt=1, failures=[FAILURE], site="MTL"),
    LaunchRequested(upload_id=7, attempt=2, scan=PHANTOM, requested_by="demo"),
    PipelineStarted(upload_id=7, attempt=1, run_id=3, command=["python", "-m", "pipeline", "a b;c"],
                    launcher="host:12:abcdef", pid=4321),
    PipelineLogLine(upload_id=7, attempt=1, line_number=3, message="[x] done", is_error=True, is_verbose=False),
    PipelineLogLines(upload_id=7, attempt=1, lines=[LogEntry(line_number=4, message="é \\xff", is_verbose=True),
                                                    LogEntry(line_number=5, message="[x] done", is_error=True)]),
    PipelineFinished(upload_id=7, attempt=1, run_id=3, exit_code=None, outcome=RunOutcome.INTERRUPTED,
                     message="The pipeline was stopped.", launcher="host:12:abcdef", stderr_tail=["boom"]),
    PipelineReported(upload_id=7, attempt=1, tarchive="DCM_2026-11-26_MTL0001_300001_V1.tar", minc_created=3,
                     minc_inserted=2),
]
EVENT_IDS = [event.type for event in EVENTS]


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_every_event_comes_back_unchanged_and_of_its_own_class_after_encoding(event):
    parsed = parse_event(encode_event(event))

    assert type(parsed) is type(event)
    assert parsed == event


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_every_event_carries_an_id_its_upload_its_attempt_a_time_and_the_schema_version(event):
    sent = json.loads(encode_event(event))

    assert UUID(sent["event_id"]) == event.event_id
    assert sent["upload_id"] == 7
    assert sent["attempt"] == event.attempt
    assert datetime.fromisoformat(sent["occurred_at"]) == event.occurred_at
    assert event.occurred_at.tzinfo is not None
    assert sent["version"] == SCHEMA_VERSION == 1
    assert sent["type"] == event.type


def test_the_routing_types_of_the_events_are_the_documented_names():
    assert EVENT_IDS == [
        "upload.received",
        "upload.validated",
        "upload.rejected",
        "upload.launch_requested",
        "pipeline.started",
        "pipeline.log",
        "pipeline.log_lines",
        "pipeline.finished",
        "pipeline.reported",
    ]


def test_two_events_made_one_after_the_other_have_different_ids():
    first = UploadValidated(upload_id=1, attempt=1, scan=SCAN)
    second = UploadValidated(upload_id=1, attempt=1, scan=SCAN)

    assert first.event_id != second.event_id


def test_a_body_that_is_not_json_is_refused_with_a_validation_error():
    with pytest.raises(ValidationError) as caught:
        parse_event(b"not json at all {")

    assert caught.value.errors()[0]["type"] == "json_invalid"


def test_a_body_with_an_unknown_type_is_refused_naming_the_expected_types():
    with pytest.raises(ValidationError) as caught:
        parse_event(body(type="upload.vanished", upload_id=1, attempt=1))

    error = caught.value.errors()[0]
    assert error["type"] == "union_tag_invalid"
    assert "'upload.vanished'" in error["msg"]
    assert "'pipeline.finished'" in error["msg"]


def test_a_body_without_a_type_is_refused():
    with pytest.raises(ValidationError) as caught:
        parse_event(body(upload_id=1, attempt=1, command=["x"]))

    assert caught.value.errors()[0]["type"] == "union_tag_not_found"


def test_a_body_without_an_event_id_or_time_gets_fresh_ones():
    parsed = parse_event(body(type="pipeline.log", upload_id=1, attempt=1, line_number=1, message="x"))

    assert isinstance(parsed, PipelineLogLine)
    assert isinstance(parsed.event_id, UUID)
    assert parsed.occurred_at.tzinfo == timezone.utc


def test_a_body_without_an_upload_id_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        parse_event(body(type="pipeline.log", attempt=1, line_number=1, message="x"))

    errors = caught.value.errors()
    assert [(e["type"], e["loc"][-1]) for e in errors] == [("missing", "upload_id")]


def test_a_body_of_schema_version_2_is_refused():
    with pytest.raises(ValidationError) as caught:
        parse_event(body(type="pipeline.log", upload_id=1, attempt=1, line_number=1, message="x", version=2))

    errors = caught.value.errors()
    assert [(e["type"], e["loc"][-1]) for e in errors] == [("literal_error", "version")]


def test_a_body_with_a_field_no_event_has_is_refused():
    with pytest.raises(ValidationError) as caught:
        parse_event(body(type="pipeline.log", upload_id=1, attempt=1, line_number=1, message="x", colour="red"))

    assert [e["type"] for e in caught.value.errors()] == ["extra_forbidden"]


@pytest.mark.parametrize("attempt", [0, -1])
def test_an_attempt_below_1_is_refused(attempt):
    with pytest.raises(ValidationError) as caught:
        UploadValidated(upload_id=1, attempt=attempt, scan=SCAN)

    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("greater_than_equal", ("attempt",))]


def test_an_attempt_below_1_in_a_message_body_is_refused():
    with pytest.raises(ValidationError):
        parse_event(body(type="pipeline.started", upload_id=1, attempt=0, command=["x"]))


def test_a_rejection_must_give_at_least_one_reason():
    with pytest.raises(ValidationError) as caught:
        UploadRejected(upload_id=1, attempt=1, failures=[])

    assert caught.value.errors()[0]["type"] == "too_short"


def test_events_cannot_be_changed_once_made():
    event = UploadValidated(upload_id=1, attempt=1, scan=SCAN)

    with pytest.raises(ValidationError):
        event.attempt = 2


def test_the_patient_name_of_a_scan_is_pscid_candid_visit():
    assert SCAN.patient_name == "MTL0001_300001_V1"


def test_a_phantom_scan_has_an_empty_patient_name():
    assert PHANTOM.patient_name == ""


def test_a_phantom_scan_has_an_empty_patient_name_even_when_candidate_fields_are_given():
    scan = ScanFacts(file_name="p.tgz", scan_key="k", candid="300001", pscid="MTL0001", visit_label="V1", is_phantom=True)

    assert scan.patient_name == ""


def test_a_scan_is_sent_with_its_identity_its_file_and_its_site():
    assert json.loads(SCAN.model_dump_json()) == {
        "file_name": "MTL0001_300001_V1.tgz", "scan_key": "demo/7/attempt-1/MTL0001_300001_V1.tgz",
        "candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "is_phantom": False, "site": None}


def test_a_rule_check_is_sent_with_the_scans_identity_its_file_name_and_the_users_scope():
    request = RuleCheckRequest(candid="300001", pscid="MTL0001", visit_label="V1", file_name="a.tgz", scope=SCOPE)

    assert json.loads(request.model_dump_json()) == {
        "purpose": "upload", "candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "is_phantom": False,
        "file_name": "a.tgz", "scope": {"username": "demo", "all_sites": False, "own_sites": ["MTL"],
                                        "no_session": True}}
    assert RuleCheckRequest.model_validate_json(request.model_dump_json()) == request
