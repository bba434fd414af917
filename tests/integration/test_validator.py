"""The validator in-process, on the real broker and database: a received
upload is validated or rejected with every failed rule, in words."""

import contextlib

import pytest

from services.common.broker import connect
from services.common.request_reply import NoAnswer, Requester
from services.common.topology import RULE_CHECK_QUEUE

from services.common.messages import (
    RuleCheckReply,
    RuleCheckRequest,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    UserScope,
)
from services.validator.__main__ import build_app
from tests.integration.helpers import eventually, new_upload_id, received_event
from tests.support.inprocess import running_app
from tests.support.tap import of_upload


@pytest.fixture
async def validator(validator_settings, tap):
    async with running_app(build_app(validator_settings())) as url:
        yield url


def received(upload_id: int, attempt: int = 1, **facts) -> UploadReceived:
    return received_event(upload_id, attempt, **facts)


async def decision_on(tap, event: UploadReceived):
    await tap.publish(event)
    return await tap.wait_for(lambda e: e.upload_id == event.upload_id and e.type in ("upload.validated", "upload.rejected"))


async def failure_messages(tap, event: UploadReceived) -> list[str]:
    decision = await decision_on(tap, event)
    assert isinstance(decision, UploadRejected), decision
    assert (decision.upload_id, decision.attempt) == (event.upload_id, event.attempt)
    return [failure.message for failure in decision.failures]


async def test_a_valid_candidate_and_active_visit_is_validated_with_its_scan_facts_passed_on(validator, tap, pool):
    event = received(new_upload_id(), attempt=2, candid="300001", pscid="MTL0001", visit_label="V1")

    decision = await decision_on(tap, event)

    assert isinstance(decision, UploadValidated)
    assert (decision.upload_id, decision.attempt) == (event.upload_id, 2)
    assert decision.scan == event.scan.model_copy(update={"site": "MTL"})
    assert decision.event_id != event.event_id

    async def published_at():
        return await pool.fetchval("SELECT published_at FROM validator.outbox WHERE event_id = $1", decision.event_id)

    assert await eventually(published_at, what="the validator's outbox row being marked published")


async def test_a_candidate_of_another_site_is_validated_for_an_all_sites_user_with_its_site(validator, tap):
    event = received(new_upload_id(), candid="400001", pscid="OTT0001", visit_label="V1")

    decision = await decision_on(tap, event)

    assert isinstance(decision, UploadValidated) and decision.scan.site == "OTT"


async def test_an_upload_for_another_site_by_an_own_sites_user_is_rejected_with_the_site_rule(validator, tap):
    scope = UserScope(username="mo", own_sites=("MTL",))
    event = received_event(new_upload_id(), candid="400001", pscid="OTT0001", visit_label="V1", scope=scope)

    decision = await decision_on(tap, event)

    assert isinstance(decision, UploadRejected) and decision.site == "OTT"
    assert [(f.code, f.forbidden) for f in decision.failures] == [("site_not_permitted", True)]


@pytest.mark.parametrize(
    ("candid", "pscid", "visit_label", "message"),
    [
        ("999999", "MTL0001", "V1", "CandID 999999 does not exist."),
        ("300001", "MTL0002", "V1", "PSCID MTL0002 does not belong to CandID 300001; check both values."),
        ("300002", "MTL0002", "V1", "Candidate 300002 (PSCID MTL0002) is not active."),
        ("300001", "MTL0001", "V2", "Visit V2 of CandID 300001 is not active."),
        ("400001", "OTT0001", "V9", "Visit label V9 does not exist for CandID 400001; check both values."),
    ],
    ids=["unknown-candid", "pscid-of-another-candidate", "inactive-candidate", "inactive-visit", "unknown-visit"],
)
async def test_a_broken_rule_is_rejected_with_one_sentence_naming_the_values(validator, tap, candid, pscid, visit_label, message):
    event = received(new_upload_id(), candid=candid, pscid=pscid, visit_label=visit_label)

    assert await failure_messages(tap, event) == [message]


async def test_every_failed_rule_is_reported_at_once(validator, tap):
    messages = await failure_messages(tap, received(new_upload_id(), candid="300002", pscid="MTL0001", visit_label="V7"))

    assert messages == [
        "PSCID MTL0001 does not belong to CandID 300002; check both values.",
        "Candidate 300002 (PSCID MTL0002) is not active.",
        "Visit label V7 does not exist for CandID 300002; check both values.",
    ]


async def test_every_rejection_names_its_rule(validator, tap):
    decision = await decision_on(tap, received(new_upload_id(), candid="300002", pscid="MTL0001", visit_label="V7"))

    assert [failure.code for failure in decision.failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]


async def test_a_phantom_scan_is_validated_without_candidate_checks(validator, tap):
    event = received(new_upload_id(), is_phantom=True)

    decision = await decision_on(tap, event)

    assert isinstance(decision, UploadValidated)
    assert decision.scan == event.scan and decision.scan.is_phantom and decision.scan.site is None


async def test_each_decision_is_announced_once_per_attempt(validator, tap):
    upload_id = new_upload_id()
    first, second = received(upload_id, attempt=1), received(upload_id, attempt=2, candid="999999")

    await tap.publish(first)
    await tap.publish(second)
    await tap.wait_for(lambda e: of_upload(upload_id)(e) and e.attempt == 2 and e.type == "upload.rejected")
    await tap.wait_for(lambda e: of_upload(upload_id)(e) and e.attempt == 1 and e.type == "upload.validated")

    decisions = [e for e in tap.matching(of_upload(upload_id)) if e.type in ("upload.validated", "upload.rejected")]
    assert sorted((e.attempt, e.type) for e in decisions) == [(1, "upload.validated"), (2, "upload.rejected")]


async def test_the_validator_answers_a_rule_check_on_request_with_every_failure_and_the_site(validator, amqp_url):
    async with requester_on(amqp_url) as requester:
        request = RuleCheckRequest(candid="300002", pscid="MTL0001", visit_label="V7", file_name="x.tgz",
                                   scope=UserScope(username="demo", all_sites=True))
        reply = RuleCheckReply.model_validate_json(
            await requester.ask(RULE_CHECK_QUEUE, request.model_dump_json().encode(), timeout=10))

    assert [f.code for f in reply.failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]
    assert reply.site == "MTL"


async def test_a_rule_check_nobody_answers_times_out_for_the_asker(amqp_url):
    async with requester_on(amqp_url) as requester:
        with pytest.raises(NoAnswer, match="no answer from uploader.nobody-answers-here within 0.3 s"):
            await requester.ask("uploader.nobody-answers-here", b"{}", timeout=0.3)


@contextlib.asynccontextmanager
async def requester_on(amqp_url: str):
    connection = await connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        requester = Requester(channel)
        await requester.start()
        yield requester
    finally:
        await connection.close()


async def test_a_rule_check_that_cannot_be_sent_is_no_answer_not_an_error(amqp_url):
    async with requester_on(amqp_url) as requester:
        await requester._channel.close()  # the broker went away under the asker
        with pytest.raises(NoAnswer, match="could not be sent"):
            await requester.ask(RULE_CHECK_QUEUE, b"{}", timeout=5)
