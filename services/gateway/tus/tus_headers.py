"""Reading the tus 1.0.0 request headers (https://tus.io/protocols/resumable-upload): each bad value is a 4xx
that names the header, never a 500."""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from aiohttp import web

from services.common.api_models import UploadForm
from services.common.http_errors import error_response
from services.common.request_parsing import Refusal, is_plain_text
from services.gateway.uploads.form import validated_form

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "md5": hashlib.md5, "sha256": hashlib.sha256}
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
MAX_LENGTH = 2**63 - 1
_TUS_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
METADATA_FIELDS = {"candid", "pscid", "visit_label", "is_phantom", "overwrite"}


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def new_hash(self):
        return CHECKSUM_ALGORITHMS[self.algorithm]()


def refuse(status: int, code: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(error_response(status, code, message, field))


def tus_id_from_path(request: web.Request) -> str:
    tus_id = request.match_info["tus_id"]
    if not _TUS_ID.fullmatch(tus_id):
        raise unknown_upload(tus_id)
    return tus_id


def http_date(moment: datetime) -> str:
    """Upload-Expires is an RFC 9110 HTTP-date."""
    return format_datetime(moment, usegmt=True)


def unknown_upload(tus_id: str) -> Refusal:
    shown = tus_id if len(tus_id) <= 64 and is_plain_text(tus_id) else "given"
    return refuse(404, "unknown_tus_upload", f"There is no tus upload {shown!r} of yours (or it expired).")


def require_tus_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        response = error_response(412, "tus_version_unsupported",
                                  f"Send the header Tus-Resumable: {TUS_VERSION} (the only version served).")
        response.headers["Tus-Version"] = TUS_VERSION
        raise Refusal(response)


def whole_number(request: web.Request, header: str) -> int:
    raw = request.headers.get(header)
    if raw is None:
        raise refuse(400, f"missing_{_code(header)}", f"The header {header} is required.", header)
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > 19 or int(raw) > MAX_LENGTH:
        raise refuse(400, f"invalid_{_code(header)}", f"{header} must be a whole number of bytes.", header)
    return int(raw)


def upload_length(request: web.Request) -> int:
    if "Upload-Defer-Length" in request.headers:
        raise refuse(400, "defer_length_unsupported", "Upload-Defer-Length is not offered: send Upload-Length.",
                     "Upload-Defer-Length")
    return whole_number(request, "Upload-Length")


def metadata(request: web.Request) -> tuple[UploadForm, str]:
    """The upload's fields and file name from Upload-Metadata (`key base64value,...`); other keys that tus
    clients add on their own (filetype, name) are ignored."""
    values = {}
    for pair in request.headers.get("Upload-Metadata", "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        values[key] = _decoded(key, encoded.strip())
    file_name = values.get("filename")
    if not file_name:
        raise refuse(400, "missing_filename", "Upload-Metadata must name the file: filename <base64 of the name>.",
                     "filename")
    return validated_form({key: value for key, value in values.items() if key in METADATA_FIELDS}), file_name


def _decoded(key: str, encoded: str) -> str:
    try:
        value = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        value = None
    if value is None or not is_plain_text(value) or not is_plain_text(key):
        raise refuse(400, "invalid_metadata", "Upload-Metadata holds a value that is not base64 of UTF-8 text.",
                     "Upload-Metadata")
    return value


def checksum(request: web.Request) -> Checksum | None:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise refuse(400, "checksum_algorithm_unsupported", f"Upload-Checksum: the algorithm must be one of "
                     f"{', '.join(CHECKSUM_ALGORITHMS)}.", "Upload-Checksum")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise refuse(400, "invalid_checksum", "Upload-Checksum: the digest is not base64.", "Upload-Checksum") from None
    return Checksum(algorithm, digest)


def require_chunk_content_type(request: web.Request) -> None:
    if request.content_type != CHUNK_CONTENT_TYPE:
        raise refuse(415, "not_offset_octet_stream", f"Send a PATCH's bytes as Content-Type: {CHUNK_CONTENT_TYPE}.")


def _code(header: str) -> str:
    return header.lower().replace("-", "_")
