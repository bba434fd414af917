"""Recording one event: the upload's facts, its progress, and its log lines.

Events of one upload may arrive out of order or twice. Progress moves only to
a higher (attempt, rank), so it never goes backwards; the consumer has
already ensured each event is recorded once.
"""

import asyncpg

from services.common.messages import (
    Event,
    LaunchRequested,
    LorisUploadRecorded,
    PipelineFileOutcomes,
    PipelineFinished,
    PipelineReported,
    PipelineRerunQueued,
    PipelineStarted,
    UploadReceived,
    UploadRejected,
    UploadValidated,
)
from services.common.progress import moves_progress, progress_after, rank_of
from services.logstore.log_lines import lines_for
from services.logstore.log_wakeups import notify_log_changed
from services.logstore.run_records import (record_launch, record_run_finished, record_run_interrupted,
                                           record_run_started)
from services.logstore.schema import SCHEMA

UPLOAD_LOCK_SPACE = 1


async def record_event(event: Event, conn: asyncpg.Connection) -> None:
    # One upload's events are recorded one at a time, so its log line ids grow
    # in commit order and a reader's `after` cursor never skips a line.
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", UPLOAD_LOCK_SPACE, event.upload_id)
    match event:
        case UploadReceived():
            await _record_upload_facts(conn, event)
        case UploadValidated() | UploadRejected():
            await _record_place(conn, event)
        case LaunchRequested():
            await record_launch(conn, event)
        case LorisUploadRecorded():
            await _record_loris_upload_id(conn, event)
        case PipelineStarted():
            await record_run_started(conn, event)
            await _start_run_report(conn, event)
        case PipelineFinished():
            await record_run_finished(conn, event)
            await _record_loris_record(conn, event)
        case PipelineRerunQueued():
            await record_run_interrupted(conn, event)
        case PipelineReported():
            await _record_report(conn, event)
        case PipelineFileOutcomes():
            await _record_file_outcomes(conn, event)
    if moves_progress(event):
        await _advance_progress(conn, event)
    await _append_log_lines(conn, event)
    await notify_log_changed(conn, event.upload_id)  # delivered at commit: the live log streams read it then


async def _record_upload_facts(conn: asyncpg.Connection, event: UploadReceived) -> None:
    scan = event.scan
    await conn.execute(
        """INSERT INTO logstore.uploads AS u (upload_id, file_name, candid, pscid, visit_label, is_phantom,
                                              uploaded_by, size_bytes, uploaded_at, attempt, state_rank, progress,
                                              site, scan_key, project)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 'Not Started', $11, $12, $13)
           ON CONFLICT (upload_id) DO UPDATE SET
               file_name = EXCLUDED.file_name, candid = EXCLUDED.candid, pscid = EXCLUDED.pscid,
               visit_label = EXCLUDED.visit_label, is_phantom = EXCLUDED.is_phantom,
               uploaded_by = EXCLUDED.uploaded_by, size_bytes = EXCLUDED.size_bytes,
               uploaded_at = EXCLUDED.uploaded_at, site = coalesce(EXCLUDED.site, u.site),
               project = coalesce(EXCLUDED.project, u.project),
               scan_key = EXCLUDED.scan_key, tarchive = NULL, minc_created = NULL, minc_inserted = NULL,
               report_run_id = NULL, step = NULL, percent = NULL, tarchive_info = NULL, summary = NULL
           WHERE EXCLUDED.attempt >= u.attempt""",
        event.upload_id,
        scan.file_name,
        scan.candid,
        scan.pscid,
        scan.visit_label,
        scan.is_phantom,
        event.uploaded_by,
        event.size_bytes,
        event.occurred_at,
        event.attempt,
        scan.site,
        scan.scan_key,
        scan.project,
    )


async def _record_loris_upload_id(conn: asyncpg.Connection, event: LorisUploadRecorded) -> None:
    """LORIS site mode: the upload's row in LORIS's mri_upload (one row for every attempt of the upload). It may
    arrive before upload.received is recorded: the row is then started with it."""
    await conn.execute(
        """INSERT INTO logstore.uploads AS u (upload_id, attempt, state_rank, progress, loris_upload_id)
           VALUES ($1, $2, 0, 'Not Started', $3)
           ON CONFLICT (upload_id) DO UPDATE SET loris_upload_id = EXCLUDED.loris_upload_id""",
        event.upload_id, event.attempt, event.loris_upload_id,
    )


async def _record_place(conn: asyncpg.Connection, event: UploadValidated | UploadRejected) -> None:
    """The validator found the candidate's site and project (the gateway may not have known them yet)."""
    if isinstance(event, UploadValidated):
        site, project = event.scan.site, event.scan.project
    else:
        site, project = event.site, event.project
    if site is not None:
        await conn.execute(
            """UPDATE logstore.uploads SET site = $2, project = coalesce($4, project)
               WHERE upload_id = $1 AND attempt <= $3""",
            event.upload_id, site, event.attempt, project,
        )


async def _start_run_report(conn: asyncpg.Connection, event: PipelineStarted) -> None:
    """A new run of the attempt: what an earlier run reported no longer stands."""
    await conn.execute(
        """UPDATE logstore.uploads SET report_run_id = $3, step = NULL, percent = NULL, tarchive = NULL,
               tarchive_info = NULL, minc_created = NULL, minc_inserted = NULL, summary = NULL, loris_record = NULL
           WHERE upload_id = $1 AND attempt = $2 AND (report_run_id IS NULL OR report_run_id < $3)""",
        event.upload_id, event.attempt, event.run_id,
    )


async def _record_report(conn: asyncpg.Connection, event: PipelineReported) -> None:
    """The fields a run reported; a report of a run older than the one already reported on changes nothing."""
    info = event.tarchive_info.model_dump(mode="json") if event.tarchive_info is not None else None
    await conn.execute(
        """UPDATE logstore.uploads SET report_run_id = coalesce($3, report_run_id),
               step = coalesce($4, step), percent = coalesce($5, percent), tarchive = coalesce($6, tarchive),
               tarchive_info = coalesce($7::jsonb, tarchive_info), minc_created = coalesce($8, minc_created),
               minc_inserted = coalesce($9, minc_inserted), summary = coalesce($10, summary)
           WHERE upload_id = $1 AND attempt = $2
             AND ($3::bigint IS NULL OR report_run_id IS NULL OR report_run_id <= $3)""",
        event.upload_id, event.attempt, event.run_id, event.step, event.percent, event.tarchive, info,
        event.minc_created, event.minc_inserted, event.summary,
    )


async def _record_loris_record(conn: asyncpg.Connection, event: PipelineFinished) -> None:
    """LORIS site mode: the upload's mri_upload row as read back at the run's end; its MINC counts are the
    upload's (LORIS's own figures win over what the pipeline printed)."""
    record = event.loris_record
    if record is None:
        return
    await conn.execute(
        """UPDATE logstore.uploads SET loris_record = $4::jsonb, minc_created = coalesce($5, minc_created),
               minc_inserted = coalesce($6, minc_inserted)
           WHERE upload_id = $1 AND attempt = $2 AND (report_run_id IS NULL OR report_run_id <= $3)""",
        event.upload_id, event.attempt, event.run_id, record.model_dump(mode="json"), record.minc_created,
        record.minc_inserted,
    )


FILE_OUTCOME_COLUMNS = ("upload_id", "attempt", "run_id", "file", "series", "outcome", "reason")


async def _record_file_outcomes(conn: asyncpg.Connection, event: PipelineFileOutcomes) -> None:
    await conn.copy_records_to_table(
        "file_outcomes", schema_name=SCHEMA, columns=FILE_OUTCOME_COLUMNS,
        records=[(event.upload_id, event.attempt, event.run_id, file.file, file.series, file.outcome, file.reason)
                 for file in event.files],
    )


async def _advance_progress(conn: asyncpg.Connection, event: Event) -> None:
    exit_code = event.exit_code if isinstance(event, PipelineFinished) else None
    await conn.execute(
        """INSERT INTO logstore.uploads AS u (upload_id, attempt, state_rank, progress, exit_code, failure)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (upload_id) DO UPDATE SET
               attempt = EXCLUDED.attempt, state_rank = EXCLUDED.state_rank,
               progress = EXCLUDED.progress, exit_code = EXCLUDED.exit_code, failure = EXCLUDED.failure,
               updated_at = now()
           WHERE (EXCLUDED.attempt, EXCLUDED.state_rank) > (u.attempt, u.state_rank)""",
        event.upload_id,
        event.attempt,
        rank_of(event),
        progress_after(event).value,
        exit_code,
        _failure(event),
    )


def _failure(event: Event) -> str | None:
    """Why the upload failed, in the sentence Browse shows; None when it did not."""
    match event:
        case PipelineFinished(succeeded=False):
            return event.message
        case UploadRejected():
            return " ".join(failure.message for failure in event.failures)
    return None


LOG_LINE_COLUMNS = ("upload_id", "attempt", "event_id", "logged_at", "origin", "message", "is_error", "is_verbose",
                    "stream", "run")


async def _append_log_lines(conn: asyncpg.Connection, event: Event) -> None:
    """The event's lines, in one COPY: a batch of a thousand pipeline lines is one round trip."""
    lines = lines_for(event)
    if not lines:
        return
    await conn.copy_records_to_table(
        "log_lines", schema_name=SCHEMA, columns=LOG_LINE_COLUMNS,
        records=[(event.upload_id, event.attempt, event.event_id, line.logged_at or event.occurred_at, line.origin,
                  line.message,
                  line.is_error, line.is_verbose, line.stream, line.run) for line in lines],
    )
