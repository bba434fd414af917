"""Metrics read from the database rather than counted: each service samples
them every few seconds while it runs, so that a scrape never waits on a query.
"""

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from services.common import metrics, periodic
from services.common.app_keys import POOL, SERVICE_NAME

SAMPLE_SECONDS = 5.0

Sample = Callable[[asyncpg.Pool], Awaitable[None]]


def with_sampled_metrics(app: web.Application, *samples: Sample) -> None:
    """Run each sample now and every SAMPLE_SECONDS while the service runs; a failed one waits for the next turn."""
    periodic.every(app, SAMPLE_SECONDS, samples, what="metric sample", failure_level=logging.DEBUG)


def watch_pool(app: web.Application) -> None:
    """The pool's use, read at each scrape (no query: the pool knows it)."""
    service = app[SERVICE_NAME]
    pool = app[POOL]
    metrics.DB_POOL_CONNECTIONS.labels(service, "in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
    metrics.DB_POOL_CONNECTIONS.labels(service, "idle").set_function(pool.get_idle_size)
    metrics.DB_POOL_MAX_CONNECTIONS.labels(service).set_function(pool.get_max_size)


def outbox_sample(service: str) -> Sample:
    """The service's outbox backlog, through the same view as the status page (deploy/migrations/0008)."""

    async def sample(pool: asyncpg.Pool) -> None:
        row = await pool.fetchrow(
            "SELECT backlog, coalesce(oldest_seconds, 0) AS oldest_seconds FROM operations.outbox_backlog "
            "WHERE service = $1",
            service,
        )
        metrics.OUTBOX_BACKLOG.labels(service).set(row["backlog"])
        metrics.OUTBOX_OLDEST_AGE.labels(service).set(row["oldest_seconds"])

    return sample
