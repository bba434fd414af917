"""The LORIS REST API v0.0.4-dev, served by the gateway in-process (with a
logstore and a validator behind it) on the real broker and database, as a
LORIS site's upload script sees it: login, upload (303), the visit's
uploads, the processes of an upload before and after its launch, and every
refusal in LORIS's `{"error": "<sentence>"}` shape."""

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from services.common.messages import (
    PipelineFinished,
    PipelineReported,
    PipelineRerunQueued,
    PipelineStarted,
    RunOutcome,
    UploadValidated,
)
from services.gateway.auth.users import add_user, save_user, set_password
from tests.conftest import DEMO_TOKEN, NO_PERMISSION_TOKEN
from tests.integration.helpers import eventually, finished_event, scan_facts, started_event, wait_until_processed
from tests.support.dicom_archives import make_dicom_archive
from tests.support.tap import of_upload

API = "/api/v0.0.4-dev"
MAX_UPLOAD_BYTES = 1024**2
SCRIPT_USER, SCRIPT_PASSWORD = "loris-script", "a long enough password for the script"
OWN_SITES_TOKEN = "test-loris-mtl-coordinator-token"


@pytest.fixture
async def stack(gateway_stack):
    """A logstore, a validator and a gateway with auto-launch ON: an upload through the LORIS API must
    still not start the pipeline by itself. Yields the gateway's URL."""
    async with gateway_stack(max_upload_bytes=MAX_UPLOAD_BYTES, auto_launch=True) as (gateway_url, _):
        yield gateway_url


@pytest.fixture
async def users(pool):
    """A user who logs in with a password, and a coordinator of site MTL only."""
    async with pool.acquire() as conn:
        await add_user(conn, SCRIPT_USER, [], ["imaging_uploader_allsites"])
        await set_password(conn, SCRIPT_USER, SCRIPT_PASSWORD)
        await save_user(conn, "mtl-coordinator", ["imaging_uploader_ownsites"], OWN_SITES_TOKEN, sites=["MTL"])


class LorisScript:
    """What a LORIS upload script sends: Bearer token, no redirects followed."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str = DEMO_TOKEN) -> None:
        self.http, self.base_url, self.token = http, base_url, token

    async def request(self, method: str, path: str, **kwargs) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        answer = await self.http.request(method, self.base_url + path, headers=headers, allow_redirects=False,
                                         **kwargs)
        await answer.read()
        return answer

    async def upload(self, path: Path, candid="300001", visit="V1", *, json_fields: dict | str | None = None,
                     content_type="application/x-tar", file_first=False, **fields) -> aiohttp.ClientResponse:
        pscid = path.name.split("_")[0]
        sent = json_fields if json_fields is not None else {
            "CandID": int(candid) if candid.isdigit() else candid, "PSCID": pscid, "VisitLabel": visit,
            "IsPhantom": False, "Overwrite": False, **fields}
        form = aiohttp.FormData()
        with open(path, "rb") as handle:
            parts = [("Json", sent if isinstance(sent, str) else json.dumps(sent), {}),
                     ("File", handle, {"filename": path.name, "content_type": content_type})]
            for name, value, options in reversed(parts) if file_first else parts:
                form.add_field(name, value, **options)
            return await self.request("POST", f"{API}/candidates/{candid}/{visit}/dicoms", data=form)

    async def processes(self, file_name: str, candid="300001", visit="V1") -> dict:
        answer = await self.request("GET", f"{API}/candidates/{candid}/{visit}/dicoms/{file_name}/processes")
        assert answer.status == 200, await answer.text()
        return await answer.json()

    async def launch(self, file_name: str, upload_id, candid="300001", visit="V1",
                     process_type="mri_upload") -> aiohttp.ClientResponse:
        body = {"ProcessType": process_type, "MriUploadID": upload_id}
        return await self.request("POST", f"{API}/candidates/{candid}/{visit}/dicoms/{file_name}/processes",
                                  json=body)


@pytest.fixture
def script(stack, http) -> LorisScript:
    return LorisScript(http, stack)


@pytest.fixture
def archive(tmp_path):
    """A real DICOM archive named for the candidate, with a unique suffix: no two tests share a name."""

    def make(pscid="MTL0001", candid="300001", visit="V1", ending=".tgz") -> Path:
        name = f"{pscid}_{candid}_{visit}_{uuid.uuid4().hex[:8]}{ending}"
        return make_dicom_archive(tmp_path / name, f"{pscid}_{candid}_{visit}", n_files=2)

    return make


async def error_of(answer: aiohttp.ClientResponse, status: int) -> str:
    body = await answer.json()
    assert answer.status == status, body
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    return body["error"]


async def uploaded(script: LorisScript, path: Path, **kwargs) -> int:
    """Upload through the LORIS API; the upload id, as a script finds it (GET processes)."""
    answer = await script.upload(path, **kwargs)
    assert answer.status == 303, await answer.text()
    candid, visit = kwargs.get("candid", "300001"), kwargs.get("visit", "V1")
    (upload,) = (await script.processes(path.name, candid, visit))["MriUploads"]
    return upload["MriUploadID"]


async def wait_for_state(pool, upload_id: int, state: str) -> None:
    async def reached():
        return await pool.fetchval("SELECT state = $2 FROM gateway.uploads WHERE upload_id = $1", upload_id, state)

    await eventually(reached, what=f"upload {upload_id} reaching state {state}")


# --- login -----------------------------------------------------------------------------------


async def test_login_gives_a_token_that_expires_after_24_hours_and_opens_the_api(stack, http, users, pool):
    async with http.post(f"{stack}{API}/login", json={"username": SCRIPT_USER, "password": SCRIPT_PASSWORD}) as answer:
        assert answer.status == 200
        body = await answer.json()
    assert list(body) == ["token"]
    expires_at = await pool.fetchval(
        """SELECT t.expires_at FROM gateway.api_tokens t JOIN gateway.users u USING (user_id)
           WHERE u.username = $1 AND t.issued_by = 'login' ORDER BY t.expires_at DESC LIMIT 1""", SCRIPT_USER)
    assert abs(expires_at - (datetime.now(timezone.utc) + timedelta(hours=24))) < timedelta(minutes=1)
    listing = await LorisScript(http, stack, body["token"]).request("GET", f"{API}/candidates/300001/V1/dicoms")
    assert listing.status == 200, await listing.text()


@pytest.mark.parametrize("credentials", [
    {"username": SCRIPT_USER, "password": "wrong password"},
    {"username": "nobody-of-that-name", "password": SCRIPT_PASSWORD},
    {"username": SCRIPT_USER, "password": ""},
])
async def test_login_with_bad_credentials_is_a_401(stack, http, users, credentials):
    async with http.post(f"{stack}{API}/login", json=credentials) as answer:
        assert await error_of(answer, 401) == "Incorrect username or password."


@pytest.mark.parametrize(("body", "message"), [
    ({"username": SCRIPT_USER}, 'The login needs "password" as a string.'),
    ({}, 'The login needs "username" and "password" as strings.'),
    ({"username": SCRIPT_USER, "password": None}, 'The login needs "password" as a string.'),
    ("not json", 'Send the login as a JSON object: {"username": "...", "password": "..."}.'),
])
async def test_login_without_a_username_or_password_is_a_400(stack, http, users, body, message):
    data = body if isinstance(body, str) else json.dumps(body)
    async with http.post(f"{stack}{API}/login", data=data) as answer:
        assert await error_of(answer, 400) == message


# --- upload ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [".tgz", ".zip"])
@pytest.mark.parametrize("candid_as", [int, str])
async def test_an_upload_is_a_303_to_its_processes_with_an_empty_body(script, archive, tap, ending, candid_as):
    path = archive(ending=ending)
    sent = {"CandID": candid_as("300001"), "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": False,
            "Overwrite": False}

    answer = await script.upload(path, json_fields=sent, content_type="application/x-tar")

    assert answer.status == 303, await answer.text()
    assert answer.headers["Location"] == f"{API}/candidates/300001/V1/dicoms/{path.name}/processes"
    assert await answer.read() == b""
    (upload,) = (await script.processes(path.name))["MriUploads"]
    event = await tap.wait_for(of_upload(upload["MriUploadID"], "upload.received"))
    assert (event.scan.file_name, event.scan.candid, event.scan.pscid, event.scan.visit_label) == (
        path.name, "300001", "MTL0001", "V1")


async def test_an_upload_does_not_start_the_pipeline_by_itself_even_with_auto_launch_on(script, archive, tap, pool):
    path = archive()
    upload_id = await uploaded(script, path)

    await wait_for_state(pool, upload_id, "upload.validated")

    assert tap.matching(of_upload(upload_id, "upload.launch_requested")) == []
    assert not await pool.fetchval("SELECT launch_when_valid FROM gateway.uploads WHERE upload_id = $1", upload_id)
    assert (await script.processes(path.name))["MriUploads"] == [{"MriUploadID": upload_id, "Processes": []}]


@pytest.mark.parametrize(("change", "message"), [
    ({"CandID": 300002}, "CandID 300002 in the Json does not match CandID 300001 in the URL."),
    ({"CandID": "300001 "}, "CandID 300001  in the Json does not match CandID 300001 in the URL."),
    ({"VisitLabel": "V2"}, "VisitLabel V2 in the Json does not match visit V1 in the URL."),
    ({"VisitLabel": None}, "VisitLabel in the Json must be V1, as in the URL; it is null."),
    ({"IsPhantom": "false"}, 'IsPhantom in the Json must be true or false; it is "false".'),
    ({"IsPhantom": None}, "IsPhantom in the Json must be true or false; it is null."),
    ({"Overwrite": 0}, "Overwrite in the Json must be true or false; it is 0."),
    ({"PSCID": 12}, "PSCID in the Json must be a string; it is 12."),
    ({"PSCID": "MTL0002"}, "PSCID MTL0002 does not belong to CandID 300001; check both values."),
    ({"CandID": 300002, "VisitLabel": "V2"},
     "CandID 300002 in the Json does not match CandID 300001 in the URL. "
     "VisitLabel V2 in the Json does not match visit V1 in the URL."),
])
async def test_each_mismatch_is_a_400_that_names_the_values(script, archive, change, message):
    sent = {"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": False, "Overwrite": False,
            **change}

    answer = await script.upload(archive(), json_fields=sent)

    assert await error_of(answer, 400) == message


async def test_a_missing_is_phantom_is_a_400(script, archive):
    sent = {"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1"}
    answer = await script.upload(archive(), json_fields=sent)
    assert await error_of(answer, 400) == "IsPhantom in the Json must be true or false; it is missing."


async def test_a_file_name_that_does_not_start_with_the_patient_name_is_a_400(script, tmp_path):
    path = make_dicom_archive(tmp_path / f"MTL0001_300001_V2_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V2")
    sent = {"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": False}

    answer = await script.upload(path, json_fields=sent)

    assert await error_of(answer, 400) == (
        f"File name '{path.name}' does not match the form: name it MTL0001_300001_V1 or MTL0001_300001_V1_<suffix>, "
        "followed by .tgz, .tar.gz or .zip.")


async def test_every_rule_failure_is_one_400_sentence_joined_with_spaces(script, tmp_path):
    path = make_dicom_archive(tmp_path / f"MTL0001_300002_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300002_V1")

    answer = await script.upload(path, "300002", "V1")

    assert await error_of(answer, 400) == (
        "PSCID MTL0001 does not belong to CandID 300002; check both values. "
        "Candidate 300002 (PSCID MTL0002) is not active.")


async def test_json_after_the_file_or_no_json_is_a_400(script, archive):
    path = archive()
    after = await script.upload(path, file_first=True)
    assert await error_of(after, 400) == (
        'The request has no "Json" form field before its "File" part: send the Json field first, then the file.')
    not_json = await script.upload(path, json_fields="CandID=300001")
    assert await error_of(not_json, 400) == (
        'The "Json" form field is not a JSON object like {"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", '
        '"IsPhantom": false, "Overwrite": false}.')


async def test_an_existing_file_without_overwrite_is_a_409_and_with_overwrite_a_new_attempt(script, archive, pool):
    path = archive()
    upload_id = await uploaded(script, path)

    again = await script.upload(path)

    assert await error_of(again, 409) == (
        f'File {path.name} was already uploaded (upload {upload_id}, progress Not Started); send "Overwrite": true '
        "in the Json to replace it.")
    replaced = await script.upload(path, Overwrite=True)
    assert replaced.status == 303, await replaced.text()
    assert await pool.fetchval("SELECT attempt FROM gateway.uploads WHERE upload_id = $1", upload_id) == 2


async def test_a_file_type_that_is_not_accepted_is_a_403(script, tmp_path):
    plain_tar = make_dicom_archive(tmp_path / "seed.tgz", "MTL0001_300001_V1")
    renamed = plain_tar.rename(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tar")
    answer = await script.upload(renamed)
    assert await error_of(answer, 403) == (
        f"File {renamed.name!r} is a plain .tar archive, which is not accepted: compress it with gzip (.tgz or "
        ".tar.gz) or zip it (.zip).")

    zip_named_tgz = make_dicom_archive(tmp_path / "seed.zip", "MTL0001_300001_V1").rename(
        tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz")
    mismatch = await script.upload(zip_named_tgz)
    assert await error_of(mismatch, 403) == (
        f"The content of {zip_named_tgz.name} is not a gzip-compressed archive, as its name says.")


async def test_a_file_too_large_is_a_413(script, tmp_path):
    path = tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
    path.write_bytes(b"\x1f\x8b" + b"\0" * (MAX_UPLOAD_BYTES + 1))
    answer = await script.upload(path)
    assert await error_of(answer, 413) == (
        "The file is larger than the maximum upload size of 1048576 bytes (1.0 MiB).")


# --- a path built by joining strings ------------------------------------------------------------


async def test_a_doubled_or_trailing_slash_is_served_as_the_plain_path_without_a_redirect(script, archive):
    path = archive()
    upload_id = await uploaded(script, path)

    listing = await script.request("GET", f"{API}//candidates/300001//V1/dicoms")
    processes = await script.request("GET", f"{API}//candidates/300001/V1/dicoms/{path.name}/processes")

    trailing = await script.request("GET", f"{API}/candidates/300001/V1/dicoms/")
    assert listing.status == 200 and processes.status == 200 and trailing.status == 200
    assert (await listing.json())["Meta"] == {"CandID": "300001", "Visit": "V1"}
    assert (await processes.json())["MriUploads"][0]["MriUploadID"] == upload_id
    unknown = await script.request("GET", f"{API}//candidates/300001/V1/nothing")
    assert await error_of(unknown, 404) == f"There is no LORIS API endpoint at {API}/candidates/300001/V1/nothing."


# --- the visit's uploads ---------------------------------------------------------------------


async def test_the_visit_lists_its_uploads_with_the_tarchive_once_reported(script, archive, tap, pool):
    first, second = archive(), archive()
    first_id = await uploaded(script, first)
    await uploaded(script, second)
    await eventually(lambda: pool.fetchval("SELECT count(*) = 1 FROM logstore.uploads WHERE upload_id = $1", first_id),
                     what="the logstore recording the upload")
    reported = PipelineReported(upload_id=first_id, attempt=1, tarchive="/data/tarchive/DCM_2024-05-01_first.tar")
    await tap.publish(reported)
    await wait_until_processed(pool, "logstore", reported.event_id)

    answer = await script.request("GET", f"{API}/candidates/300001/V1/dicoms")

    assert answer.status == 200
    body = await answer.json()
    assert list(body) == ["Meta", "DicomTars"] and body["Meta"] == {"CandID": "300001", "Visit": "V1"}
    tars = {tar["Tarname"]: tar for tar in body["DicomTars"]}
    assert tars["DCM_2024-05-01_first.tar"] == {
        "Tarname": "DCM_2024-05-01_first.tar", "Patientname": "MTL0001_300001_V1", "SeriesInfo": []}
    assert tars[second.name] == {"Tarname": second.name, "Patientname": "MTL0001_300001_V1", "SeriesInfo": []}
    assert list(tars).index("DCM_2024-05-01_first.tar") < list(tars).index(second.name), "oldest first"


async def test_an_unknown_candidate_or_visit_is_a_404(script):
    unknown_candidate = await script.request("GET", f"{API}/candidates/999999/V1/dicoms")
    assert await error_of(unknown_candidate, 404) == "CandID 999999 does not exist."
    unknown_visit = await script.request("GET", f"{API}/candidates/300001/V9/dicoms")
    assert await error_of(unknown_visit, 404) == "Visit label V9 does not exist for CandID 300001; check both values."


# --- processes -------------------------------------------------------------------------------


async def test_processes_before_and_after_a_launch_tell_the_truth_under_the_id_the_launch_answered(
        script, archive, tap, pool):
    path = archive()
    upload_id = await uploaded(script, path)
    await wait_for_state(pool, upload_id, "upload.validated")
    assert (await script.processes(path.name))["MriUploads"] == [{"MriUploadID": upload_id, "Processes": []}]

    launched = await script.launch(path.name, upload_id)

    assert launched.status == 202, await launched.text()
    (answered,) = (await launched.json())["ProcessState"]
    process_id = answered["ID"]
    assert process_id > 0
    queued = {"ID": process_id, "PID": 0, "STATE": "RUNNING",
              "PROGRESS": f"The run of upload {upload_id} is granted and queued; it starts when a launcher has a "
                          "free slot.",
              "EXIT_CODE": None, "END_TIME": None}
    link = f"{API}/candidates/300001/V1/dicoms/{path.name}/processes/{process_id}"
    assert await launched.json() == {"Link": link, "ProcessState": [queued]}
    granted = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))
    assert granted.process_id == process_id
    assert await followed(script, path.name, link) == queued

    started = started_event(upload_id)
    await tap.publish(started)
    await wait_until_processed(pool, "logstore", started.event_id)
    start_time = started.occurred_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert await followed(script, path.name, link) == {
        "ID": process_id, "PID": 4242, "STATE": "RUNNING",
        "PROGRESS": f"MRI upload task (pid = 4242) is running; it started at {start_time}.",
        "EXIT_CODE": None, "END_TIME": None}

    finished = finished_event(upload_id)
    await tap.publish(finished)
    await wait_until_processed(pool, "logstore", finished.event_id)
    end_time = finished.occurred_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert await followed(script, path.name, link) == {
        "ID": process_id, "PID": 4242, "STATE": "SUCCESS",
        "PROGRESS": f"Finished MRI uploading (pid = 4242) End time:{end_time}",
        "EXIT_CODE": 0, "END_TIME": end_time}
    (run,) = (await (await script.request("GET", f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
    assert (run["run_id"], run["process_id"]) == (started.run_id, process_id)


async def followed(script: LorisScript, file_name: str, link: str) -> dict:
    """The process a client follows, read at its Link; the listing must show the same, under the same ID."""
    answer = await script.request("GET", link)
    assert answer.status == 200, await answer.text()
    process = await answer.json()
    assert (await script.processes(file_name))["MriUploads"][0]["Processes"] == [process]
    return process


async def test_a_run_interrupted_and_queued_again_keeps_its_process_id_and_a_relaunch_gets_a_new_one(
        script, archive, tap, pool):
    path = archive()
    upload_id = await uploaded(script, path)
    await wait_for_state(pool, upload_id, "upload.validated")
    (first,) = (await (await script.launch(path.name, upload_id)).json())["ProcessState"]
    link = f"{API}/candidates/300001/V1/dicoms/{path.name}/processes/{first['ID']}"
    await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))
    interrupted = started_event(upload_id)
    second_try = PipelineStarted(upload_id=upload_id, attempt=1, run_id=interrupted.run_id + 1, command=["pipeline"],
                                 launcher="another-launcher", pid=5353)
    rerun = PipelineRerunQueued(upload_id=upload_id, attempt=1, run_id=interrupted.run_id,
                                next_run_id=second_try.run_id, launcher="test-launcher", message="queued again")

    for event, expected in ((interrupted, ("RUNNING", 4242)), (rerun, ("RUNNING", 0)),
                            (second_try, ("RUNNING", 5353)),
                            (PipelineFinished(upload_id=upload_id, attempt=1, run_id=second_try.run_id, exit_code=None,
                                              outcome=RunOutcome.INTERRUPTED, message="died again",
                                              launcher="another-launcher"), ("ERROR", 5353))):
        await tap.publish(event)
        await wait_until_processed(pool, "logstore", event.event_id)
        if isinstance(event, PipelineFinished):
            await wait_for_state(pool, upload_id, "pipeline.finished")
        process = await followed(script, path.name, link)
        assert (process["ID"], process["STATE"], process["PID"]) == (first["ID"], *expected), event.type

    relaunched = await script.launch(path.name, upload_id)
    (second,) = (await relaunched.json())["ProcessState"]
    assert second["ID"] > first["ID"]
    listed = (await script.processes(path.name))["MriUploads"][0]["Processes"]
    assert [(process["ID"], process["STATE"]) for process in listed] == [(first["ID"], "ERROR"),
                                                                         (second["ID"], "RUNNING")]


async def test_a_process_that_is_not_the_files_is_a_404(script, archive, pool):
    path, other = archive(), archive()
    upload_id, other_id = await uploaded(script, path), await uploaded(script, other)
    for upload in (upload_id, other_id):
        await wait_for_state(pool, upload, "upload.validated")
    (other_process,) = (await (await script.launch(other.name, other_id)).json())["ProcessState"]
    processes = f"{API}/candidates/300001/V1/dicoms/{path.name}/processes"

    for wanted in (other_process["ID"], 0, "first", 2**64):
        answer = await script.request("GET", f"{processes}/{wanted}")
        assert await error_of(answer, 404) == f"There is no process {wanted} of {path.name}."


async def test_a_failed_run_is_an_error_with_its_exit_code_from_the_first_read(script, archive, tap, pool):
    path = archive()
    upload_id = await uploaded(script, path)
    await wait_for_state(pool, upload_id, "upload.validated")
    assert (await script.launch(path.name, str(upload_id))).status == 202
    for event in (started_event(upload_id), finished_event(upload_id, exit_code=151, message="failed")):
        await tap.publish(event)
        await wait_until_processed(pool, "logstore", event.event_id)

    (failed,) = (await script.processes(path.name))["MriUploads"][0]["Processes"]

    assert (failed["STATE"], failed["EXIT_CODE"]) == ("ERROR", 151)
    assert failed["PROGRESS"] == ("MRI upload task (pid = 4242) failed: error code is 151 (the PatientName in the "
                                  "DICOM files does not match the file name).")
    assert failed["END_TIME"] is not None


async def test_a_launch_before_validation_waits_for_it_under_the_id_its_run_keeps(script, archive, pool, tap):
    path = archive()
    upload_id = await uploaded(script, path)
    await wait_for_state(pool, upload_id, "upload.validated")
    # As if the validator were still at it: back to received, the validation already consumed.
    await pool.execute("UPDATE gateway.uploads SET state = 'upload.received', state_rank = 10 WHERE upload_id = $1",
                       upload_id)

    launched = await script.launch(path.name, upload_id)

    assert launched.status == 202, await launched.text()
    (process,) = (await launched.json())["ProcessState"]
    assert process["STATE"] == "RUNNING" and process["ID"] > 0
    assert process["PROGRESS"] == f"The run of upload {upload_id} starts as soon as the upload is validated."
    await tap.publish(UploadValidated(upload_id=upload_id, attempt=1, scan=scan_facts(upload_id, file_name=path.name)))
    granted = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))
    assert granted.process_id == process["ID"]
    (queued,) = (await script.processes(path.name))["MriUploads"][0]["Processes"]
    assert (queued["ID"], queued["STATE"]) == (process["ID"], "RUNNING")


async def test_an_id_that_is_not_the_files_upload_is_a_404_and_a_bad_process_type_a_400(script, archive, pool):
    path, other = archive(), archive()
    upload_id = await uploaded(script, path)
    other_id = await uploaded(script, other)

    assert await error_of(await script.launch(path.name, other_id), 404) == "Filename and MRIUploadID do not match"
    assert await error_of(await script.launch("MTL0001_300001_V1_nothing.tgz", upload_id), 404) == (
        "Filename and MRIUploadID do not match")
    assert await error_of(await script.launch(path.name, upload_id, process_type="mri_insert"), 400) == (
        "Invalid ProcessType.")
    assert await error_of(await script.launch(path.name, "twelve"), 400) == (
        'MriUploadID must be the number of an upload, as GET .../processes lists it; it is "twelve".')
    assert (await script.processes("MTL0001_300001_V1_nothing.tgz")) == {"MriUploads": []}


async def test_launching_twice_is_a_409_in_lorises_shape(script, archive, pool):
    path = archive()
    upload_id = await uploaded(script, path)
    await wait_for_state(pool, upload_id, "upload.validated")
    assert (await script.launch(path.name, upload_id)).status == 202

    again = await script.launch(path.name, upload_id)

    assert await error_of(again, 409) == f"Upload {upload_id} cannot be launched: its run was already granted."


# --- the same permissions as /api/v1 -------------------------------------------------------------


async def test_a_user_of_site_mtl_may_not_upload_list_or_launch_for_an_ottawa_candidate(script, archive, http, users):
    ottawa = archive("OTT0001", "400001")
    ottawa_id = await uploaded(script, ottawa, candid="400001")
    coordinator = LorisScript(http, script.base_url, OWN_SITES_TOKEN)
    refusal = ("User mtl-coordinator may upload only for the candidates of site MTL (imaging_uploader_ownsites); "
               "CandID 400001 belongs to site OTT.")

    upload = await coordinator.upload(archive("OTT0001", "400001"), "400001")
    listing = await coordinator.request("GET", f"{API}/candidates/400001/V1/dicoms")
    processes = await coordinator.request("GET", f"{API}/candidates/400001/V1/dicoms/{ottawa.name}/processes")
    launch = await coordinator.launch(ottawa.name, ottawa_id, "400001")

    for answer in (upload, listing, processes, launch):
        assert await error_of(answer, 403) == refusal
    own = await coordinator.upload(archive())
    assert own.status == 303, await own.text()


async def test_errors_under_the_loris_api_have_lorises_shape(script, http):
    path = f"{API}/candidates/300001/V1/dicoms"
    no_token = await LorisScript(http, script.base_url, token="").request("GET", path)
    assert await error_of(no_token, 401) == (
        "This request needs an 'Authorization: Bearer <token>' header. Get a token from POST /api/v0.0.4-dev/login.")
    bad_token = await LorisScript(http, script.base_url, token="not-a-token").request("GET", path)
    assert await error_of(bad_token, 401) == (
        "The API token is not valid (or it expired). Get a token from POST /api/v0.0.4-dev/login.")
    viewer = await LorisScript(http, script.base_url, NO_PERMISSION_TOKEN).request("GET", path)
    assert await error_of(viewer, 403) == "User viewer has no imaging uploader permission."
    put = await script.request("PUT", path)
    assert await error_of(put, 405) == f"Method PUT is not allowed on {path}; use GET or HEAD or POST."
    assert put.headers["Allow"] == "GET, HEAD, POST"
    login_get = await script.request("GET", f"{API}/login")
    assert await error_of(login_get, 405) == f"Method GET is not allowed on {API}/login; use POST."


async def test_api_v1_errors_keep_their_shape(script):
    answer = await script.request("GET", "/api/v1/nothing")
    body = await answer.json()
    assert answer.status == 404 and set(body) == {"error", "errors"}
