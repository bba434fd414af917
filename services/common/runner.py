"""What every service is: an aiohttp application with a database pool, a
broker channel, /healthz and /readyz, and graceful shutdown on SIGTERM.

Resources live in cleanup contexts: each opens in order at start and closes in
reverse order at shutdown. aiohttp's run_app turns SIGTERM and SIGINT into
that orderly shutdown, so consumers stop before the channel closes, and the
channel before the pool.
"""

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable

import uvloop
from aiohttp import web

from services.common import health
from services.common.app_keys import BROKER, CHANNEL, POOL, REPLICA, REQUESTER, SERVICE_NAME, SETTINGS
from services.common.broker import connect, open_channel, unless_broker_away
from services.common.consumer import EventConsumer, Handler
from services.common.db import open_pool
from services.common.json_logging import configure_logging
from services.common.metrics import REPLICA_INFO, serve_metrics
from services.common.migrations import apply_migrations
from services.common.outbox import OutboxRelay
from services.common.replica import new_replica_name
from services.common.request_reply import Answer, Requester, answer_requests
from services.common.retention import hours, outbox_pruning, processed_events_pruning, with_pruning
from services.common.sampled_metrics import outbox_sample, watch_pool, with_sampled_metrics
from services.common.settings import ServiceSettings
from services.common.topology import ConsumerQueue, declare_events_exchange, declare_request_queue, declare_topology

log = logging.getLogger(__name__)

# How much of a request body aiohttp buffers before it stops reading the socket (its default: 64 KiB).
# An upload of gigabytes arrives in fewer, larger pieces with more room (bench/upload_throughput.py).
READ_BUFFER_BYTES = 4 * 1024**2


def service_app(name: str, settings: ServiceSettings, *, middlewares=(), router: web.UrlDispatcher | None = None) -> web.Application:
    with warnings.catch_warnings():
        # aiohttp 3 marks `router` deprecated but offers no other way to route `//a` as `/a` without a
        # redirect; the version is pinned, and a test notices if the argument stops working.
        warnings.simplefilter("ignore", DeprecationWarning)
        app = web.Application(middlewares=list(middlewares), client_max_size=1024**2, router=router,
                              handler_args={"read_bufsize": READ_BUFFER_BYTES})
    app[SERVICE_NAME] = name
    app[REPLICA] = new_replica_name()
    REPLICA_INFO.labels(name, app[REPLICA]).set(1)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_broker)
    app.router.add_get("/healthz", health.alive)
    app.router.add_get("/readyz", health.ready)
    app.router.add_get("/metrics", serve_metrics)
    return app


def with_outbox_relay(app: web.Application, schema: str) -> None:
    async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
        # A channel of its own: a message the broker refuses closes the channel it came on (the robust channel
        # reopens it), and the consumers' deliveries on the service's channel must not go with it.
        channel = await app[BROKER].channel(publisher_confirms=True)
        relay = OutboxRelay(app[POOL], schema, await declare_events_exchange(channel),
                            app[SETTINGS].outbox_poll_seconds)
        async with _background(relay.run()):
            yield
        await relay.flush()
        await unless_broker_away(channel.close(), "closing the outbox relay's channel")

    app.cleanup_ctx.append(relay_ctx)
    with_sampled_metrics(app, outbox_sample(schema))
    with_pruning(app, outbox_pruning(schema, hours(app[SETTINGS].outbox_retention_hours)))


def with_consumer(app: web.Application, queue: ConsumerQueue, schema: str, handler: Handler) -> None:
    async def consumer_ctx(app: web.Application) -> AsyncIterator[None]:
        consumer = EventConsumer(app[CHANNEL], queue, app[POOL], schema, handler)
        await consumer.start()
        yield
        await consumer.stop()

    app.cleanup_ctx.append(consumer_ctx)
    with_pruning(app, processed_events_pruning(schema, hours(app[SETTINGS].processed_events_retention_hours)))


def with_request_answerer(app: web.Application, queue_name: str, make_answer: Callable[[web.Application], Answer]) -> None:
    """Answer the requests sent to `queue_name` (request/reply) while the service runs."""

    async def answerer_ctx(app: web.Application) -> AsyncIterator[None]:
        queue = await declare_request_queue(app[CHANNEL], queue_name)
        tag = await answer_requests(app[CHANNEL], queue, make_answer(app))
        yield
        await unless_broker_away(queue.cancel(tag), "cancelling the request answerer")

    app.cleanup_ctx.append(answerer_ctx)


def with_requester(app: web.Application) -> None:
    """A Requester (app[REQUESTER]) for asking other services over RabbitMQ."""

    async def requester_ctx(app: web.Application) -> AsyncIterator[None]:
        requester = Requester(app[CHANNEL])
        await requester.start()
        app[REQUESTER] = requester
        yield

    app.cleanup_ctx.append(requester_ctx)


def run_service(app: web.Application) -> None:
    settings = app[SETTINGS]
    configure_logging(app[SERVICE_NAME], app[REPLICA], settings.log_level)
    log.info("starting", extra={"host": settings.host, "port": settings.port})
    # uvloop: the same asyncio API with its I/O in C, about a sixth less CPU per proxied request. It reads a
    # socket 64 KiB at a time: with aiohttp's default body buffer, a large upload was 40 % slower than on
    # asyncio's loop; with READ_BUFFER_BYTES it is faster than on either.
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=10,
                loop=uvloop.new_event_loop())


async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = await open_pool(app[SETTINGS].database_url)
    await apply_migrations(pool)
    app[POOL] = pool
    watch_pool(app)
    yield
    await pool.close()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    connection = await connect(settings.amqp_url)
    channel = await open_channel(connection, settings.prefetch)
    app[BROKER] = connection
    app[CHANNEL] = channel
    await declare_topology(channel)
    yield
    await unless_broker_away(connection.close(), "closing the broker connection")


@contextlib.asynccontextmanager
async def _background(coroutine: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(coroutine)
    task.add_done_callback(_log_unexpected_end)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _log_unexpected_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task stopped", exc_info=task.exception())
