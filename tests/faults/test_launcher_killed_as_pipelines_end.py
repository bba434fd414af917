"""A launcher killed (SIGKILL) in the instant after its pipelines ended, before it recorded their ends:
each such run is recorded as finished, once, with its real exit code, by the reaper of the other
launcher, which reads the exit code the run's guard kept (services/launcher/run_exits.py). No run is run
again, and none ends "interrupted", whether the pipeline is declared safe to rerun or not."""

import asyncio
import os
from pathlib import Path

import pytest

from tests.faults.conftest import all_accepted, demo_client, fault_env
from tests.support.fault_accounting import NUMBERED_LINE, account
from tests.support.fault_stack import FaultStack
from tests.support.stack import REPO_ROOT

GATED_PIPELINE = REPO_ROOT / "tests" / "support" / "gated_pipeline.py"
LINES = 3
UPLOADS = 4  # two launchers with two slots each: all four wait at the gate at once
# The guard waits half a heartbeat for what a pipeline left behind: the moment to kill the launcher in.
HEARTBEAT_SECONDS = 3
LEFT_BEHIND_LINE = "stopped after the pipeline ended, before it recorded the end"


@pytest.fixture(scope="module", params=[True, False], ids=["rerun-safe", "not-rerun-safe"])
def stack(request, module_servers, tmp_path_factory):
    database_url, amqp_url = module_servers
    gate = tmp_path_factory.mktemp("gate")
    command = f"{{python}} {GATED_PIPELINE} --gate {gate} --run-key {{upload_id}}-{{attempt}} --lines {LINES}"
    env = fault_env(database_url, amqp_url, tmp_path_factory.mktemp("as-pipelines-end"), command)
    env |= {"UPLOADER_PIPELINE_RERUN_SAFE": str(request.param).lower(),
            "UPLOADER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    with FaultStack(env, tmp_path_factory.mktemp("logs"), replicas=("launcher.2",)) as running:
        running.gate = gate
        running.exits = Path(env["UPLOADER_INCOMING_PATH"]) / ".run-exits"
        yield running


async def until_at_gate(gate: Path, upload_ids: list[int], timeout: float = 30) -> dict[int, int]:
    """Until every upload's pipeline waits at the gate: their pids, by upload."""
    async with asyncio.timeout(timeout):
        while True:
            marks = {upload_id: gate / f"{upload_id}-1.at-gate" for upload_id in upload_ids}
            if all(mark.exists() for mark in marks.values()):
                return {upload_id: int(mark.read_text().split()[0]) for upload_id, mark in marks.items()}
            await asyncio.sleep(0.05)


async def until_logged(client, upload_ids: list[int], timeout: float = 30) -> None:
    """Until every upload's numbered lines are in its log: the kill must not take lines with it, which the
    launcher read but had not written yet (that is another loss, not this test's)."""
    async with asyncio.timeout(timeout):
        for upload_id in upload_ids:
            while sum(bool(NUMBERED_LINE.fullmatch(line["message"]))
                      for line in (await client.log(upload_id, mode="detailed"))["lines"]) < LINES:
                await asyncio.sleep(0.1)


async def until_reaped(pids: list[int], timeout: float = 10) -> None:
    """Until these processes ended and their guards collected them (no zombie left: past the guard's wait)."""
    async with asyncio.timeout(timeout):
        while any(os.path.exists(f"/proc/{pid}") for pid in pids):
            await asyncio.sleep(0.01)


async def until_swept(folder: Path, timeout: float = 15) -> list[str]:
    """Until the exit files are swept; those left when the time is up."""
    try:
        async with asyncio.timeout(timeout):
            while list(folder.iterdir()):
                await asyncio.sleep(0.2)
    except TimeoutError:
        pass
    return sorted(path.name for path in folder.iterdir())


async def test_a_launcher_killed_as_its_pipelines_end_has_their_runs_recorded_finished_once_never_run_again(
    stack, http, archives, module_pool
):
    client = demo_client(http, stack)
    stream = await all_accepted(client, archives(UPLOADS))
    upload_ids = sorted(stream.accepted)
    pids = await until_at_gate(stack.gate, upload_ids)
    await until_logged(client, upload_ids)
    running = await module_pool.fetch("SELECT upload_id, owner FROM launcher.runs WHERE upload_id = any($1::bigint[])",
                                      upload_ids)
    victim = "launcher" if stack.owns("launcher", running[0]["owner"]) else "launcher.2"
    victims = sorted(row["upload_id"] for row in running if stack.owns(victim, row["owner"]))

    (stack.gate / "open").touch()
    await until_reaped([pids[upload_id] for upload_id in victims])
    await stack.kill(victim)

    unrecorded = [row["upload_id"] for row in await module_pool.fetch(
        "SELECT upload_id FROM launcher.runs WHERE state = 'running' AND upload_id = any($1::bigint[])", victims)]
    notes = [f"{victim} killed after the pipelines of uploads {victims} ended; the ends of {unrecorded} were not "
             "recorded yet", f"service logs in {stack.log_dir}"]
    report = await account(client, stream, pool=module_pool, ledger=None, lines_per_run=LINES, notes=notes)
    if not unrecorded:
        report.other_problems.append(f"{victim} had recorded every end before it was killed: the test proves nothing")
    for fate in report.fates:
        if len(fate.runs) != 1 or len(fate.launcher_runs) != 1:
            fate.problems.append(f"{len(fate.runs)} runs in the logstore, {len(fate.launcher_runs)} in the launcher, "
                                 "not 1: it was run again")
        told = [line["message"] for line in fate.lines if LEFT_BEHIND_LINE in line["message"]]
        if fate.upload_id in unrecorded and len(told) != 1:
            fate.problems.append(f"its log says {len(told)} times that its launcher stopped after the pipeline ended")
    report.assert_clean(f"{victim} killed as its pipelines ended", min_accepted=UPLOADS)
    assert await until_swept(stack.exits) == []
