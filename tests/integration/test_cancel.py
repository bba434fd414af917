"""A user's cancel stops a run: a queued one ends at once, a running one is
stopped with its whole process group as soon as its launcher is told (not at
its next heartbeat), and either is recorded as cancelled."""

import asyncio
import time

from services.common.messages import LaunchRequested, RunCancelRequested
from services.launcher.__main__ import build_app
from tests.integration.helpers import (
    WITH_A_CHILD,
    child_pid_of,
    new_upload_id,
    scan_facts,
    wait_until_processed,
)
from tests.support.inprocess import running_app
from tests.support.live_processes import is_alive
from tests.support.tap import of_upload


def granted(upload_id: int) -> LaunchRequested:
    return LaunchRequested(upload_id=upload_id, attempt=1, scan=scan_facts(upload_id), requested_by="demo")


def cancel(upload_id: int) -> RunCancelRequested:
    return RunCancelRequested(upload_id=upload_id, attempt=1, requested_by="demo")


async def test_a_running_run_is_stopped_with_its_children_as_soon_as_it_is_cancelled(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    # A heartbeat of 30 s: the stop must come from the notification, not from the next beat.
    settings = launcher_settings(pipeline_command=WITH_A_CHILD, heartbeat_seconds=30)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id))
        child = await child_pid_of(tap, upload_id)
        cancelled_at = time.monotonic()
        await tap.publish(cancel(upload_id))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)
        stopped_after = time.monotonic() - cancelled_at

    assert (finished.outcome, finished.exit_code) == ("cancelled", None)
    assert finished.message == "The run was cancelled by demo and stopped; the upload may be launched again, or overwritten."
    assert stopped_after < 10, f"stopped {stopped_after:.1f} s after the cancel"
    assert not is_alive(child)
    row = await pool.fetchrow("SELECT state, outcome, cancel_requested_by FROM launcher.runs WHERE upload_id = $1",
                              upload_id)
    assert tuple(row) == ("failed", "cancelled", "demo")


async def test_a_queued_run_is_cancelled_before_it_starts(launcher_settings, tap, pool):
    busy, queued = new_upload_id(), new_upload_id()
    settings = launcher_settings(pipeline_command=WITH_A_CHILD, max_concurrent_runs=1)

    async with running_app(build_app(settings)):
        await tap.publish(granted(busy))
        await tap.wait_for(of_upload(busy, "pipeline.started"))
        await tap.publish(granted(queued))
        await tap.publish(cancel(queued))
        finished = await tap.wait_for(of_upload(queued, "pipeline.finished"), 15)
        await tap.publish(cancel(busy))
        await tap.wait_for(of_upload(busy, "pipeline.finished"), 15)

    assert (finished.outcome, finished.launcher) == ("cancelled", "none")
    assert finished.message == ("The run was cancelled by demo before it started; the upload may be launched again, "
                                "or overwritten.")
    assert not tap.matching(of_upload(queued, "pipeline.started"))


async def test_a_cancel_that_overtakes_its_grant_still_keeps_the_run_from_starting(launcher_settings, tap, pool):
    upload_id = new_upload_id()

    async with running_app(build_app(launcher_settings(pipeline_command=WITH_A_CHILD))):
        await tap.publish(cancel(upload_id))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)
        late_grant = granted(upload_id)
        await tap.publish(late_grant)
        await wait_until_processed(pool, "launcher", late_grant.event_id)

    assert finished.outcome == "cancelled"
    assert not tap.matching(of_upload(upload_id, "pipeline.started"))
    assert await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = $1", upload_id) == 1


async def test_a_cancelled_run_whose_launcher_died_is_not_run_again(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await pool.execute(
        """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, started_at, heartbeat_at,
                                      cancel_requested_by)
           VALUES ($1, 1, $2, 'running', 'a-launcher-that-died', now() - interval '1 hour',
                   now() - interval '1 hour', 'demo')""",
        upload_id, scan_facts(upload_id).model_dump(),
    )

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5, pipeline_rerun_safe=True))):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert finished.outcome == "cancelled"
    assert finished.message == ("The launcher a-launcher-that-died running the pipeline stopped responding. "
                                "It had been cancelled by demo: the upload may be launched again, or overwritten.")
    assert not tap.matching(of_upload(upload_id, "pipeline.rerun_queued"))


async def test_grants_and_cancels_handled_side_by_side_always_end_cancelled(launcher_settings, tap, pool):
    upload_ids = [new_upload_id() for _ in range(10)]

    async with running_app(build_app(launcher_settings(pipeline_command=WITH_A_CHILD, max_concurrent_runs=2))):
        await asyncio.gather(*(tap.publish(event) for upload_id in upload_ids
                               for event in (granted(upload_id), cancel(upload_id))))
        finished = [await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30) for upload_id in upload_ids]

    assert [event.outcome for event in finished] == ["cancelled"] * len(upload_ids)
    running = await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = any($1::bigint[]) "
                                  "AND state IN ('queued', 'running')", upload_ids)
    assert running == 0
