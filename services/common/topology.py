"""Every exchange, queue and binding of the system, declared in one place.

One topic exchange carries every event, routed by its type. Each consumer
group has one durable quorum queue. A message that cannot be handled ends in
the dead-letter queue, either because a consumer put it there with a reason
or because it was redelivered more than DELIVERY_LIMIT times.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from services.common.messages import EventType

EVENTS_EXCHANGE = "uploader.events"
DEAD_LETTER_EXCHANGE = "uploader.dead-letter"
DEAD_LETTER_QUEUE = "uploader.dead-letter"
DELIVERY_LIMIT = 5
# The validator answers rule checks here (request/reply, see request_reply.py).
RULE_CHECK_QUEUE = "uploader.rule-checks"


@dataclass(frozen=True)
class ConsumerQueue:
    name: str
    routing_keys: tuple[str, ...]
    # An ordered queue is handled one message at a time, in delivery order, by
    # one active consumer; other replicas stand by.
    ordered: bool = False


VALIDATOR_QUEUE = ConsumerQueue("uploader.validator", (EventType.UPLOAD_RECEIVED,))
# A run starts only when the gateway, the authority on each upload, granted it.
LAUNCHER_QUEUE = ConsumerQueue("uploader.launcher", (EventType.LAUNCH_REQUESTED, EventType.CANCEL_REQUESTED))
GATEWAY_QUEUE = ConsumerQueue(
    "uploader.gateway",
    (EventType.UPLOAD_VALIDATED, EventType.UPLOAD_REJECTED, EventType.PIPELINE_STARTED, EventType.PIPELINE_FINISHED),
)
LOGSTORE_QUEUE = ConsumerQueue("uploader.logstore", ("#",), ordered=True)

ALL_QUEUES = (VALIDATOR_QUEUE, LAUNCHER_QUEUE, GATEWAY_QUEUE, LOGSTORE_QUEUE)
# Every queue, in the order an upload's events pass through them (the status page lists them so).
QUEUE_NAMES = (VALIDATOR_QUEUE.name, RULE_CHECK_QUEUE, LAUNCHER_QUEUE.name, GATEWAY_QUEUE.name, LOGSTORE_QUEUE.name,
               DEAD_LETTER_QUEUE)


async def declare_topology(channel: AbstractChannel) -> AbstractExchange:
    """Declare everything (idempotent); every service calls it at start."""
    events = await declare_events_exchange(channel)
    dead_letters = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_letter_queue = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letter_queue.bind(dead_letters)
    for consumer_queue in ALL_QUEUES:
        await declare_consumer_queue(channel, consumer_queue)
    await declare_request_queue(channel, RULE_CHECK_QUEUE)
    return events


async def declare_events_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_request_queue(channel: AbstractChannel, name: str) -> AbstractQueue:
    """A classic queue of short-lived requests: they expire on their own, so nothing needs to survive."""
    return await channel.declare_queue(name, durable=True)


async def declare_consumer_queue(channel: AbstractChannel, consumer_queue: ConsumerQueue) -> AbstractQueue:
    arguments = {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-delivery-limit": DELIVERY_LIMIT,
    }
    if consumer_queue.ordered:
        arguments["x-single-active-consumer"] = True
    queue = await channel.declare_queue(consumer_queue.name, durable=True, arguments=arguments)
    for routing_key in consumer_queue.routing_keys:
        await queue.bind(EVENTS_EXCHANGE, routing_key)
    return queue
