"""Process records, like LORIS's server process manager: one row per pipeline
run, opened when it starts and closed when it ends, whatever order the two
events arrive in; and the process id of each launch, which every run of the
launch is shown under."""

import asyncpg

from services.common.messages import LaunchRequested, PipelineFinished, PipelineRerunQueued, PipelineStarted, RunOutcome


async def record_launch(conn: asyncpg.Connection, event: LaunchRequested) -> None:
    if event.process_id is not None:
        await conn.execute(
            """INSERT INTO logstore.launches (upload_id, attempt, launch, process_id) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING""",
            event.upload_id, event.attempt, event.launch, event.process_id,
        )


async def record_run_started(conn: asyncpg.Connection, event: PipelineStarted) -> None:
    await conn.execute(
        """INSERT INTO logstore.runs AS r (run_id, upload_id, attempt, launch, command, launcher, pid, started_at, run)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (run_id) DO UPDATE SET command = EXCLUDED.command, launcher = EXCLUDED.launcher,
               pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, run = coalesce(EXCLUDED.run, r.run)""",
        event.run_id, event.upload_id, event.attempt, event.launch, event.command, event.launcher, event.pid,
        event.occurred_at, event.run,
    )


async def record_run_finished(conn: asyncpg.Connection, event: PipelineFinished) -> None:
    await conn.execute(
        """INSERT INTO logstore.runs AS r (run_id, upload_id, attempt, launch, launcher, ended_at, exit_code, outcome,
                                           stderr_tail, run)
           VALUES ($1, $2, $3, $9, $4, $5, $6, $7, $8, $10)
           ON CONFLICT (run_id) DO UPDATE SET ended_at = EXCLUDED.ended_at, exit_code = EXCLUDED.exit_code,
               outcome = EXCLUDED.outcome, stderr_tail = EXCLUDED.stderr_tail,
               launcher = coalesce(r.launcher, EXCLUDED.launcher), run = coalesce(r.run, EXCLUDED.run)""",
        event.run_id, event.upload_id, event.attempt, event.launcher, event.occurred_at, event.exit_code,
        event.outcome.value, event.stderr_tail, event.launch, event.run,
    )


async def record_run_interrupted(conn: asyncpg.Connection, event: PipelineRerunQueued) -> None:
    """An interrupted run whose next try is queued: it ended, without an exit code."""
    await conn.execute(
        """INSERT INTO logstore.runs AS r (run_id, upload_id, attempt, launch, launcher, ended_at, outcome, run)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (run_id) DO UPDATE SET ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome,
               launcher = coalesce(r.launcher, EXCLUDED.launcher), run = coalesce(r.run, EXCLUDED.run)""",
        event.run_id, event.upload_id, event.attempt, event.launch, event.launcher, event.occurred_at,
        RunOutcome.INTERRUPTED.value, event.run,
    )
