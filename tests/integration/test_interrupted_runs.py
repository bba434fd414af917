"""Interrupted runs recover: a run whose launcher died, shut down, lost its
database or failed while the run was in hand is run again on its own when
the pipeline is declared safe to rerun, or else ends "interrupted" (the
upload may then be launched again). Whatever the cause, the pipeline's
whole process group is stopped first, and the slot is freed."""

import asyncio
from pathlib import Path

import pytest

from services.common.messages import LaunchRequested
from services.launcher.__main__ import build_app
from services.launcher.run_exits import RunExits
from tests.integration.helpers import WITH_A_CHILD, child_pid_of, eventually, new_upload_id, scan_facts
from tests.support.inprocess import running_app
from tests.support.live_processes import is_alive
from tests.support.tap import of_upload

QUICK_SUCCESS = """{python} -c "print('[info] done', flush=True)" """


def granted(upload_id: int) -> LaunchRequested:
    return LaunchRequested(upload_id=upload_id, attempt=1, scan=scan_facts(upload_id), requested_by="auto-launch")


async def insert_stale_run(pool, upload_id: int, try_number: int = 1) -> int:
    """A run left 'running' by a launcher that died an hour ago; its run id."""
    return await pool.fetchval(
        """INSERT INTO launcher.runs (upload_id, attempt, try, scan, state, owner, started_at, heartbeat_at)
           VALUES ($1, 1, $2, $3, 'running', 'a-launcher-that-died', now() - interval '1 hour',
                   now() - interval '1 hour') RETURNING run_id""",
        upload_id, try_number, scan_facts(upload_id).model_dump(),
    )


def keep_exit_code(incoming_path, run_id: int, exit_code: int) -> Path:
    """What the run's guard leaves when its pipeline ended on its own (services/launcher/process_guard.py)."""
    exits = RunExits(incoming_path)
    exits.prepare()
    exits.path(run_id).write_text(f"{exit_code}\n")
    return exits.path(run_id)


async def test_a_run_whose_launcher_died_is_ended_interrupted_and_launchable_when_not_safe_to_rerun(
        launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await insert_stale_run(pool, upload_id)

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5, pipeline_rerun_safe=False))):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert (finished.succeeded, finished.exit_code, finished.outcome) == (False, None, "interrupted")
    assert finished.message == ("The launcher a-launcher-that-died running the pipeline stopped responding. "
                                "The pipeline is not declared safe to run again on its own: launch the upload again.")
    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE upload_id = $1", upload_id) == "failed"


async def test_a_run_whose_launcher_died_is_run_again_by_another_launcher_when_safe_to_rerun(
        launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await insert_stale_run(pool, upload_id)
    settings = launcher_settings(heartbeat_seconds=0.5, pipeline_command=QUICK_SUCCESS, pipeline_rerun_safe=True)

    async with running_app(build_app(settings)):
        requeued = await tap.wait_for(of_upload(upload_id, "pipeline.rerun_queued"), 15)
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert requeued.message == ("The launcher a-launcher-that-died running the pipeline stopped responding. "
                                "The pipeline is safe to run again: it is queued once more (try 2 of at most 4).")
    assert (finished.run_id, finished.succeeded) == (requeued.next_run_id, True)
    tries = await pool.fetch("SELECT try, state, outcome FROM launcher.runs WHERE upload_id = $1 ORDER BY try",
                             upload_id)
    assert [tuple(row) for row in tries] == [(1, "failed", "interrupted"), (2, "succeeded", "succeeded")]
    # The rerun is the attempt's second run, and its events (hence its log lines) say so.
    rerun_events = [*tap.matching(of_upload(upload_id, "pipeline.started")),
                    *tap.matching(of_upload(upload_id, "pipeline.log_lines")), finished]
    assert [event.run for event in rerun_events] == [2] * len(rerun_events)


async def test_a_run_interrupted_more_times_than_allowed_is_not_run_again_on_its_own(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await insert_stale_run(pool, upload_id, try_number=3)
    settings = launcher_settings(heartbeat_seconds=0.5, pipeline_command=QUICK_SUCCESS, pipeline_rerun_safe=True,
                                 pipeline_max_reruns=2)

    async with running_app(build_app(settings)):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert finished.outcome == "interrupted"
    assert finished.message.endswith("It was interrupted 3 times, so it is not run again on its own: "
                                     "launch the upload again.")
    assert not tap.matching(of_upload(upload_id, "pipeline.rerun_queued"))


@pytest.mark.parametrize("rerun_safe", [True, False])
async def test_a_run_whose_launcher_died_after_its_pipeline_ended_is_recorded_finished_with_its_exit_code(
        launcher_settings, tap, pool, incoming_path, rerun_safe):
    upload_id = new_upload_id()
    run_id = await insert_stale_run(pool, upload_id)
    exit_file = keep_exit_code(incoming_path, run_id, 0)
    settings = launcher_settings(heartbeat_seconds=0.5, pipeline_command=QUICK_SUCCESS, pipeline_rerun_safe=rerun_safe)

    async with running_app(build_app(settings)):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)
        await eventually(lambda: asyncio.to_thread(lambda: not exit_file.exists()),
                         what="the exit file swept once the end was recorded")

    assert (finished.run_id, finished.outcome, finished.exit_code, finished.launcher) == (
        run_id, "succeeded", 0, "a-launcher-that-died")
    assert finished.message == "Pipeline finished successfully: the scan was inserted."
    assert finished.recorded_by is not None and finished.recorded_by != finished.launcher
    assert not tap.matching(of_upload(upload_id, "pipeline.rerun_queued"))
    rows = await pool.fetch("SELECT state, outcome, exit_code FROM launcher.runs WHERE upload_id = $1", upload_id)
    assert [tuple(row) for row in rows] == [("succeeded", "succeeded", 0)]


async def test_a_pipeline_killed_by_a_signal_whose_launcher_died_after_is_a_failure_naming_the_signal(
        launcher_settings, tap, pool, incoming_path):
    upload_id = new_upload_id()
    run_id = await insert_stale_run(pool, upload_id)
    keep_exit_code(incoming_path, run_id, -9)

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5, pipeline_rerun_safe=True))):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert (finished.outcome, finished.exit_code) == ("failed", -9)
    assert finished.message == "The pipeline was killed by signal 9 (SIGKILL; the system may have run out of memory)."
    assert not tap.matching(of_upload(upload_id, "pipeline.rerun_queued"))


async def test_a_run_that_is_still_beating_is_left_alone(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    await pool.execute(
        """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, started_at, heartbeat_at)
           VALUES ($1, 1, $2, 'running', 'a-live-launcher', now(), now() + interval '1 hour')""",
        upload_id,
        scan_facts(upload_id).model_dump(),
    )
    stale = new_upload_id()
    await insert_stale_run(pool, stale)

    async with running_app(build_app(launcher_settings(heartbeat_seconds=0.5, pipeline_rerun_safe=False))):
        await tap.wait_for(of_upload(stale, "pipeline.finished"), 15)

    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE upload_id = $1", upload_id) == "running"
    assert not tap.matching(lambda e: e.upload_id == upload_id)


async def test_a_launcher_shutting_down_hands_a_run_safe_to_rerun_back_to_the_queue(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    settings = launcher_settings(pipeline_command=WITH_A_CHILD, pipeline_rerun_safe=True, shutdown_grace_seconds=0)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id))
        child = await child_pid_of(tap, upload_id)
    requeued = await tap.wait_for(of_upload(upload_id, "pipeline.rerun_queued"), 5)

    assert not is_alive(child), "the pipeline's child outlived the run"
    assert "shut down during the run" in requeued.message
    assert not tap.matching(of_upload(upload_id, "pipeline.finished"))
    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE run_id = $1", requeued.next_run_id) == "queued"
    await pool.execute("UPDATE launcher.runs SET state = 'superseded' WHERE run_id = $1", requeued.next_run_id)


async def test_a_database_error_while_saving_output_stops_the_process_group_records_why_and_frees_the_slot(
        launcher_settings, tap, pool, tmp_path):
    upload_id, next_upload_id = new_upload_id(), new_upload_id()
    await pool.execute(f"""
        CREATE OR REPLACE FUNCTION launcher.test_refuse_output() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.routing_key = 'pipeline.log_lines'
               AND convert_from(NEW.body, 'UTF8')::jsonb->>'upload_id' = '{upload_id}' THEN
                RAISE EXCEPTION 'output refused for this test';
            END IF;
            RETURN NEW;
        END $$""")
    await pool.execute("""CREATE TRIGGER test_refuse_output BEFORE INSERT ON launcher.outbox
                          FOR EACH ROW EXECUTE FUNCTION launcher.test_refuse_output()""")
    command = ("""{python} -c "import subprocess, sys, time; """
               """child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); """
               f"""open('{tmp_path / "child"}', 'w').write(str(child.pid)); print('[info] working', flush=True); """
               """time.sleep(300)" """)
    settings = launcher_settings(pipeline_command=command, pipeline_rerun_safe=False)
    try:
        async with running_app(build_app(settings)):
            await tap.publish(granted(upload_id))
            finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 20)
            await tap.publish(granted(next_upload_id))
            next_started = await tap.wait_for(of_upload(next_upload_id, "pipeline.started"), 20)
    finally:
        await pool.execute("DROP TRIGGER test_refuse_output ON launcher.outbox")
        await pool.execute("DROP FUNCTION launcher.test_refuse_output()")

    assert finished.outcome == "interrupted"
    assert "failed during the run (RaiseError: output refused for this test)" in finished.message, finished.message
    assert not is_alive(int((tmp_path / "child").read_text())), "the pipeline's child outlived the run"
    assert next_started.run_id != finished.run_id, "the slot was not freed"


async def test_a_launcher_that_cannot_beat_its_heartbeat_stops_its_own_run_before_the_reaper_may(
        launcher_settings, tap, pool):
    upload_id = new_upload_id()
    settings = launcher_settings(pipeline_command=WITH_A_CHILD, pipeline_rerun_safe=False, heartbeat_seconds=1)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id))
        child = await child_pid_of(tap, upload_id)
        async with pool.acquire() as blocker, blocker.transaction():
            # Holding the run's row makes every heartbeat wait: to the launcher, the database is away.
            await blocker.execute("SELECT 1 FROM launcher.runs WHERE upload_id = $1 FOR UPDATE", upload_id)
            blocked_at = asyncio.get_running_loop().time()
            await eventually(lambda: _gone(child), timeout=10, what="the run stopped by its own launcher")
            stopped_after = asyncio.get_running_loop().time() - blocked_at
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert stopped_after < 3, f"the run was stopped {stopped_after:.1f} s after its last heartbeat; the reaper may take it after 3"
    assert finished.outcome == "interrupted"
    assert finished.message.startswith(f"The launcher {finished.launcher} could not reach the database for 2 s, "
                                       "so it stopped the run before another launcher may take it."), finished.message


async def _gone(pid: int) -> bool:
    return not is_alive(pid)


async def test_a_pipeline_that_ends_after_its_run_was_given_up_is_recorded_as_a_late_end(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    command = """{python} -c "import time; print('[info] waiting', flush=True); time.sleep(2)" """
    settings = launcher_settings(pipeline_command=command, pipeline_rerun_safe=False, heartbeat_seconds=30)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id))
        await tap.wait_for(of_upload(upload_id, "pipeline.log_lines"))
        # Another launcher's reaper gave the run up meanwhile (this launcher's beat is not due yet).
        await pool.execute("UPDATE launcher.runs SET state = 'failed', outcome = 'interrupted' WHERE upload_id = $1",
                           upload_id)
        late = await tap.wait_for(of_upload(upload_id, "pipeline.finished_late"), 15)

    assert late.exit_code == 0
    assert late.message == (f"The run on {late.launcher} ended successfully after it had been given up; "
                            "this end was not used.")
    assert not tap.matching(of_upload(upload_id, "pipeline.finished"))
    row = await pool.fetchrow("SELECT late_exit_code, late_finished_at FROM launcher.runs WHERE upload_id = $1",
                              upload_id)
    assert row["late_exit_code"] == 0 and row["late_finished_at"] is not None


async def test_a_pipeline_past_its_time_limit_is_stopped_with_its_children_and_the_upload_fails_saying_so(
        launcher_settings, tap):
    upload_id = new_upload_id()
    settings = launcher_settings(pipeline_command=WITH_A_CHILD, pipeline_timeout_minutes=0.05)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id))
        child = await child_pid_of(tap, upload_id)
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 20)

    assert (finished.outcome, finished.exit_code) == ("timed out", None)
    assert finished.message == "The pipeline timed out after 0.05 minutes and was stopped."
    assert not is_alive(child)
