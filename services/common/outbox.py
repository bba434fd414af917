"""The transactional outbox: write an event with the state change, publish it after.

`add_to_outbox` runs inside the caller's transaction, so the event exists if
and only if the change was committed. The relay publishes pending rows in
order, with publisher confirms, and marks them published. Replicas share the
table, one relay at a time (a transaction-level advisory lock per schema): two
relays publishing batches side by side would interleave them, and a run's log
lines written by one launcher would reach the log out of order. A NOTIFY,
delivered at commit, wakes the relay at once; polling covers a missed one.
"""

import asyncio
import contextlib
import logging

import asyncpg
from aio_pika.abc import AbstractExchange

from services.common import metrics
from services.common.broker import message_from_body, publish
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


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, schema: str, exchange: AbstractExchange, poll_seconds: float) -> None:
        self._pool = pool
        self._schema = schema
        self._exchange = exchange
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._listener = PoolListener(pool, _channel_name(schema), self._on_notify)

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
        """Publish one batch of pending events; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                                       RELAY_LOCK_SPACE, self._schema):
                return 0  # another replica's relay is publishing this outbox; its NOTIFY woke us too
            rows = await conn.fetch(
                f"""SELECT id, event_id, routing_key, body FROM {self._schema}.outbox
                    WHERE published_at IS NULL ORDER BY id LIMIT {BATCH_SIZE}
                    FOR UPDATE SKIP LOCKED"""
            )
            if not rows:
                return 0
            await asyncio.gather(
                *(
                    publish(self._exchange, message_from_body(row["body"], row["routing_key"], str(row["event_id"])), row["routing_key"])
                    for row in rows
                )
            )
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        for row in rows:
            metrics.MESSAGES_PUBLISHED.labels(row["routing_key"]).inc()
        return len(rows)

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: it can lose a cancellation (test_layout.py)
                await self._wake.wait()
