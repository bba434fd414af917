"""A PATCH of a tus upload: its bytes appended at the upload's offset, streamed to disk in chunks (never held in
memory), while the upload's row stays locked so that no other PATCH writes at once.

A body cut off midway keeps what arrived (flushed to disk, the offset moved to it): the client resumes from the
offset HEAD gives. A chunk with an Upload-Checksum that does not match is dropped whole (460); so is one cut off
midway, since its checksum cannot be checked. A kill mid-PATCH leaves the recorded offset, and the bytes past it
are cut away by the next PATCH."""

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import ClientPayloadError, web

from services.common.app_keys import POOL, SCAN_STORE
from services.gateway.tus import tus_rows
from services.gateway.tus.tus_files import cut_back, open_at, tus_file
from services.gateway.tus.tus_headers import Checksum, refuse, unknown_upload

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024**2
CUT_OFF_ERRORS = (ClientPayloadError, ConnectionError, asyncio.IncompleteReadError)


@dataclass(frozen=True)
class Written:
    upload: tus_rows.TusUpload
    offset: int
    cut_off: bool


async def receive_chunk(request: web.Request, tus_id: str, username: str, offset: int,
                        checksum: Checksum | None) -> Written:
    """Append the request's body at `offset`; returns the upload (as locked) and its new offset."""
    app = request.app
    async with app[POOL].acquire() as conn, conn.transaction():
        try:
            upload = await tus_rows.lock_row(conn, tus_id, username)
        except tus_rows.TusUploadBusy:
            raise refuse(423, "tus_upload_busy", "Another request is writing to this upload; wait for it to end "
                         "(HEAD gives the offset to go on from).") from None
        if upload is None:
            raise unknown_upload(tus_id)
        if upload.finished or offset != upload.upload_offset:
            raise refuse(409, "offset_mismatch", f"Upload-Offset is {offset}, but the upload's offset is "
                         f"{upload.upload_offset}: go on from HEAD's Upload-Offset.", "Upload-Offset")
        room = upload.upload_length - offset
        if request.content_length is not None and request.content_length > room:
            raise refuse(413, "past_upload_length", f"The body is longer than the {room} bytes left before "
                         "Upload-Length.")
        path = tus_file(app[SCAN_STORE], tus_id)
        written, cut_off = await _append(request, path, offset, room, checksum)
        await tus_rows.set_offset(conn, tus_id, offset + written)
    if cut_off:
        log.info("tus PATCH cut off; its bytes are kept", extra={"tus_id": tus_id, "bytes": written})
    return Written(upload, offset + written, cut_off)


async def _append(request: web.Request, path, offset: int, room: int, checksum: Checksum | None) -> tuple[int, bool]:
    """Write the body after `offset`: (bytes kept, whether the body was cut off)."""
    try:
        pending = open_at(path, offset)
    except FileNotFoundError:
        raise refuse(410, "tus_bytes_lost", "The bytes of this upload are no longer on the server: create it "
                     "again.") from None
    digest = checksum.new_hash() if checksum else None
    cut_off = False
    try:
        while chunk := await request.content.read(CHUNK_BYTES):
            if pending.size + len(chunk) > room:
                raise refuse(413, "past_upload_length", f"The body is longer than the {room} bytes left before "
                             "Upload-Length.")
            pending.write(chunk)
            if digest is not None:
                digest.update(chunk)
    except CUT_OFF_ERRORS:
        cut_off = True
    except BaseException:
        pending.close()
        await cut_back(path, offset)
        raise
    await pending.flush_to_disk()
    if digest is not None and (cut_off or digest.digest() != checksum.digest):
        await cut_back(path, offset)
        if cut_off:
            return 0, True
        raise refuse(460, "checksum_mismatch", f"The body's {checksum.algorithm} is not the Upload-Checksum sent: "
                     "the chunk was dropped; send it again.", "Upload-Checksum")
    return pending.size, cut_off

