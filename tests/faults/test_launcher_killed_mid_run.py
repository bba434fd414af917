"""A launcher killed (SIGKILL) while its pipelines run: the other launcher replica runs them again, each
upload ends in Success, the killed launcher's pipelines do not keep running, and no run of an attempt
overlaps another (the numbered pipeline's ledger sees two live processes of one attempt, whatever the
records say)."""

import asyncio
import contextlib
import os
import signal
import time

import pytest

from tests.faults.conftest import HEARTBEAT_SECONDS, all_accepted, demo_client, fault_env, numbered_pipeline_command
from tests.support.fault_accounting import account
from tests.support.fault_stack import FaultStack
from tests.support.live_processes import live_members_of_group

LINES, DELAY = 40, 0.3  # a run prints for about 12 s: a kill lands early in it, its orphan would outlive the checks
UPLOADS = 4  # two launchers with two slots each: all four run at once
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
# The killed launcher's pipelines must be gone by the time another launcher may run them again, and soon.
GONE_WITHIN_SECONDS = STALE_SECONDS + 5


@pytest.fixture(scope="module")
def stack(module_servers, ledger, tmp_path_factory):
    database_url, amqp_url = module_servers
    env = fault_env(database_url, amqp_url, tmp_path_factory.mktemp("mid-run"),
                    numbered_pipeline_command(ledger, LINES, DELAY))
    with FaultStack(env, tmp_path_factory.mktemp("logs"), replicas=("launcher.2",)) as running:
        yield running




async def until_every_one_runs(pool, upload_ids: list[int], timeout: float = 30) -> list:
    """Until each upload's pipeline runs and printed a few lines: its run rows (owner, pid)."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await pool.fetch("SELECT upload_id, owner, pid, started_at FROM launcher.runs"
                                    " WHERE state = 'running' AND pid IS NOT NULL AND upload_id = any($1::bigint[])",
                                    upload_ids)
            if len(rows) == len(upload_ids) and all(
                    (time.time() - row["started_at"].timestamp()) > 5 * DELAY for row in rows):
                return rows
            await asyncio.sleep(0.1)


async def test_a_launcher_killed_mid_run_its_runs_are_run_again_elsewhere_and_its_pipelines_stop(
    stack, http, archives, module_pool, ledger
):
    client = demo_client(http, stack)
    stream = await all_accepted(client, archives(UPLOADS))
    upload_ids = sorted(stream.accepted)
    running = await until_every_one_runs(module_pool, upload_ids)
    victim = "launcher" if stack.owns("launcher", running[0]["owner"]) else "launcher.2"
    orphans = {row["upload_id"]: row["pid"] for row in running if stack.owns(victim, row["owner"])}

    await stack.kill(victim)
    killed_at = time.monotonic()
    notes = [f"{victim} killed while running uploads {sorted(orphans)} (pids {sorted(orphans.values())})",
             f"service logs in {stack.log_dir}"]
    # Each run's pid leads its process group: the guard, the pipeline and whatever it started.
    still_alive = {group: live_members_of_group(group) for group in orphans.values()}
    try:
        while still_alive and time.monotonic() - killed_at < GONE_WITHIN_SECONDS:
            await asyncio.sleep(0.1)
            still_alive = {group: members for group in still_alive if (members := live_members_of_group(group))}
        notes.append(f"its pipelines {'still alive' if still_alive else 'gone'} "
                     f"{time.monotonic() - killed_at:.1f} s after the kill")
        report = await account(client, stream, pool=module_pool, ledger=ledger, lines_per_run=LINES, notes=notes)
    finally:
        for group in still_alive:  # nothing left running after the test, whatever it found
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
    if still_alive:
        report.other_problems.append(f"the process groups of the killed {victim}'s runs still had live members "
                                     f"{still_alive} {GONE_WITHIN_SECONDS} s after the kill (orphans)")
    other = "launcher.2" if victim == "launcher" else "launcher"
    for fate in report.fates:
        winners = [run for run in fate.runs if run["outcome"] == "succeeded"]
        if fate.upload_id in orphans and winners and not winners[0]["launcher"].startswith(f"{other}:"):
            report.other_problems.append(f"upload {fate.upload_id} of the killed {victim} succeeded on "
                                         f"{winners[0]['launcher']}, not on {other}")
    report.assert_clean(f"{victim} killed mid-run", min_accepted=UPLOADS)
