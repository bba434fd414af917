"""The body of LORIS's POST .../processes: `{"ProcessType": "mri_upload",
"MriUploadID": n}`, n a number or a string of digits."""

import json

from services.common.api_models import MAX_ID
from services.gateway.loris_api.errors import LorisError

PROCESS_TYPE = "mri_upload"
LAUNCH_EXAMPLE = '{"ProcessType": "mri_upload", "MriUploadID": 12}'


def upload_id_to_launch(body: bytes) -> int:
    try:
        sent = json.loads(body)
    except ValueError:
        sent = None
    if not isinstance(sent, dict):
        raise LorisError(400, f"Send the launch as a JSON object like {LAUNCH_EXAMPLE}.")
    failures = []
    if sent.get("ProcessType") != PROCESS_TYPE:
        failures.append("Invalid ProcessType.")
    upload_id = _upload_id(sent.get("MriUploadID"))
    if upload_id is None:
        shown = json.dumps(sent["MriUploadID"]) if "MriUploadID" in sent else "missing"
        failures.append(f"MriUploadID must be the number of an upload, as GET .../processes lists it; "
                        f"it is {shown}.")
    if failures:
        raise LorisError(400, " ".join(failures))
    return upload_id


def _upload_id(value) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID:
        return value
    return None
