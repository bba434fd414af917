"""Retention: what is kept only for a while is pruned while the service runs.

Each service prunes its own schema: published outbox rows (an unpublished row
is never touched: it is an event still to announce) and the de-duplication
records of the events it consumed. Rows go in batches of BATCH_ROWS, each its
own short statement, so that a large backlog never holds a long lock; every
batch finds its rows through an index (deploy/migrations/0009_retention.sql).

A de-duplication record must outlive any late copy of its event: a copy
delivered after its record was pruned would be handled again. Keep that
retention far longer than a message can wait in a queue (an outage, a dead
letter replayed days later).
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from aiohttp import web

from services.common import metrics, periodic

BATCH_ROWS = 5000
PRUNE_EVERY_SECONDS = 300.0

Job = Callable[[asyncpg.Pool], Awaitable[int]]


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


async def prune_published_outbox(pool: asyncpg.Pool, schema: str, older_than: timedelta) -> int:
    """Delete the outbox rows published more than `older_than` ago; returns how many."""
    return await _delete_in_batches(
        pool,
        f"""DELETE FROM {schema}.outbox WHERE id IN (
                SELECT id FROM {schema}.outbox WHERE published_at < now() - $1::interval LIMIT {BATCH_ROWS})""",
        older_than, schema, "outbox",
    )


async def prune_processed_events(pool: asyncpg.Pool, schema: str, older_than: timedelta) -> int:
    """Delete the de-duplication records older than `older_than`; returns how many."""
    return await _delete_in_batches(
        pool,
        f"""DELETE FROM {schema}.processed_events WHERE event_id IN (
                SELECT event_id FROM {schema}.processed_events
                WHERE processed_at < now() - $1::interval LIMIT {BATCH_ROWS})""",
        older_than, schema, "processed_events",
    )


def outbox_pruning(schema: str, older_than: timedelta) -> Job:
    return lambda pool: prune_published_outbox(pool, schema, older_than)


def processed_events_pruning(schema: str, older_than: timedelta) -> Job:
    return lambda pool: prune_processed_events(pool, schema, older_than)


def with_pruning(app: web.Application, *jobs: Job, every_seconds: float = PRUNE_EVERY_SECONDS) -> None:
    """Run each job now and every `every_seconds` while the service runs; a failed one waits for the next turn."""
    periodic.every(app, every_seconds, jobs, what="pruning")


async def _delete_in_batches(pool: asyncpg.Pool, statement: str, older_than: timedelta, schema: str,
                             table: str) -> int:
    total = 0
    while True:
        status = await pool.execute(statement, older_than)
        deleted = int(status.split()[-1])
        total += deleted
        metrics.RETENTION_PRUNED.labels(schema, table).inc(deleted)
        if deleted < BATCH_ROWS:
            return total
