"""With auto-launch off, a validated upload waits until a user launches it."""

import asyncio

import pytest

from tests.integration.helpers import eventually
from tests.support.api import UploaderClient


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_AUTO_LAUNCH": "false"}


async def test_with_auto_launch_off_a_validated_upload_waits_for_the_launch_request(client: UploaderClient, archive,
                                                                                    pool):
    path = archive(n_files=2)
    upload_id = (await (await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await _wait_for_log_line(client, upload_id, "Candidate checked: CandID 300001, PSCID MTL0001, visit V1 are valid and active.")
    # The gateway grants an auto-launch in the transaction that records the validation: once it recorded it,
    # a launch would be there already.
    assert await _gateway_state_after_validation(pool, upload_id) == "upload.validated"
    waiting = await client.log(upload_id)
    assert waiting["progress"] == "Not Started"
    assert waiting["status"] == "The pipeline has not run yet."

    answer = await client.launch(upload_id)

    assert answer.status == 202
    assert await answer.json() == {"upload_id": upload_id, "attempt": 1, "status": "launch requested", "starts": "now"}
    summary = await client.wait_for_progress(upload_id)
    assert summary["progress"] == "Success"
    messages = [line["message"] for line in (await client.log(upload_id))["lines"]]
    assert "Pipeline launch requested by demo; the run is queued." in messages
    assert messages.count("Pipeline started.") == 1
    again = await client.launch(upload_id)
    assert again.status == 409
    assert (await again.json())["error"]["message"] == (
        f"Upload {upload_id} cannot be launched: its pipeline already succeeded.")


async def test_launching_an_unknown_upload_is_a_404(client: UploaderClient):
    answer = await client.launch(987654321)
    assert answer.status == 404
    assert (await answer.json())["error"]["message"] == "There is no upload with id 987654321."


async def _wait_for_log_line(client: UploaderClient, upload_id: int, message: str) -> None:
    async with asyncio.timeout(30):
        while True:
            answer = await client.get(f"/api/v1/uploads/{upload_id}/log")
            if answer.status == 200 and message in [line["message"] for line in (await answer.json())["lines"]]:
                return
            await asyncio.sleep(0.1)


async def _gateway_state_after_validation(pool, upload_id: int) -> str:
    async def past_received() -> str | None:
        state = await pool.fetchval("SELECT state FROM gateway.uploads WHERE upload_id = $1", upload_id)
        return state if state != "upload.received" else None

    return await eventually(past_received, 30, f"the gateway recording the validation of upload {upload_id}")
