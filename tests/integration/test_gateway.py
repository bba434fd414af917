"""The gateway in-process (with a logstore behind it), on the real broker and
database, as a user's script sees it: who may upload, what is accepted,
what is refused and why, and what a refused request leaves behind (nothing)."""

import asyncio
import json
import os
import uuid
from pathlib import Path

import aiohttp
import pytest

from services.common.messages import RuleFailure, UploadRejected, UploadValidated
from services.gateway.__main__ import build_app as build_gateway
from services.logstore.__main__ import build_app as build_logstore
from services.common.app_keys import CHANNEL
from services.common.internal_calls import internal_headers
from services.common.scope import UPLOADER_PERMISSIONS, scope_of
from tests.conftest import DEMO_TOKEN, INTERNAL_SECRET, NO_PERMISSION_TOKEN
from tests.integration.helpers import (
    eventually,
    finished_event,
    new_upload_id,
    started_event,
    wait_until_processed,
)
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.stack import free_port
from tests.support.tap import of_upload

MAX_UPLOAD_BYTES = 1024**2
TOO_LARGE_MESSAGE = "The file is larger than the maximum upload size of 1048576 bytes (1.0 MiB)."


@pytest.fixture
async def stack(gateway_stack):
    """A logstore, a validator, and a gateway that asks the one and proxies to the other; auto-launch
    is off, so that a test decides when a run is granted. Yields (gateway URL, logstore URL)."""
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES) as urls:
        yield urls


@pytest.fixture
async def without_validator(gateway_settings, logstore_settings, tap, http):
    """A gateway whose validator does not answer (it is not running): a client of it."""
    async with running_app(build_logstore(logstore_settings())) as logstore_url:
        settings = gateway_settings(max_upload_bytes=MAX_UPLOAD_BYTES, logstore_url=logstore_url, auto_launch=False,
                                    rule_check_timeout_seconds=0.3)
        async with running_app(build_gateway(settings)) as gateway_url:
            yield UploaderClient(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
def gateway_url(stack) -> str:
    return stack[0]


@pytest.fixture
async def client(gateway_url, http) -> UploaderClient:
    return UploaderClient(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
def archive(tmp_path):
    """A real DICOM archive named for the candidate, with a unique suffix: no two tests share a name."""

    def make(pscid="MTL0001", candid="300001", visit="V1", ending=".tgz", n_files=2) -> Path:
        name = f"{pscid}_{candid}_{visit}_{uuid.uuid4().hex[:8]}{ending}"
        return make_dicom_archive(tmp_path / name, f"{pscid}_{candid}_{visit}", n_files=n_files)

    return make


@pytest.fixture
def nothing_kept(pool, incoming_path):
    """Call before a refused request; the returned check fails if the request left a record or a file."""

    async def snapshot():
        count = await pool.fetchval("SELECT count(*) FROM gateway.uploads")
        files = {path for path in incoming_path.rglob("*") if path.is_file()}
        return count, files

    async def start():
        before = await snapshot()

        async def check():
            assert await snapshot() == before
            assert not list((incoming_path / ".partial").glob("*")), "a partial file was left behind"

        return check

    return start


async def upload(client: UploaderClient, path: Path, *, overwrite=False, **form) -> aiohttp.ClientResponse:
    pscid, candid, visit = path.name.split("_")[:3]
    values = {"candid": candid, "pscid": pscid, "visit_label": visit, **form}
    return await client.upload(path, overwrite=overwrite, **values)


async def accepted(client: UploaderClient, path: Path, **kwargs) -> dict:
    answer = await upload(client, path, **kwargs)
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def errors_of(answer: aiohttp.ClientResponse, status: int) -> list[dict]:
    """Every failure of an error answer; the first is also its "error"."""
    body = await answer.json()
    assert answer.status == status, body
    assert set(body) == {"error", "errors"} and body["error"] == body["errors"][0], body
    assert all(set(error) == {"code", "message", "field"} for error in body["errors"]), body
    return body["errors"]


async def error_of(answer: aiohttp.ClientResponse, status: int) -> dict:
    return (await errors_of(answer, status))[0]


async def row_of(pool, upload_id: int):
    return await pool.fetchrow("SELECT * FROM gateway.uploads WHERE upload_id = $1", upload_id)


async def wait_for_state(pool, upload_id: int, state: str):
    async def reached():
        row = await row_of(pool, upload_id)
        return row if row["state"] == state else None

    return await eventually(reached, what=f"upload {upload_id} reaching state {state}")


# --- who may upload ---------------------------------------------------------------------------


async def test_a_request_without_a_valid_bearer_token_is_refused_with_401(gateway_url, http):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {DEMO_TOKEN}"},
                    {"Authorization": "Bearer "}):
        async with http.get(f"{gateway_url}/api/v1/uploads", headers=headers) as answer:
            error = await error_of(answer, 401)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert error["code"] == "unauthenticated" and error["field"] is None
        expected = "The API token is not valid (or it expired)." if headers.get("Authorization") == "Bearer not-a-token" else (
            "This request needs an 'Authorization: Bearer <token>' header.")
        assert error["message"] == expected, headers


async def test_an_upload_with_a_wrong_token_is_refused_with_401_and_leaves_nothing(gateway_url, http, archive, nothing_kept):
    check = await nothing_kept()

    refused = await upload(UploaderClient(http, gateway_url, "not-a-token"), archive())

    assert (await error_of(refused, 401))["code"] == "unauthenticated"
    await check()


async def test_a_user_without_uploader_permission_is_refused_with_403(gateway_url, http, nothing_kept, tmp_path):
    viewer = UploaderClient(http, gateway_url, NO_PERMISSION_TOKEN)
    check = await nothing_kept()
    path = make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1")

    refused = await upload(viewer, path)

    error = await error_of(refused, 403)
    assert error == {"code": "permission_denied", "message": "User viewer has no imaging uploader permission.",
                     "field": None}
    assert (await viewer.launch(1)).status == 403
    await check()


async def test_healthz_and_readyz_need_no_token(gateway_url, http):
    async with http.get(f"{gateway_url}/healthz") as answer:
        assert (answer.status, await answer.json()) == (200, {"service": "gateway", "status": "ok"})
    async with http.get(f"{gateway_url}/readyz") as answer:
        assert answer.status == 200
        assert (await answer.json())["checks"] == {"database": True, "broker": True, "migrations": True}


# --- an accepted upload ----------------------------------------------------------------------


async def test_an_accepted_upload_is_stored_recorded_and_announced_with_its_scan_facts(client, archive, tap, pool, incoming_path):
    path = archive(n_files=3)

    answer = await upload(client, path)

    assert answer.status == 202, await answer.text()
    body = await answer.json()
    upload_id = body["upload_id"]
    assert body == {"upload_id": upload_id, "attempt": 1, "file_name": path.name, "progress": "Not Started",
                    "loris_upload_id": None}  # standalone: no LORIS row
    assert answer.headers["Location"] == f"/api/v1/uploads/{upload_id}"
    event = await tap.wait_for(of_upload(upload_id, "upload.received"))
    assert event.attempt == 1 and event.uploaded_by == "demo" and event.overwrite is False
    assert event.size_bytes == path.stat().st_size
    scan = event.scan
    assert (scan.file_name, scan.candid, scan.pscid, scan.visit_label, scan.is_phantom) == (
        path.name, "300001", "MTL0001", "V1", False)
    assert scan.scan_key == f"demo/{upload_id}/attempt-1/{path.name}"
    assert (incoming_path / scan.scan_key).read_bytes() == path.read_bytes()
    row = await row_of(pool, upload_id)
    assert (row["file_name"], row["attempt"], row["state"], row["progress"], row["uploaded_by"]) == (
        path.name, 1, "upload.received", "Not Started", "demo")
    attempt = await pool.fetchrow("SELECT * FROM gateway.upload_attempts WHERE upload_id = $1", upload_id)
    assert (attempt["attempt"], attempt["scan_key"], attempt["size_bytes"]) == (1, scan.scan_key, path.stat().st_size)
    assert not list((incoming_path / ".partial").glob("*"))


async def test_a_phantom_scan_needs_no_candidate_fields_and_no_name_rule(client, tap, tmp_path):
    path = make_dicom_archive(tmp_path / f"phantom-{uuid.uuid4().hex[:8]}.zip", "")

    answer = await client.upload(path, is_phantom=True)

    assert answer.status == 202, await answer.text()
    event = await tap.wait_for(of_upload((await answer.json())["upload_id"], "upload.received"))
    assert event.scan.is_phantom and (event.scan.candid, event.scan.pscid, event.scan.visit_label) == (None, None, None)


# --- refused uploads leave nothing behind ----------------------------------------------------


REFUSED_TYPES = [
    pytest.param(".txt", b"hello", "unsupported_file_type",
                 "File {name!r} is not an accepted type; upload a .tgz, .tar.gz or .zip archive.",
                 id="not-an-archive"),
    pytest.param(".tgz", b"PK\x03\x04 this is a zip pretending to be a tgz" * 10, "content_type_mismatch",
                 "The content of {name} is not a gzip-compressed archive, as its name says.",
                 id="tgz-whose-bytes-are-not-gzip"),
    pytest.param(".zip", b"\x1f\x8b not a zip" * 10, "content_type_mismatch",
                 "The content of {name} is not a zip archive, as its name says.",
                 id="zip-whose-bytes-are-not-zip"),
    pytest.param(".tar", b"ustar" * 100, "unsupported_file_type",
                 "File {name!r} is a plain .tar archive, which is not accepted: compress it with gzip "
                 "(.tgz or .tar.gz) or zip it (.zip).",
                 id="plain-tar-saying-how-to-send-it"),
]


@pytest.mark.parametrize(("ending", "content", "code", "message"), REFUSED_TYPES)
async def test_a_file_of_a_refused_type_or_not_what_its_name_says_is_refused_with_415(
    client, tmp_path, nothing_kept, ending, content, code, message
):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}{ending}"
    path.write_bytes(content)
    check = await nothing_kept()

    error = await error_of(await upload(client, path), 415)

    assert error == {"code": code, "field": "file", "message": message.format(name=path.name)}
    await check()


async def test_a_declared_content_length_over_the_maximum_is_refused_with_413_before_any_byte_is_read(
    gateway_url, nothing_kept
):
    check = await nothing_kept()
    host, port = gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            (
                "POST /api/v1/uploads HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                f"Authorization: Bearer {DEMO_TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {2 * MAX_UPLOAD_BYTES}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in header_lines if line)
            body = await reader.readexactly(int(headers["Content-Length"]))
    finally:
        writer.close()

    assert status_line.split(" ")[1] == "413", status_line
    error = json.loads(body)["error"]
    assert error == {"code": "file_too_large", "message": TOO_LARGE_MESSAGE, "field": "file"}
    await check()


async def test_a_file_streaming_past_the_maximum_is_refused_with_413_and_its_partial_file_removed(
    client, tmp_path, nothing_kept
):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
    path.write_bytes(b"\x1f\x8b" + os.urandom(MAX_UPLOAD_BYTES + 10 * 1024))
    check = await nothing_kept()

    error = await error_of(await upload(client, path), 413)

    assert error["message"] == TOO_LARGE_MESSAGE
    await check()


async def test_a_file_name_not_matching_the_form_is_refused_with_400_naming_the_expected_name(client, tmp_path, nothing_kept):
    path = make_dicom_archive(tmp_path / f"scan_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1")
    check = await nothing_kept()

    error = await error_of(await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1"), 400)

    assert error["code"] == "file_name_mismatch" and error["field"] == "file"
    assert error["message"] == (
        f"File name {path.name!r} does not match the form: name it MTL0001_300001_V1 or "
        "MTL0001_300001_V1_<suffix>, followed by .tgz, .tar.gz or .zip."
    )
    await check()


async def test_missing_candidate_fields_are_refused_with_400_listing_each_of_them(client, archive, nothing_kept):
    path = archive()
    check = await nothing_kept()

    errors = await errors_of(await client.upload(path, candid="300001"), 400)

    assert [(e["field"], e["code"]) for e in errors] == [("pscid", "missing_pscid"), ("visit_label", "missing_visit_label")]
    assert errors[0]["message"] == ("PSCID is required for a scan that is not a phantom; fill it in, "
                                    "or mark the scan as a phantom.")
    await check()


async def test_a_badly_formed_field_is_refused_with_400_naming_it_and_its_value(client, archive, nothing_kept):
    path = archive()
    check = await nothing_kept()

    error = await error_of(await upload(client, path, candid="30001"), 400)

    assert error == {"code": "invalid_candid", "field": "candid",
                     "message": "CandID '30001' is not valid: a CandID is 6 digits."}
    await check()


async def test_every_broken_rule_is_listed_at_once_before_the_file_is_read(client, tmp_path, nothing_kept):
    path = make_dicom_archive(tmp_path / f"MTL0001_300002_V7_{uuid.uuid4().hex[:8]}.tgz", "x")
    check = await nothing_kept()

    errors = await errors_of(await client.upload(path, candid="300002", pscid="MTL0001", visit_label="V7"), 400)

    assert [(e["field"], e["code"], e["message"]) for e in errors] == [
        ("pscid", "pscid_matches_candid", "PSCID MTL0001 does not belong to CandID 300002; check both values."),
        ("candid", "candidate_active", "Candidate 300002 (PSCID MTL0002) is not active."),
        ("visit_label", "visit_exists", "Visit label V7 does not exist for CandID 300002; check both values."),
    ]
    await check()


async def test_values_are_trimmed_before_the_rules_are_checked(client, archive, tap):
    path = archive()

    answer = await client.upload(path, candid=" 300001 ", pscid="MTL0001\t", visit_label=" V1")

    assert answer.status == 202, await answer.text()
    event = await tap.wait_for(of_upload((await answer.json())["upload_id"], "upload.received"))
    assert (event.scan.candid, event.scan.pscid, event.scan.visit_label, event.scan.site) == ("300001", "MTL0001", "V1", "MTL")


async def test_a_flag_that_is_not_a_boolean_is_refused_naming_it(client, archive, nothing_kept):
    path = archive()
    check = await nothing_kept()

    error = await error_of(await upload(client, path, is_phantom="maybe"), 400)

    assert error == {"code": "invalid_is_phantom", "field": "is_phantom", "message": "is_phantom must be true or false, not 'maybe'."}
    await check()


async def test_an_empty_archive_file_is_refused_with_400(client, tmp_path, nothing_kept):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
    path.write_bytes(b"")
    check = await nothing_kept()

    error = await error_of(await upload(client, path), 400)

    assert error == {"code": "empty_file", "message": f"File {path.name} is empty.", "field": "file"}
    await check()


async def test_the_same_name_again_without_overwrite_is_refused_with_409(client, archive, nothing_kept):
    path = archive()
    first = await accepted(client, path)
    check = await nothing_kept()

    error = await error_of(await upload(client, path), 409)

    assert error["code"] == "already_uploaded" and error["field"] == "file"
    assert error["message"] == (
        f"File {path.name} was already uploaded (upload {first['upload_id']}, progress Not Started); "
        "send overwrite=true to replace it."
    )
    await check()


# --- overwriting, following the upload's state --------------------------------------------


async def test_overwrite_while_not_started_stores_a_second_attempt_beside_the_first(client, archive, tap, pool, incoming_path):
    path = archive(n_files=2)
    first = await accepted(client, path)
    first_file = incoming_path / f"demo/{first['upload_id']}/attempt-1/{path.name}"
    first_bytes = first_file.read_bytes()
    make_dicom_archive(path, "MTL0001_300001_V1", n_files=4)  # the corrected scan, same name

    second = await accepted(client, path, overwrite=True)

    assert (second["upload_id"], second["attempt"], second["progress"]) == (first["upload_id"], 2, "Not Started")
    event = await tap.wait_for(lambda e: of_upload(first["upload_id"], "upload.received")(e) and e.attempt == 2)
    assert event.overwrite is True
    second_file = incoming_path / event.scan.scan_key
    assert second_file != first_file
    assert second_file.read_bytes() == path.read_bytes() != first_bytes
    assert first_file.read_bytes() == first_bytes, "the first attempt's file is untouched"
    row = await row_of(pool, first["upload_id"])
    assert (row["attempt"], row["state"], row["progress"]) == (2, "upload.received", "Not Started")


async def test_an_upload_that_succeeded_cannot_be_overwritten(client, archive, tap, pool, nothing_kept):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]

    await tap.publish(finished_event(upload_id))
    row = await wait_for_state(pool, upload_id, "pipeline.finished")
    check = await nothing_kept()
    error = await error_of(await upload(client, path, overwrite=True), 409)

    assert row["progress"] == "Success"
    assert error["code"] == "cannot_overwrite"
    assert error["message"] == (
        f"File {path.name} was already inserted successfully (upload {upload_id}, progress Success); "
        "it cannot be overwritten."
    )
    await check()


async def test_an_upload_being_inserted_cannot_be_overwritten(client, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]

    await tap.publish(started_event(upload_id))
    await wait_for_state(pool, upload_id, "pipeline.started")
    error = await error_of(await upload(client, path, overwrite=True), 409)

    assert error["message"] == (
        f"File {path.name} is being inserted (upload {upload_id}, progress In Progress); it cannot be overwritten."
    )


async def test_a_rejected_upload_cannot_be_launched_but_may_be_overwritten(client, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]

    await tap.publish(UploadRejected(upload_id=upload_id, attempt=1, failures=[RuleFailure(field="candid", code="r", message="m")]))
    assert (await wait_for_state(pool, upload_id, "upload.rejected"))["progress"] == "Failure"
    refused = await error_of(await client.launch(upload_id), 409)
    again = await accepted(client, path, overwrite=True)

    assert refused["message"] == (f"Upload {upload_id} cannot be launched: it was rejected by the upload rules; "
                                  "correct them and upload it again.")
    assert (again["upload_id"], again["attempt"]) == (upload_id, 2)


async def test_an_event_of_an_older_attempt_changes_nothing(client, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]
    await accepted(client, path, overwrite=True)
    before = await wait_for_state(pool, upload_id, "upload.validated")

    late = finished_event(upload_id, message="done")
    await tap.publish(late)
    await wait_until_processed(pool, "gateway", late.event_id)

    after = await row_of(pool, upload_id)
    assert dict(after) == dict(before)
    assert before["attempt"] == 2
    third = await accepted(client, path, overwrite=True)
    assert third["attempt"] == 3


async def test_an_event_delivered_twice_or_late_never_moves_the_state_backwards(client, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]
    started = started_event(upload_id)
    await tap.publish(started)
    await wait_for_state(pool, upload_id, "pipeline.started")

    received = await tap.wait_for(of_upload(upload_id, "upload.received"))
    late = UploadValidated(upload_id=upload_id, attempt=1, scan=received.scan)
    await tap.publish(late)
    await tap.publish(started)
    await wait_until_processed(pool, "gateway", late.event_id)

    row = await row_of(pool, upload_id)
    assert (row["state"], row["progress"]) == ("pipeline.started", "In Progress")


# --- manual launch ----------------------------------------------------------------------------


async def test_a_manual_launch_of_a_validated_upload_grants_its_run_once(client, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]
    received = await tap.wait_for(of_upload(upload_id, "upload.received"))
    await wait_for_state(pool, upload_id, "upload.validated")

    launched = await client.launch(upload_id)

    assert launched.status == 202, await launched.text()
    assert await launched.json() == {"upload_id": upload_id, "attempt": 1, "status": "launch requested", "starts": "now"}
    grant = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))
    assert (grant.attempt, grant.requested_by) == (1, "demo")
    assert grant.scan == received.scan.model_copy(update={"site": "MTL"})
    again = await error_of(await client.launch(upload_id), 409)
    assert again["message"] == f"Upload {upload_id} cannot be launched: its run was already granted."
    assert len(tap.matching(of_upload(upload_id, "upload.launch_requested"))) == 1


async def test_a_launch_asked_before_validation_is_granted_as_soon_as_the_upload_is_validated(
    without_validator, archive, tap, pool
):
    path = archive()
    upload_id = (await accepted(without_validator, path))["upload_id"]
    received = await tap.wait_for(of_upload(upload_id, "upload.received"))

    early = await without_validator.launch(upload_id)
    again = await error_of(await without_validator.launch(upload_id), 409)
    await tap.publish(UploadValidated(upload_id=upload_id, attempt=1, scan=received.scan))
    grant = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))

    assert early.status == 202 and (await early.json())["starts"] == "once validated"
    assert again["message"] == (f"Upload {upload_id} cannot be launched: its launch was already requested; "
                                "it starts once the upload is validated.")
    assert (grant.attempt, grant.requested_by) == (1, "demo")
    assert (await row_of(pool, upload_id))["state"] == "upload.launch_requested"


async def test_with_auto_launch_a_validated_upload_is_granted_its_run_by_the_gateway(
    gateway_stack, tap, http, archive, pool
):
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES, auto_launch=True) as (gateway_url, _):
        client = UploaderClient(http, gateway_url, DEMO_TOKEN)
        upload_id = (await accepted(client, archive()))["upload_id"]
        grant = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))

    assert (grant.attempt, grant.requested_by) == (1, "auto-launch")
    assert (await row_of(pool, upload_id))["state"] == "upload.launch_requested"


async def test_a_validation_of_an_older_attempt_grants_no_run(without_validator, archive, tap, pool):
    path = archive()
    upload_id = (await accepted(without_validator, path))["upload_id"]
    first = await tap.wait_for(of_upload(upload_id, "upload.received"))
    assert (await without_validator.launch(upload_id)).status == 202
    await accepted(without_validator, path, overwrite=True)

    late = UploadValidated(upload_id=upload_id, attempt=1, scan=first.scan)
    await tap.publish(late)
    await wait_until_processed(pool, "gateway", late.event_id)

    row = await row_of(pool, upload_id)
    assert (row["attempt"], row["state"], row["launch_when_valid"]) == (2, "upload.received", False)
    assert not tap.matching(of_upload(upload_id, "upload.launch_requested"))


async def test_a_run_granted_but_not_started_cannot_be_overwritten(client, archive, pool, nothing_kept):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]
    await wait_for_state(pool, upload_id, "upload.validated")
    assert (await client.launch(upload_id)).status == 202
    check = await nothing_kept()

    error = await error_of(await upload(client, path, overwrite=True), 409)

    assert error == {"code": "cannot_overwrite", "field": "file", "message": (
        f"File {path.name} has a pipeline run granted and waiting to start (upload {upload_id}, "
        "progress Not Started); it cannot be overwritten.")}
    await check()


async def test_launching_an_unknown_upload_is_a_404_and_a_bad_id_a_400(client):
    unknown = new_upload_id()

    error = await error_of(await client.launch(unknown), 404)
    bad = await error_of(await client.launch("abc"), 400)

    assert error == {"code": "unknown_upload", "message": f"There is no upload with id {unknown}.", "field": "upload_id"}
    assert bad["field"] == "upload_id"


# --- the API document and the proxied queries ------------------------------------------------


async def test_the_openapi_document_is_served_as_json(client):
    answer = await client.get("/api/v1/openapi.json")

    assert answer.status == 200 and answer.content_type == "application/json"
    document = await answer.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/uploads", "/api/v1/uploads/{upload_id}/launch"} <= set(document["paths"])


async def test_browse_upload_and_log_queries_answer_what_the_logstore_answers(client, archive, stack, http):
    path = archive()
    upload_id = (await accepted(client, path))["upload_id"]
    _, logstore_url = stack
    direct_headers = internal_headers(INTERNAL_SECRET, scope_of("demo", UPLOADER_PERMISSIONS, []))

    async def validated():
        log = await client.log(upload_id)
        return any(line["origin"] == "validator" for line in log["lines"])

    await eventually(validated, what="the logstore recording the validation")
    for target, params in (
        ("/api/v1/uploads", {"candid": "300001", "page_size": "5"}),
        (f"/api/v1/uploads/{upload_id}", {}),
        (f"/api/v1/uploads/{upload_id}/log", {"mode": "detailed"}),
        ("/api/v1/uploads", {"progress": "Bogus"}),
        (f"/api/v1/uploads/{new_upload_id()}", {}),
    ):
        through_gateway = await client.get(target, **params)
        async with http.get(logstore_url + target, params=params, headers=direct_headers) as direct:
            assert through_gateway.status == direct.status, target
            assert through_gateway.content_type == "application/json"
            assert await through_gateway.json() == await direct.json(), target

    page = await (await client.get("/api/v1/uploads", candid="300001", sort="-uploaded_at")).json()
    assert page["items"][0]["upload_id"] == upload_id and page["items"][0]["file_name"] == path.name
    no_report = await error_of(await client.get(f"/api/v1/uploads/{upload_id}/report"), 404)
    assert no_report["code"] == "no_report"
    assert (await client.get("/api/v1/uploads", progress="Bogus")).status == 400


async def test_browsing_while_the_logstore_is_down_is_a_503_with_a_json_error(gateway_settings, http):
    settings = gateway_settings(max_upload_bytes=MAX_UPLOAD_BYTES, logstore_url=f"http://127.0.0.1:{free_port()}")

    async with running_app(build_gateway(settings)) as url:
        client = UploaderClient(http, url, DEMO_TOKEN)
        for target in ("/api/v1/uploads", f"/api/v1/uploads/{new_upload_id()}", f"/api/v1/uploads/{new_upload_id()}/log",
                       f"/api/v1/uploads/{new_upload_id()}/report"):
            error = await error_of(await client.get(target), 503)
            assert error["code"] == "logstore_unavailable", target
            assert error["message"] == "The upload log cannot be reached right now; try again shortly."


async def test_an_upload_while_the_broker_is_away_is_accepted_and_its_event_kept_for_later(
    gateway_settings, logstore_settings, http, archive, pool
):
    async with running_app(build_logstore(logstore_settings())) as logstore_url:
        app = build_gateway(gateway_settings(max_upload_bytes=MAX_UPLOAD_BYTES, logstore_url=logstore_url))
        async with running_app(app) as gateway_url:
            await app[CHANNEL].close()  # the broker went away: no rule check can be asked, no event published
            answer = await UploaderClient(http, gateway_url, DEMO_TOKEN).upload(
                archive(), candid="300001", pscid="MTL0001", visit_label="V1")

            assert answer.status == 202, await answer.text()
            upload_id = (await answer.json())["upload_id"]
            pending = await pool.fetchval(
                """SELECT count(*) FROM gateway.outbox WHERE published_at IS NULL AND routing_key = 'upload.received'
                   AND convert_from(body, 'UTF8')::jsonb->>'upload_id' = $1""", str(upload_id))
            assert pending == 1, "the upload's event waits in the outbox for the broker"
