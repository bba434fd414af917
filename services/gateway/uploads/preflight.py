"""The pre-flight check: would this upload be accepted? The same verdict as
the upload itself, without the file."""

from aiohttp import web

from services.common import metrics
from services.common.api_models import ExistingUpload, UploadCheck, UploadCheckAnswer
from services.common.app_keys import SETTINGS
from services.common.http_errors import error_response
from services.common.request_parsing import Refusal
from services.gateway.auth.users import User
from services.gateway.uploads.upload_rules import error_details, judge, scan_fields, shown_failures


async def check_upload(app: web.Application, check: UploadCheck, user: User) -> UploadCheckAnswer:
    verdict = await judge(app, scan_fields(check), check.file_name, check.file_size, user)
    if not verdict.validator_answered:
        raise Refusal(error_response(
            503, "rule_check_unavailable",
            "The upload rules cannot be checked right now because the validator does not answer; try again "
            "shortly. An upload sent meanwhile is still accepted and checked as soon as the validator is back."))
    metrics.count_decision(metrics.PREFLIGHT_DECISIONS, verdict.failures, ok="ok", refused="refused")
    existing = None
    if verdict.existing is not None:
        record = verdict.existing
        existing = ExistingUpload(upload_id=record.upload_id, progress=record.progress,
                                  may_overwrite=record.may_be_replaced and record.is_phantom == check.is_phantom)
    return UploadCheckAnswer(
        ok=verdict.ok, errors=error_details(shown_failures(verdict.failures)), existing=existing,
        max_upload_bytes=app[SETTINGS].max_upload_bytes,
    )
