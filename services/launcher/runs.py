"""The launcher's run records: one per try of a launch of an upload attempt.

A launch is the gateway's grant (1, then 2 after a relaunch of an interrupted
run...); a try is one execution of it (2 when an interrupted run was queued
again on its own). A run's number counts the runs of its attempt that started,
whatever their launch and try (1, then 2 for a rerun or a relaunch...): the
log says which run printed each line. Every transition is a conditional update, so that replicas
racing for the same run, or a reaper racing a slow finisher, cannot both win.
"""

from dataclasses import dataclass

import asyncpg

from services.common.messages import RunOutcome, ScanFacts

RUNS_CHANNEL = "launcher_runs"
CANCEL_PREFIX = "cancel:"  # a notification on RUNS_CHANNEL naming a running run to stop
# Advisory lock spaces: 1 the logstore's uploads, 2 idempotency keys, 3 outbox relays, 4 this: an upload's
# grant and its cancel, handled side by side, are applied one after the other.
UPLOAD_RUNS_LOCK_SPACE = 4

_RUN_COLUMNS = "run_id, upload_id, attempt, launch, try, scan, number, loris_upload_id, loris_spool_last"


@dataclass(frozen=True)
class Run:
    run_id: int
    upload_id: int
    attempt: int
    scan: ScanFacts
    launch: int = 1
    try_number: int = 1
    number: int | None = None  # which run of the attempt: set when claimed (None in records of older launchers)
    loris_upload_id: int | None = None  # LORIS site mode: the upload's mri_upload.UploadID
    spool_last: int = 0  # the last NotificationID of LORIS-MRI's log turned into a line of the attempt's log


def _run(row: asyncpg.Record) -> Run:
    return Run(row["run_id"], row["upload_id"], row["attempt"], ScanFacts.model_validate(row["scan"]),
               row["launch"], row["try"], row["number"], row["loris_upload_id"], row["loris_spool_last"])


async def queue_run(conn: asyncpg.Connection, upload_id: int, attempt: int, scan: ScanFacts, launch: int = 1,
                    loris_upload_id: int | None = None) -> bool:
    """Queue a run unless this launch already has one or a newer attempt exists."""
    await _one_change_of_the_upload_at_a_time(conn, upload_id)
    await conn.execute(
        "UPDATE launcher.runs SET state = 'superseded' WHERE upload_id = $1 AND attempt < $2 AND state = 'queued'",
        upload_id,
        attempt,
    )
    queued = await conn.fetchval(
        """INSERT INTO launcher.runs (upload_id, attempt, launch, scan, loris_upload_id)
           SELECT $1, $2, $4, $3, $5
           WHERE NOT EXISTS (SELECT 1 FROM launcher.runs WHERE upload_id = $1 AND attempt > $2)
           ON CONFLICT (upload_id, attempt, launch, try) DO NOTHING
           RETURNING true""",
        upload_id,
        attempt,
        scan.model_dump(),
        launch,
        loris_upload_id,
    )
    if queued:
        await _wake_launchers(conn)
    return bool(queued)


async def queue_rerun(conn: asyncpg.Connection, run: Run) -> int:
    """Queue the next try of an interrupted run; returns its run id."""
    run_id = await conn.fetchval(
        """INSERT INTO launcher.runs (upload_id, attempt, launch, try, scan, loris_upload_id)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING run_id""",
        run.upload_id, run.attempt, run.launch, run.try_number + 1, run.scan.model_dump(), run.loris_upload_id,
    )
    await _wake_launchers(conn)
    return run_id


async def _one_change_of_the_upload_at_a_time(conn: asyncpg.Connection, upload_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", UPLOAD_RUNS_LOCK_SPACE, upload_id)


async def _wake_launchers(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", RUNS_CHANNEL)


async def claim_next_run(conn: asyncpg.Connection, owner: str) -> Run | None:
    row = await conn.fetchrow(
        f"""UPDATE launcher.runs AS run SET state = 'running', owner = $1, started_at = now(), heartbeat_at = now(),
                number = (SELECT count(*) + 1 FROM launcher.runs started
                          WHERE started.upload_id = run.upload_id AND started.attempt = run.attempt
                            AND started.started_at IS NOT NULL),
                -- LORIS-MRI's log goes on where the attempt's earlier runs left it (a rerun, a relaunch)
                loris_spool_last = (SELECT max(earlier.loris_spool_last) FROM launcher.runs earlier
                                    WHERE earlier.upload_id = run.upload_id AND earlier.attempt = run.attempt)
            WHERE run_id = (SELECT run_id FROM launcher.runs WHERE state = 'queued'
                            ORDER BY run_id FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING {_RUN_COLUMNS}""",
        owner,
    )
    return None if row is None else _run(row)


async def count_queued(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT count(*) FROM launcher.runs WHERE state = 'queued'")


async def record_command(conn: asyncpg.Connection, run_id: int, argv: list[str]) -> None:
    await conn.execute("UPDATE launcher.runs SET command = $2 WHERE run_id = $1", run_id, argv)


async def record_pid(conn: asyncpg.Connection, run_id: int, pid: int) -> None:
    await conn.execute("UPDATE launcher.runs SET pid = $2 WHERE run_id = $1", run_id, pid)


@dataclass(frozen=True)
class Beat:
    still_ours: bool  # False: the run was given up
    cancelled_by: str | None = None


async def beat(conn: asyncpg.Connection | asyncpg.Pool, run_id: int, owner: str) -> Beat:
    """Say the run is alive; and learn whether it is still ours to run, and whether a user cancelled it."""
    row = await conn.fetchrow(
        """UPDATE launcher.runs SET heartbeat_at = now()
           WHERE run_id = $1 AND owner = $2 AND state = 'running' RETURNING cancel_requested_by""",
        run_id,
        owner,
    )
    return Beat(False) if row is None else Beat(True, row["cancel_requested_by"])


async def cancel_runs(conn: asyncpg.Connection, upload_id: int, attempt: int, launch: int, by: str) -> list[int]:
    """A user's cancel of a launch; returns the run ids it ended at once, to be announced. A queued run ends
    at once; a running one is marked, and its launcher, woken by a NOTIFY "cancel:<run_id>:<user>", stops it.
    A cancel handled before its launch's grant (the two may pass each other) leaves the launch's run already
    ended, so that the grant queues nothing."""
    await _one_change_of_the_upload_at_a_time(conn, upload_id)
    queued = await conn.fetch(
        """UPDATE launcher.runs SET state = 'failed', outcome = 'cancelled', finished_at = now(),
               cancel_requested_by = $4, ended_why = 'cancelled before it started'
           WHERE upload_id = $1 AND attempt = $2 AND launch = $3 AND state = 'queued' RETURNING run_id""",
        upload_id, attempt, launch, by,
    )
    running = await conn.fetch(
        """UPDATE launcher.runs SET cancel_requested_by = $4
           WHERE upload_id = $1 AND attempt = $2 AND launch = $3 AND state = 'running' RETURNING run_id""",
        upload_id, attempt, launch, by,
    )
    for row in running:
        await conn.execute("SELECT pg_notify($1, $2)", RUNS_CHANNEL, f"{CANCEL_PREFIX}{row['run_id']}:{by}")
    ended = [row["run_id"] for row in queued]
    if not queued and not running:
        ahead = await conn.fetchval(
            """INSERT INTO launcher.runs (upload_id, attempt, launch, scan, state, outcome, cancel_requested_by,
                                          ended_why, finished_at)
               SELECT $1, $2, $3, 'null'::jsonb, 'failed', 'cancelled', $4, 'cancelled before its grant came', now()
               WHERE NOT EXISTS (SELECT 1 FROM launcher.runs WHERE upload_id = $1 AND attempt = $2 AND launch = $3)
               RETURNING run_id""",
            upload_id, attempt, launch, by,
        )
        ended += [ahead] if ahead is not None else []
    return ended


async def finish_run(conn: asyncpg.Connection, run_id: int, owner: str, exit_code: int | None,
                     outcome: RunOutcome, why: str | None = None) -> bool:
    """Record the end of a run; False if it was no longer ours (it was given up meanwhile)."""
    finished = await conn.fetchval(
        """UPDATE launcher.runs SET state = $4, exit_code = $3, outcome = $5, ended_why = $6, finished_at = now()
           WHERE run_id = $1 AND owner = $2 AND state = 'running' RETURNING true""",
        run_id,
        owner,
        exit_code,
        "succeeded" if outcome == RunOutcome.SUCCEEDED else "failed",
        outcome.value,
        why,
    )
    return bool(finished)


async def record_late_finish(conn: asyncpg.Connection, run_id: int, exit_code: int | None) -> bool:
    """The end of a run given up before it came; False when its end was recorded with its exit code instead
    (a reaper read the code its guard kept, services/launcher/run_exits.py): nothing to tell."""
    recorded = await conn.fetchval(
        """UPDATE launcher.runs SET late_exit_code = $2, late_finished_at = now()
           WHERE run_id = $1 AND exit_code IS NULL RETURNING true""",
        run_id, exit_code,
    )
    return bool(recorded)


async def ended_among(conn: asyncpg.Connection | asyncpg.Pool, run_ids: list[int]) -> list[int]:
    """Those of these runs whose end is recorded (a run never runs again: its rerun is a run of its own)."""
    rows = await conn.fetch(
        "SELECT run_id FROM launcher.runs WHERE run_id = any($1::bigint[]) AND state NOT IN ('queued', 'running')",
        run_ids,
    )
    return [row["run_id"] for row in rows]


async def stale_runs(conn: asyncpg.Connection, stale_after_seconds: float) -> list[tuple[Run, str]]:
    """The runs whose launcher stopped beating, locked for this transaction, with their launcher."""
    rows = await conn.fetch(
        f"""SELECT {_RUN_COLUMNS}, owner FROM launcher.runs
            WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
            FOR UPDATE SKIP LOCKED""",
        stale_after_seconds,
    )
    return [(_run(row), row["owner"]) for row in rows]


async def advance_spool(conn: asyncpg.Connection, run_id: int, owner: str, after: int, last: int) -> bool:
    """Move the run's LORIS log cursor from `after` to `last`, in the transaction that writes those lines; False
    (write nothing) when the run is no longer this launcher's, or someone else moved the cursor."""
    moved = await conn.fetchval(
        """UPDATE launcher.runs SET loris_spool_last = $4
           WHERE run_id = $1 AND owner = $2 AND state = 'running' AND loris_spool_last = $3 RETURNING true""",
        run_id, owner, after, last,
    )
    return bool(moved)


async def owe_not_inserting(conn: asyncpg.Connection, run_id: int) -> None:
    """The run ended without success but its LORIS row could not be told (Inserting = 0) yet: a sweep will."""
    await conn.execute(
        "UPDATE launcher.runs SET loris_owes_not_inserting = true WHERE run_id = $1 AND loris_upload_id IS NOT NULL",
        run_id,
    )


async def owing_not_inserting(conn: asyncpg.Connection | asyncpg.Pool) -> list[tuple[int, int]]:
    """(run id, LORIS UploadID) of the ended runs whose LORIS row still owes Inserting = 0. A later run of the same
    row owns its flags: an earlier run's debt is dropped then."""
    await conn.execute(
        """UPDATE launcher.runs ended SET loris_owes_not_inserting = false
           WHERE loris_owes_not_inserting AND EXISTS (SELECT 1 FROM launcher.runs later
               WHERE later.loris_upload_id = ended.loris_upload_id AND later.run_id > ended.run_id
                 AND later.started_at IS NOT NULL)""")
    rows = await conn.fetch(
        """SELECT run_id, loris_upload_id FROM launcher.runs
           WHERE loris_owes_not_inserting AND state NOT IN ('queued', 'running') ORDER BY run_id LIMIT 100""")
    return [(row["run_id"], row["loris_upload_id"]) for row in rows]


async def not_inserting_told(conn: asyncpg.Connection | asyncpg.Pool, run_id: int) -> None:
    await conn.execute("UPDATE launcher.runs SET loris_owes_not_inserting = false WHERE run_id = $1", run_id)
