"""The operators' status (permission imaging_uploader_admin, checked by auth/middleware.py):

- GET /api/v1/status: each queue's messages and consumers (counted now, by
  the broker itself) with its publish and deliver rates (RabbitMQ's
  management API), the dead letters, the launchers alive with their runs in
  flight, and each service's outbox backlog and events set aside (the
  operations views);
- POST /api/v1/status/dead-letters/replay: send each dead letter back to the
  queue it came from (safe: consumers de-duplicate by event id).

A part that cannot be read (the broker, its management API) is left empty and
said why in `problems`; the rest is still answered.
"""

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.common.app_keys import BROKER, POOL
from services.common.broker import BROKER_ERRORS
from services.common.dead_letters import go_through
from services.common.http_errors import error_response, model_response
from services.common.topology import DEAD_LETTER_QUEUE, QUEUE_NAMES
from services.gateway.auth.middleware import USER
from services.gateway.status.rabbitmq_management import MANAGEMENT, ManagementUnavailable, QueueRates
from services.gateway.status.status_models import (DeadLettersReplayed, LauncherStatus, OutboxStatus, QueueStatus,
                                                   SystemStatus)

log = logging.getLogger(__name__)

BROKER_SECONDS = 3
REPLAY_SECONDS = 60
REPLAY_LIMIT = 10_000


async def get_status(request: web.Request) -> web.Response:
    app = request.app
    (counts, broker_problem), (rates, rates_problem), launchers, outboxes = await asyncio.gather(
        count_queues(app[BROKER]), _queue_rates(app), _launchers(app[POOL]), _outboxes(app[POOL]))
    queues = [
        QueueStatus(name=name, messages=messages, consumers=consumers,
                    publish_rate=None if rates is None else round(rates.get(name, _NO_TRAFFIC).publish, 2),
                    deliver_rate=None if rates is None else round(rates.get(name, _NO_TRAFFIC).deliver, 2))
        for name, messages, consumers in counts or []
    ]
    dead_letters = next((queue.messages for queue in queues if queue.name == DEAD_LETTER_QUEUE), None)
    status = SystemStatus(checked_at=datetime.now(UTC), queues=queues, dead_letters=dead_letters,
                          launchers=launchers, outboxes=outboxes,
                          problems=[problem for problem in (broker_problem, rates_problem) if problem])
    return _not_cached(model_response(status))


async def post_replay(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(REPLAY_SECONDS):
            async with request.app[BROKER].channel(publisher_confirms=True) as channel:
                letters = await go_through(channel, replay=True, limit=REPLAY_LIMIT)
    except (*BROKER_ERRORS, RuntimeError, TimeoutError) as error:  # the broker is away, or went away meanwhile
        log.warning("dead letters not replayed", extra={"error": repr(error)})
        return error_response(503, "broker_unavailable", "The broker cannot be reached: the dead letters not "
                                                         "replayed yet stay in their queue; try again later.")
    replayed = sum(letter.replayed for letter in letters)
    log.info("dead letters replayed", extra={"replayed": replayed, "kept": len(letters) - replayed,
                                             "user": request[USER].username})
    return _not_cached(model_response(DeadLettersReplayed(replayed=replayed, kept=len(letters) - replayed)))


_NO_TRAFFIC = QueueRates(publish=0.0, deliver=0.0)


async def count_queues(connection: AbstractRobustConnection) -> tuple[list[tuple[str, int, int]] | None, str | None]:
    """Each queue's (name, messages ready, consumers), asked of the broker now; or why not."""
    try:
        async with asyncio.timeout(BROKER_SECONDS):
            async with connection.channel(publisher_confirms=False) as channel:
                counts = []
                for name in QUEUE_NAMES:
                    declared = (await channel.declare_queue(name, passive=True, robust=False)).declaration_result
                    counts.append((name, declared.message_count, declared.consumer_count))
                return counts, None
    except Exception as error:  # whatever it is, the status page says it rather than failing
        log.warning("queues not counted for the status", extra={"error": repr(error)})
        return None, f"The broker cannot be reached to count the queues' messages: {str(error) or repr(error)}"


async def _queue_rates(app: web.Application) -> tuple[dict[str, QueueRates] | None, str | None]:
    try:
        return await app[MANAGEMENT].rates(), None
    except ManagementUnavailable as unavailable:
        return None, f"{unavailable}; the message rates are not known."


async def _launchers(pool: asyncpg.Pool) -> list[LauncherStatus]:
    rows = await pool.fetch("""SELECT replica, alive_since, beat_at AS last_beat_at, slots, runs_in_flight
                               FROM operations.launchers ORDER BY alive_since, replica""")
    return [LauncherStatus(**row) for row in rows]


async def _outboxes(pool: asyncpg.Pool) -> list[OutboxStatus]:
    rows = await pool.fetch(
        "SELECT service, backlog, oldest_seconds, set_aside FROM operations.outbox_backlog ORDER BY service")
    return [OutboxStatus(**row) for row in rows]


def _not_cached(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response
