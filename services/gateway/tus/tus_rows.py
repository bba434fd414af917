"""The rows of tus uploads in PostgreSQL (gateway.tus_uploads): what a gateway replica needs to take a PATCH
that another one began. A row is found only by its owner: another user's upload is as unknown as none."""

from dataclasses import dataclass

import asyncpg

from services.common.api_models import UploadFields

_LIVE = "tus_id = $1 AND username = $2 AND expires_at > now()"


@dataclass(frozen=True)
class TusUpload:
    tus_id: str
    username: str
    fields: UploadFields
    file_name: str
    upload_length: int
    upload_offset: int
    expires_at: object
    upload_id: int | None
    attempt: int | None

    @property
    def finished(self) -> bool:
        return self.upload_id is not None


class TusUploadBusy(Exception):
    """Another request (a PATCH, a DELETE) holds the upload."""


def _upload(row: asyncpg.Record | None) -> TusUpload | None:
    if row is None:
        return None
    values = dict(row)
    values["fields"] = UploadFields.model_validate_json(values["fields"])
    return TusUpload(**{name: values[name] for name in TusUpload.__dataclass_fields__})


async def create_row(conn: asyncpg.Connection, tus_id: str, username: str, fields: UploadFields, file_name: str,
                     upload_length: int, expiry_hours: float) -> TusUpload:
    return _upload(await conn.fetchrow(
        """INSERT INTO gateway.tus_uploads (tus_id, username, fields, file_name, upload_length, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING *""",
        tus_id, username, fields.model_dump_json(), file_name, upload_length, expiry_hours * 3600))


async def find_row(conn: asyncpg.Connection | asyncpg.Pool, tus_id: str, username: str) -> TusUpload | None:
    return _upload(await conn.fetchrow(f"SELECT * FROM gateway.tus_uploads WHERE {_LIVE}", tus_id, username))


async def lock_row(conn: asyncpg.Connection, tus_id: str, username: str) -> TusUpload | None:
    """The row, locked until the caller's transaction ends; TusUploadBusy at once when another request holds it."""
    try:
        return _upload(await conn.fetchrow(f"SELECT * FROM gateway.tus_uploads WHERE {_LIVE} FOR UPDATE NOWAIT",
                                           tus_id, username))
    except asyncpg.LockNotAvailableError:
        raise TusUploadBusy(tus_id) from None


async def wait_for_row(conn: asyncpg.Connection, tus_id: str) -> bool:
    """Lock the row, waiting for the request that holds it to end; whether it is finished."""
    return bool(await conn.fetchval(
        "SELECT upload_id IS NOT NULL FROM gateway.tus_uploads WHERE tus_id = $1 FOR UPDATE", tus_id))


async def set_offset(conn: asyncpg.Connection, tus_id: str, offset: int) -> None:
    await conn.execute("UPDATE gateway.tus_uploads SET upload_offset = $2 WHERE tus_id = $1", tus_id, offset)


async def mark_finished(conn: asyncpg.Connection, tus_id: str, upload_id: int, attempt: int) -> bool:
    """In the transaction that records the attempt: False when another request finished the upload first."""
    done = await conn.fetchval(
        """UPDATE gateway.tus_uploads SET upload_id = $2, attempt = $3
           WHERE tus_id = $1 AND upload_id IS NULL RETURNING tus_id""", tus_id, upload_id, attempt)
    return done is not None


async def delete_row(conn: asyncpg.Connection, tus_id: str) -> None:
    await conn.execute("DELETE FROM gateway.tus_uploads WHERE tus_id = $1", tus_id)


async def lock_expired_rows(conn: asyncpg.Connection, limit: int) -> list[str]:
    """Expired uploads no request holds (finished ones too: their bytes are already an attempt's file)."""
    return [row["tus_id"] for row in await conn.fetch(
        """SELECT tus_id FROM gateway.tus_uploads WHERE expires_at <= now()
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)]
