"""Which candidate registry the validator reads: LORIS's tables when UPLOADER_LORIS_DATABASE_URL is set (app[LORIS_CONNECTIONS]
then), else the uploader's own PostgreSQL tables. Chosen here only."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from services.common.app_keys import POOL
from services.common.loris_connections import LORIS_CONNECTIONS
from services.validator.loris_registry import LorisRegistry
from services.validator.registry import CandidateRegistry, PostgresRegistry


@contextlib.asynccontextmanager
async def open_registry(app: web.Application, conn: asyncpg.Connection | None = None) -> AsyncIterator[CandidateRegistry]:
    """The registry, for the time of one check. The uploader's own registry reads on `conn` when given, else on a
    connection of the pool; LORIS's on LORIS's connections."""
    if LORIS_CONNECTIONS in app:
        yield LorisRegistry(app[LORIS_CONNECTIONS])
    elif conn is not None:
        yield PostgresRegistry(conn)
    else:
        async with app[POOL].acquire() as own_conn:
            yield PostgresRegistry(own_conn)
