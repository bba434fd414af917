"""LORIS's route chain before a visit's dicoms: the candidate of the URL
exists and belongs to a site the user may upload for (else 404 or 403), and
the visit exists for it (else 404).

The candidate registry is the validator's; the gateway asks it a rule check
of purpose "visit_access" with the URL's CandID and visit. When the validator
does not answer in time the request goes on: every operation behind it is
limited to what the user may see anyway. When it answers that its registry
cannot be read (a LORIS site's database is away), the request answers 503.
"""

from aiohttp import web
from pydantic import ValidationError

from services.common.api_models import UploadFields
from services.common.messages import RuleFailure
from services.common.request_parsing import is_plain_text
from services.gateway.auth.users import User
from services.gateway.loris_api.errors import LorisError
from services.gateway.uploads.upload_rules import ask_validator


async def check_visit_access(app: web.Application, candid: str, visit_label: str, user: User) -> None:
    """Raise LorisError 404 for an unknown candidate or visit, 403 for a candidate of a site the user may not touch."""
    fields = _url_fields(candid, visit_label)
    reply = await ask_validator(app, fields, None, user, purpose="visit_access")
    if reply is None:
        return
    refusal = access_refusal(reply.failures)
    if refusal is not None:
        raise refusal


def _url_fields(candid: str, visit_label: str) -> UploadFields:
    try:
        if is_plain_text(candid) and is_plain_text(visit_label):
            return UploadFields(candid=candid, visit_label=visit_label)
    except ValidationError:
        pass
    raise LorisError(404, "The URL's CandID or visit label is no candidate's or visit's: it is too long, or it "
                          "holds a NUL or a character that is not text.")


def access_refusal(failures: list[RuleFailure]) -> LorisError | None:
    forbidden = [f.message for f in failures if f.forbidden]
    if forbidden:
        return LorisError(403, " ".join(forbidden))
    if failures:
        return LorisError(404, " ".join(f.message for f in failures))
    return None
