"""One bad event cannot stop an outbox. A launcher (in-process) publishes to a RabbitMQ node of this module's
own whose max_message_size is 64 KiB: a row larger than that, refused for good, is set aside (kept, with the
broker's reason), counted on the launcher's /metrics and shown on the status page, while the rows after it
are published in order. A broker that is away refuses nothing: the rows wait, and go once it is back."""

import asyncio
import uuid

import aio_pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common.broker import BROKER_ERRORS
from services.common.messages import LogEntry, PipelineLogLines, parse_event
from services.common.outbox import add_to_outbox
from services.common.topology import EVENTS_EXCHANGE, declare_events_exchange
from services.launcher.__main__ import build_app as build_launcher
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually, new_upload_id
from tests.support.inprocess import running_app
from tests.support.private_servers import PrivateRabbitMQ

NODE_MAX_MESSAGE_BYTES = 64 * 1024
FAILING_PIPELINE = "{python} -c 'raise SystemExit(1)'"  # should the launcher claim a run other tests left


@pytest.fixture(scope="module")
def small_broker():
    with PrivateRabbitMQ(extra_config=f"max_message_size = {NODE_MAX_MESSAGE_BYTES}\n") as node:
        yield node


@pytest.fixture
async def received(small_broker):
    """Every event the node routes from now on, kept in a durable queue (it outlives a restart of the node)."""
    async with await aio_pika.connect_robust(small_broker.amqp_url) as connection:
        channel = await connection.channel()
        await declare_events_exchange(channel)
        queue = await channel.declare_queue(f"test.events-{uuid.uuid4().hex[:8]}", durable=True)
        await queue.bind(EVENTS_EXCHANGE, "#")
        yield Received(queue)
        await queue.delete(if_unused=False, if_empty=False)


class Received:
    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self._queue = queue
        self.events = []

    async def line_numbers_through(self, event_ids: list[uuid.UUID], last: int) -> list[int] | None:
        """The line numbers of these events received so far, in the order they came (a duplicate counts once,
        as a consumer takes it), once `last` is among them; None before (or while the node is away)."""
        try:
            while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
                event = parse_event(message.body)
                if event.event_id not in {seen.event_id for seen in self.events}:
                    self.events.append(event)
        except BROKER_ERRORS:
            return None
        numbers = [line.line_number for event in self.events if event.event_id in event_ids for line in event.lines]
        return numbers if last in numbers else None


@pytest.fixture
async def launcher(small_broker, launcher_settings):
    """The URL of a launcher whose broker is the small node."""
    async with running_app(build_launcher(launcher_settings(amqp_url=small_broker.amqp_url,
                                                            pipeline_command=FAILING_PIPELINE,
                                                            outbox_poll_seconds=0.2))) as url:
        yield url


@pytest.fixture
async def outbox_rows(pool):
    """Writes log lines of a new upload to the launcher's outbox, one event per line, in one transaction;
    returns the events' ids. Removes them at the end."""
    event_ids = []

    async def write(messages: list[str]) -> list[uuid.UUID]:
        upload_id = new_upload_id()
        events = [PipelineLogLines(upload_id=upload_id, attempt=1, lines=[LogEntry(line_number=number, message=text)])
                  for number, text in enumerate(messages, start=1)]
        async with pool.acquire() as conn, conn.transaction():
            for event in events:
                await add_to_outbox(conn, "launcher", event)
        event_ids.extend(event.event_id for event in events)
        return [event.event_id for event in events]

    yield write
    await pool.execute("DELETE FROM launcher.outbox WHERE event_id = ANY($1::uuid[])", event_ids)


async def set_aside_count(http, launcher_url: str) -> float:
    async with http.get(launcher_url + "/metrics") as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "uploader_outbox_set_aside_total" and sample.labels == {"service": "launcher"}:
                return sample.value
    raise AssertionError("uploader_outbox_set_aside_total{service=\"launcher\"} is not on /metrics")


async def outboxes_shown(http, gateway: str) -> dict[str, dict]:
    """The status page's outboxes, by service (the demo user is an operator too)."""
    async with http.get(gateway + "/api/v1/status", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as answer:
        assert answer.status == 200, await answer.text()
        return {outbox["service"]: outbox for outbox in (await answer.json())["outboxes"]}


async def drained(pool) -> bool:
    return not await pool.fetchval(
        "SELECT count(*) FROM launcher.outbox WHERE published_at IS NULL AND set_aside_at IS NULL")


async def counted(http, launcher_url: str, expected: float) -> bool:
    return await set_aside_count(http, launcher_url) == expected


async def rows_of(pool, event_ids: list[uuid.UUID]) -> list[dict]:
    rows = await pool.fetch("""SELECT published_at, set_aside_at, set_aside_reason, length(body) AS size
                               FROM launcher.outbox WHERE event_id = ANY($1::uuid[]) ORDER BY id""", event_ids)
    return [dict(row) for row in rows]


async def settled_rows(pool, event_ids: list[uuid.UUID]) -> list[dict] | None:
    """The rows once each is published or set aside (the relay marks them after the broker confirmed)."""
    rows = await rows_of(pool, event_ids)
    return rows if all(row["published_at"] or row["set_aside_at"] for row in rows) else None


async def test_a_row_the_broker_refuses_is_set_aside_counted_and_shown_while_the_rows_after_it_are_published(
        launcher, outbox_rows, received, pool, http, gateway_stack):
    async with gateway_stack() as (gateway, _):
        await eventually(lambda: drained(pool), what="the launcher's outbox drained of what other tests left")
        shown_before = await outboxes_shown(http, gateway)
        counted_before = await set_aside_count(http, launcher)

        too_large = "x" * (NODE_MAX_MESSAGE_BYTES + 1)
        event_ids = await outbox_rows(["first", too_large, "third", "fourth", "fifth"])

        assert await eventually(lambda: received.line_numbers_through(event_ids, 5), timeout=30,
                                what="the rows after the refused one published") == [1, 3, 4, 5]
        rows = await eventually(lambda: settled_rows(pool, event_ids), what="the relay's marks committed")
        refused = rows[1]
        assert refused["published_at"] is None and refused["set_aside_at"] is not None
        assert "message size" in refused["set_aside_reason"]
        assert f"max size {NODE_MAX_MESSAGE_BYTES}" in refused["set_aside_reason"]
        assert refused["size"] > NODE_MAX_MESSAGE_BYTES, "the row set aside keeps its body"
        assert all(row["published_at"] is not None for row in rows[:1] + rows[2:])

        await eventually(lambda: counted(http, launcher, counted_before + 1), what="the row counted on /metrics")
        shown = await outboxes_shown(http, gateway)
        assert shown["launcher"]["set_aside"] == shown_before["launcher"]["set_aside"] + 1
        assert shown["launcher"]["backlog"] == 0, "a row set aside waits for no relay"


async def test_while_the_broker_is_away_nothing_is_set_aside_and_the_rows_go_once_it_is_back(
        launcher, outbox_rows, received, small_broker, pool, http, caplog):
    counted_before = await set_aside_count(http, launcher)
    await asyncio.to_thread(small_broker.pause)
    try:
        event_ids = await outbox_rows(["first", "second", "third"])
        await eventually(lambda: _relay_failures(caplog, 2), timeout=60, what="two failed tries of the relay")
        rows = await rows_of(pool, event_ids)
        assert [(row["published_at"], row["set_aside_at"]) for row in rows] == [(None, None)] * 3
    finally:
        await asyncio.to_thread(small_broker.resume)

    assert await eventually(lambda: received.line_numbers_through(event_ids, 3), timeout=60,
                            what="the rows published once the broker is back") == [1, 2, 3]
    rows = await eventually(lambda: settled_rows(pool, event_ids), what="the relay's marks committed")
    assert all(row["published_at"] is not None for row in rows)
    assert await set_aside_count(http, launcher) == counted_before


async def _relay_failures(caplog, wanted: int) -> bool:
    return sum(record.msg == "outbox relay failed, will retry" for record in caplog.records) >= wanted
