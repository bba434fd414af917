"""POST /api/v1/uploads with an Idempotency-Key, on the real database and broker: a client that sends an
upload again after losing the answer gets the answer it lost, and nothing is stored twice."""

import asyncio
import logging
import os
import uuid
from pathlib import Path

import aiohttp
import pytest

from services.gateway.auth.users import save_user
from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.partial_files import new_partial_file, partial_files

MAX_UPLOAD_BYTES = 4 * 1024**2
OTHER_TOKEN = "test-idempotency-other-user-token"


@pytest.fixture
async def gateway_url(gateway_stack):
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES) as (url, _):
        yield url


@pytest.fixture
def client(gateway_url, http) -> UploaderClient:
    return UploaderClient(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
async def other_client(gateway_url, http, pool) -> UploaderClient:
    """A second user who may upload for every site."""
    async with pool.acquire() as conn:
        await save_user(conn, "idempotency-other", ["imaging_uploader_allsites"], OTHER_TOKEN)
    return UploaderClient(http, gateway_url, OTHER_TOKEN)


@pytest.fixture
def archive(tmp_path):
    """A real DICOM archive with a unique name; `padding` bytes of noise make it large enough to be held in
    the middle (the multipart reader reads ahead of each part by up to a chunk)."""

    def make(padding: int = 0) -> Path:
        name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
        extra = {"padding.bin": os.urandom(padding)} if padding else None
        return make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=2, extra_files=extra)

    return make


def new_key() -> str:
    return str(uuid.uuid4())


async def upload(client: UploaderClient, path: Path, key: str | None, **fields) -> aiohttp.ClientResponse:
    values = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1", **fields}
    return await client.upload(path, headers={"Idempotency-Key": key} if key is not None else None, **values)


async def stored(pool, incoming_path: Path, upload_id: int) -> tuple[int, int, int]:
    """(attempts recorded, upload.received events written, files in the scan store) of an upload."""
    attempts = await pool.fetchval("SELECT count(*) FROM gateway.upload_attempts WHERE upload_id = $1", upload_id)
    events = await pool.fetchval(
        """SELECT count(*) FROM gateway.outbox WHERE routing_key = 'upload.received'
            AND (convert_from(body, 'UTF8')::jsonb ->> 'upload_id')::bigint = $1""", upload_id)
    keys = await pool.fetch("SELECT scan_key FROM gateway.upload_attempts WHERE upload_id = $1", upload_id)
    files = sum(1 for row in keys if (incoming_path / row["scan_key"]).is_file())
    return attempts, events, files


def store_files(incoming_path: Path) -> set[Path]:
    return {path for path in incoming_path.rglob("*") if path.is_file()}


async def error_code(answer: aiohttp.ClientResponse, status: int) -> str:
    body = await answer.json()
    assert answer.status == status, body
    assert body["error"]["field"] == "Idempotency-Key", body
    return body["error"]["code"]


async def test_a_retry_with_the_same_key_gets_the_original_answer_and_stores_nothing_again(
        client, archive, pool, incoming_path):
    path, key = archive(), new_key()
    first = await upload(client, path, key)
    assert first.status == 202, await first.text()
    assert "Idempotent-Replayed" not in first.headers
    original = await first.json()
    files_before = store_files(incoming_path)

    retry = await upload(client, path, key)

    assert retry.status == 202, await retry.text()
    assert await retry.json() == original
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == f"/api/v1/uploads/{original['upload_id']}"
    assert await stored(pool, incoming_path, original["upload_id"]) == (1, 1, 1)
    assert store_files(incoming_path) == files_before
    assert not list((incoming_path / ".partial").glob("*"))


async def test_the_quoted_form_of_the_draft_and_the_bare_form_are_the_same_key(client, archive):
    path, key = archive(), new_key()
    first = await upload(client, path, f'"{key}"')
    assert first.status == 202, await first.text()

    retry = await upload(client, path, key)

    assert retry.status == 202 and retry.headers["Idempotent-Replayed"] == "true"
    assert await retry.json() == await first.json()


async def test_the_same_key_with_other_fields_is_refused_and_names_the_rule(client, archive, pool):
    path, key = archive(), new_key()
    assert (await upload(client, path, key)).status == 202

    other = archive()
    with_overwrite = await upload(client, path, key, overwrite=True)
    other_file = await upload(client, other, key)

    for answer in (with_overwrite, other_file):
        assert await error_code(answer, 422) == "idempotency_key_reused"
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads WHERE file_name = $1", other.name) == 0
    assert await pool.fetchval("SELECT max(attempt) FROM gateway.uploads WHERE file_name = $1", path.name) == 1


async def test_another_user_may_use_the_same_key_for_an_upload_of_their_own(client, other_client, archive):
    key = new_key()
    mine = await upload(client, archive(), key)
    assert mine.status == 202

    theirs = await upload(other_client, archive(), key)

    assert theirs.status == 202, await theirs.text()
    assert "Idempotent-Replayed" not in theirs.headers
    assert (await theirs.json())["upload_id"] != (await mine.json())["upload_id"]


async def test_another_user_sending_the_same_file_with_the_same_key_gets_the_usual_409(client, other_client, archive):
    path, key = archive(), new_key()
    assert (await upload(client, path, key)).status == 202

    theirs = await upload(other_client, path, key)

    body = await theirs.json()
    assert theirs.status == 409 and body["error"]["code"] == "already_uploaded", body


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "clé", "tab\there", '"unterminated', '"a"b"', '"ends\\"'])
async def test_a_malformed_key_is_refused_before_anything_is_kept(client, archive, pool, key):
    uploads_before = await pool.fetchval("SELECT count(*) FROM gateway.uploads")

    answer = await upload(client, archive(), key)

    assert await error_code(answer, 400) == "invalid_idempotency_key"
    assert "255 printable ASCII" in (await answer.json())["error"]["message"]
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads") == uploads_before


async def test_a_key_of_255_printable_characters_is_accepted(client, archive):
    key = ("k~ !" * 64)[:255]
    assert (await upload(client, archive(), key)).status == 202


async def test_an_expired_key_is_handled_as_new(client, archive, pool):
    path, key = archive(), new_key()
    first = await (await upload(client, path, key)).json()
    await pool.execute("UPDATE gateway.idempotency_keys SET created_at = now() - interval '25 hours' "
                       "WHERE username = 'demo' AND key = $1", key)

    again = await upload(client, path, key)
    body = await again.json()
    assert again.status == 409 and body["error"]["code"] == "already_uploaded", body

    replaced = await upload(client, path, key, overwrite=True)
    assert replaced.status == 202, await replaced.text()
    assert "Idempotent-Replayed" not in replaced.headers
    assert (await replaced.json())["attempt"] == first["attempt"] + 1
    row = await pool.fetchrow("SELECT attempt, created_at > now() - interval '1 hour' AS fresh "
                              "FROM gateway.idempotency_keys WHERE username = 'demo' AND key = $1", key)
    assert row["attempt"] == 2 and row["fresh"]


async def test_expired_keys_are_deleted_when_new_ones_are_written(client, archive, pool):
    old = new_key()
    assert (await upload(client, archive(), old)).status == 202
    await pool.execute("UPDATE gateway.idempotency_keys SET created_at = now() - interval '25 hours' "
                       "WHERE key = $1", old)

    assert (await upload(client, archive(), new_key())).status == 202

    assert await pool.fetchval("SELECT count(*) FROM gateway.idempotency_keys WHERE key = $1", old) == 0


async def test_a_request_refused_by_a_rule_keeps_no_key_so_the_corrected_retry_proceeds(client, archive, pool):
    path, key = archive(), new_key()
    wrong = await upload(client, path, key, visit_label="V2")
    assert wrong.status == 400, await wrong.text()
    assert await pool.fetchval("SELECT count(*) FROM gateway.idempotency_keys WHERE key = $1", key) == 0

    corrected = await upload(client, path, key)

    assert corrected.status == 202, await corrected.text()
    assert "Idempotent-Replayed" not in corrected.headers


async def test_without_the_header_a_second_upload_of_the_name_is_refused_as_before(client, archive):
    path = archive()
    assert (await upload(client, path, None)).status == 202
    again = await upload(client, path, None)
    assert again.status == 409


class HeldBody:
    """A multipart upload body sent in two halves: the fields and the file's first bytes, then (once released)
    the rest. Lets a test hold a request in the middle of its file."""

    def __init__(self, path: Path, fields: dict[str, str]) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items())
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                 f'Content-Type: application/octet-stream\r\n\r\n').encode()
        data = path.read_bytes()
        self.first = head + data[:len(data) // 2]
        self.rest = data[len(data) // 2:] + f"\r\n--{self.boundary}--\r\n".encode()
        self.release = asyncio.Event()

    async def chunks(self):
        yield self.first
        await self.release.wait()
        yield self.rest

    def post(self, http: aiohttp.ClientSession, url: str, key: str):
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Idempotency-Key": key,
                   "Content-Type": f"multipart/form-data; boundary={self.boundary}"}
        return http.post(f"{url}/api/v1/uploads", data=self.chunks(), headers=headers)


HELD_PADDING = 256 * 1024
FIELDS = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "is_phantom": "false", "overwrite": "false"}


async def test_concurrent_requests_with_one_key_make_one_upload_and_get_the_same_answer(
        gateway_url, client, archive, http, pool, incoming_path, caplog):
    """The first request is held in the middle of its file while the second, with the same key, is
    recorded; released, the first finds the second's answer when it records, discards its own copy and
    gives that answer again. Both passed the check before the file; the lock and the check in the recording
    transaction are what make it one upload."""
    caplog.set_level(logging.INFO, logger="services.gateway.uploads.idempotency")
    path, key = archive(padding=HELD_PADDING), new_key()
    held = HeldBody(path, FIELDS)
    before = partial_files(incoming_path)
    first_task = asyncio.create_task(_answer(held.post(http, gateway_url, key)))
    await new_partial_file(incoming_path, before)  # the gateway has read the fields and passed the early check

    second = await upload(client, path, key)
    held.release.set()
    first_status, first_headers, first_body = await asyncio.wait_for(first_task, 20)

    assert second.status == 202 and first_status == 202, first_body
    assert first_body == await second.json()
    assert "Idempotent-Replayed" not in second.headers and first_headers["Idempotent-Replayed"] == "true"
    assert await stored(pool, incoming_path, first_body["upload_id"]) == (1, 1, 1)
    assert not list((incoming_path / ".partial").glob("*"))
    assert any("answered by a concurrent request" in record.getMessage() for record in caplog.records)


async def test_a_replay_is_answered_before_the_file_is_read(gateway_url, client, archive, http):
    """The retry's file never needs to arrive: the answer is decided from the fields and the key."""
    path, key = archive(padding=HELD_PADDING), new_key()
    original = await (await upload(client, path, key)).json()
    held = HeldBody(path, FIELDS)

    async with asyncio.timeout(10):
        async with held.post(http, gateway_url, key) as answer:
            assert answer.status == 202 and answer.headers["Idempotent-Replayed"] == "true"
            assert await answer.json() == original
            assert not held.release.is_set()
            held.release.set()


async def _answer(request) -> tuple[int, dict, dict]:
    async with request as answer:
        return answer.status, dict(answer.headers), await answer.json()
