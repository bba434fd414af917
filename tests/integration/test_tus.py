"""tus 1.0.0 at /api/v1/tus/, as a tus client sees it (tuspy, and raw requests for the protocol's edges): the
creation is the pre-flight, the last byte makes the upload an attempt exactly as a multipart upload does, a PATCH
cut off midway resumes from HEAD's offset, two PATCHes never both write, and an upload ended early (DELETE,
expiry) leaves nothing behind."""

import asyncio
import base64
import hashlib
import uuid
from pathlib import Path

import asyncpg
import pytest
from tusclient import client as tus_client

from services.common.scan_store import DirectoryScanStore
from services.gateway.__main__ import build_app as build_gateway
from services.gateway.auth.users import save_user
from services.gateway.auth.web_sessions import COOKIE_NAME, CSRF_HEADER
from services.gateway.tus.tus_expiry import sweep_expired_uploads
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.tap import of_upload
from tests.integration.web_sign_in import sign_in
from tests.support.tus_requests import CHUNK, TUS, TusRequests, upload_metadata

MAX_UPLOAD_BYTES = 1024**2
FIELDS = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}
SAME_IN_BOTH = ("progress", "candid", "pscid", "visit_label", "site", "is_phantom", "uploaded_by", "size_bytes",
                "attempt", "exit_code", "failure", "loris_upload_id")


@pytest.fixture
async def gateway_url(gateway_stack):
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES) as (gateway_url, _):
        yield gateway_url


@pytest.fixture
def tus(gateway_url, http) -> TusRequests:
    return TusRequests(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
def archive(tmp_path):
    def make(n_files=2) -> Path:
        name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
        return make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=n_files)

    return make


@pytest.fixture
def tus_folder(incoming_path) -> Path:
    return incoming_path / ".tus"


async def _async(value):
    return value


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def created(tus: TusRequests, path: Path, **fields) -> str:
    answer = await tus.create(path.name, path.stat().st_size, **{**FIELDS, **fields})
    assert answer.status == 201, await answer.text()
    return answer.headers["Location"]


async def offset_of(tus: TusRequests, location: str) -> int:
    answer = await tus.head(location)
    assert answer.status == 200
    return int(answer.headers["Upload-Offset"])


async def attempts_of(pool: asyncpg.Pool, file_name: str) -> list[asyncpg.Record]:
    return await pool.fetch("""SELECT a.* FROM gateway.upload_attempts a JOIN gateway.uploads u USING (upload_id)
                               WHERE u.file_name = $1""", file_name)


async def test_discovery_names_the_version_extensions_maximum_size_and_checksums(tus):
    answer = await tus.options()

    assert answer.status == 204
    assert answer.headers["Tus-Resumable"] == "1.0.0" and answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Extension"] == "creation,creation-with-upload,termination,expiration,checksum"
    assert answer.headers["Tus-Max-Size"] == str(MAX_UPLOAD_BYTES)
    assert answer.headers["Tus-Checksum-Algorithm"] == "sha1,md5,sha256"


async def test_tuspy_uploads_an_archive_that_becomes_an_attempt(gateway_url, tus, archive, tap, incoming_path):
    path = archive(n_files=3)
    uploader = tus_client.TusClient(gateway_url + "/api/v1/tus/", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) \
        .async_uploader(file_path=str(path), chunk_size=path.stat().st_size // 3 + 1, upload_checksum=True,
                        metadata={"filename": path.name, **FIELDS})

    await uploader.upload()

    head = await tus.head(uploader.url.removeprefix(gateway_url))
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(path.stat().st_size)
    upload_id = int(head.headers["Uploader-Upload-Id"])
    event = await tap.wait_for(of_upload(upload_id, "upload.received"))
    assert (event.attempt, event.size_bytes, event.scan.file_name) == (1, path.stat().st_size, path.name)
    assert sha256((incoming_path / event.scan.scan_key).read_bytes()) == sha256(path.read_bytes())


async def test_a_creation_that_breaks_a_rule_gets_the_uploads_error_and_stores_nothing(
        tus, gateway_url, http, archive, pool, tus_folder):
    path = archive()
    before = await pool.fetchval("SELECT count(*) FROM gateway.tus_uploads")
    cases = [({"candid": "999999", "pscid": "MTL0001", "visit_label": "V1"}, path.name),  # no such candidate
             ({**FIELDS, "is_phantom": False}, path.name.replace(".tgz", ".tar"))]  # a type not accepted
    for fields, file_name in cases:
        renamed = path.with_name(file_name)
        path.rename(renamed)
        multipart = await UploaderClient(http, gateway_url, DEMO_TOKEN).upload(renamed, **fields)
        creation = await tus.create(file_name, renamed.stat().st_size, **fields)
        renamed.rename(path)

        assert creation.status == multipart.status and creation.status >= 400, await creation.text()
        assert await creation.json() == await multipart.json()
        assert creation.headers["Tus-Resumable"] == "1.0.0" and "Location" not in creation.headers
    too_large = await tus.create(path.name, MAX_UPLOAD_BYTES + 1, **FIELDS)
    assert too_large.status == 413 and (await too_large.json())["error"]["code"] == "file_too_large"
    assert await pool.fetchval("SELECT count(*) FROM gateway.tus_uploads") == before
    assert not list(tus_folder.glob("*"))


async def test_an_upload_in_three_patches_becomes_the_same_attempt_as_a_multipart_upload(
        tus, gateway_url, http, archive, tap, tus_folder):
    path, twin = archive(), archive()
    twin.write_bytes(path.read_bytes())
    data = path.read_bytes()
    location = await created(tus, path)
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]

    answers = [await tus.patch(location, start, data[start:end]) for start, end in zip(cuts, cuts[1:])]

    assert [answer.status for answer in answers] == [204, 204, 204]
    assert [int(answer.headers["Upload-Offset"]) for answer in answers] == cuts[1:]
    assert not list(tus_folder.glob(location.rsplit("/", 1)[1] + "*")), "the finished upload's bytes were left"
    assert "Uploader-Upload-Id" not in answers[0].headers
    tus_id = int(answers[-1].headers["Uploader-Upload-Id"])
    multipart = await UploaderClient(http, gateway_url, DEMO_TOKEN).upload(twin, **FIELDS)
    multipart_id = (await multipart.json())["upload_id"]
    by_tus = await tap.wait_for(of_upload(tus_id, "upload.received"))
    by_multipart = await tap.wait_for(of_upload(multipart_id, "upload.received"))
    assert by_tus.model_dump(include={"attempt", "size_bytes", "uploaded_by", "overwrite", "scope"}) == \
        by_multipart.model_dump(include={"attempt", "size_bytes", "uploaded_by", "overwrite", "scope"})
    assert by_tus.scan.model_dump(exclude={"file_name", "scan_key"}) == \
        by_multipart.scan.model_dump(exclude={"file_name", "scan_key"})
    demo = UploaderClient(http, gateway_url, DEMO_TOKEN)

    async def both_browsed():
        rows = [await demo.get(f"/api/v1/uploads/{upload_id}") for upload_id in (tus_id, multipart_id)]
        return [await row.json() for row in rows] if all(row.status == 200 for row in rows) else None

    rows = await eventually(both_browsed, what="both uploads in Browse")
    assert [{key: row[key] for key in SAME_IN_BOTH} for row in rows][0] == \
        [{key: row[key] for key in SAME_IN_BOTH} for row in rows][1]
    assert rows[0]["file_name"] == path.name


async def test_a_patch_at_another_offset_is_refused_with_409(tus, archive):
    path = archive()
    location = await created(tus, path)
    await tus.patch(location, 0, path.read_bytes()[:10])

    answer = await tus.patch(location, 0, path.read_bytes()[:10])

    assert answer.status == 409 and (await answer.json())["error"]["code"] == "offset_mismatch"
    assert await offset_of(tus, location) == 10


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
async def test_a_checksum_mismatch_is_460_and_drops_the_chunk(tus, archive, tus_folder, algorithm):
    path = archive()
    data = path.read_bytes()
    location = await created(tus, path)
    await tus.patch(location, 0, data[:100])
    wrong = base64.b64encode(hashlib.new(algorithm, b"other bytes").digest()).decode()
    right = base64.b64encode(hashlib.new(algorithm, data[100:200]).digest()).decode()

    mismatch = await tus.patch(location, 100, data[100:200], headers={"Upload-Checksum": f"{algorithm} {wrong}"})
    unknown = await tus.patch(location, 100, data[100:200], headers={"Upload-Checksum": f"crc32 {wrong}"})
    matching = await tus.patch(location, 100, data[100:200], headers={"Upload-Checksum": f"{algorithm} {right}"})

    assert mismatch.status == 460 and (await mismatch.json())["error"]["code"] == "checksum_mismatch"
    assert unknown.status == 400
    assert matching.status == 204 and matching.headers["Upload-Offset"] == "200"
    assert (tus_folder / f"{location.rsplit('/', 1)[1]}.part").read_bytes() == data[:200]


async def test_two_patches_at_once_only_one_writes(tus, archive, pool, incoming_path):
    path = archive()
    data = path.read_bytes()
    location = await created(tus, path)
    go_on = asyncio.Event()

    async def slow_body():
        yield data[:1000]
        await go_on.wait()
        yield data[1000:]

    first = asyncio.create_task(tus.patch(location, 0, slow_body()))

    async def row_locked() -> bool:
        """Whether a transaction holds rows of tus_uploads for update (asked without taking a lock)."""
        return await pool.fetchval(
            """SELECT count(*) > 0 FROM pg_locks WHERE relation = 'gateway.tus_uploads'::regclass
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND mode = 'RowShareLock' AND granted""")

    await eventually(row_locked, what="the first PATCH holding the upload")
    second = await tus.patch(location, 0, b"\x1f\x8b" + b"x" * (len(data) - 2))
    go_on.set()
    first = await first

    assert second.status == 423 and (await second.json())["error"]["code"] == "tus_upload_busy"
    assert first.status == 204, await first.text()
    [attempt] = await attempts_of(pool, path.name)
    assert sha256((incoming_path / attempt["scan_key"]).read_bytes()) == sha256(data)


async def test_a_patch_cut_off_midway_keeps_its_bytes_and_resumes_from_heads_offset(
        tus, gateway_url, archive, pool, incoming_path, tus_folder):
    path = archive(n_files=3)
    data = path.read_bytes()
    location = await created(tus, path)
    host, port = gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{key}: {value}\r\n" for key, value in {
        **tus.headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
        "Content-Length": str(len(data)), "Host": f"{host}:{port}"}.items())
    writer.write(f"PATCH {location} HTTP/1.1\r\n{head}\r\n".encode() + data[:len(data) // 2])
    await writer.drain()
    part = tus_folder / f"{location.rsplit('/', 1)[1]}.part"
    await eventually(lambda: _async(part.exists() and part.stat().st_size == len(data) // 2),
                     what="the gateway having read the first half")
    writer.close()

    async def kept() -> int:
        offset = await offset_of(tus, location)
        return offset if offset > 0 else 0

    offset = await eventually(kept, what="the cut-off PATCH's bytes kept")
    answer = await tus.patch(location, offset, data[offset:])

    assert offset == len(data) // 2
    assert answer.status == 204 and "Uploader-Upload-Id" in answer.headers
    [attempt] = await attempts_of(pool, path.name)
    assert sha256((incoming_path / attempt["scan_key"]).read_bytes()) == sha256(data)


async def test_delete_frees_the_bytes_at_once(tus, archive, tus_folder):
    path = archive()
    location = await created(tus, path)
    await tus.patch(location, 0, path.read_bytes()[:500])
    assert len(list(tus_folder.glob("*.part"))) >= 1
    part = tus_folder / f"{location.rsplit('/', 1)[1]}.part"
    assert part.stat().st_size == 500

    deleted = await tus.delete(location)

    assert deleted.status == 204 and not part.exists()
    assert (await tus.head(location)).status == 404


async def test_an_expired_upload_is_404_and_swept_with_its_bytes(tus, archive, pool, tus_folder, incoming_path):
    path = archive()
    location = await created(tus, path)
    await tus.patch(location, 0, path.read_bytes()[:500])
    tus_id = location.rsplit("/", 1)[1]
    await pool.execute("UPDATE gateway.tus_uploads SET expires_at = now() - interval '1 second' WHERE tus_id = $1",
                       tus_id)

    head = await tus.head(location)
    patch = await tus.patch(location, 500, path.read_bytes()[500:600])
    await sweep_expired_uploads(pool, DirectoryScanStore(incoming_path))

    assert (head.status, patch.status) == (404, 404)
    assert not (tus_folder / f"{tus_id}.part").exists()
    assert await pool.fetchval("SELECT count(*) FROM gateway.tus_uploads WHERE tus_id = $1", tus_id) == 0


async def test_the_creation_says_when_the_upload_expires(tus, archive):
    path = archive()
    answer = await tus.create(path.name, path.stat().st_size, **FIELDS)

    assert answer.status == 201 and answer.headers["Upload-Expires"].endswith(" GMT")
    assert answer.headers["Location"].startswith("/api/v1/tus/") and len(answer.headers["Location"]) > 40


async def test_another_users_upload_is_unknown_to_them(tus, gateway_url, http, archive, pool, tus_folder):
    token = f"token-tus-other-{uuid.uuid4().hex}"
    async with pool.acquire() as conn:
        await save_user(conn, f"tus-other-{uuid.uuid4().hex[:8]}", ["imaging_uploader_allsites"], token)
    other = TusRequests(http, gateway_url, token)
    path = archive()
    location = await created(tus, path)
    await tus.patch(location, 0, path.read_bytes()[:100])

    answers = [await other.head(location), await other.patch(location, 100, b"x"), await other.delete(location)]

    assert [answer.status for answer in answers] == [404, 404, 404]
    assert await offset_of(tus, location) == 100
    assert (await tus.head("/api/v1/tus/not-an-upload")).status == 404


async def test_creation_with_upload_takes_the_first_chunk(tus, archive, pool):
    path = archive()
    data = path.read_bytes()

    partly = await tus.create(path.name, len(data), body=data[:300], **FIELDS)
    whole_path = archive()
    whole = await tus.create(whole_path.name, whole_path.stat().st_size, body=whole_path.read_bytes(), **FIELDS)

    assert partly.status == 201 and partly.headers["Upload-Offset"] == "300"
    assert whole.status == 201 and "Uploader-Upload-Id" in whole.headers
    assert len(await attempts_of(pool, whole_path.name)) == 1


async def test_protocol_errors_are_4xx_that_name_the_rule(tus, archive, http, gateway_url):
    path = archive()
    location = await created(tus, path)
    no_version = await http.patch(gateway_url + location, headers={"Authorization": f"Bearer {DEMO_TOKEN}",
                                                                   "Content-Type": "application/offset+octet-stream",
                                                                   "Upload-Offset": "0"}, data=b"x")
    wrong_type = await tus.patch(location, 0, b"x", headers={"Content-Type": "application/octet-stream"})
    past_the_end = await tus.patch(location, 0, b"\x1f\x8b" * path.stat().st_size)
    no_length = await tus.create(path.name, 1, headers={"Upload-Length": "many"})
    not_gzip = archive()
    refused_at_the_end = await tus.create(not_gzip.name, 9, body=b"PK\x03\x04 zip!", **FIELDS)

    assert no_version.status == 412
    assert wrong_type.status == 415
    assert past_the_end.status == 413 and await offset_of(tus, location) == 0
    assert no_length.status == 400 and (await no_length.json())["error"]["code"] == "invalid_upload_length"
    assert refused_at_the_end.status == 415
    assert (await refused_at_the_end.json())["error"]["code"] == "content_type_mismatch"


async def test_a_browser_session_uploads_by_tus_with_its_csrf_token(gateway_url, browser, new_user, archive, pool):
    username = await new_user()
    signed_in = await sign_in(browser, gateway_url, username)
    cookie = {"Cookie": f"{COOKIE_NAME}={signed_in.cookies[COOKIE_NAME].value}", **TUS}
    csrf = {CSRF_HEADER: (await signed_in.json())["csrf_token"]}
    path = archive()
    creation = {**cookie, "Upload-Length": str(path.stat().st_size),
                "Upload-Metadata": upload_metadata(path.name, **FIELDS)}

    without_csrf = await browser.post(gateway_url + "/api/v1/tus/", headers=creation)
    created_ = await browser.post(gateway_url + "/api/v1/tus/", headers={**creation, **csrf})
    location = created_.headers["Location"]
    patch = await browser.patch(gateway_url + location, data=path.read_bytes(), headers={
        **cookie, **csrf, **CHUNK, "Upload-Offset": "0"})

    assert without_csrf.status == 403 and (await without_csrf.json())["error"]["code"] == "csrf_failed"
    assert created_.status == 201 and patch.status == 204, await patch.text()
    [attempt] = await attempts_of(pool, path.name)
    assert attempt["upload_id"] == int(patch.headers["Uploader-Upload-Id"])


async def test_a_patch_may_reach_another_gateway_replica(tus, gateway_settings, http, archive, pool, incoming_path):
    path = archive()
    data = path.read_bytes()
    location = await created(tus, path)
    await tus.patch(location, 0, data[:700])
    async with running_app(build_gateway(gateway_settings(max_upload_bytes=MAX_UPLOAD_BYTES,
                                                          auto_launch=False))) as second_url:
        second = TusRequests(http, second_url, DEMO_TOKEN)

        assert await offset_of(second, location) == 700
        answer = await second.patch(location, 700, data[700:])

    assert answer.status == 204, await answer.text()
    [attempt] = await attempts_of(pool, path.name)
    assert sha256((incoming_path / attempt["scan_key"]).read_bytes()) == sha256(data)


@pytest.mark.parametrize("overwrite", [False, True])
async def test_a_last_patch_sent_twice_at_once_makes_one_attempt(tus, archive, pool, tus_folder, overwrite):
    """As after a finish that failed for a passing reason: every byte is there, and the client sends the last
    PATCH again (empty, at the upload's length), twice at once."""
    path = archive()
    data = path.read_bytes()
    location = await created(tus, path, overwrite=overwrite)
    tus_id = location.rsplit("/", 1)[1]
    (tus_folder / f"{tus_id}.part").write_bytes(data)
    await pool.execute("UPDATE gateway.tus_uploads SET upload_offset = $2 WHERE tus_id = $1", tus_id, len(data))

    answers = await asyncio.gather(tus.patch(location, len(data), b""), tus.patch(location, len(data), b""))

    statuses = sorted(answer.status for answer in answers)
    assert statuses[0] == 204 and statuses[1] in (409, 423), [await answer.text() for answer in answers]
    [attempt] = await attempts_of(pool, path.name)
    finished = next(answer for answer in answers if answer.status == 204)
    assert int(finished.headers["Uploader-Upload-Id"]) == attempt["upload_id"]
    assert (await tus.head(location)).headers["Uploader-Upload-Id"] == str(attempt["upload_id"])
