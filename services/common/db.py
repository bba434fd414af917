"""The asyncpg pool, opened with retries so that a service can start before its database."""

import json
import logging

import asyncpg

from services.common.startup_retry import connect_when_reachable

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now", worth retrying: unreachable, restarting
# (PostgreSQL's shutdown and start-up errors), out of connections, or a conflict with another transaction.
TRANSIENT_DB_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)

# Of those, the ones that surely mean the database cannot be reached now (a request answers 503 for them).
DATABASE_AWAY_ERRORS = (
    ConnectionRefusedError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool: the services set no session state
    (no SET, no cursor, no session lock left held, every LISTEN removed by who added it), and asyncpg
    still rolls back an open transaction first. The default reset costs a round trip per release."""


async def open_pool(database_url: str, *, max_size: int = 10, wait_seconds: float = 60) -> asyncpg.Pool:
    return await connect_when_reachable(
        lambda: asyncpg.create_pool(
            database_url, min_size=1, max_size=max_size, init=_init_connection, reset=_keep_session
        ),
        TRANSIENT_DB_ERRORS, what="database", wait_seconds=wait_seconds, log=log,
    )
