"""The RabbitMQ connection and publishing with publisher confirms."""

import asyncio
import logging
from collections.abc import Awaitable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustChannel, AbstractRobustConnection

from services.common.messages import Event, encode_event
from services.common.startup_retry import connect_when_reachable

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10
# What a call on a channel raises when the broker is away (a closed channel is a RuntimeError in aiormq).
BROKER_ERRORS = (aio_pika.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError, ConnectionError)
# A call on a robust channel waits for the connection to come back: at shutdown, wait this long at most.
SHUTDOWN_STEP_SECONDS = 5


async def unless_broker_away(step: Awaitable, what: str) -> None:
    """A broker call made while shutting down, skipped (with a warning) when the broker is away: a broker gone
    for good must not keep a service from stopping. What it would have done, the broker does by itself
    (a closed channel's consumers end and its unacknowledged messages are delivered again)."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
            await step
    except (TimeoutError, *BROKER_ERRORS) as error:
        log.warning(f"{what} skipped at shutdown: the broker is away", extra={"error": repr(error)})


async def connect(amqp_url: str, *, wait_seconds: float = 60) -> AbstractRobustConnection:
    """A robust connection: it reconnects and restores channels, queues and consumers by itself."""
    return await connect_when_reachable(
        lambda: aio_pika.connect_robust(amqp_url),
        (OSError, aio_pika.exceptions.AMQPConnectionError), what="broker", wait_seconds=wait_seconds, log=log,
    )


async def open_channel(connection: AbstractRobustConnection, prefetch: int) -> AbstractChannel:
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    return channel


def event_message(event: Event) -> aio_pika.Message:
    return message_from_body(encode_event(event), event.type, str(event.event_id))


def message_from_body(body: bytes, routing_key: str, event_id: str, headers: dict | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        type=routing_key,
        headers=headers or {},
    )


async def publish(exchange: AbstractExchange, message: aio_pika.Message, routing_key: str) -> None:
    """Publish and wait for the broker's confirm; raises if the broker refuses or does not answer."""
    await exchange.publish(message, routing_key=routing_key, timeout=PUBLISH_TIMEOUT_SECONDS)


async def open_again(channel: AbstractRobustChannel) -> None:
    """Wait until a robust channel is open: one the broker closed reopens by itself a moment later (once the
    broker is back, when it is away). Raises TimeoutError after PUBLISH_TIMEOUT_SECONDS."""
    async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
        while channel.is_closed:  # ready() alone may return before the channel noticed that it was closed
            await asyncio.sleep(0.05)
        await channel.ready()


def permanent_refusal(error: BaseException) -> str | None:
    """The broker's reason when a publish failed because it will never take that message; None when it may
    later (the broker away, a timeout, a nack). RabbitMQ closes the channel with PRECONDITION_FAILED for a
    message over its max_message_size (16 MiB by default since RabbitMQ 4) or with a property it refuses;
    the close fails every publish then in flight on the channel, so it tells which message only when that
    one was published alone."""
    if isinstance(error, aio_pika.exceptions.ChannelPreconditionFailed):
        return str(error.args[0]) if error.args else repr(error)
    return None
