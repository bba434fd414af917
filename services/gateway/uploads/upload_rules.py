"""The verdict on an upload, reached before any of its bytes are read, and the
same for the pre-flight check: the validator's rules (fields, candidate,
session, site scope, file name), asked over RabbitMQ, beside the gateway's
own (file type by name, size, a name already taken).

When the validator does not answer in time, an upload goes ahead on the
gateway's rules alone (the validator decides on it when it is received);
the pre-flight, which promises an answer, says the check is unavailable.
When the validator answers that its registry cannot be read (the LORIS
database is away), every request that asked answers 503 with its sentence:
no verdict is given without the registry.
"""

import logging
from dataclasses import dataclass

from aiohttp import hdrs, web

from services.common.api_models import ErrorDetail, UploadFields
from services.common.app_keys import POOL, REQUESTER, SCAN_STORE, SETTINGS
from services.common.file_names import ALLOWED_ENDINGS_TEXT, ending_of
from services.common.http_errors import RETRY_AFTER_SECONDS, error_response, errors_response
from services.common.messages import RuleCheckReply, RuleCheckRequest, RuleFailure, ScanFacts
from services.common.request_parsing import Refusal
from services.common.request_reply import NoAnswer
from services.common.scan_store import scan_key
from services.common.scope import may_see
from services.common.sizes import human_size
from services.common.topology import RULE_CHECK_QUEUE
from services.gateway.auth.users import User
from services.gateway.loris_record.upload_location import location_failure
from services.gateway.uploads import records
from services.gateway.uploads.file_rules import is_safe_name

log = logging.getLogger(__name__)

# How /api/v1 says to replace an upload; the LORIS API says it in its own words.
OVERWRITE_HINT = "send overwrite=true to replace it."

# The status of a refusal is that of its most basic failure, in this order.
_STATUS_ORDER = (403, 400, 415, 413, 409)
_STATUS_BY_CODE = {
    "unsupported_file_type": 415,
    "content_type_mismatch": 415,
    "file_too_large": 413,
    "already_uploaded": 409,
    "cannot_overwrite": 409,
    "name_taken": 409,
}


class UploadRefused(Exception):
    """The upload breaks these rules; nothing of it was kept."""

    def __init__(self, failures: list[RuleFailure]) -> None:
        super().__init__(failures[0].message)
        self.failures = failures


@dataclass(frozen=True)
class Verdict:
    failures: list[RuleFailure]
    site: str | None
    project: str | None
    existing: records.UploadRecord | None  # only one the user may see
    validator_answered: bool

    @property
    def ok(self) -> bool:
        return not self.failures


def refusal_status(failures: list[RuleFailure]) -> int:
    return min((status_of(f) for f in failures), key=_STATUS_ORDER.index)


def shown_failures(failures: list[RuleFailure]) -> list[RuleFailure]:
    """A permission failure is shown alone: the user learns nothing more about what they may not touch."""
    forbidden = [f for f in failures if f.forbidden]
    return forbidden or failures


def refusal_response(failures: list[RuleFailure]) -> web.Response:
    return errors_response(refusal_status(failures), error_details(shown_failures(failures)))


def status_of(failure: RuleFailure) -> int:
    return 403 if failure.forbidden else _STATUS_BY_CODE.get(failure.code, 400)


def error_details(failures: list[RuleFailure]) -> list[ErrorDetail]:
    return [ErrorDetail(code=f.code, message=f.message, field=f.field) for f in failures]


def scan_fields(fields: UploadFields) -> UploadFields:
    """A phantom scan names no candidate and no session: whatever was filled in is dropped."""
    if fields.is_phantom:
        return fields.model_copy(update={"candid": None, "pscid": None, "visit_label": None})
    return fields


async def judge(app: web.Application, fields: UploadFields, file_name: str, file_size: int | None,
                user: User) -> Verdict:
    reply = await ask_validator(app, fields, file_name, user)
    failures = list(reply.failures) if reply else []
    failures += file_failures(file_name, file_size, app[SETTINGS].max_upload_bytes)
    existing = await records.find_by_name(app[POOL], file_name)
    taken = name_taken_failure(existing, fields, user)
    if taken is not None:
        failures.append(taken)
    failures += location_failures(app, user, file_name, existing)
    shown = existing if existing is not None and may_see_upload(user, existing) else None
    return Verdict(failures, reply.site if reply else None, reply.project if reply else None, shown,
                   reply is not None)


async def ask_validator(app: web.Application, fields: UploadFields, file_name: str | None, user: User, *,
                        purpose: str = "upload") -> RuleCheckReply | None:
    """The validator's answer, or None when it does not answer in time; a 503 Refusal when it could not read
    its registry."""
    request = RuleCheckRequest(
        purpose=purpose, candid=fields.candid, pscid=fields.pscid, visit_label=fields.visit_label,
        is_phantom=fields.is_phantom, file_name=file_name, scope=user.scope,
    )
    try:
        body = await app[REQUESTER].ask(RULE_CHECK_QUEUE, request.model_dump_json().encode(),
                                        app[SETTINGS].rule_check_timeout_seconds)
    except NoAnswer as error:
        log.warning("rule check not answered; the validator decides when the upload is received",
                    extra={"error": str(error)})
        return None
    reply = RuleCheckReply.model_validate_json(body)
    if reply.unavailable is not None:
        raise registry_unavailable(reply.unavailable)
    return reply


def registry_unavailable(message: str) -> Refusal:
    log.warning("rule check not judged: the validator cannot read its registry", extra={"error": message})
    response = error_response(503, "registry_unavailable", message)
    response.headers[hdrs.RETRY_AFTER] = str(RETRY_AFTER_SECONDS)
    return Refusal(response)


def file_failures(file_name: str, file_size: int | None, max_bytes: int) -> list[RuleFailure]:
    if not is_safe_name(file_name):
        return [RuleFailure(field="file", code="unsafe_file_name",
                            message=f"File name {file_name!r} may hold only letters, digits, '.', '_' and '-'.")]
    failures = []
    if ending_of(file_name) is None:
        failures.append(RuleFailure(field="file", code="unsupported_file_type", message=_type_message(file_name)))
    if file_size is not None and file_size > max_bytes:
        failures.append(too_large(max_bytes))
    elif file_size == 0:
        failures.append(RuleFailure(field="file", code="empty_file", message=f"File {file_name} is empty."))
    return failures


def _type_message(file_name: str) -> str:
    if file_name.lower().endswith(".tar"):
        return (f"File {file_name!r} is a plain .tar archive, which is not accepted: compress it with gzip "
                f"(.tgz or .tar.gz) or zip it (.zip).")
    return f"File {file_name!r} is not an accepted type; upload a {ALLOWED_ENDINGS_TEXT} archive."


def too_large(max_bytes: int) -> RuleFailure:
    return RuleFailure(field="file", code="file_too_large",
                       message=f"The file is larger than the maximum upload size of {max_bytes} bytes "
                               f"({human_size(max_bytes)}).")


def name_taken_failure(existing: records.UploadRecord | None, fields: UploadFields, user: User) -> RuleFailure | None:
    """Why the upload may not take the name of the existing upload, if it may not. Only a user who may see the
    existing upload learns which it is; only a scan of its kind (phantom or not) may replace it."""
    if existing is None:
        return None
    if not may_see_upload(user, existing):
        return RuleFailure(field="file", code="name_taken",
                           message=f"File {existing.file_name} was already uploaded, in an upload you may not see; "
                                   f"it cannot be replaced from your account. Rename the file to upload it.")
    where = f"upload {existing.upload_id}, progress {existing.progress}"
    if not existing.may_be_replaced:
        return RuleFailure(field="file", code="cannot_overwrite",
                           message=f"File {existing.file_name} {_why_kept(existing)} ({where}); it cannot be overwritten.")
    if existing.is_phantom != fields.is_phantom:
        return RuleFailure(field="file", code="cannot_overwrite",
                           message=f"File {existing.file_name} was uploaded as {_kind(existing.is_phantom)} ({where}); "
                                   f"only {_kind(existing.is_phantom)} may replace it.")
    if not fields.overwrite:
        return RuleFailure(field="file", code="already_uploaded",
                           message=f"File {existing.file_name} was already uploaded ({where}); {OVERWRITE_HINT}")
    return None


def location_failures(app: web.Application, user: User, file_name: str,
                      existing: records.UploadRecord | None) -> list[RuleFailure]:
    """LORIS site mode: LORIS can hold the path the pipeline will see. Before a new upload has its id, the
    shortest path it may get is checked; receive_upload checks the exact one once the id is known."""
    if app[SETTINGS].loris_database_url is None or not is_safe_name(file_name):
        return []
    upload_id, attempt = (existing.upload_id, existing.attempt + 1) if existing is not None else (1, 1)
    location = app[SCAN_STORE].local_path(scan_key(user.username, upload_id, attempt, file_name))
    failure = location_failure(str(location), file_name)
    return [failure] if failure is not None else []


def may_see_upload(user: User, record: records.UploadRecord) -> bool:
    return may_see(user.scope, site=record.site, is_phantom=record.is_phantom, uploaded_by=record.uploaded_by,
                   project=record.project)


def _kind(is_phantom: bool) -> str:
    return "a phantom scan" if is_phantom else "a candidate's scan"


def _why_kept(existing: records.UploadRecord) -> str:
    if existing.state == records.FINISHED:
        return "was already inserted successfully"
    if existing.state == records.STARTED:
        return "is being inserted"
    return "has a pipeline run granted and waiting to start"


def scan_facts(fields: UploadFields, file_name: str, key: str, verdict: Verdict) -> ScanFacts:
    return ScanFacts(
        file_name=file_name, scan_key=key, candid=fields.candid, pscid=fields.pscid,
        visit_label=fields.visit_label, is_phantom=fields.is_phantom, site=verdict.site, project=verdict.project,
    )
