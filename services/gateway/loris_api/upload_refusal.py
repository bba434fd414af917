"""A refused upload, told as LORIS tells it: one `{"error"}` sentence (every
failure's message, joined with a space) and LORIS's status: 400 for a rule,
403 for a permission or a file type that is not accepted (LORIS's "File type
not allowed" is a 403; /api/v1 answers 415), 409 for a name already taken,
413 for a file too large."""

from services.common.messages import RuleFailure
from services.gateway.loris_api.errors import LorisError
from services.gateway.uploads.upload_rules import OVERWRITE_HINT, refusal_status, shown_failures

UNSUPPORTED_TYPE = 415
LORIS_TYPE_REFUSAL = 403
LORIS_OVERWRITE_HINT = 'send "Overwrite": true in the Json to replace it.'


def loris_upload_refusal(failures: list[RuleFailure]) -> LorisError:
    status = refusal_status(failures)
    messages = [_message(failure) for failure in shown_failures(failures)]
    return LorisError(LORIS_TYPE_REFUSAL if status == UNSUPPORTED_TYPE else status, " ".join(messages))


def _message(failure: RuleFailure) -> str:
    """The /api/v1 message, but a name already taken says how to overwrite in LORIS's words."""
    if failure.code != "already_uploaded":
        return failure.message
    return failure.message.replace(OVERWRITE_HINT, LORIS_OVERWRITE_HINT)
