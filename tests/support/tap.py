"""A test's view of the broker: see every event published in the run's vhost,
and publish events as a service would."""

import asyncio
from collections.abc import Callable

import aio_pika

from services.common.broker import event_message, publish
from services.common.messages import Event, LogEntry, parse_event
from services.common.topology import EVENTS_EXCHANGE, declare_topology

Match = Callable[[Event], bool]


class EventTap:
    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self.events: list[Event] = []
        self.raw: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> "EventTap":
        self._connection = await aio_pika.connect_robust(self._amqp_url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self.exchange = await declare_topology(self._channel)
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(EVENTS_EXCHANGE, "#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.raw.append(message)
        try:
            self.events.append(parse_event(message.body))
        except ValueError:
            pass
        async with self._changed:
            self._changed.notify_all()

    async def publish(self, event: Event) -> None:
        await publish(self.exchange, event_message(event), event.type)

    async def publish_raw(self, body: bytes, routing_key: str, headers: dict | None = None) -> None:
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, headers=headers or {})
        await publish(self.exchange, message, routing_key)

    async def publish_to_exchange(self, exchange_name: str, message: aio_pika.Message, routing_key: str) -> None:
        await publish(await self._channel.get_exchange(exchange_name), message, routing_key)

    def matching(self, match: Match) -> list[Event]:
        return [event for event in self.events if match(event)]

    async def wait_for(self, match: Match, timeout: float = 20) -> Event:
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (found := self.matching(match)):
                    await self._changed.wait()
        return found[0]


def of_upload(upload_id: int, event_type: str | None = None) -> Match:
    return lambda e: e.upload_id == upload_id and (event_type is None or e.type == event_type)


def output_lines(tap: EventTap, upload_id: int) -> list[LogEntry]:
    """The pipeline output lines the launcher sent for an upload, in their order (each batch once: delivery
    is at least once)."""
    batches = {event.event_id: event for event in tap.matching(of_upload(upload_id, "pipeline.log_lines"))}
    return sorted((line for batch in batches.values() for line in batch.lines), key=lambda line: line.line_number)
