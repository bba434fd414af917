"""A LORIS site's upload script, unchanged, against the four services running
as processes with the reference pipeline: it does what LORIS-MRI's draft
Python API client does (log in with JSON, upload the `Json` field and the
`File` part declared application/x-tar, read the 303's Location without
following it, find the MriUploadID in GET processes, launch with POST
processes on a URL built with a doubled slash, then follow the process it
launched by its ID, in GET processes and in GET processes/{ID}), and reads
each answer with the types that client expects."""

import asyncio
import json

import aiohttp
import pytest
from pydantic import BaseModel

from services.gateway.auth.users import add_user, set_password

USERNAME, PASSWORD = "loris-upload-script", "the script's password, long enough"


class Process(BaseModel):
    """A process object as the LORIS client reads it: ID and PID numbers, PROGRESS a string."""

    ID: int
    PID: int
    STATE: str
    PROGRESS: str
    EXIT_CODE: int | None
    END_TIME: str | None


class MriUpload(BaseModel):
    MriUploadID: int
    Processes: list[Process]


class Processes(BaseModel):
    MriUploads: list[MriUpload]


class Launched(BaseModel):
    Link: str
    ProcessState: list[Process]


class DicomsMeta(BaseModel):
    CandID: int
    Visit: str


class DicomTar(BaseModel):
    Tarname: str
    Patientname: str
    SeriesInfo: list


class Dicoms(BaseModel):
    Meta: DicomsMeta
    DicomTars: list[DicomTar]


@pytest.fixture
async def script_user(pool):
    async with pool.acquire() as conn:
        await add_user(conn, USERNAME, [], ["imaging_uploader_allsites"])
        await set_password(conn, USERNAME, PASSWORD)


async def test_a_loris_upload_script_uploads_launches_and_follows_its_run_to_success(stack, http, archive,
                                                                                      script_user):
    api = f"{stack.gateway_url}/api/v0.0.4-dev"
    path = archive(n_files=2)

    async with http.post(f"{api}/login", json={"username": USERNAME, "password": PASSWORD}) as answer:
        answer.raise_for_status()
        token = (await answer.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}

    form = aiohttp.FormData()
    form.add_field("Json", json.dumps({"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": False,
                                       "Overwrite": False}))
    with open(path, "rb") as handle:
        form.add_field("File", handle, filename=path.name, content_type="application/x-tar")
        async with http.post(f"{api}/candidates/300001/V1/dicoms", data=form, headers=headers,
                             allow_redirects=False) as answer:
            answer.raise_for_status()
            assert answer.status == 303
            location = answer.headers["Location"]
    assert location == f"/api/v0.0.4-dev/candidates/300001/V1/dicoms/{path.name}/processes"

    async def processes() -> Processes:
        async with http.get(f"{api}/candidates/300001/V1/dicoms/{path.name}/processes", headers=headers,
                            allow_redirects=False) as answer:
            answer.raise_for_status()
            return Processes.model_validate(await answer.json())

    (upload,) = (await processes()).MriUploads
    assert upload.Processes == [], "an upload through the LORIS API waits for its launch"

    async with http.post(f"{api}//candidates/300001/V1/dicoms/{path.name}/processes", headers=headers,
                         json={"ProcessType": "mri_upload", "MriUploadID": upload.MriUploadID},
                         allow_redirects=False) as answer:
        answer.raise_for_status()
        assert answer.status == 202
        launched = Launched.model_validate(await answer.json())
    (asked,) = launched.ProcessState
    assert asked.STATE == "RUNNING" and asked.ID > 0
    assert launched.Link == f"/api/v0.0.4-dev/candidates/300001/V1/dicoms/{path.name}/processes/{asked.ID}"

    async def the_process() -> Process:
        async with http.get(f"{stack.gateway_url}{launched.Link}", headers=headers, allow_redirects=False) as answer:
            answer.raise_for_status()
            return Process.model_validate(await answer.json())

    process = await _follow_until_finished(asked.ID, processes, the_process)
    assert (process.STATE, process.EXIT_CODE) == ("SUCCESS", 0), process
    assert process.END_TIME is not None and process.PID > 0
    assert process.PROGRESS == f"Finished MRI uploading (pid = {process.PID}) End time:{process.END_TIME}"

    async with http.get(f"{api}/candidates/300001/V1/dicoms", headers=headers, allow_redirects=False) as answer:
        answer.raise_for_status()
        dicoms = Dicoms.model_validate(await answer.json())
    assert dicoms.Meta == DicomsMeta(CandID=300001, Visit="V1")
    # Tarname: the DICOM archive the reference pipeline reported, as LORIS names its tarchives.
    assert DicomTar(Tarname="DCM_2024-01-05_MTL0001_300001_V1", Patientname="MTL0001_300001_V1",
                    SeriesInfo=[]) in dicoms.DicomTars


async def _follow_until_finished(process_id: int, processes, the_process, timeout: float = 60) -> Process:
    """Poll as a script does, the listing and the process by its ID, until it is no longer RUNNING: every answer
    shows the process under the ID the launch answered, from the first poll to the end."""
    async with asyncio.timeout(timeout):
        while True:
            (upload,) = (await processes()).MriUploads
            assert [process.ID for process in upload.Processes] == [process_id], upload.Processes
            followed = await the_process()
            assert followed.ID == process_id, followed
            if followed.STATE != "RUNNING":
                return followed
            await asyncio.sleep(0.2)
