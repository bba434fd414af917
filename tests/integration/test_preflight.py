"""The pre-flight check (POST /api/v1/uploads/check) answers what the upload
itself would answer, before the file is sent: every case below is asked of
the pre-flight, then sent as a real upload, and the two must agree."""

import uuid

import pytest

from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually, finished_event
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive

MAX_UPLOAD_BYTES = 64 * 1024
VALID = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}


@pytest.fixture
async def client(gateway_stack, http):
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES) as (url, _):
        yield UploaderClient(http, url, DEMO_TOKEN)


def unique(stem: str, ending: str = ".tgz") -> str:
    return f"{stem}_{uuid.uuid4().hex[:8]}{ending}"


CASES = {
    "valid": (VALID, unique("MTL0001_300001_V1"), 200, []),
    "every-field-rule": ({"candid": "300002", "pscid": "MTL0001", "visit_label": "V7"}, unique("x"), 400,
                         ["pscid_matches_candid", "candidate_active", "visit_exists"]),
    "missing-fields": ({"pscid": "MTL0001"}, unique("x"), 400, ["missing_candid", "missing_visit_label"]),
    "name-rule": (VALID, unique("MTL0001_300001_V2"), 400, ["file_name_mismatch"]),
    "plain-tar": (VALID, unique("MTL0001_300001_V1", ".tar"), 415, ["unsupported_file_type"]),
    "too-large": (VALID, unique("MTL0001_300001_V1"), 413, ["file_too_large"]),
    "phantom": ({"is_phantom": True, "candid": "junk"}, unique("phantom", ".zip"), 200, []),
    "other-site": ({"candid": "400001", "pscid": "OTT0001", "visit_label": "V1"}, unique("OTT0001_400001_V1"), 200, []),
}


def archive_for(tmp_path, file_name: str, case: str):
    path = tmp_path / file_name
    if case == "too-large":
        path.write_bytes(b"\x1f\x8b" + b"\0" * (2 * MAX_UPLOAD_BYTES))
    elif file_name.endswith(".tar"):
        path.write_bytes(b"ustar" * 10)
    else:
        make_dicom_archive(path, "MTL0001_300001_V1", n_files=1)
    return path


@pytest.mark.parametrize("case", CASES)
async def test_the_pre_flight_gives_the_verdict_the_upload_gets(client, tmp_path, case):
    fields, file_name, status, codes = CASES[case]
    path = archive_for(tmp_path, file_name, case)

    checked = await client.check(file_name=file_name, file_size=path.stat().st_size, **fields)
    answer = await client.upload(path, **fields)

    check = await checked.json()
    assert checked.status == 200 and set(check) == {"ok", "errors", "existing", "max_upload_bytes"}
    assert check["max_upload_bytes"] == MAX_UPLOAD_BYTES and check["existing"] is None
    assert [error["code"] for error in check["errors"]] == codes
    assert check["ok"] is (codes == [])
    if status == 200:
        assert answer.status == 202, await answer.text()
    else:
        assert answer.status == status
        assert (await answer.json())["errors"] == check["errors"]


async def test_the_pre_flight_names_the_existing_upload_and_whether_it_may_be_overwritten(client, tmp_path, tap, pool):
    path = archive_for(tmp_path, unique("MTL0001_300001_V1"), "valid")
    upload_id = (await (await client.upload(path, **VALID)).json())["upload_id"]

    def ask(overwrite: bool):
        return client.check(file_name=path.name, file_size=path.stat().st_size, overwrite=overwrite, **VALID)

    without = await (await ask(False)).json()
    with_overwrite = await (await ask(True)).json()
    await tap.publish(finished_event(upload_id))
    await _wait_for_success(pool, upload_id)
    after_success = await (await ask(True)).json()

    assert without["existing"] == {"upload_id": upload_id, "progress": "Not Started", "may_overwrite": True}
    assert [e["code"] for e in without["errors"]] == ["already_uploaded"] and without["ok"] is False
    assert with_overwrite["ok"] is True and with_overwrite["errors"] == []
    assert after_success["existing"] == {"upload_id": upload_id, "progress": "Success", "may_overwrite": False}
    assert [e["message"] for e in after_success["errors"]] == [
        f"File {path.name} was already inserted successfully (upload {upload_id}, progress Success); "
        "it cannot be overwritten."]


async def test_a_pre_flight_that_is_not_json_or_misses_the_file_is_a_400(client, http):
    url = client.base_url + "/api/v1/uploads/check"
    headers = {**client.headers, "Content-Type": "application/json"}
    async with http.post(url, data=b"{not json", headers=headers) as not_json:
        not_json_error = (await not_json.json())["error"]
    async with http.post(url, json={"candid": "300001", "file_size": 3}, headers=client.headers) as no_name:
        no_name_error = (await no_name.json())["error"]

    assert (not_json.status, not_json_error["code"]) == (400, "invalid_json")
    assert (no_name.status, no_name_error["field"]) == (400, "file_name")



async def _wait_for_success(pool, upload_id: int) -> None:
    async def succeeded():
        return await pool.fetchval("SELECT progress = 'Success' FROM gateway.uploads WHERE upload_id = $1", upload_id)

    await eventually(succeeded, what=f"upload {upload_id} reaching Success at the gateway")
