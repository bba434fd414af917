"""An upload as the gateway's own record shows it, for the moment after a 202
when the logstore (the read side) has not recorded it yet."""

from pathlib import Path

import asyncpg

from services.common.api_models import UploadSummary
from services.gateway.uploads.records import UploadRecord


async def fresh_summary(pool: asyncpg.Pool, record: UploadRecord, incoming_path: Path) -> UploadSummary:
    row = await pool.fetchrow(
        """SELECT u.candid, u.pscid, u.visit_label, u.updated_at, u.loris_upload_id, a.scan_key, a.size_bytes,
                  a.uploaded_at
           FROM gateway.uploads u JOIN gateway.upload_attempts a ON a.upload_id = u.upload_id AND a.attempt = u.attempt
           WHERE u.upload_id = $1""",
        record.upload_id,
    )
    return UploadSummary(
        upload_id=record.upload_id, progress=record.progress, candid=row["candid"], pscid=row["pscid"],
        visit_label=row["visit_label"], site=record.site, is_phantom=record.is_phantom, file_name=record.file_name,
        upload_location=str(incoming_path.resolve() / row["scan_key"]), uploaded_at=row["uploaded_at"],
        uploaded_by=record.uploaded_by, tarchive=None, minc_inserted=None, minc_created=None,
        size_bytes=row["size_bytes"], attempt=record.attempt, exit_code=None, updated_at=row["updated_at"],
        loris_upload_id=row["loris_upload_id"],
    )
