"""The gateway's upload records: the authority on which attempt of an upload
is current and whether it may be overwritten or launched.

Every transition is a conditional update, so two racing requests cannot both
win, and an event of an earlier attempt changes nothing.
"""

from dataclasses import dataclass

import asyncpg

from services.common.api_models import UploadForm
from services.common.messages import Event, ScanFacts
from services.common.progress import OVERWRITABLE, Progress, progress_after, rank_of, rank_of_type

RECEIVED = "upload.received"
VALIDATED = "upload.validated"
LAUNCH_REQUESTED = "upload.launch_requested"
RECEIVED_RANK = rank_of_type(RECEIVED)
LAUNCH_REQUESTED_RANK = rank_of_type(LAUNCH_REQUESTED)


@dataclass(frozen=True)
class UploadRecord:
    upload_id: int
    file_name: str
    attempt: int
    state: str
    progress: Progress


async def find_by_name(conn: asyncpg.Connection | asyncpg.Pool, file_name: str) -> UploadRecord | None:
    row = await conn.fetchrow(
        "SELECT upload_id, file_name, attempt, state, progress FROM gateway.uploads WHERE file_name = $1", file_name
    )
    return _record(row)


async def find_by_id(conn: asyncpg.Connection | asyncpg.Pool, upload_id: int) -> UploadRecord | None:
    row = await conn.fetchrow(
        "SELECT upload_id, file_name, attempt, state, progress FROM gateway.uploads WHERE upload_id = $1", upload_id
    )
    return _record(row)


async def claim_attempt(
    conn: asyncpg.Connection, file_name: str, form: UploadForm, username: str
) -> tuple[int, int] | None:
    """Start a new attempt: the first for a new name, or a replacement when
    overwrite is asked and the current progress allows it. Returns
    (upload_id, attempt), or None when the name is taken and may not be replaced."""
    values = (file_name, form.candid, form.pscid, form.visit_label, form.is_phantom, username)
    row = await conn.fetchrow(
        """INSERT INTO gateway.uploads (file_name, candid, pscid, visit_label, is_phantom, uploaded_by,
                                        attempt, state, state_rank, progress)
           VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)
           ON CONFLICT (file_name) DO NOTHING RETURNING upload_id, attempt""",
        *values, RECEIVED, RECEIVED_RANK, Progress.NOT_STARTED.value,
    )
    if row is None and form.overwrite:
        row = await conn.fetchrow(
            """UPDATE gateway.uploads SET candid = $2, pscid = $3, visit_label = $4, is_phantom = $5,
                   uploaded_by = $6, attempt = attempt + 1, state = $7, state_rank = $8, progress = $9,
                   updated_at = now()
               WHERE file_name = $1 AND progress = ANY($10::text[]) RETURNING upload_id, attempt""",
            *values, RECEIVED, RECEIVED_RANK, Progress.NOT_STARTED.value, [p.value for p in OVERWRITABLE],
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


async def claim_launch(conn: asyncpg.Connection, upload_id: int) -> tuple[int, ScanFacts] | None:
    """Move a validated upload to launch requested; returns (attempt, scan) or None if not allowed."""
    row = await conn.fetchrow(
        """UPDATE gateway.uploads u SET state = $2, state_rank = $3, updated_at = now()
           FROM gateway.upload_attempts a
           WHERE u.upload_id = $1 AND u.state = $4 AND a.upload_id = u.upload_id AND a.attempt = u.attempt
           RETURNING u.attempt, u.file_name, a.scan_key, u.candid, u.pscid, u.visit_label, u.is_phantom""",
        upload_id, LAUNCH_REQUESTED, LAUNCH_REQUESTED_RANK, VALIDATED,
    )
    if row is None:
        return None
    scan = ScanFacts(
        file_name=row["file_name"], scan_key=row["scan_key"], candid=row["candid"],
        pscid=row["pscid"], visit_label=row["visit_label"], is_phantom=row["is_phantom"],
    )
    return row["attempt"], scan


async def advance_state(event: Event, conn: asyncpg.Connection) -> None:
    """Follow what the validator and the launcher announce, for the current attempt only."""
    await conn.execute(
        """UPDATE gateway.uploads SET state = $3, state_rank = $4, progress = $5, updated_at = now()
           WHERE upload_id = $1 AND attempt = $2 AND state_rank < $4""",
        event.upload_id, event.attempt, event.type, rank_of(event), progress_after(event).value,
    )


def _record(row: asyncpg.Record | None) -> UploadRecord | None:
    if row is None:
        return None
    return UploadRecord(row["upload_id"], row["file_name"], row["attempt"], row["state"], Progress(row["progress"]))
