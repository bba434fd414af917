"""A refused upload, told as LORIS tells it: one `{"error"}` sentence (every
failure's message, joined with a space) and LORIS's status: 400 for a rule,
403 for a permission or a file type that is not accepted (LORIS's "File type
not allowed" is a 403; /api/v1 answers 415), 409 for a name already taken,
413 for a file too large."""

import asyncpg

from services.common.messages import RuleFailure
from services.gateway.loris_api.errors import LorisError
from services.gateway.upload_rules import refusal_status, shown_failures
from services.gateway.uploads import find_by_name

UNSUPPORTED_TYPE = 415
LORIS_TYPE_REFUSAL = 403


async def loris_upload_refusal(pool: asyncpg.Pool, failures: list[RuleFailure], file_name: str) -> LorisError:
    status = refusal_status(failures)
    messages = [await _message(pool, failure, file_name) for failure in shown_failures(failures)]
    return LorisError(LORIS_TYPE_REFUSAL if status == UNSUPPORTED_TYPE else status, " ".join(messages))


async def _message(pool: asyncpg.Pool, failure: RuleFailure, file_name: str) -> str:
    """The /api/v1 message, but a name already taken says how to overwrite in LORIS's words."""
    if failure.code != "already_uploaded":
        return failure.message
    existing = await find_by_name(pool, file_name)
    if existing is None:
        return failure.message
    return (f"File {file_name} was already uploaded (upload {existing.upload_id}, progress {existing.progress}); "
            f'send "Overwrite": true in the Json to replace it.')
