"""An operator lists the dead-letter queue and replays it after a fix."""

import random

from services.common.broker import event_message
from services.common.dead_letters import drain
from services.common.messages import ScanFacts
from tests.integration.helpers import received_event
from services.common.topology import DEAD_LETTER_EXCHANGE, VALIDATOR_QUEUE
from services.validator.__main__ import build_app
from tests.support.inprocess import running_app
from tests.support.tap import of_upload


async def test_a_dead_letter_is_listed_with_its_reason_and_replayed_to_the_queue_it_came_from(
    validator_settings, tap, amqp_url
):
    upload_id = random.randint(10**6, 10**9)
    event = received_event(
        upload_id, size_bytes=10,
        scan=ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key="k", candid="300001", pscid="MTL0001", visit_label="V1"),
    )
    dead = event_message(event)
    dead.headers.update({"x-reason": "handler failed 5 times", "x-original-queue": VALIDATOR_QUEUE.name})
    await tap.publish_to_exchange(DEAD_LETTER_EXCHANGE, dead, event.type)

    expected = f"{event.event_id}  upload.received  from uploader.validator: handler failed 5 times"
    assert expected in await drain(amqp_url, replay=False, limit=1000)
    assert expected in await drain(amqp_url, replay=False, limit=1000), "listing leaves the messages in place"

    await drain(amqp_url, replay=True, limit=1000)
    async with running_app(build_app(validator_settings())):
        decision = await tap.wait_for(of_upload(upload_id, "upload.validated"))

    assert decision.attempt == 1
    assert not [line for line in await drain(amqp_url, replay=False, limit=1000) if str(event.event_id) in line]
