"""A launch never races the retention sweep: a run is granted only for a file
that is still there, and when an upload's file is gone (removed after its
retention, or deleted by hand) the upload and a relaunch say so, and that the
scan must be uploaded again.

The race is forced, never hoped for: a test transaction holds the attempt's
row, so that the real sweep stops between removing the file and marking it
removed, while it holds the upload's row; the launch then starts and waits on
that row. Each step waits for the database to show the wait (pg_stat_activity),
never for a fixed time."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from services.common.messages import PipelineFinished, RunOutcome
from services.common.scan_store import DirectoryScanStore, scan_key
from services.gateway.uploads.scan_retention import remove_expired_attempt_files
from services.launcher.__main__ import build_app as build_launcher
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually, leave_no_launch_over, started_event
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app

HOUR = timedelta(hours=1)


@pytest.fixture
async def client(gateway_stack, http):
    async with gateway_stack(attempt_file_retention_hours=1) as (gateway_url, _):
        yield UploaderClient(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
def store(incoming_path) -> DirectoryScanStore:
    return DirectoryScanStore(incoming_path)


@pytest.fixture
async def client_and_launcher(gateway_stack, launcher_settings, amqp_url, pool, http):
    """The gateway's stack and a launcher, which first finds no launch other tests left for it."""
    await leave_no_launch_over(amqp_url, pool)
    async with gateway_stack() as (gateway_url, _), running_app(build_launcher(launcher_settings())):
        yield UploaderClient(http, gateway_url, DEMO_TOKEN)


async def valid_upload(client: UploaderClient, pool, tmp_path) -> tuple[int, str]:
    """A validated upload, not launched; its id and file name."""
    name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
    answer = await client.upload(make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=1),
                                 candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 202, await answer.text()
    upload_id = (await answer.json())["upload_id"]
    await state_becomes(pool, upload_id, "upload.validated")
    return upload_id, name


async def interrupted_upload(client: UploaderClient, pool, tap, tmp_path) -> tuple[int, str]:
    """An upload whose run was interrupted (so it may be launched again), two hours ago; its id and file name."""
    upload_id, name = await valid_upload(client, pool, tmp_path)
    assert (await client.launch(upload_id)).status == 202
    await state_becomes(pool, upload_id, "upload.launch_requested")
    await tap.publish(started_event(upload_id))
    await tap.publish(PipelineFinished(upload_id=upload_id, attempt=1, run_id=upload_id * 10 + 1, exit_code=None,
                                       outcome=RunOutcome.INTERRUPTED, message="The launcher died.",
                                       launcher="test-launcher"))
    await state_becomes(pool, upload_id, "pipeline.finished")
    await pool.execute("UPDATE gateway.upload_attempts SET uploaded_at = uploaded_at - interval '2 hours' "
                       "WHERE upload_id = $1", upload_id)
    await pool.execute("UPDATE gateway.uploads SET updated_at = updated_at - interval '2 hours' WHERE upload_id = $1",
                       upload_id)
    return upload_id, name


async def state_becomes(pool, upload_id: int, state: str) -> None:
    async def reached():
        return await pool.fetchval("SELECT state FROM gateway.uploads WHERE upload_id = $1", upload_id) == state

    await eventually(reached, what=f"upload {upload_id} reaching {state}")


async def sessions_waiting_on_a_lock(pool, count: int) -> None:
    async def waiting():
        return await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'""") >= count

    await eventually(waiting, what=f"{count} database sessions waiting on a lock")


async def test_a_relaunch_racing_the_sweep_is_refused_saying_the_file_was_removed_never_granted_without_its_file(
        client, pool, tap, store, tmp_path):
    upload_id, name = await interrupted_upload(client, pool, tap, tmp_path)
    scan = store.local_path(scan_key("demo", upload_id, 1, name))

    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM gateway.upload_attempts WHERE upload_id = $1 FOR UPDATE", upload_id)
        # The sweep locks the upload's row, removes the file, then waits to mark the attempt removed.
        sweep = asyncio.create_task(remove_expired_attempt_files(pool, store, HOUR))
        await sessions_waiting_on_a_lock(pool, 1)
        assert not scan.exists()
        # The relaunch starts while the sweep holds the upload's row, and waits for it.
        launch = asyncio.create_task(client.launch(upload_id))
        await sessions_waiting_on_a_lock(pool, 2)
    assert await sweep == 1
    answer = await launch

    assert answer.status == 409, f"a run was granted to upload {upload_id}, whose file the sweep removed"
    message = (await answer.json())["error"]["message"]
    assert "removed" in message and "1 hour" in message and "upload it again" in message, message
    assert await pool.fetchval("SELECT state FROM gateway.uploads WHERE upload_id = $1", upload_id) \
        == "pipeline.finished"


async def test_a_run_whose_file_was_deleted_fails_saying_so_and_a_relaunch_is_refused_for_the_same_reason(
        client_and_launcher, pool, store, tmp_path):
    client = client_and_launcher
    upload_id, name = await valid_upload(client, pool, tmp_path)
    store.local_path(scan_key("demo", upload_id, 1, name)).unlink()

    assert (await client.launch(upload_id)).status == 202
    summary = await client.wait_for_progress(upload_id)

    assert summary["progress"] == "Failure"
    assert f"the scan file {name} is missing from the scan store" in summary["failure"], summary["failure"]
    assert "upload the scan again" in summary["failure"]
    await state_becomes(pool, upload_id, "pipeline.finished")
    relaunch = await client.launch(upload_id)
    assert relaunch.status == 409
    message = (await relaunch.json())["error"]["message"]
    assert "scan file is missing" in message and "upload it again" in message, message
