"""Each event type is named once (services.common.messages.EventType), and the queues, the classes and the
wire agree with it: found by walking the definitions, so that a type added to one and not the others fails."""

from typing import get_args

import pytest

from services.common.messages import (
    AnyEvent,
    EventType,
    FileOutcome,
    LaunchRequested,
    LogEntry,
    LorisUploadRecorded,
    PipelineFileOutcomes,
    PipelineFinished,
    PipelineFinishedLate,
    PipelineLogLine,
    PipelineLogLines,
    PipelineReported,
    PipelineRerunQueued,
    PipelineStarted,
    RuleFailure,
    RunCancelRequested,
    RunOutcome,
    ScanFacts,
    TarchiveInfo,
    TarchiveSeries,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    UserScope,
    encode_event,
    parse_event,
)
from services.common.topology import ALL_QUEUES

EVENT_CLASSES = get_args(get_args(AnyEvent)[0])  # AnyEvent is Annotated[Union[...], discriminator]

SCAN = ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key="demo/7/attempt-1/MTL0001_300001_V1.tgz",
                 candid="300001", pscid="MTL0001", visit_label="V1", site="MTL")
IDS = {"upload_id": 7, "attempt": 2}
# One valid event of each class, every optional field given a value where it has one.
EXAMPLES = [
    UploadReceived(**IDS, scan=SCAN, size_bytes=1234, uploaded_by="demo", overwrite=True,
                   scope=UserScope(username="demo", own_sites=("MTL",), no_session=True)),
    UploadValidated(**IDS, scan=SCAN),
    UploadRejected(**IDS, failures=[RuleFailure(field="candid", code="candid_exists", message="No such CandID.",
                                                forbidden=True)], site="MTL"),
    LaunchRequested(**IDS, scan=SCAN, requested_by="demo", launch=2, process_id=41, loris_upload_id=17),
    LorisUploadRecorded(**IDS, loris_upload_id=17),
    RunCancelRequested(**IDS, requested_by="demo", launch=2),
    PipelineStarted(**IDS, run_id=3, command=["python", "-m", "pipeline", "a b;c"], launcher="host:12:abc", pid=4321,
                    launch=2, run=2),
    PipelineLogLine(**IDS, line_number=3, message="[x] done", is_error=True, is_verbose=True),
    PipelineLogLines(**IDS, lines=[LogEntry(line_number=4, message="é \\xff", is_verbose=True, stream="stderr")],
                     run=1),
    PipelineFinished(**IDS, run_id=3, exit_code=None, outcome=RunOutcome.INTERRUPTED, message="Stopped.",
                     launcher="host:12:abc", stderr_tail=["boom"], launch=2, recorded_by="host:13:def", run=2),
    PipelineRerunQueued(**IDS, run_id=3, next_run_id=4, launcher="host:12:abc", message="Queued again.", run=1),
    PipelineFinishedLate(**IDS, run_id=3, exit_code=0, launcher="host:12:abc", message="Ended late.", run=1),
    PipelineReported(**IDS, run_id=3, step="converting", percent=40, tarchive="DCM_2026.tar",
                     tarchive_info=TarchiveInfo(study_date="2026-11-26", md5="abc", files=3, series=[
                         TarchiveSeries(number="1", description="T1", modality="MR", files=3)]),
                     minc_created=3, minc_inserted=2, summary="3 images created"),
    PipelineFileOutcomes(**IDS, run_id=3, files=[FileOutcome(file="a.dcm", series="1", outcome="inserted")]),
]


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """RabbitMQ's topic rule: words split by dots, `*` stands for one word and `#` for any number of them."""
    return _words_match(binding_key.split("."), routing_key.split("."))


def _words_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    first, rest = pattern[0], pattern[1:]
    if first == "#":
        return any(_words_match(rest, words[skipped:]) for skipped in range(len(words) + 1))
    return bool(words) and first in ("*", words[0]) and _words_match(rest, words[1:])


def test_the_topic_rule_is_rabbitmqs():
    assert topic_matches("#", "upload.received")
    assert topic_matches("upload.*", "upload.received") and not topic_matches("upload.*", "pipeline.started")
    assert topic_matches("upload.#", "upload.received") and not topic_matches("upload.#", "uploads.received")
    assert topic_matches("upload.received", "upload.received") and not topic_matches("upload.received", "upload.x")


@pytest.mark.parametrize("queue", ALL_QUEUES, ids=lambda queue: queue.name)
def test_every_routing_key_a_queue_binds_names_an_event_type(queue):
    for binding_key in queue.routing_keys:
        if "*" in binding_key or "#" in binding_key:
            assert any(topic_matches(binding_key, event_type) for event_type in EventType), binding_key
        else:
            assert binding_key in set(EventType), f"{queue.name} binds {binding_key!r}, which is no event type"


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_has_a_queue_bound_to_it(event_type):
    consumers = [queue.name for queue in ALL_QUEUES
                 if any(topic_matches(binding_key, event_type) for binding_key in queue.routing_keys)]

    assert consumers, f"no queue receives {event_type}"


def test_every_event_type_is_the_type_of_exactly_one_event_class():
    types = [event_class.model_fields["type"].default for event_class in EVENT_CLASSES]

    assert sorted(types) == sorted(EventType)


def test_every_event_class_has_an_example_here():
    assert {type(event) for event in EXAMPLES} == set(EVENT_CLASSES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.type)
def test_every_event_comes_back_equal_from_its_json_through_the_consumers_parser(event):
    body = encode_event(event)
    parsed = parse_event(body)

    assert type(parsed) is type(event)
    assert parsed == event
    assert encode_event(parsed) == body


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.type)
def test_the_json_type_of_an_event_is_its_routing_key_as_a_plain_string(event):
    assert f'"type":"{event.type.value}"'.encode() in encode_event(event)
    assert repr(event.type) == repr(event.type.value)
