"""POST /api/v1/uploads/{id}/cancel stops an upload's run: the upload fails with the cause "cancelled",
its log says who cancelled it, and it may be launched again (or overwritten)."""

import pytest

from tests.support.api import UploaderClient
from tests.support.stack import REPO_ROOT

# About 10 s a run: long enough to cancel it in the middle.
SLOW_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/slow_pipeline.py'} --steps 20 --delay 0.5 -- "
                 "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_PIPELINE_COMMAND": SLOW_PIPELINE}


async def test_a_running_upload_is_cancelled_then_launched_again_to_success(client: UploaderClient, archive):
    answer = await client.upload(archive(n_files=2), candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await answer.json())["upload_id"]
    await client.wait_for_progress(upload_id, wanted=("In Progress",), timeout=30)

    cancelled = await client.post(f"/api/v1/uploads/{upload_id}/cancel")

    assert cancelled.status == 202, await cancelled.text()
    assert await cancelled.json() == {"upload_id": upload_id, "attempt": 1, "status": "cancel requested"}
    assert (await client.wait_for_progress(upload_id, timeout=30))["progress"] == "Failure"
    messages = [line["message"] for line in (await client.log(upload_id))["lines"]]
    assert "Cancel requested by demo; the run is being stopped." in messages
    assert messages[-1] == "The run was cancelled by demo and stopped; the upload may be launched again, or overwritten."
    (run,) = (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
    assert run["outcome"] == "cancelled"

    again = await client.launch(upload_id)
    assert again.status == 202, await again.text()
    await client.wait_for_progress(upload_id, wanted=("Not Started", "In Progress", "Success"), timeout=30)
    assert (await client.wait_for_progress(upload_id, timeout=60))["progress"] == "Success"

    too_late = await client.post(f"/api/v1/uploads/{upload_id}/cancel")
    assert too_late.status == 409
    assert (await too_late.json())["error"]["message"] == (
        f"Upload {upload_id} has no run to cancel: its pipeline is neither queued nor running.")
