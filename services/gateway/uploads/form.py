"""Reading the form of POST /api/v1/uploads: the small fields, then the file part, which must come last.

A body that is not a well-formed multipart form is a 400 that says so."""

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from services.common.api_models import ErrorDetail, UploadForm
from services.common.http_errors import error_response, errors_response, field_message
from services.common.request_parsing import Refusal, is_plain_text

FIELD_MAX_BYTES = 1024
FORM_FIELDS = set(UploadForm.model_fields)
BOOLEAN_FIELDS = {"is_phantom", "overwrite"}
# What aiohttp's multipart reader raises on a body it cannot parse: a bad boundary line (ValueError), a part
# header line that is not a header or too long (HttpProcessingError), a nested multipart part without a
# boundary (KeyError), an undecodable `_charset_` part (UnicodeError, RuntimeError).
MALFORMED_PART_ERRORS = (ValueError, UnicodeError, KeyError, RuntimeError, HttpProcessingError)


async def read_upload_form(request: web.Request) -> tuple[UploadForm, BodyPartReader]:
    fields, file_part = await read_fields_until_file(request, "file", FORM_FIELDS)
    return validated_form(fields), file_part


async def read_fields_until_file(request: web.Request, file_part_name: str,
                                 known_fields: set[str]) -> tuple[dict[str, str], BodyPartReader]:
    reader = await open_multipart(request)
    fields: dict[str, str] = {}
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise malformed("a part is itself a multipart body")
            # aiohttp keeps part header bytes that are not UTF-8 as lone surrogates
            if not all(is_plain_text(text) for text in (part.name, part.filename) if text is not None):
                raise malformed("a part's name or file name is not UTF-8 text, or holds a NUL character")
            if part.name == file_part_name:
                return fields, part
            if part.name not in known_fields:
                raise Refusal(error_response(400, "unknown_field", f"Unknown form field {part.name!r}.", part.name))
            fields[part.name] = await read_small_field(part)
    except MALFORMED_PART_ERRORS as error:
        raise malformed(error) from None
    raise Refusal(error_response(
        400, "missing_file", f"The form has no {file_part_name!r} part (it must come after the fields).", "file"))


async def open_multipart(request: web.Request):
    if not request.content_type.startswith("multipart/form-data"):
        raise Refusal(error_response(400, "not_multipart", "Send the upload as multipart/form-data."))
    boundary = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get("boundary")
    if not boundary:
        raise malformed("its Content-Type header gives no boundary")
    if not boundary.isascii():
        raise malformed("its boundary is not ASCII text")
    try:
        return await request.multipart()
    except (ValueError, AssertionError, KeyError) as error:
        raise malformed(error) from None


def malformed(error) -> Refusal:
    why = error.message if isinstance(error, HttpProcessingError) else error
    return Refusal(error_response(400, "malformed_multipart", f"The multipart/form-data body is malformed ({why})."))


async def read_small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(FIELD_MAX_BYTES):
        data += chunk
        if len(data) > FIELD_MAX_BYTES:
            raise Refusal(error_response(400, "field_too_long", f"Field {part.name!r} is longer than {FIELD_MAX_BYTES} bytes.", part.name))
    return data.decode("utf-8", errors="replace")


def validated_form(fields: dict[str, str]) -> UploadForm:
    try:
        return UploadForm.model_validate(fields)
    except ValidationError as error:
        raise Refusal(errors_response(400, [_field_error(e, fields) for e in error.errors()])) from None


def _field_error(error: dict, fields: dict[str, str]) -> ErrorDetail:
    field = str(error["loc"][0]) if error["loc"] else None
    if field in BOOLEAN_FIELDS:
        message = f"{field} must be true or false, not {fields.get(field)!r}."
    else:
        message = f"{field}: {field_message(error)}."
    return ErrorDetail(code=f"invalid_{field}", message=message, field=field)
