"""The body of LORIS's POST .../dicoms: a `Json` form field, then one `File`
part (the file is streamed by the upload operation, so it must come last).

LORIS's own checks are made here, every one at once: CandID and VisitLabel
must be those of the URL (CandID as a number or a string), IsPhantom must be
a boolean, Overwrite a boolean when given, PSCID a string. Everything else
(the candidate, the site, the file name, its type and size) is the upload
operation's and the validator's.
"""

import json

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from services.common.api_models import UploadFields
from services.common.request_parsing import is_plain_text
from services.gateway.loris_api.errors import LorisError
from services.gateway.uploads.form import read_fields_until_file

JSON_PART = "Json"
FILE_PART = "File"
JSON_EXAMPLE = '{"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": false, "Overwrite": false}'


async def read_loris_upload(request: web.Request, candid: str, visit_label: str) -> tuple[UploadFields, BodyPartReader]:
    """The upload's fields, checked against the URL, and its file part, ready to be streamed."""
    json_text, file_part = await read_json_then_file(request)
    sent = json_object(json_text)
    failures = url_failures(sent, candid, visit_label) + value_failures(sent)
    if failures:
        raise LorisError(400, " ".join(failures))
    return upload_fields(sent), file_part


async def read_json_then_file(request: web.Request) -> tuple[str, BodyPartReader]:
    """The Json field and the File part, read as /api/v1 reads its form (a part it does not know is refused)."""
    fields, file_part = await read_fields_until_file(request, FILE_PART, {JSON_PART})
    if not file_part.filename:
        raise LorisError(400, f'The "{FILE_PART}" part has no file name: send it as a file, named after the scan.')
    if JSON_PART not in fields:
        raise LorisError(400, f'The request has no "{JSON_PART}" form field before its "{FILE_PART}" part: send '
                              f'the Json field first, then the file.')
    return fields[JSON_PART], file_part


def json_object(json_text: str) -> dict:
    try:
        sent = json.loads(json_text)
    except ValueError:
        sent = None
    if not isinstance(sent, dict):
        raise LorisError(400, f'The "{JSON_PART}" form field is not a JSON object like {JSON_EXAMPLE}.')
    return sent


def url_failures(sent: dict, candid: str, visit_label: str) -> list[str]:
    failures = []
    sent_candid = sent.get("CandID")
    if isinstance(sent_candid, bool) or not isinstance(sent_candid, int | str):
        failures.append(f"CandID in the Json must be {candid}, as in the URL (a number or a string); "
                        f"{_it_is(sent, 'CandID')}.")
    elif str(sent_candid) != candid:
        failures.append(f"CandID {sent_candid} in the Json does not match CandID {candid} in the URL.")
    sent_visit = sent.get("VisitLabel")
    if not isinstance(sent_visit, str):
        failures.append(f"VisitLabel in the Json must be {visit_label}, as in the URL; {_it_is(sent, 'VisitLabel')}.")
    elif sent_visit != visit_label:
        failures.append(f"VisitLabel {sent_visit} in the Json does not match visit {visit_label} in the URL.")
    return failures


def value_failures(sent: dict) -> list[str]:
    failures = []
    if not isinstance(sent.get("PSCID"), str):
        failures.append(f"PSCID in the Json must be a string; {_it_is(sent, 'PSCID')}.")
    elif not is_plain_text(sent["PSCID"]):
        failures.append(f"PSCID in the Json holds a NUL or a lone surrogate; it is {json.dumps(sent['PSCID'])}.")
    if not isinstance(sent.get("IsPhantom"), bool):
        failures.append(f"IsPhantom in the Json must be true or false; {_it_is(sent, 'IsPhantom')}.")
    if sent.get("Overwrite") is not None and not isinstance(sent["Overwrite"], bool):
        failures.append(f"Overwrite in the Json must be true or false; {_it_is(sent, 'Overwrite')}.")
    return failures


def _it_is(sent: dict, key: str) -> str:
    return f"it is {json.dumps(sent[key])}" if key in sent else "it is missing"


_LORIS_NAMES = {"candid": "CandID", "pscid": "PSCID", "visit_label": "VisitLabel"}


def upload_fields(sent: dict) -> UploadFields:
    try:
        return UploadFields(candid=str(sent["CandID"]), pscid=sent["PSCID"], visit_label=sent["VisitLabel"],
                            is_phantom=sent["IsPhantom"], overwrite=bool(sent.get("Overwrite")))
    except ValidationError as error:
        messages = (f"{_LORIS_NAMES.get(e['loc'][0], e['loc'][0])} in the Json: {e['msg']}." for e in error.errors())
        raise LorisError(400, " ".join(messages)) from None
