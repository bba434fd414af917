"""The upload operation: check the request, stream the file to the scan
store, record the attempt and announce it.

The file is streamed in chunks, never held in memory. Every rule that needs
no file content is checked before the first byte is stored. A refused or
interrupted upload leaves no file and no record behind.
"""

import logging
import time

import asyncpg
from aiohttp import BodyPartReader, ClientPayloadError, hdrs, web
from aiohttp.helpers import parse_mimetype
from pydantic import ValidationError

from services.common.api_models import UploadAccepted, UploadForm
from services.common.http_errors import error_response, validation_error_response
from services.common.messages import ScanFacts, UploadReceived
from services.common.outbox import add_to_outbox
from services.common.progress import OVERWRITABLE, Progress
from services.common.request_parsing import Refusal
from services.common.scan_store import PendingScan, ScanStore, scan_key
from services.gateway import file_rules, uploads
from services.gateway.multipart_file import IncompletePart, stream_part_body
from services.gateway.users import User

log = logging.getLogger(__name__)

SCHEMA = "gateway"
CHUNK_BYTES = 1024**2
FIELD_MAX_BYTES = 1024
MULTIPART_SLACK_BYTES = 64 * 1024
FORM_FIELDS = set(UploadForm.model_fields)


async def receive_upload(request: web.Request, pool: asyncpg.Pool, store: ScanStore, max_bytes: int, user: User) -> web.Response:
    started = time.monotonic()
    _refuse_declared_oversize(request, max_bytes)
    fields, file_part = await _read_form(request)
    form = _validated_form(fields)
    file_name, ending = _checked_file_name(file_part, form)
    await _refuse_taken_name(pool, file_name, form)
    pending = store.begin()
    try:
        await _stream_file(request, pending, file_name, ending, max_bytes)
        accepted = await _record_upload(pool, store, pending, form, file_name, user)
    except BaseException:
        store.discard(pending)
        raise
    log.info(
        "upload accepted",
        extra={"upload_id": accepted.upload_id, "attempt": accepted.attempt, "bytes": pending.size,
               "seconds": round(time.monotonic() - started, 3)},
    )
    response = web.Response(text=accepted.model_dump_json(), status=202, content_type="application/json")
    response.headers["Location"] = f"/api/v1/uploads/{accepted.upload_id}"
    return response


def _refuse_declared_oversize(request: web.Request, max_bytes: int) -> None:
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_SLACK_BYTES:
        raise Refusal(_too_large(max_bytes))


async def _read_form(request: web.Request) -> tuple[dict[str, str], BodyPartReader]:
    """Read the small form fields up to the file part, which must come last."""
    if not request.content_type.startswith("multipart/form-data"):
        raise Refusal(error_response(400, "not_multipart", "Send the upload as multipart/form-data."))
    reader = await request.multipart()
    fields: dict[str, str] = {}
    while (part := await reader.next()) is not None:
        if part.name == "file":
            return fields, part
        if part.name not in FORM_FIELDS:
            raise Refusal(error_response(400, "unknown_field", f"Unknown form field {part.name!r}.", part.name))
        fields[part.name] = await _read_small_field(part)
    raise Refusal(error_response(400, "missing_file", "The form has no 'file' part (it must come after the fields).", "file"))


async def _read_small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(FIELD_MAX_BYTES):
        data += chunk
        if len(data) > FIELD_MAX_BYTES:
            raise Refusal(error_response(400, "field_too_long", f"Field {part.name!r} is longer than {FIELD_MAX_BYTES} bytes.", part.name))
    return data.decode("utf-8", errors="replace")


def _validated_form(fields: dict[str, str]) -> UploadForm:
    try:
        form = UploadForm.model_validate(fields)
    except ValidationError as error:
        raise Refusal(validation_error_response(error)) from None
    missing = file_rules.missing_fields(form)
    if missing:
        message = f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required unless is_phantom is true."
        raise Refusal(error_response(400, "missing_field", message, missing[0]))
    return form


def _checked_file_name(part: BodyPartReader, form: UploadForm) -> tuple[str, str]:
    file_name = part.filename or ""
    ending = file_rules.ending_of(file_name)
    if ending is None:
        raise Refusal(error_response(
            415, "unsupported_file_type",
            f"File {file_name!r} is not an accepted type; upload a .tgz, .tar.gz or .zip archive.", "file"))
    if not file_rules.is_safe_name(file_name):
        raise Refusal(error_response(
            400, "unsafe_file_name",
            f"File name {file_name!r} may hold only letters, digits, '.', '_' and '-'.", "file"))
    if not form.is_phantom and not file_rules.follows_name_rule(file_name, form):
        raise Refusal(error_response(
            400, "file_name_mismatch",
            f"File name {file_name!r} does not match the form: expected "
            f"{form.pscid}_{form.candid}_{form.visit_label}[_suffix] followed by .tgz, .tar.gz or .zip.", "file"))
    return file_name, ending


async def _refuse_taken_name(pool: asyncpg.Pool, file_name: str, form: UploadForm) -> None:
    """Refuse before any byte is stored when the name is taken and may not be replaced."""
    existing = await uploads.find_by_name(pool, file_name)
    if existing is not None:
        refusal = _taken_name_refusal(existing, form.overwrite)
        if refusal is not None:
            raise Refusal(refusal)


def _taken_name_refusal(existing: uploads.UploadRecord, overwrite: bool) -> web.Response | None:
    if existing.progress not in OVERWRITABLE:
        verb = "is being inserted" if existing.progress == Progress.IN_PROGRESS else "was already inserted successfully"
        return error_response(
            409, "cannot_overwrite",
            f"File {existing.file_name} {verb} (upload {existing.upload_id}, progress {existing.progress}); "
            "it cannot be overwritten.", "file")
    if not overwrite:
        return error_response(
            409, "already_uploaded",
            f"File {existing.file_name} was already uploaded (upload {existing.upload_id}, progress "
            f"{existing.progress}); send overwrite=true to replace it.", "overwrite")
    return None


async def _stream_file(request: web.Request, pending: PendingScan, file_name: str, ending: str, max_bytes: int) -> None:
    def store(chunk: bytes | memoryview) -> None:
        if pending.size == 0 and not file_rules.content_matches_ending(bytes(chunk[:4]), ending):
            kind = "a zip" if ending == ".zip" else "a gzip-compressed"
            raise Refusal(error_response(
                415, "content_type_mismatch", f"The content of {file_name} is not {kind} archive, as its name says.", "file"))
        if pending.size + len(chunk) > max_bytes:
            raise Refusal(_too_large(max_bytes))
        pending.write(chunk)

    try:
        await stream_part_body(request.content, _boundary(request), store, CHUNK_BYTES)
    except (IncompletePart, ConnectionError, ClientPayloadError) as error:
        log.info("upload interrupted", extra={"file_name": file_name, "bytes": pending.size, "error": repr(error)})
        raise Refusal(error_response(
            400, "incomplete_upload", f"The upload of {file_name} ended before the file was complete.", "file")) from None
    if pending.size == 0:
        raise Refusal(error_response(400, "empty_file", f"File {file_name} is empty.", "file"))
    await pending.flush_to_disk()


async def _record_upload(
    pool: asyncpg.Pool, store: ScanStore, pending: PendingScan, form: UploadForm, file_name: str, user: User
) -> UploadAccepted:
    """Claim the attempt, put the file in place and write the event, all or nothing."""
    stored_key = None
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                claimed = await uploads.claim_attempt(conn, file_name, form, user.username)
                if claimed is None:
                    existing = await uploads.find_by_name(conn, file_name)
                    raise Refusal(_taken_name_refusal(existing, form.overwrite))
                upload_id, attempt = claimed
                key = scan_key(user.username, upload_id, attempt, file_name)
                await uploads.record_attempt_file(conn, upload_id, attempt, key, pending.size, user.username)
                await add_to_outbox(conn, SCHEMA, _received_event(upload_id, attempt, key, pending.size, form, file_name, user))
                await store.commit(pending, key)
                stored_key = key
        except BaseException:
            if stored_key is not None:
                store.remove(stored_key)
            raise
    return UploadAccepted(upload_id=upload_id, attempt=attempt, file_name=file_name, progress=Progress.NOT_STARTED)


def _received_event(upload_id, attempt, key, size, form: UploadForm, file_name: str, user: User) -> UploadReceived:
    scan = ScanFacts(
        file_name=file_name, scan_key=key, candid=form.candid, pscid=form.pscid,
        visit_label=form.visit_label, is_phantom=form.is_phantom,
    )
    return UploadReceived(
        upload_id=upload_id, attempt=attempt, scan=scan, size_bytes=size,
        uploaded_by=user.username, overwrite=form.overwrite,
    )


def _boundary(request: web.Request) -> str:
    return parse_mimetype(request.headers[hdrs.CONTENT_TYPE]).parameters["boundary"]


def _too_large(max_bytes: int) -> web.Response:
    return error_response(
        413, "file_too_large", f"The file is larger than the maximum upload size of {max_bytes} bytes ({_human(max_bytes)}).", "file")


def _human(size: int) -> str:
    """1.0 KiB, 4.0 MiB, 50.0 GiB: the largest unit, up to GiB, that keeps the number at or above 1."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
