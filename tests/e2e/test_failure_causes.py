"""Each way an upload can fail, as the user sees it: the HTTP status and the
sentence of a refused request, or the progress and log of a failed upload."""

import asyncio
import signal
import uuid

import pytest

from tests.conftest import MAX_UPLOAD_BYTES, NO_PERMISSION_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_archive_with_member
from tests.support.partial_files import new_partial_file, partial_files
from tests.support.stack import REPO_ROOT

# The reference pipeline, but killed by the signal its scan's file name says (tests/support/signalled_pipeline.py).
SIGNALLED_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/signalled_pipeline.py'} {{file_name}} -- "
                      "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_PIPELINE_COMMAND": SIGNALLED_PIPELINE}


async def _upload_and_finish(client: UploaderClient, path, **fields) -> tuple[dict, list[str]]:
    answer = await client.upload(path, **fields)
    assert answer.status == 202, await answer.text()
    upload_id = (await answer.json())["upload_id"]
    summary = await client.wait_for_progress(upload_id)
    log = await client.log(upload_id)
    return summary, [line["message"] for line in log["lines"] if line["is_error"]]


def _assert_nothing_left(incoming_path, name: str) -> None:
    assert not list(incoming_path.rglob(name))
    assert not list(incoming_path.glob(".partial/*"))


# --- refused by the gateway: nothing is stored, nothing is recorded ---


async def test_an_upload_without_a_token_is_refused_with_401(client, archive):
    client.headers = {}
    answer = await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 401
    assert (await answer.json())["error"]["message"] == "This request needs an 'Authorization: Bearer <token>' header."


async def test_a_user_without_an_uploader_permission_is_refused_with_403(client, archive):
    client.headers = {"Authorization": f"Bearer {NO_PERMISSION_TOKEN}"}
    answer = await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 403
    assert (await answer.json())["error"]["message"] == "User viewer has no imaging uploader permission."


async def test_a_file_of_the_wrong_type_is_refused_with_415_naming_the_allowed_types(client, tmp_path, incoming_path):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:6]}.rar"
    path.write_bytes(b"Rar!" + b"\0" * 100)
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 415
    error = (await answer.json())["error"]
    assert error == {
        "code": "unsupported_file_type",
        "message": f"File '{path.name}' is not an accepted type; upload a .tgz, .tar.gz or .zip archive.",
        "field": "file",
    }
    _assert_nothing_left(incoming_path, path.name)


async def test_a_tgz_whose_content_is_not_gzip_is_refused_with_415(client, tmp_path, incoming_path):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:6]}.tgz"
    path.write_bytes(b"PK\x03\x04 this is a zip file named .tgz")
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 415
    assert (await answer.json())["error"]["message"] == f"The content of {path.name} is not a gzip-compressed archive, as its name says."
    _assert_nothing_left(incoming_path, path.name)


async def test_a_file_over_the_maximum_size_is_refused_with_413_naming_the_maximum(client, tmp_path, incoming_path):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:6]}.tgz"
    path.write_bytes(b"\x1f\x8b" + b"\0" * (MAX_UPLOAD_BYTES + 1024))
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 413
    assert (await answer.json())["error"]["message"] == (
        f"The file is larger than the maximum upload size of {MAX_UPLOAD_BYTES} bytes (4.0 MiB)."
    )
    _assert_nothing_left(incoming_path, path.name)


async def test_a_file_name_that_does_not_match_the_form_is_refused_with_400_giving_the_expected_name(client, archive, incoming_path):
    path = archive(pscid="OTT0001", candid="400001")
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert error["code"] == "file_name_mismatch"
    assert error["message"] == (
        f"File name '{path.name}' does not match the form: name it MTL0001_300001_V1 or "
        "MTL0001_300001_V1_<suffix>, followed by .tgz, .tar.gz or .zip."
    )
    _assert_nothing_left(incoming_path, path.name)


async def test_missing_candidate_fields_are_all_named_in_one_400(client, archive):
    answer = await client.upload(archive(), pscid="MTL0001")
    assert answer.status == 400
    errors = (await answer.json())["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("candid", "missing_candid"), ("visit_label", "missing_visit_label")]
    assert errors[1]["message"] == ("Visit label is required for a scan that is not a phantom; fill it in, "
                                    "or mark the scan as a phantom.")


async def test_a_malformed_candid_is_refused_with_400_naming_the_field(client, archive):
    answer = await client.upload(archive(candid="12ab"), candid="12ab", pscid="MTL0001", visit_label="V1")
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert error == {"field": "candid", "code": "invalid_candid", "message": "CandID '12ab' is not valid: a CandID is 6 digits."}


async def test_the_same_file_again_without_overwrite_is_refused_with_409(client, archive):
    path = archive()
    first = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert first.status == 202
    second = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert second.status == 409
    error = (await second.json())["error"]
    assert error["code"] in {"already_uploaded", "cannot_overwrite"}
    assert path.name in error["message"]


async def test_a_successful_upload_cannot_be_overwritten(client, archive):
    path = archive()
    upload_id = (await (await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await client.wait_for_progress(upload_id, ("Success",))
    again = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", overwrite=True)
    assert again.status == 409
    assert (await again.json())["error"]["message"] == (
        f"File {path.name} was already inserted successfully (upload {upload_id}, progress Success); it cannot be overwritten."
    )


async def test_an_interrupted_upload_leaves_no_file_and_no_record(stack, pool, incoming_path):
    name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:6]}.tgz"
    boundary = "cut-here"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"candid\"\r\n\r\n300001\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"pscid\"\r\n\r\nMTL0001\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"visit_label\"\r\n\r\nV1\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    ).encode() + b"\x1f\x8b" + b"x" * 200_000
    before = partial_files(incoming_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.ports["gateway"])
    writer.write(
        b"POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-demo-token\r\n"
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 3000000\r\n\r\n".encode()
        + head
    )
    await writer.drain()
    partial = await new_partial_file(incoming_path, before)  # the gateway is receiving the file
    writer.close()

    async def given_up() -> bool:
        logged = f'"message": "upload interrupted", "file_name": "{name}"' in stack.log_tail("gateway", 500)
        return logged and not partial.exists()

    await eventually(given_up, 10, "the gateway giving up the interrupted upload")
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads WHERE file_name = $1", name) == 0
    _assert_nothing_left(incoming_path, name)


# --- refused by the validator's rules, before the file is sent ---


@pytest.mark.parametrize(
    ("pscid", "candid", "visit", "reasons"),
    [
        ("MTL0001", "999999", "V1", ["CandID 999999 does not exist."]),
        ("MTL0002", "300001", "V1", ["PSCID MTL0002 does not belong to CandID 300001; check both values."]),
        ("MTL0001", "300001", "V9", ["Visit label V9 does not exist for CandID 300001; check both values."]),
        ("MTL0002", "300002", "V1", ["Candidate 300002 (PSCID MTL0002) is not active."]),
        ("MTL0001", "300001", "V2", ["Visit V2 of CandID 300001 is not active."]),
        (
            "OTT0001",
            "300002",
            "V7",
            [
                "PSCID OTT0001 does not belong to CandID 300002; check both values.",
                "Candidate 300002 (PSCID MTL0002) is not active.",
                "Visit label V7 does not exist for CandID 300002; check both values.",
            ],
        ),
    ],
    ids=["unknown-candid", "pscid-mismatch", "unknown-visit", "inactive-candidate", "inactive-session", "every-rule-at-once"],
)
async def test_a_candidate_rule_that_fails_refuses_the_upload_with_400_and_a_sentence_naming_the_values(
    client, archive, incoming_path, pscid, candid, visit, reasons
):
    path = archive(pscid, candid, visit)
    answer = await client.upload(path, candid=candid, pscid=pscid, visit_label=visit)
    assert answer.status == 400
    assert [error["message"] for error in (await answer.json())["errors"]] == reasons
    _assert_nothing_left(incoming_path, path.name)


# --- failed by the pipeline: Failure, with the exit code in plain words ---


async def test_a_patient_name_that_does_not_match_fails_with_exit_code_151(client, archive):
    path = archive(patient_name="MTL0001_300001_V2", n_files=2)
    summary, errors = await _upload_and_finish(client, path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert summary["progress"] == "Failure"
    assert summary["exit_code"] == 151
    assert "The PatientName differs from 'MTL0001_300001_V1' in 2 of 2 DICOM files." in errors
    assert errors[-1] == (
        "Pipeline failed with exit code 151: the PatientName in the DICOM files does not match the file name."
    )


async def test_an_archive_with_non_dicom_files_fails_with_exit_code_62(client, archive):
    path = archive(extra_files={"notes/README.txt": b"not a dicom file"})
    summary, errors = await _upload_and_finish(client, path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert summary["exit_code"] == 62
    assert any("notes/README.txt" in message for message in errors)
    assert errors[-1].startswith("Pipeline failed with exit code 62: candidate information in the DICOM files is not valid")


async def test_an_archive_entry_escaping_its_folder_fails_with_exit_code_60(client, tmp_path):
    path = make_archive_with_member(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:6]}.tgz", "../../evil.txt", b"x")
    summary, errors = await _upload_and_finish(client, path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert summary["exit_code"] == 60
    assert any("../../evil.txt" in message for message in errors)
    assert errors[-1] == "Pipeline failed with exit code 60: the archive could not be extracted."


@pytest.mark.parametrize(("signal_name", "failure"), [
    ("SIGKILL", "The pipeline was killed by signal 9 (SIGKILL; the system may have run out of memory)."),
    ("SIGTERM", "The pipeline was killed by signal 15 (SIGTERM: terminated)."),
    ("SIGSEGV", "The pipeline was killed by signal 11 (SIGSEGV: segmentation fault)."),
])
async def test_a_pipeline_killed_by_a_signal_fails_saying_which_signal_in_browse_and_the_log(
        client, archive, signal_name, failure):
    path = archive(n_files=1)
    path = path.rename(path.with_name(path.name.replace(".tgz", f"_KILLED-BY-{signal_name}.tgz")))
    summary, errors = await _upload_and_finish(client, path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert (summary["progress"], summary["exit_code"], summary["failure"]) == ("Failure", -getattr(signal, signal_name),
                                                                              failure)
    assert errors == [failure]


async def test_a_failed_upload_may_be_overwritten_and_the_new_attempt_succeeds(client, archive):
    bad = archive(patient_name="WRONG_NAME")
    upload_id = (await (await client.upload(bad, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await client.wait_for_progress(upload_id, ("Failure",))
    good = archive(n_files=1)
    good.rename(bad)  # same name, good content

    again = await client.upload(bad, candid="300001", pscid="MTL0001", visit_label="V1", overwrite=True)

    assert again.status == 202
    assert (await again.json())["attempt"] == 2
    summary = await client.wait_for_progress(upload_id, ("Success",))
    assert summary["attempt"] == 2
    log = await client.log(upload_id, mode="summary", include_inactive="true")
    assert {line["attempt"] for line in log["lines"] if not line["active"]} == {1}
    assert "it replaces attempt 1" in next(l["message"] for l in log["lines"] if l["attempt"] == 2)
    current = await client.log(upload_id)
    assert all(line["attempt"] == 2 for line in current["lines"])
