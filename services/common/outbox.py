"""The transactional outbox: write an event with the state change, publish it after.

`add_to_outbox` runs inside the caller's transaction, so the event exists if
and only if the change was committed. The relay publishes pending rows in
order, with publisher confirms, and marks them published. Replicas share the
table, one relay at a time (a transaction-level advisory lock per schema): two
relays publishing batches side by side would interleave them, and a run's log
lines written by one launcher would reach the log out of order. A NOTIFY,
delivered at commit, wakes the relay at once; polling covers a missed one.

One bad event cannot stop an outbox: a row the broker refuses for good (larger
than RabbitMQ's max_message_size) is set aside (set_aside_at, set_aside_reason;
kept for an operator, never published, never pruned), counted
(uploader_outbox_set_aside_total) and shown on the status page, and the rows
after it are published. A broker that is away, or does not answer, is never a
refusal: those rows wait and are tried again.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg
from aio_pika.abc import AbstractExchange

from services.common import metrics
from services.common.broker import message_from_body, open_again, permanent_refusal, publish
from services.common.messages import Event, encode_event
from services.common.pool_listener import PoolListener

log = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_BACKOFF_SECONDS = 5
RELAY_LOCK_SPACE = 3  # advisory lock spaces: 1 the logstore's uploads, 2 idempotency keys, 4 launcher runs


def _channel_name(schema: str) -> str:
    return f"{schema}_outbox"


async def add_to_outbox(conn: asyncpg.Connection, schema: str, event: Event) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, routing_key, body) VALUES ($1, $2, $3)",
        event.event_id,
        event.type,
        encode_event(event),
    )
    await conn.execute("SELECT pg_notify($1, '')", _channel_name(schema))


@dataclass
class _Settled:
    """What became of a batch's rows."""

    published: list[asyncpg.Record]
    set_aside: list[tuple[asyncpg.Record, str]] = field(default_factory=list)  # with the broker's reason
    failure: Exception | None = None  # what stopped the batch: the broker away, or not answering


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, schema: str, exchange: AbstractExchange, poll_seconds: float) -> None:
        self._pool = pool
        self._schema = schema
        self._exchange = exchange
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._listener = PoolListener(pool, _channel_name(schema), self._on_notify)
        metrics.OUTBOX_SET_ASIDE.labels(schema)  # at 0 from the start, so that a first one shows in increase()

    async def run(self) -> None:
        """Publish until cancelled, backing off (up to MAX_BACKOFF_SECONDS) while the broker or the database
        is away, so that work resumes within seconds of its return."""
        backoff = self._poll_seconds
        try:
            while True:
                self._wake.clear()
                try:
                    await self._listener.keep()
                    while await self.publish_pending() == BATCH_SIZE:
                        pass
                    backoff = self._poll_seconds
                except Exception as error:
                    log.warning("outbox relay failed, will retry", extra={"error": repr(error)})
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._sleep(backoff)
        finally:
            await self._listener.close()

    async def flush(self, timeout: float = 10) -> None:
        """Publish what is left, at shutdown: the last changes may have written events just now."""
        try:
            async with asyncio.timeout(timeout):
                while await self.publish_pending():
                    pass
        except Exception as error:
            log.warning("outbox not flushed at shutdown; it will be published at the next start", extra={"error": repr(error)})

    async def publish_pending(self) -> int:
        """Publish one batch of pending events, in order; returns how many rows it settled (published or set
        aside). When the broker cannot be reached it raises, after recording the rows it did settle."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                                       RELAY_LOCK_SPACE, self._schema):
                return 0  # another replica's relay is publishing this outbox; its NOTIFY woke us too
            rows = await conn.fetch(
                f"""SELECT id, event_id, routing_key, body FROM {self._schema}.outbox
                    WHERE published_at IS NULL AND set_aside_at IS NULL ORDER BY id LIMIT {BATCH_SIZE}
                    FOR UPDATE SKIP LOCKED"""
            )
            if not rows:
                return 0
            settled = await self._publish(rows)
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in settled.published],
            )
            await conn.executemany(
                f"UPDATE {self._schema}.outbox SET set_aside_at = now(), set_aside_reason = $2 WHERE id = $1",
                [(row["id"], reason) for row, reason in settled.set_aside],
            )
        self._count(settled)
        if settled.failure is not None:
            raise settled.failure
        return len(settled.published) + len(settled.set_aside)

    async def _publish(self, rows: list[asyncpg.Record]) -> _Settled:
        """Every row at once, for one round of confirms. Should the broker refuse one, the rows not confirmed
        again one at a time, in order: a refusal closes the channel and fails every publish then in flight,
        so only a row published alone can be blamed. A row refused for good is set aside; the first that fails
        otherwise (the broker away) ends the batch, as any failure but a refusal does at once."""
        results = await asyncio.gather(*(self._publish_row(row) for row in rows), return_exceptions=True)
        settled = _Settled(published=[row for row, result in zip(rows, results) if result is None])
        failures = [(row, result) for row, result in zip(rows, results) if result is not None]
        if failures and not any(permanent_refusal(error) for _, error in failures):
            settled.failure = failures[0][1]
            return settled
        for row, _ in failures:
            try:
                await open_again(self._exchange.channel)  # the refusal closed it
                await self._publish_row(row)
            except Exception as error:
                reason = permanent_refusal(error)
                if reason is None:
                    settled.failure = error
                    break
                settled.set_aside.append((row, reason))
            else:
                settled.published.append(row)
        return settled

    async def _publish_row(self, row: asyncpg.Record) -> None:
        message = message_from_body(row["body"], row["routing_key"], str(row["event_id"]))
        await publish(self._exchange, message, row["routing_key"])

    def _count(self, settled: _Settled) -> None:
        for row in settled.published:
            metrics.MESSAGES_PUBLISHED.labels(row["routing_key"]).inc()
        for row, reason in settled.set_aside:
            metrics.OUTBOX_SET_ASIDE.labels(self._schema).inc()
            log.error("outbox event set aside: the broker refused it for good; the events after it go on",
                      extra={"outbox": self._schema, "event_id": str(row["event_id"]),
                             "routing_key": row["routing_key"], "bytes": len(row["body"]), "reason": reason})

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: it can lose a cancellation (test_layout.py)
                await self._wake.wait()
