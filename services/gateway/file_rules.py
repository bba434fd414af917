"""Upload rules that need no database: the form's required fields, the file
type (by name and by content), and the LORIS file-name rule."""

import re

from services.common.api_models import UploadForm

ALLOWED_ENDINGS = (".tar.gz", ".tgz", ".zip")
EXPECTED_NAME = "PSCID_CandID_VisitLabel[_suffix] followed by .tgz, .tar.gz or .zip"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def missing_fields(form: UploadForm) -> list[str]:
    """CandID, PSCID and visit label are required unless the scan is a phantom."""
    if form.is_phantom:
        return []
    return [name for name in ("candid", "pscid", "visit_label") if getattr(form, name) is None]


def ending_of(file_name: str) -> str | None:
    lowered = file_name.lower()
    return next((ending for ending in ALLOWED_ENDINGS if lowered.endswith(ending)), None)


def is_safe_name(file_name: str) -> bool:
    return bool(_SAFE_NAME.fullmatch(file_name)) and ".." not in file_name


def follows_name_rule(file_name: str, form: UploadForm) -> bool:
    """PSCID_CandID_VisitLabel, optionally followed by _suffix, then the archive ending."""
    ending = ending_of(file_name)
    if ending is None:
        return False
    stem = file_name[: -len(ending)]
    prefix = f"{form.pscid}_{form.candid}_{form.visit_label}"
    return stem == prefix or (stem.startswith(prefix + "_") and len(stem) > len(prefix) + 1)


def content_matches_ending(first_bytes: bytes, ending: str) -> bool:
    if ending == ".zip":
        return first_bytes.startswith(_ZIP_MAGICS)
    return first_bytes.startswith(_GZIP_MAGIC)
