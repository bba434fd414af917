"""What the uploader asks of RabbitMQ, and what RabbitMQ can give: the messages one upload makes (counted in
the services' outboxes after a run), and the raw rate of persistent, confirmed messages through one durable
quorum queue, published and consumed with aio-pika the way the services do, on a vhost of its own
(bench_broker_<random>, removed at the end). bench/pipeline_overhead.py prints the two side by side."""

import asyncio
import collections
import json
import time
import uuid
from dataclasses import dataclass

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from services.common.broker import connect, message_from_body, open_channel, publish
from services.common.outbox import BATCH_SIZE
from services.common.settings import ServiceSettings
from services.common.topology import ALL_QUEUES, EVENTS_EXCHANGE, ConsumerQueue, declare_consumer_queue
from tests.support import servers

# Each upload's pre-flight rule check, asked over RabbitMQ before its bytes are read: a request and its reply
# (not events: no outbox, a classic queue, not persistent).
RULE_CHECK_MESSAGES = 2
RAW_ROUTING_KEY = "bench.raw"
PREFETCH = ServiceSettings.model_fields["prefetch"].default  # what each of the services' consumers holds


@dataclass
class UploadMessages:
    """The events the services published for a number of uploads, by type (routing key)."""

    uploads: int
    events: collections.Counter
    mean_event_bytes: float

    @property
    def events_per_upload(self) -> float:
        return sum(self.events.values()) / self.uploads

    @property
    def deliveries_per_upload(self) -> float:
        """Each event reaches every queue bound to its type (the logstore's takes them all), plus the rule
        check's request and reply."""
        routed = sum(count * queues_bound(key) for key, count in self.events.items())
        return routed / self.uploads + RULE_CHECK_MESSAGES

    def by_type(self) -> str:
        return ", ".join(f"{key} {count / self.uploads:.2g}" for key, count in sorted(self.events.items()))


def queues_bound(routing_key: str) -> int:
    return sum(1 for queue in ALL_QUEUES if "#" in queue.routing_keys or routing_key in queue.routing_keys)


async def count_upload_messages(pool: asyncpg.Pool, uploads: int) -> UploadMessages:
    """Every event in every service's outbox (published rows stay for a day), for `uploads` uploads."""
    schemas = await pool.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'")
    events, total_bytes = collections.Counter(), 0
    for row in schemas:
        for counted in await pool.fetch(f"SELECT routing_key, count(*) AS n, sum(length(body)) AS bytes"
                                        f" FROM {row['table_schema']}.outbox GROUP BY routing_key"):
            events[counted["routing_key"]] += counted["n"]
            total_bytes += counted["bytes"]
    return UploadMessages(uploads, events, total_bytes / max(1, sum(events.values())))


@dataclass
class RawRate:
    messages: int
    body_bytes: int
    published_in: float  # seconds from the first publish to the last confirm
    consumed_in: float   # seconds from the first publish to the last ack

    @property
    def per_second(self) -> float:
        return self.messages / self.consumed_in


async def raw_rate(messages: int, body_bytes: int = 1024) -> RawRate:
    """Publish `messages` persistent messages with publisher confirms, BATCH_SIZE at a time as the outbox relay
    does, to a quorum queue declared as the services declare theirs, while a consumer with the services'
    prefetch acks each; on a vhost made for it and deleted after."""
    vhost = f"bench_broker_{uuid.uuid4().hex[:8]}"
    amqp_url = await asyncio.to_thread(servers.create_vhost, vhost)
    try:
        return await _publish_and_consume(amqp_url, messages, _json_body(body_bytes))
    finally:
        await asyncio.to_thread(servers.delete_vhost, vhost)


async def _publish_and_consume(amqp_url: str, messages: int, body: bytes) -> RawRate:
    publishing, consuming = await connect(amqp_url), await connect(amqp_url)
    try:
        channel = await open_channel(publishing, PREFETCH)
        # The services' events exchange, and a queue of its own bound to it (not the services' queues: the
        # logstore's takes every routing key)
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await declare_consumer_queue(await open_channel(consuming, PREFETCH),
                                             ConsumerQueue("bench.raw", (RAW_ROUTING_KEY,)))
        acked, all_acked = 0, asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal acked
            await message.ack()
            acked += 1
            if acked == messages:
                all_acked.set()

        await queue.consume(on_message)
        started = time.perf_counter()
        for first in range(0, messages, BATCH_SIZE):
            await asyncio.gather(*(publish(exchange, message_from_body(body, RAW_ROUTING_KEY, str(uuid.uuid4())),
                                           RAW_ROUTING_KEY)
                                   for _ in range(first, min(messages, first + BATCH_SIZE))))
        published_in = time.perf_counter() - started
        async with asyncio.timeout(120):
            await all_acked.wait()
        return RawRate(messages, len(body), published_in, time.perf_counter() - started)
    finally:
        await publishing.close()
        await consuming.close()


def _json_body(size: int) -> bytes:
    """A JSON object of about `size` bytes, like an upload's event."""
    event = {"event_id": str(uuid.uuid4()), "type": RAW_ROUTING_KEY, "upload_id": 1, "attempt": 1, "padding": ""}
    event["padding"] = "x" * max(0, size - len(json.dumps(event)))
    return json.dumps(event).encode()
