"""The launcher's run records: one per upload attempt, whoever asked for it.

Every transition is a conditional update, so that replicas racing for the
same run, or a reaper racing a slow finisher, cannot both win.
"""

from dataclasses import dataclass

import asyncpg

from services.common.messages import RunOutcome, ScanFacts

RUNS_CHANNEL = "launcher_runs"


@dataclass(frozen=True)
class Run:
    run_id: int
    upload_id: int
    attempt: int
    scan: ScanFacts


async def queue_run(conn: asyncpg.Connection, upload_id: int, attempt: int, scan: ScanFacts) -> bool:
    """Queue a run unless this attempt already has one or a newer attempt exists."""
    await conn.execute(
        "UPDATE launcher.runs SET state = 'superseded' WHERE upload_id = $1 AND attempt < $2 AND state = 'queued'",
        upload_id,
        attempt,
    )
    queued = await conn.fetchval(
        """INSERT INTO launcher.runs (upload_id, attempt, scan)
           SELECT $1, $2, $3
           WHERE NOT EXISTS (SELECT 1 FROM launcher.runs WHERE upload_id = $1 AND attempt > $2)
           ON CONFLICT (upload_id, attempt) DO NOTHING
           RETURNING true""",
        upload_id,
        attempt,
        scan.model_dump(),
    )
    if queued:
        await conn.execute("SELECT pg_notify($1, '')", RUNS_CHANNEL)
    return bool(queued)


async def claim_next_run(conn: asyncpg.Connection, owner: str) -> Run | None:
    row = await conn.fetchrow(
        """UPDATE launcher.runs SET state = 'running', owner = $1, started_at = now(), heartbeat_at = now()
           WHERE run_id = (SELECT run_id FROM launcher.runs WHERE state = 'queued'
                           ORDER BY run_id FOR UPDATE SKIP LOCKED LIMIT 1)
           RETURNING run_id, upload_id, attempt, scan""",
        owner,
    )
    if row is None:
        return None
    return Run(row["run_id"], row["upload_id"], row["attempt"], ScanFacts.model_validate(row["scan"]))


async def count_queued(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT count(*) FROM launcher.runs WHERE state = 'queued'")


async def record_command(conn: asyncpg.Connection, run_id: int, argv: list[str]) -> None:
    await conn.execute("UPDATE launcher.runs SET command = $2 WHERE run_id = $1", run_id, argv)


async def record_pid(conn: asyncpg.Connection, run_id: int, pid: int) -> None:
    await conn.execute("UPDATE launcher.runs SET pid = $2 WHERE run_id = $1", run_id, pid)


async def beat(conn: asyncpg.Connection, run_id: int, owner: str) -> None:
    await conn.execute(
        "UPDATE launcher.runs SET heartbeat_at = now() WHERE run_id = $1 AND owner = $2 AND state = 'running'",
        run_id,
        owner,
    )


async def finish_run(conn: asyncpg.Connection, run_id: int, owner: str, exit_code: int | None,
                     outcome: RunOutcome) -> bool:
    """Record the end of a run; False if it was no longer ours (the reaper took it)."""
    finished = await conn.fetchval(
        """UPDATE launcher.runs SET state = $4, exit_code = $3, outcome = $5, finished_at = now()
           WHERE run_id = $1 AND owner = $2 AND state = 'running' RETURNING true""",
        run_id,
        owner,
        exit_code,
        "succeeded" if outcome == RunOutcome.SUCCEEDED else "failed",
        outcome.value,
    )
    return bool(finished)


async def reap_stale_runs(conn: asyncpg.Connection, stale_after_seconds: float) -> list[tuple[Run, str]]:
    """Fail the runs whose launcher stopped beating (it died); returns them with their launcher."""
    rows = await conn.fetch(
        """UPDATE launcher.runs SET state = 'failed', outcome = $2, finished_at = now()
           WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
           RETURNING run_id, upload_id, attempt, scan, owner""",
        stale_after_seconds,
        RunOutcome.ABANDONED.value,
    )
    return [(Run(r["run_id"], r["upload_id"], r["attempt"], ScanFacts.model_validate(r["scan"])), r["owner"]) for r in rows]
