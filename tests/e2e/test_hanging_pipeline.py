"""A pipeline that hangs is stopped after the time limit, with its whole
process group, even when it ignores SIGTERM: its upload fails saying so, and
the uploads around it go on to Success (its slot is freed)."""

import asyncio

import pytest

from tests.support.api import UploaderClient
from tests.support.live_processes import live_members_of_group
from tests.support.stack import REPO_ROOT

TIMEOUT_MINUTES = 0.1  # 6 s
OTHER_UPLOADS = 4
HANGING_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/hanging_pipeline.py'} {{file_name}} -- "
                    "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_PIPELINE_COMMAND": HANGING_PIPELINE, "UPLOADER_PIPELINE_TIMEOUT_MINUTES": str(TIMEOUT_MINUTES),
            "UPLOADER_MAX_CONCURRENT_RUNS": "1", "UPLOADER_HEARTBEAT_SECONDS": "2"}


async def upload(client: UploaderClient, path) -> int:
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


def guard_pid_of(runs: dict) -> int:
    (run,) = runs["runs"]
    return run["pid"]


async def test_a_hanging_pipeline_is_stopped_at_its_time_limit_and_the_others_succeed(client, archive):
    path = archive(n_files=2)
    hanging = await upload(client, path.rename(path.with_name(path.name.replace(".tgz", "_HANG.tgz"))))
    await client.wait_for_progress(hanging, wanted=("In Progress",), timeout=30)
    others = [await upload(client, archive(n_files=2)) for _ in range(OTHER_UPLOADS)]

    finished = await client.wait_for_progress(hanging, timeout=60)
    results = await asyncio.gather(*(client.wait_for_progress(upload_id, timeout=90) for upload_id in others))

    assert finished["progress"] == "Failure"
    log = [line["message"] for line in (await client.log(hanging))["lines"]]
    assert log[-1] == f"The pipeline timed out after {TIMEOUT_MINUTES:g} minutes and was stopped.", log
    runs = await (await client.get(f"/api/v1/uploads/{hanging}/runs")).json()
    assert runs["runs"][0]["outcome"] == "timed out"
    assert not live_members_of_group(guard_pid_of(runs)), "the hanging pipeline outlived its time limit"
    assert [r["progress"] for r in results] == ["Success"] * OTHER_UPLOADS
