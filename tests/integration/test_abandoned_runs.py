"""A run whose launcher died (kill -9, lost machine) does not stay In Progress forever."""

from services.launcher.__main__ import build_app
from tests.integration.helpers import new_upload_id, scan_facts
from tests.support.inprocess import running_app


async def test_a_run_whose_launcher_stopped_beating_is_failed_and_says_why(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await pool.execute(
        """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, started_at, heartbeat_at)
           VALUES ($1, 1, $2, 'running', 'a-launcher-that-died', now() - interval '1 hour', now() - interval '1 hour')""",
        upload_id,
        scan_facts(upload_id).model_dump(),
    )

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5))):
        finished = await tap.wait_for(lambda e: e.upload_id == upload_id and e.type == "pipeline.finished", 15)

    assert finished.succeeded is False
    assert finished.exit_code is None
    assert finished.message == "The launcher running the pipeline stopped responding; launch the upload again."
    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE upload_id = $1", upload_id) == "failed"


async def test_a_run_that_is_still_beating_is_left_alone(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await pool.execute(
        """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, started_at, heartbeat_at)
           VALUES ($1, 1, $2, 'running', 'a-live-launcher', now(), now() + interval '1 hour')""",
        upload_id,
        scan_facts(upload_id).model_dump(),
    )
    stale = new_upload_id()
    await pool.execute(
        """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, started_at, heartbeat_at)
           VALUES ($1, 1, $2, 'running', 'a-launcher-that-died', now(), now() - interval '1 hour')""",
        stale,
        scan_facts(stale).model_dump(),
    )

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5))):
        await tap.wait_for(lambda e: e.upload_id == stale and e.type == "pipeline.finished", 15)

    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE upload_id = $1", upload_id) == "running"
    assert not tap.matching(lambda e: e.upload_id == upload_id)
