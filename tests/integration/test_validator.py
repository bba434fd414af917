"""The validator in-process, on the real broker and database: a received
upload is validated or rejected with every failed rule, in words."""

import pytest

from services.common.messages import UploadReceived, UploadRejected, UploadValidated
from services.validator.__main__ import build_app
from tests.integration.helpers import eventually, new_upload_id, scan_facts
from tests.support.inprocess import running_app
from tests.support.tap import of_upload


@pytest.fixture
async def validator(validator_settings, tap):
    async with running_app(build_app(validator_settings())) as url:
        yield url


def received(upload_id: int, attempt: int = 1, **facts) -> UploadReceived:
    return UploadReceived(
        upload_id=upload_id, attempt=attempt, scan=scan_facts(upload_id, attempt=attempt, **facts),
        size_bytes=1234, uploaded_by="demo",
    )


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
    assert decision.scan == event.scan
    assert decision.event_id != event.event_id

    async def published_at():
        return await pool.fetchval("SELECT published_at FROM validator.outbox WHERE event_id = $1", decision.event_id)

    assert await eventually(published_at, what="the validator's outbox row being marked published")


async def test_a_candidate_of_another_site_is_validated_too(validator, tap):
    event = received(new_upload_id(), candid="400001", pscid="OTT0001", visit_label="V1")

    assert isinstance(await decision_on(tap, event), UploadValidated)


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

    assert [failure.rule for failure in decision.failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]


async def test_a_phantom_scan_is_validated_without_candidate_checks(validator, tap):
    event = received(new_upload_id(), is_phantom=True)

    decision = await decision_on(tap, event)

    assert isinstance(decision, UploadValidated)
    assert decision.scan == event.scan and decision.scan.is_phantom


async def test_each_decision_is_announced_once_per_attempt(validator, tap):
    upload_id = new_upload_id()
    first, second = received(upload_id, attempt=1), received(upload_id, attempt=2, candid="999999")

    await tap.publish(first)
    await tap.publish(second)
    await tap.wait_for(lambda e: of_upload(upload_id)(e) and e.attempt == 2 and e.type == "upload.rejected")
    await tap.wait_for(lambda e: of_upload(upload_id)(e) and e.attempt == 1 and e.type == "upload.validated")

    decisions = [e for e in tap.matching(of_upload(upload_id)) if e.type in ("upload.validated", "upload.rejected")]
    assert sorted((e.attempt, e.type) for e in decisions) == [(1, "upload.validated"), (2, "upload.rejected")]
