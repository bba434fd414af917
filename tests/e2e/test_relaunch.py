"""An upload whose run was interrupted, with a pipeline not declared safe to
run again, fails with the cause "interrupted" and may be launched again,
through /api/v1 or LORIS's processes POST, without sending the file again;
never one that succeeded or failed for its own reason."""

import asyncio

import pytest

from tests.support.api import UploaderClient
from tests.support.stack import REPO_ROOT

LORIS_API = "/api/v0.0.4-dev"
# About 10 s a run: long enough to stop its launcher in the middle.
SLOW_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/slow_pipeline.py'} --steps 20 --delay 0.5 -- "
                 "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_PIPELINE_COMMAND": SLOW_PIPELINE, "UPLOADER_PIPELINE_RERUN_SAFE": "false",
            "UPLOADER_SHUTDOWN_GRACE_SECONDS": "0"}


async def relaunched_to_the_end(client: UploaderClient, upload_id: int) -> str:
    """The final progress of a relaunched upload (its Failure stays shown until the logstore hears of the launch)."""
    await client.wait_for_progress(upload_id, wanted=("Not Started", "In Progress", "Success"), timeout=30)
    return (await client.wait_for_progress(upload_id, timeout=60))["progress"]


async def interrupted_upload(client: UploaderClient, stack, archive) -> int:
    """An upload whose launcher is stopped in the middle of its run, then started again."""
    answer = await client.upload(archive(n_files=2), candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await answer.json())["upload_id"]
    await client.wait_for_progress(upload_id, wanted=("In Progress",), timeout=30)
    await asyncio.to_thread(stack.stop_service, "launcher")
    await asyncio.to_thread(stack.start_service, "launcher")
    await asyncio.to_thread(stack.wait_healthy, "launcher")
    failed = await client.wait_for_progress(upload_id, timeout=30)
    assert failed["progress"] == "Failure"
    return upload_id


async def test_an_interrupted_upload_is_launched_again_without_its_file_and_succeeds(client, stack, archive):
    upload_id = await interrupted_upload(client, stack, archive)
    (run,) = (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
    assert (run["outcome"], run["exit_code"]) == ("interrupted", None)

    answer = await client.launch(upload_id)

    assert answer.status == 202, await answer.text()
    assert await answer.json() == {"upload_id": upload_id, "attempt": 1, "status": "launch requested", "starts": "now"}
    assert await relaunched_to_the_end(client, upload_id) == "Success"
    messages = [line["message"] for line in (await client.log(upload_id))["lines"]]
    assert any(m.endswith("shut down during the run. The pipeline is not declared safe to run again on its own: "
                          "launch the upload again.") for m in messages), messages
    assert "Pipeline launched again by demo after its interrupted run; the run is queued." in messages
    assert messages[-1] == "Pipeline finished successfully: the scan was inserted."
    runs = (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
    assert [(r["attempt"], r["launch"], r["outcome"]) for r in runs] == [(1, 1, "interrupted"), (1, 2, "succeeded")]

    again = await client.launch(upload_id)
    assert again.status == 409
    assert (await again.json())["error"]["message"] == (
        f"Upload {upload_id} cannot be launched: its pipeline already succeeded.")


async def test_lorises_processes_post_launches_an_interrupted_upload_again(client, stack, archive, http):
    upload_id = await interrupted_upload(client, stack, archive)
    summary = await client.upload_summary(upload_id)
    url = f"{stack.gateway_url}{LORIS_API}/candidates/300001/V1/dicoms/{summary['file_name']}/processes"

    answer = await http.post(url, json={"ProcessType": "mri_upload", "MriUploadID": upload_id}, headers=client.headers)

    assert answer.status == 202, await answer.text()
    assert await relaunched_to_the_end(client, upload_id) == "Success"


async def test_an_upload_whose_pipeline_failed_for_its_own_reason_is_not_launched_again(client, archive):
    path = archive(n_files=2, patient_name="SOMEONE_ELSE")
    upload_id = (await (await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    assert (await client.wait_for_progress(upload_id, timeout=60))["progress"] == "Failure"

    answer = await client.launch(upload_id)

    assert answer.status == 409
    assert (await answer.json())["error"]["message"] == (
        f"Upload {upload_id} cannot be launched: its pipeline failed for a reason of the upload's own; "
        "correct it and upload it again with overwrite=true.")
