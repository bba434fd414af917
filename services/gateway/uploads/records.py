"""The gateway's upload records: the one authority on which attempt of an
upload is current, whether it may be replaced, and whether it may run.

Every transition is a conditional update on the upload's row, so that two
racing requests cannot both win:
- a new attempt (an overwrite) only while no run is granted: the state is
  received, validated or rejected, or the last run failed;
- a run is granted (state launch_requested) only for the current attempt,
  once validated (and, in LORIS site mode, once its row in LORIS's
  mri_upload is written: services/gateway/loris_record/), automatically or
  on request; the launcher runs nothing
  without that grant; it is granted again (a new launch of the same attempt)
  only when the last run ended for reasons not the upload's own (interrupted,
  cancelled, or its command could not start), never after a success or the
  pipeline's own failure;
- an event of an earlier attempt changes nothing.

Each launch has a process id (the LORIS REST API's process ID) from the
moment it is asked for: when it is granted, or earlier when it is wanted
before the upload is validated (auto-launch, or a launch asked for then), so
that the answer to a launch already names the process a client follows.
"""

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.messages import (
    AUTO_LAUNCH,
    Event,
    EventType,
    LaunchRequested,
    PipelineFinished,
    RunCancelRequested,
    RunOutcome,
    ScanFacts,
    UploadRejected,
    UploadValidated,
    UserScope,
)
from services.common.outbox import add_to_outbox
from services.common.progress import LAUNCH_RANK_STEP, Progress, progress_after, rank_of, rank_of_type
from services.common.scope import visible_to_sql
from services.gateway.schema import SCHEMA

# An upload's state is the type of the last event that moved it.
RECEIVED = EventType.UPLOAD_RECEIVED
VALIDATED = EventType.UPLOAD_VALIDATED
REJECTED = EventType.UPLOAD_REJECTED
LAUNCH_REQUESTED = EventType.LAUNCH_REQUESTED
STARTED = EventType.PIPELINE_STARTED
FINISHED = EventType.PIPELINE_FINISHED

# A run that ended so may be launched again, for the same attempt.
RELAUNCHABLE_OUTCOMES = [outcome.value for outcome in RunOutcome if outcome.may_launch_again]
# While an upload is in one of these states no run is granted, so a new attempt may replace it.
REPLACEABLE_STATES = (RECEIVED, VALIDATED, REJECTED)

_COLUMNS = ("upload_id, file_name, attempt, state, progress, site, is_phantom, uploaded_by, launch_when_valid, "
            "run_outcome, launches, process_id, loris_upload_id, project")
# A launch's process id, given when the launch is asked for.
_NEW_PROCESS_ID = "nextval('gateway.process_ids')"


@dataclass(frozen=True)
class UploadRecord:
    upload_id: int
    file_name: str
    attempt: int
    state: str
    progress: Progress
    site: str | None = None
    is_phantom: bool = False
    uploaded_by: str | None = None
    launch_when_valid: bool = False
    run_outcome: str | None = None
    launches: int = 0
    process_id: int | None = None  # of the current attempt's launch, wanted or granted
    loris_upload_id: int | None = None  # LORIS site mode: its row in LORIS's mri_upload, once written
    project: str | None = None  # LORIS site mode: the candidate's project, as the site

    @property
    def mri_upload_id(self) -> int:
        """The upload's id in the LORIS REST API (MriUploadID): LORIS's UploadID once its row is written (LORIS
        site mode), so that LORIS's scripts and ours name the same upload; else the uploader's own."""
        return self.loris_upload_id or self.upload_id

    @property
    def may_be_replaced(self) -> bool:
        """The same rule as the condition of claim_attempt's UPDATE."""
        return self.state in REPLACEABLE_STATES or (self.state == FINISHED and self.progress == Progress.FAILURE)


async def find_by_name(conn: asyncpg.Connection | asyncpg.Pool, file_name: str) -> UploadRecord | None:
    return _record(await conn.fetchrow(f"SELECT {_COLUMNS} FROM gateway.uploads WHERE file_name = $1", file_name))


async def find_by_id(conn: asyncpg.Connection | asyncpg.Pool, upload_id: int) -> UploadRecord | None:
    return _record(await conn.fetchrow(f"SELECT {_COLUMNS} FROM gateway.uploads WHERE upload_id = $1", upload_id))


async def claim_attempt(conn: asyncpg.Connection, scan: ScanFacts, uploader: UserScope, *, overwrite: bool,
                        launch_when_valid: bool) -> tuple[int, int] | None:
    """Start a new attempt: the first for a new name, or a replacement when overwrite is asked, no run is
    granted, the uploader may see the upload and it is of the same kind (phantom or not). Returns
    (upload_id, attempt), or None when the name is taken and may not be replaced."""
    values = (scan.file_name, scan.candid, scan.pscid, scan.visit_label, scan.is_phantom, uploader.username,
              scan.site, launch_when_valid, scan.project)
    row = await conn.fetchrow(
        f"""INSERT INTO gateway.uploads (file_name, candid, pscid, visit_label, is_phantom, uploaded_by, site,
                                         launch_when_valid, project, attempt, state, state_rank, progress, process_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, 'Not Started',
                    CASE WHEN $8 THEN {_NEW_PROCESS_ID} END)
            ON CONFLICT (file_name) DO NOTHING RETURNING upload_id, attempt""",
        *values, RECEIVED, rank_of_type(RECEIVED),
    )
    if row is None and overwrite:
        visible, visible_arguments = visible_to_sql(uploader, 13)
        # The same rules as UploadRecord.may_be_replaced and upload_rules.name_taken_failure.
        row = await conn.fetchrow(
            f"""UPDATE gateway.uploads SET candid = $2, pscid = $3, visit_label = $4, is_phantom = $5,
                    uploaded_by = $6, site = $7, launch_when_valid = $8, project = $9, launch_requested_by = NULL,
                    attempt = attempt + 1, state = $10, state_rank = $11, progress = 'Not Started', updated_at = now(),
                    launches = 0, run_outcome = NULL, process_id = CASE WHEN $8 THEN {_NEW_PROCESS_ID} END
                WHERE file_name = $1
                  AND (state = ANY($12::text[]) OR (state = '{FINISHED}' AND progress = 'Failure'))
                  AND is_phantom = $5 AND {visible}
                RETURNING upload_id, attempt""",
            *values, RECEIVED, rank_of_type(RECEIVED), list(REPLACEABLE_STATES), *visible_arguments,
        )
    return (row["upload_id"], row["attempt"]) if row else None


async def record_attempt_file(
    conn: asyncpg.Connection, upload_id: int, attempt: int, scan_key: str, size_bytes: int, username: str
) -> None:
    await conn.execute(
        """INSERT INTO gateway.upload_attempts (upload_id, attempt, scan_key, size_bytes, uploaded_by)
           VALUES ($1, $2, $3, $4, $5)""",
        upload_id, attempt, scan_key, size_bytes, username,
    )


async def grant_run(conn: asyncpg.Connection, upload_id: int, requested_by: str) -> bool:
    """Grant a run to the current attempt, validated or interrupted in its last run, and announce it;
    False if its state does not allow it, or if its file was removed.

    The row is locked first, in a statement of its own. The retention sweep holds that lock while it removes
    the file and marks the attempt removed; under READ COMMITTED, one UPDATE that joined the attempt would
    wait for the lock, then go on with the attempt as its snapshot saw it before the sweep committed, and
    grant a run whose file is gone. The UPDATE's snapshot, taken once the lock is ours, sees the mark."""
    await conn.execute("SELECT 1 FROM gateway.uploads WHERE upload_id = $1 FOR UPDATE", upload_id)
    # The process id of a launch wanted before validation was given then; a relaunch is a new process.
    row = await conn.fetchrow(
        f"""UPDATE gateway.uploads u SET state = $2, state_rank = $3 + $6 * u.launches, launch_requested_by = $4,
               launches = u.launches + 1, progress = 'Not Started', run_outcome = NULL, updated_at = now(),
               process_id = CASE WHEN u.state = $5 THEN coalesce(u.process_id, {_NEW_PROCESS_ID})
                                 ELSE {_NEW_PROCESS_ID} END
           FROM gateway.upload_attempts a
           WHERE u.upload_id = $1 AND a.upload_id = u.upload_id AND a.attempt = u.attempt AND a.removed_at IS NULL
             AND (u.state = $5 OR (u.state = $7 AND u.run_outcome = ANY($8::text[]))) AND NOT u.loris_row_wanted
           RETURNING u.attempt, u.launches, u.file_name, a.scan_key, u.candid, u.pscid, u.visit_label, u.is_phantom,
                     u.site, u.process_id, u.loris_upload_id""",
        upload_id, LAUNCH_REQUESTED, rank_of_type(LAUNCH_REQUESTED), requested_by, VALIDATED,
        LAUNCH_RANK_STEP, FINISHED, RELAUNCHABLE_OUTCOMES,
    )
    if row is None:
        return False
    scan = ScanFacts(
        file_name=row["file_name"], scan_key=row["scan_key"], candid=row["candid"], pscid=row["pscid"],
        visit_label=row["visit_label"], is_phantom=row["is_phantom"], site=row["site"],
    )
    event = LaunchRequested(upload_id=upload_id, attempt=row["attempt"], launch=row["launches"], scan=scan,
                            requested_by=requested_by, process_id=row["process_id"],
                            loris_upload_id=row["loris_upload_id"])
    await add_to_outbox(conn, SCHEMA, event)
    return True


@dataclass(frozen=True)
class AttemptFile:
    scan_key: str
    removed_at: datetime | None  # when the retention removed it; None while it is kept


async def attempt_file(conn: asyncpg.Connection, upload_id: int, attempt: int) -> AttemptFile | None:
    row = await conn.fetchrow(
        "SELECT scan_key, removed_at FROM gateway.upload_attempts WHERE upload_id = $1 AND attempt = $2",
        upload_id, attempt,
    )
    return AttemptFile(row["scan_key"], row["removed_at"]) if row else None


async def request_cancel(conn: asyncpg.Connection, upload_id: int, requested_by: str) -> bool:
    """Ask the launcher to stop the current launch's run, queued or running; False if none is granted."""
    row = await conn.fetchrow(
        "SELECT attempt, launches FROM gateway.uploads WHERE upload_id = $1 AND state = ANY($2::text[]) FOR UPDATE",
        upload_id, [LAUNCH_REQUESTED, STARTED],
    )
    if row is None:
        return False
    await add_to_outbox(conn, SCHEMA, RunCancelRequested(upload_id=upload_id, attempt=row["attempt"],
                                                         launch=row["launches"], requested_by=requested_by))
    return True


async def launch_once_valid(conn: asyncpg.Connection, upload_id: int, requested_by: str) -> bool:
    """Ask for a run as soon as the current attempt is validated (and its LORIS row written, in LORIS site mode);
    False if it is past that point or asked already."""
    row = await conn.fetchrow(
        f"""UPDATE gateway.uploads SET launch_when_valid = true, launch_requested_by = $2, updated_at = now(),
                process_id = {_NEW_PROCESS_ID}
            WHERE upload_id = $1 AND (state = $3 OR (state = $4 AND loris_row_wanted)) AND NOT launch_when_valid
            RETURNING upload_id""",
        upload_id, requested_by, RECEIVED, VALIDATED,
    )
    return row is not None


async def want_loris_row(conn: asyncpg.Connection, upload_id: int) -> None:
    """LORIS site mode, in the accepting transaction: the current attempt's row in LORIS's mri_upload is to be
    written (by services/gateway/loris_record/); until it is, no run is granted."""
    await conn.execute(
        "UPDATE gateway.uploads SET loris_row_wanted = true, loris_row_set_aside = NULL WHERE upload_id = $1", upload_id)


async def advance_state(event: Event, conn: asyncpg.Connection) -> None:
    """Follow what the validator and the launcher announce, for the current attempt only;
    a validated attempt whose launch is wanted is granted its run at once."""
    site, project = found_place(event)
    run_outcome = event.outcome.value if isinstance(event, PipelineFinished) else None
    row = await conn.fetchrow(
        """UPDATE gateway.uploads SET state = $3, state_rank = $4, progress = $5, site = coalesce($6, site),
               run_outcome = $8, project = coalesce($9, project), updated_at = now()
           WHERE upload_id = $1 AND attempt = $2 AND state_rank < $4
           RETURNING launch_when_valid, coalesce(launch_requested_by, $7) AS requested_by""",
        event.upload_id, event.attempt, event.type, rank_of(event), progress_after(event).value, site, AUTO_LAUNCH,
        run_outcome, project,
    )
    if row is not None and isinstance(event, UploadValidated) and row["launch_when_valid"]:
        await grant_run(conn, event.upload_id, row["requested_by"])


def found_place(event: Event) -> tuple[str | None, str | None]:
    """The candidate's site and project, as the validator found them (none from other events)."""
    if isinstance(event, UploadValidated):
        return event.scan.site, event.scan.project
    if isinstance(event, UploadRejected):
        return event.site, event.project
    return None, None


def _record(row: asyncpg.Record | None) -> UploadRecord | None:
    if row is None:
        return None
    return UploadRecord(
        row["upload_id"], row["file_name"], row["attempt"], row["state"], Progress(row["progress"]),
        row["site"], row["is_phantom"], row["uploaded_by"], row["launch_when_valid"], row["run_outcome"],
        row["launches"], row["process_id"], row["loris_upload_id"], row["project"],
    )
