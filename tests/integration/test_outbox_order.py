"""Several replicas share one outbox (launchers do): their relays publish it
in order, so one run's log lines reach the log in the order they were printed."""

import asyncio

import aio_pika

from services.common.messages import LogEntry, PipelineLogLines
from services.common.outbox import OutboxRelay, add_to_outbox
from services.common.topology import declare_topology
from tests.integration.helpers import new_upload_id

RELAYS = 3
BATCHES = 40
LINES_PER_BATCH = 25


class SlowExchange:
    """A replica whose broker connection is slow: each publish waits a little before it leaves."""

    def __init__(self, exchange, delay: float) -> None:
        self._exchange = exchange
        self._delay = delay
        self.channel = exchange.channel

    async def publish(self, *args, **kwargs):
        await asyncio.sleep(self._delay)
        return await self._exchange.publish(*args, **kwargs)


async def test_relays_of_several_replicas_publish_a_shared_outbox_in_order(pool, amqp_url, tap):
    upload_id = new_upload_id()
    for batch in range(BATCHES):  # one transaction per batch of output, as a launcher writes them
        async with pool.acquire() as conn, conn.transaction():
            first = batch * LINES_PER_BATCH + 1
            lines = [LogEntry(line_number=n, message=f"line {n}") for n in range(first, first + LINES_PER_BATCH)]
            for line in lines:
                await add_to_outbox(conn, "launcher", PipelineLogLines(upload_id=upload_id, attempt=1, lines=[line]))
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_topology(channel)
        relays = [OutboxRelay(pool, "launcher", SlowExchange(exchange, delay=0.2 / (n + 1)), poll_seconds=0.05)
                  for n in range(RELAYS)]
        running = [asyncio.create_task(relay.run()) for relay in relays]
        expected = BATCHES * LINES_PER_BATCH
        await tap.wait_for(lambda e: e.upload_id == upload_id and e.lines[0].line_number == expected, timeout=60)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    finally:
        await connection.close()

    received = [e.lines[0].line_number for e in tap.matching(lambda e: e.upload_id == upload_id)]
    assert received == list(range(1, expected + 1)), "the relays published the outbox out of order"
