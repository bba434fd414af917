"""What every consumer guarantees, shown with the validator as the subject:
an event is handled once, a message that is not an event goes to the
dead-letter queue with the reason, and the service keeps working."""

import json
import uuid

import aio_pika
import aiohttp
import pytest

from services.common import migrations
from services.common.messages import UploadReceived
from services.common.topology import DEAD_LETTER_QUEUE, VALIDATOR_QUEUE
from services.validator.__main__ import build_app
from tests.integration.helpers import eventually, new_upload_id, received_event
from tests.support.inprocess import running_app

DECISIONS = ("upload.validated", "upload.rejected")


@pytest.fixture
async def validator(validator_settings, tap):
    async with running_app(build_app(validator_settings())) as url:
        yield url


def received(upload_id: int) -> UploadReceived:
    return received_event(upload_id, size_bytes=10)


def decisions_of(tap, upload_id: int) -> list:
    return tap.matching(lambda e: e.upload_id == upload_id and e.type in DECISIONS)


async def wait_for_decision(tap, upload_id: int):
    return await tap.wait_for(lambda e: e.upload_id == upload_id and e.type in DECISIONS)


class DeadLetters:
    """Reads the run's dead-letter queue, keeping every message it took."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self.taken: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def __aenter__(self) -> "DeadLetters":
        self._connection = await aio_pika.connect_robust(self._amqp_url)
        channel = await self._connection.channel()
        self._queue = await channel.get_queue(DEAD_LETTER_QUEUE, ensure=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._connection.close()

    async def drain(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            self.taken.append(message)
        return self.taken

    async def wait_for_body(self, body: bytes) -> aio_pika.abc.AbstractIncomingMessage:
        async def found():
            return next((m for m in await self.drain() if m.body == body), None)

        return await eventually(found, what=f"a dead letter with body {body[:40]!r}")


async def test_an_event_delivered_twice_is_decided_once(validator, tap, pool):
    upload_id, sentinel_id = new_upload_id(), new_upload_id()
    event = received(upload_id)

    await tap.publish(event)
    await tap.publish(event)
    await wait_for_decision(tap, upload_id)
    await tap.publish(received(sentinel_id))
    await wait_for_decision(tap, sentinel_id)

    assert len(decisions_of(tap, upload_id)) == 1
    outbox_rows = await pool.fetchval(
        "SELECT count(*) FROM validator.outbox WHERE convert_from(body, 'UTF8')::jsonb->>'upload_id' = $1",
        str(upload_id),
    )
    assert outbox_rows == 1


async def test_a_redelivery_after_the_decision_changes_nothing(validator, tap, pool):
    upload_id, sentinel_id = new_upload_id(), new_upload_id()
    event = received(upload_id)
    await tap.publish(event)
    await wait_for_decision(tap, upload_id)

    await tap.publish(event)
    await tap.publish(received(sentinel_id))
    await wait_for_decision(tap, sentinel_id)

    assert len(decisions_of(tap, upload_id)) == 1
    assert await pool.fetchval("SELECT count(*) FROM validator.processed_events WHERE event_id = $1", event.event_id) == 1


async def test_a_body_that_is_not_json_is_dead_lettered_with_the_reason_and_the_validator_goes_on(validator, tap, amqp_url):
    body = f"not json at all {uuid.uuid4()}".encode()
    await tap.publish_raw(body, "upload.received")
    following = new_upload_id()
    await tap.publish(received(following))

    async with DeadLetters(amqp_url) as dead_letters:
        dead = await dead_letters.wait_for_body(body)

    assert dead.headers["x-original-queue"] == VALIDATOR_QUEUE.name
    assert dead.headers["x-original-routing-key"] == "upload.received"
    reason = dead.headers["x-reason"]
    assert reason.startswith("not a valid event: ") and "JSON" in reason, reason
    await wait_for_decision(tap, following)


async def test_an_event_of_an_unknown_type_is_dead_lettered_naming_the_type_and_the_validator_goes_on(
    validator, tap, amqp_url
):
    upload_id = new_upload_id()
    body = json.dumps(
        {"type": "upload.teleported", "event_id": str(uuid.uuid4()), "upload_id": upload_id, "attempt": 1}
    ).encode()
    await tap.publish_raw(body, "upload.received")
    following = new_upload_id()
    await tap.publish(received(following))

    async with DeadLetters(amqp_url) as dead_letters:
        dead = await dead_letters.wait_for_body(body)

    assert dead.headers["x-original-queue"] == "uploader.validator"
    reason = dead.headers["x-reason"]
    assert reason.startswith("not a valid event: ") and "upload.teleported" in reason, reason
    await wait_for_decision(tap, following)
    assert not tap.matching(lambda e: e.upload_id == upload_id and e.type in DECISIONS)


async def test_an_event_missing_a_field_is_dead_lettered_naming_the_field(validator, tap, amqp_url):
    upload_id = new_upload_id()
    event = json.loads(received(upload_id).model_dump_json())
    del event["uploaded_by"]
    body = json.dumps(event).encode()
    await tap.publish_raw(body, "upload.received")

    async with DeadLetters(amqp_url) as dead_letters:
        dead = await dead_letters.wait_for_body(body)

    assert "uploaded_by" in dead.headers["x-reason"], dead.headers["x-reason"]
    following = new_upload_id()
    await tap.publish(received(following))
    await wait_for_decision(tap, following)


async def test_healthz_says_alive_and_readyz_checks_the_database_the_broker_and_the_migrations(validator):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{validator}/healthz") as answer:
            assert (answer.status, await answer.json()) == (200, {"service": "validator", "status": "ok"})
        async with http.get(f"{validator}/readyz") as answer:
            assert answer.status == 200
            body = await answer.json()

    assert body == {"service": "validator", "status": "ok",
                    "checks": {"database": True, "broker": True, "migrations": True}}


async def test_readyz_is_503_and_names_a_migration_not_applied_yet(validator, monkeypatch, tmp_path):
    for path in migrations.migration_files():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "9999_from_a_newer_version.sql").write_text("SELECT 1;")
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path)
    async with aiohttp.ClientSession() as http, http.get(f"{validator}/readyz") as answer:
        assert answer.status == 503
        body = await answer.json()

    assert body["checks"] == {"database": True, "broker": True, "migrations": False}
    assert body["pending_migrations"] == ["9999_from_a_newer_version.sql"]
