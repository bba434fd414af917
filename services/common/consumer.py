"""Consuming events: parse, de-duplicate, handle in one transaction, then acknowledge.

This is the one place where every consumer gets its guarantees:
- a body that is not a known event goes to the dead-letter queue with the
  reason, and the consumer goes on;
- an event already processed (same event_id) is acknowledged with no effect;
- the handler runs inside the transaction that records the event id, so the
  effect and the de-duplication record commit together;
- transient database errors (an outage of any length, of our PostgreSQL or
  of the LORIS database) are retried with backoff, the message in hand, so
  that they never count as a delivery;
  any other failure returns the message to the queue, and the broker
  dead-letters it after DELIVERY_LIMIT deliveries;
- the message is acknowledged only after the commit.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from services.common import metrics
from services.common.broker import message_from_body, publish, unless_broker_away
from services.common.db import TRANSIENT_DB_ERRORS
from services.common.log_context import about
from services.common.loris_db import LorisDatabaseAway
from services.common.messages import Event, EventType, parse_event
from services.common.topology import DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, ConsumerQueue, declare_consumer_queue

log = logging.getLogger(__name__)

Handler = Callable[[Event, asyncpg.Connection], Awaitable[None]]
TRANSIENT_RETRY_MAX_WAIT_SECONDS = 10
# A database away, ours or the LORIS site's: the event waits in hand until it is back.
DATABASE_AWAY = (*TRANSIENT_DB_ERRORS, LorisDatabaseAway)
# Handled without a log line of their own: a pipeline prints thousands of them.
QUIET_EVENT_TYPES = frozenset({EventType.PIPELINE_LOG, EventType.PIPELINE_LOG_LINES})


class EventConsumer:
    def __init__(
        self,
        channel: AbstractChannel,
        consumer_queue: ConsumerQueue,
        pool: asyncpg.Pool,
        schema: str,
        handler: Handler,
    ) -> None:
        self._channel = channel
        self._consumer_queue = consumer_queue
        self._pool = pool
        self._schema = schema
        self._handler = handler
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # asyncio.Lock wakes waiters first-come first-served: delivery order.
        self._one_at_a_time = asyncio.Lock() if consumer_queue.ordered else contextlib.nullcontext()
        self.handled = 0
        self.duplicates = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        metrics.start_at_zero_for_queue(self._consumer_queue.name)
        self._queue = await declare_consumer_queue(self._channel, self._consumer_queue)
        self._consumer_tag = await self._queue.consume(self._on_message)

    async def stop(self, timeout: float = 30) -> None:
        """Stop taking messages, then wait for those in hand to finish."""
        if self._queue and self._consumer_tag:
            await unless_broker_away(self._queue.cancel(self._consumer_tag), "cancelling the consumer")
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("messages still in hand at shutdown; the broker will redeliver them")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._one_at_a_time:
                await self._process(message)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        queue = self._consumer_queue.name
        if message.redelivered:
            metrics.MESSAGES_REDELIVERED.labels(queue).inc()
        with metrics.HANDLER_DURATION.labels(queue).time():
            try:
                event = parse_event(message.body)
            except ValidationError as error:
                await self._dead_letter(message, f"not a valid event: {_summarise(error)}")
                return
            with about(upload_id=event.upload_id, attempt=event.attempt, event_id=event.event_id):
                await self._handle(message, event)

    async def _handle(self, message: AbstractIncomingMessage, event: Event) -> None:
        queue = self._consumer_queue.name
        try:
            is_new = await self._handle_once(event)
        except Exception:
            log.exception("handler failed; message returned to the queue", extra={"queue": queue, "event_type": event.type})
            await message.nack(requeue=True)
            metrics.MESSAGES_FAILED.labels(queue).inc()
            if _deliveries_before(message) >= DELIVERY_LIMIT:
                metrics.MESSAGES_DEAD_LETTERED.labels(queue, "delivery_limit").inc()
            return
        await message.ack()
        metrics.MESSAGES_CONSUMED.labels(queue).inc()
        if is_new:
            self.handled += 1
            if event.type not in QUIET_EVENT_TYPES:
                log.info("event handled", extra={"queue": queue, "event_type": event.type})
        else:
            self.duplicates += 1
            log.info("duplicate event ignored", extra={"event_type": event.type})

    async def _handle_once(self, event: Event) -> bool:
        """Handle the event in one transaction with its de-duplication record. While the database is away
        (DATABASE_AWAY), try again for as long as it takes, the message in hand: an outage delays the
        work but never counts as a failed delivery, so it never dead-letters a message."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(DATABASE_AWAY),
            wait=wait_exponential(multiplier=0.1, max=TRANSIENT_RETRY_MAX_WAIT_SECONDS),
            before_sleep=self._log_waiting,
            reraise=True,
        ):
            with attempt:
                async with self._pool.acquire() as conn, conn.transaction():
                    first_time = await conn.fetchval(
                        f"""INSERT INTO {self._schema}.processed_events (event_id) VALUES ($1)
                            ON CONFLICT DO NOTHING RETURNING true""",
                        event.event_id,
                    )
                    if not first_time:
                        return False
                    await self._handler(event, conn)
                    return True
        raise AssertionError("unreachable")

    def _log_waiting(self, state) -> None:
        if state.attempt_number in (1, 10) or state.attempt_number % 100 == 0:
            log.warning("the database is away; the message waits in hand",
                        extra={"queue": self._consumer_queue.name, "attempts": state.attempt_number,
                               "error": repr(state.outcome.exception())})

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        """Copy the message to the dead-letter exchange with the reason, then drop it from our queue."""
        log.error("message dead-lettered", extra={"queue": self._consumer_queue.name, "reason": reason})
        headers = {
            "x-reason": reason,
            "x-original-queue": self._consumer_queue.name,
            "x-original-routing-key": message.routing_key or "",
        }
        exchange = await self._channel.get_exchange(DEAD_LETTER_EXCHANGE, ensure=False)
        dead = message_from_body(message.body, message.routing_key or "", message.message_id or "", headers)
        await publish(exchange, dead, message.routing_key or "")
        await message.ack()
        self.dead_lettered += 1
        metrics.MESSAGES_DEAD_LETTERED.labels(self._consumer_queue.name, "unparseable").inc()


def _deliveries_before(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered this message before (a quorum queue's count); at the
    delivery limit, the broker dead-letters it when it is returned once more."""
    count = (message.headers or {}).get("x-delivery-count", 0)
    return count if isinstance(count, int) else 0


def _summarise(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{error.error_count()} error(s); first at {where}: {first['msg']}"
