"""The Idempotency-Key header of POST /api/v1/uploads (draft-ietf-httpapi-idempotency-key-header): a client that
sends an upload again after losing the answer gets the answer it lost, not a 409 for a name it took itself.

The key is the client's own string, scoped to its user. Its answer is kept in the transaction that records
the upload, so a committed upload always has its key and a refused or rolled-back one never does: a request
refused by a rule may be corrected and sent again under the same key.

- A key already answered, with the same fields: the same 202 body again, marked `Idempotent-Replayed: true`,
  decided from the form fields alone, before a byte of the file part is read, and nothing is stored again. Its
  `loris_upload_id` is the upload's as it is now (LORIS site mode): the row in LORIS may have been written since.
- The same key with other fields (CandID, PSCID, visit label, phantom, overwrite, file name): 422
  `idempotency_key_reused`.
- Two requests with one key at once: both stream their file; recording them is serialised by a transaction
  lock on (user, key), and the second, finding the first's answer, discards its copy and answers the same.
- A key older than the retention is treated as new; expired keys are deleted as new ones are written.
"""

import hashlib
import json
import logging
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from services.common.api_models import UploadAccepted, UploadFields
from services.common.http_errors import error_response
from services.common.request_parsing import Refusal

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Advisory lock spaces share one database: the logstore's per-upload locks use 1.
LOCK_SPACE = 2
PRUNE_BATCH = 500
KEY_RULE = f"1 to {MAX_KEY_LENGTH} printable ASCII characters, optionally in double quotes"


@dataclass(frozen=True)
class KeyedUpload:
    """An upload sent with an Idempotency-Key: whose key, and what it names."""

    username: str
    key: str
    fingerprint: str
    max_age_hours: float


class AnswerReplayed(Exception):
    """This key was answered already: the answer to give again."""

    def __init__(self, answer: UploadAccepted) -> None:
        super().__init__(f"upload {answer.upload_id} attempt {answer.attempt}")
        self.answer = answer


def key_of(request: web.Request) -> str | None:
    """The request's key, or None without the header; a 400 that names the rule for a malformed one.

    The draft makes the value a structured-field string (`"8e03978e-..."`); a bare value (as Stripe and many
    scripts send, `Idempotency-Key: $(uuidgen)`) is taken as it is."""
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise _malformed(f"Send one {HEADER} header, not {len(values)}.")
    value = values[0].strip()
    if value.startswith('"'):
        if len(value) < 2 or not value.endswith('"'):
            raise _malformed(f"The {HEADER} header must be {KEY_RULE}; its opening quote is not closed.")
        value = _unquoted(value[1:-1])
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in value):
        raise _malformed(f"The {HEADER} header must be {KEY_RULE}.")
    return value


def _unquoted(quoted: str) -> str:
    """A structured-field string's content: \\" and \\\\ stand for " and \\ (anything else is left as sent, and
    a lone quote makes it malformed)."""
    text, escaped = [], False
    for char in quoted:
        if escaped or char != "\\":
            if char == '"' and not escaped:
                raise _malformed(f"The {HEADER} header must be {KEY_RULE}; a quote inside it must be escaped.")
            text.append(char)
            escaped = False
        else:
            escaped = True
    if escaped:
        raise _malformed(f"The {HEADER} header must be {KEY_RULE}; it ends with a lone backslash.")
    return "".join(text)


def _malformed(message: str) -> Refusal:
    return Refusal(error_response(400, "invalid_idempotency_key", message, HEADER))


def keyed_upload(username: str, key: str, fields: UploadFields, file_name: str, max_age_hours: float) -> KeyedUpload:
    """The fields as the upload records them (trimmed; a phantom's candidate fields dropped) and the file name."""
    named = {"candid": fields.candid, "pscid": fields.pscid, "visit_label": fields.visit_label,
             "is_phantom": fields.is_phantom, "overwrite": fields.overwrite, "file_name": file_name}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()
    return KeyedUpload(username, key, digest, max_age_hours)


async def replay_if_answered(conn: asyncpg.Connection | asyncpg.Pool, keyed: KeyedUpload) -> None:
    """Raise AnswerReplayed when the key has an answer (a 422 Refusal when it named other fields)."""
    row = await conn.fetchrow(
        """SELECT k.fingerprint, k.answer, u.loris_upload_id
             FROM gateway.idempotency_keys k LEFT JOIN gateway.uploads u USING (upload_id)
            WHERE k.username = $1 AND k.key = $2 AND k.created_at > now() - make_interval(secs => $3)""",
        keyed.username, keyed.key, keyed.max_age_hours * 3600,
    )
    if row is None:
        return
    if row["fingerprint"] != keyed.fingerprint:
        raise Refusal(error_response(
            422, "idempotency_key_reused",
            f"This {HEADER} was used for an upload with other fields (CandID, PSCID, visit label, phantom, "
            f"overwrite or file name); a key names one upload: send a new key for a different upload.", HEADER))
    answer = UploadAccepted.model_validate(row["answer"])
    raise AnswerReplayed(answer.model_copy(update={"loris_upload_id": row["loris_upload_id"]}))


async def hold_key(conn: asyncpg.Connection, keyed: KeyedUpload) -> None:
    """In the transaction that records the upload: wait for any other request with this key to finish
    recording, then replay its answer if it gave one."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2 || E'\\n' || $3))",
                       LOCK_SPACE, keyed.username, keyed.key)
    try:
        await replay_if_answered(conn, keyed)
    except AnswerReplayed as replay:
        log.info("idempotency key answered by a concurrent request; this request's copy of the file is discarded",
                 extra={"upload_id": replay.answer.upload_id, "attempt": replay.answer.attempt})
        raise


async def remember_answer(conn: asyncpg.Connection, keyed: KeyedUpload, answer: UploadAccepted) -> None:
    """In the transaction that records the upload (after hold_key): keep its answer; an expired row of the
    same key is replaced, and a batch of other expired keys is deleted."""
    max_age_seconds = keyed.max_age_hours * 3600
    await conn.execute(
        """INSERT INTO gateway.idempotency_keys (username, key, fingerprint, upload_id, attempt, answer)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (username, key) DO UPDATE
              SET fingerprint = EXCLUDED.fingerprint, upload_id = EXCLUDED.upload_id, attempt = EXCLUDED.attempt,
                  answer = EXCLUDED.answer, created_at = now()""",
        keyed.username, keyed.key, keyed.fingerprint, answer.upload_id, answer.attempt, answer.model_dump(mode="json"),
    )
    await conn.execute(
        """DELETE FROM gateway.idempotency_keys WHERE ctid IN (
               SELECT ctid FROM gateway.idempotency_keys WHERE created_at <= now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        max_age_seconds, PRUNE_BATCH,
    )
