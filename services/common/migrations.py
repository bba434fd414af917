"""SQL migrations: numbered .sql files under deploy/migrations, each applied once.

Every service applies the pending ones at start; an advisory lock keeps two
services starting together from applying the same file twice.
"""

import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "migrations"
_LOCK_KEY = 7_310_001  # any constant shared by every service

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def apply_migrations(pool: asyncpg.Pool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    applied_now = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            done = {row["name"] for row in await conn.fetch("SELECT name FROM public.schema_migrations")}
            for path in migration_files(directory):
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO public.schema_migrations (name) VALUES ($1)", path.name)
                log.info("migration applied", extra={"migration": path.name})
                applied_now.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def pending_migrations(conn: asyncpg.Connection | asyncpg.Pool, directory: Path | None = None) -> list[str]:
    """The migrations on disk that the database has not recorded as applied."""
    known = [path.name for path in migration_files(directory or MIGRATIONS_DIR)]
    applied = await conn.fetch("SELECT name FROM public.schema_migrations WHERE name = any($1::text[])", known)
    done = {row["name"] for row in applied}
    return [name for name in known if name not in done]
