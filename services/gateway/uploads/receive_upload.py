"""The upload operation, shared by /api/v1 and the LORIS API: judge the
upload before any byte is read, stream the file to the scan store, record
the attempt and announce it.

The file is streamed in chunks, never held in memory. Its type is decided by
its leading bytes, however small the pieces it arrives in. A refused or
interrupted upload leaves no file and no record behind.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import BodyPartReader, ClientPayloadError, hdrs, web
from aiohttp.helpers import parse_mimetype

from services.common import metrics
from services.common.api_models import UploadAccepted, UploadFields
from services.common.app_keys import POOL, SCAN_STORE, SETTINGS
from services.common.messages import UploadReceived
from services.common.outbox import add_to_outbox
from services.common.progress import Progress
from services.common.scan_store import PendingScan, ScanStore, scan_key
from services.gateway.auth.users import User
from services.gateway.loris_record import write_row_now
from services.gateway.loris_record.upload_location import location_failure
from services.gateway.schema import SCHEMA
from services.gateway.uploads import idempotency, records
from services.gateway.uploads.checked_file import CheckedFile, refused
from services.gateway.uploads.multipart_file import IncompletePart, stream_part_body
from services.gateway.uploads.upload_rules import (
    UploadRefused,
    Verdict,
    judge,
    name_taken_failure,
    scan_facts,
    scan_fields,
    too_large,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024**2
AlsoInTransaction = Callable[[asyncpg.Connection, UploadAccepted], Awaitable[None]]
MULTIPART_SLACK_BYTES = 64 * 1024


def refuse_declared_oversize(request: web.Request) -> None:
    """A body declared larger than the maximum is refused before a byte of it is read."""
    max_bytes = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_SLACK_BYTES:
        raise UploadRefused([too_large(max_bytes)])


async def accept_upload(request: web.Request, fields: UploadFields, file_part: BodyPartReader, user: User, *,
                        launch_when_valid: bool, idempotency_key: str | None = None) -> UploadAccepted:
    """Take the file part (the request's last part) of an upload whose fields were read. With an idempotency
    key already answered, raise AnswerReplayed before the file part is read."""
    started = time.monotonic()
    app = request.app
    max_bytes = app[SETTINGS].max_upload_bytes
    fields = scan_fields(fields)
    file_name = file_part.filename or ""
    keyed = None
    if idempotency_key is not None:
        keyed = idempotency.keyed_upload(user.username, idempotency_key, fields, file_name,
                                         app[SETTINGS].idempotency_key_hours)
        await idempotency.replay_if_answered(app[POOL], keyed)
    verdict = await judge(app, fields, file_name, None, user)
    if not verdict.ok:
        raise UploadRefused(verdict.failures)
    store: ScanStore = app[SCAN_STORE]
    pending = store.begin()
    try:
        await _stream_file(request, pending, file_name, max_bytes)
        return await stored_scan_becomes_attempt(app, pending, fields, file_name, user, verdict,
                                                 launch_when_valid=launch_when_valid, keyed=keyed, started=started)
    except BaseException:
        store.discard(pending)
        raise


async def stored_scan_becomes_attempt(app: web.Application, pending: PendingScan, fields: UploadFields,
                                      file_name: str, user: User, verdict: Verdict, *, launch_when_valid: bool,
                                      started: float, keyed: idempotency.KeyedUpload | None = None,
                                      also: AlsoInTransaction | None = None) -> UploadAccepted:
    """A whole file, checked and flushed to disk, becomes the upload's next attempt: recorded, announced, and in
    LORIS site mode its LORIS row written. Shared by multipart uploads and tus uploads. `also` runs in the
    recording's transaction (a tus upload marks itself finished there)."""
    accepted = await _record_upload(app[POOL], app[SCAN_STORE], pending, fields, file_name, user, verdict,
                                    launch_when_valid, keyed, also=also,
                                    loris_row_wanted=app[SETTINGS].loris_database_url is not None)
    accepted = accepted.model_copy(update={"loris_upload_id": await write_row_now(app, accepted.upload_id)})
    metrics.UPLOAD_BYTES_RECEIVED.inc(pending.size)
    log.info(
        "upload accepted",
        extra={"upload_id": accepted.upload_id, "attempt": accepted.attempt, "bytes": pending.size,
               "validator_answered": verdict.validator_answered, "seconds": round(time.monotonic() - started, 3)},
    )
    return accepted


async def _stream_file(request: web.Request, pending: PendingScan, file_name: str, max_bytes: int) -> None:
    checked = CheckedFile(pending, file_name, max_bytes)
    try:
        past_the_file = await stream_part_body(request.content, _boundary(request), checked.write, CHUNK_BYTES)
        await _refuse_parts_after_the_file(request, past_the_file)
    except (IncompletePart, ConnectionError, ClientPayloadError, asyncio.IncompleteReadError) as error:
        log.info("upload interrupted", extra={"file_name": file_name, "bytes": pending.size, "error": repr(error)})
        raise refused("incomplete_upload", f"The upload of {file_name} ended before the file was complete.") from None
    checked.finish()
    await pending.flush_to_disk()


async def _refuse_parts_after_the_file(request: web.Request, past_the_file: bytes) -> None:
    """The file part must be the last: a field sent after it would be silently ignored, so it is refused."""
    if len(past_the_file) < 2:
        past_the_file += await request.content.readexactly(2 - len(past_the_file))
    if not past_the_file.startswith(b"--"):
        raise refused("part_after_file", "The form has a part after the file; send every field before the file part.")


async def _record_upload(pool: asyncpg.Pool, store: ScanStore, pending: PendingScan, fields: UploadFields,
                         file_name: str, user: User, verdict: Verdict, launch_when_valid: bool,
                         keyed: idempotency.KeyedUpload | None = None, *, also: AlsoInTransaction | None = None,
                         loris_row_wanted: bool = False) -> UploadAccepted:
    """Claim the attempt, put the file in place and write the event (and the idempotency key's answer), all or
    nothing; in LORIS site mode, mark the attempt's row in LORIS as wanted (the keeper writes it after)."""
    stored_key = None
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                if keyed is not None:
                    await idempotency.hold_key(conn, keyed)
                facts = scan_facts(fields, file_name, "", verdict)
                claimed = await records.claim_attempt(conn, facts, user.scope, overwrite=fields.overwrite,
                                                      launch_when_valid=launch_when_valid)
                if claimed is None:
                    existing = await records.find_by_name(conn, file_name)
                    raise UploadRefused([name_taken_failure(existing, fields, user)])
                upload_id, attempt = claimed
                key = scan_key(user.username, upload_id, attempt, file_name)
                if loris_row_wanted:
                    _refuse_a_location_loris_cannot_hold(store, key, file_name)
                await records.record_attempt_file(conn, upload_id, attempt, key, pending.size, user.username)
                if loris_row_wanted:
                    await records.want_loris_row(conn, upload_id)
                event = UploadReceived(
                    upload_id=upload_id, attempt=attempt, scan=facts.model_copy(update={"scan_key": key}),
                    size_bytes=pending.size, uploaded_by=user.username, overwrite=fields.overwrite, scope=user.scope,
                )
                await add_to_outbox(conn, SCHEMA, event)
                accepted = UploadAccepted(upload_id=upload_id, attempt=attempt, file_name=file_name,
                                          progress=Progress.NOT_STARTED)
                if keyed is not None:
                    await idempotency.remember_answer(conn, keyed, accepted)
                if also is not None:
                    await also(conn, accepted)
                await store.commit(pending, key)
                stored_key = key
        except BaseException:
            if stored_key is not None:
                store.remove(stored_key)
            raise
    return accepted


def _refuse_a_location_loris_cannot_hold(store: ScanStore, key: str, file_name: str) -> None:
    """The exact path, now that the upload has its id (upload_rules.location_failures checked the shortest)."""
    failure = location_failure(str(store.local_path(key)), file_name)
    if failure is not None:
        raise UploadRefused([failure])


def _boundary(request: web.Request) -> str:
    return parse_mimetype(request.headers[hdrs.CONTENT_TYPE]).parameters["boundary"]
