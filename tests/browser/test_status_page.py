"""The Status tab, for operators (permission imaging_uploader_admin): the
queues, the launchers alive, the outboxes, and the dead letters with a
button that replays them. Users without the permission do not see it."""

import re
import uuid

import aio_pika
import pytest
from playwright.async_api import expect

from services.common.broker import message_from_body
from services.common.topology import DEAD_LETTER_EXCHANGE
from tests.support.browser import no_serious_violations, sign_in


@pytest.fixture
async def origin_queue(amqp_url):
    """A queue of this test's own, the one its dead letter came from; yields (queue, exchange of dead letters)."""
    async with await aio_pika.connect_robust(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(f"test.origin-{uuid.uuid4().hex[:8]}", exclusive=True)
        yield queue, await channel.get_exchange(DEAD_LETTER_EXCHANGE)


async def test_an_operator_sees_queues_and_launchers_and_replays_a_dead_letter(page, shoot, origin_queue):
    queue, dead_letter_exchange = origin_queue
    await sign_in(page, "operator")

    await expect(page.get_by_role("heading", name="Status", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Status")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_role("link", name="Browse", exact=True)).to_be_hidden()
    queues = page.get_by_role("region", name="Queues")
    await expect(queues.get_by_role("row", name=re.compile("uploader.validator"))).to_be_visible()
    await expect(queues.get_by_role("row", name=re.compile("uploader.dead-letter"))).to_be_visible()
    # The stack's one launcher, with the 4 slots it was given.
    await expect(page.get_by_role("region", name="Launchers").get_by_role("row", name=re.compile(r"\d of 4"))).to_have_count(1)
    await expect(page.get_by_role("region", name="Outboxes").get_by_role("row")).to_have_count(5)
    await no_serious_violations(page)
    await shoot(page, "status")

    event_id = str(uuid.uuid4())
    dead = message_from_body(b'{"not": "an event"}', "upload.received", event_id,
                             headers={"x-reason": "handler failed 5 times", "x-original-queue": queue.name})
    await dead_letter_exchange.publish(dead, routing_key="upload.received")
    await expect(page.get_by_text(re.compile(r"[1-9]\d* dead letters? waits? in uploader.dead-letter"))).to_be_visible()

    await page.get_by_role("button", name="Replay dead letters").click()
    dialog = page.get_by_role("dialog", name="Replay the dead letters?")
    await expect(dialog).to_be_visible()
    await no_serious_violations(page)
    await shoot(page, "replay-asked")
    await dialog.get_by_role("button", name="Replay").click()

    await expect(page.get_by_role("status").filter(has_text="Replayed")).to_have_text(
        re.compile(r"Replayed (1 dead letter to the queue it|([2-9]|[1-9]\d+) dead letters to the queues they) came from\."))
    await expect(page.get_by_role("button", name="Replay dead letters")).to_be_focused()
    back = await queue.get(no_ack=True, fail=False)
    assert back is not None and back.message_id == event_id, "the dead letter did not go back to its queue"
    await shoot(page, "replayed")
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "on a phone the page scrolls sideways"
    await shoot(page, "phone")


async def test_a_user_without_the_permission_sees_no_status_tab(page, shoot):
    await sign_in(page, "mtl_coordinator")
    await expect(page.get_by_role("heading", name="Browse uploads")).to_be_visible()
    await expect(page.get_by_role("link", name="Status")).to_be_hidden()

    await page.goto("/#/status")
    await expect(page.get_by_role("heading", name="Browse uploads")).to_be_visible()
    await expect(page.get_by_role("heading", name="Status", exact=True)).to_be_hidden()
    await shoot(page, "no-status-tab")


async def test_an_event_rabbitmq_refused_shows_as_set_aside_under_its_service_with_what_to_do(page, shoot, pool):
    row_id = await pool.fetchval(
        """INSERT INTO launcher.outbox (event_id, routing_key, body, set_aside_at, set_aside_reason)
           VALUES ($1, 'pipeline.log_lines', '{}', now(),
                   'PRECONDITION_FAILED - message size 20000000 is larger than configured max size 16777216')
           RETURNING id""", uuid.uuid4())
    try:
        set_aside = await pool.fetchval("SELECT set_aside FROM operations.outbox_backlog WHERE service = 'launcher'")
        await sign_in(page, "operator")

        launcher = page.get_by_role("region", name="Outboxes").get_by_role("row", name=re.compile("^launcher"))
        await expect(launcher.get_by_role("cell").last).to_have_text(str(set_aside))
        what = "events were" if set_aside > 1 else "event was"
        await expect(page.get_by_text(f"{set_aside} {what} refused by RabbitMQ for good")).to_be_visible()
        await no_serious_violations(page)
        await shoot(page, "set-aside")
    finally:
        await pool.execute("DELETE FROM launcher.outbox WHERE id = $1", row_id)
