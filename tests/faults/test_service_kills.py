"""SIGKILL of each service in turn, then of services at random moments, while a stream of uploads
flows: every accepted upload ends in Success, none is lost, no run of an attempt overlaps another run of
it, and no log line is saved twice (tests/support/fault_accounting.py counts and checks)."""

import asyncio
import os
import random

import pytest

from tests.faults.conftest import (demo_client, fault_env, numbered_pipeline_command,
                                   until_a_run_is_running)
from tests.support.fault_accounting import UploadStream, account
from tests.support.fault_stack import FaultStack
from tests.support.stack import SERVICES

# A run: 6 numbered lines in about 0.9 s, then the reference pipeline; about as long as the launcher's two
# slots take to keep up with the stream, so that a kill at a random moment often finds runs in hand.
LINES, DELAY = 6, 0.15
# The random kills are the same on every run; UPLOADER_FAULT_SEED=n tries others.
SEED = int(os.environ.get("UPLOADER_FAULT_SEED", "2"))


@pytest.fixture(scope="module")
def stack(module_servers, ledger, tmp_path_factory):
    database_url, amqp_url = module_servers
    env = fault_env(database_url, amqp_url, tmp_path_factory.mktemp("kills"),
                    numbered_pipeline_command(ledger, LINES, DELAY))
    with FaultStack(env, tmp_path_factory.mktemp("logs")) as running:
        yield running




async def kill_and_restart(stack: FaultStack, name: str, down: float, notes: list[str], clock) -> None:
    await stack.kill(name)
    notes.append(f"{name} killed at {clock():.1f} s")
    await asyncio.sleep(down)
    await stack.restart(name)
    notes.append(f"{name} ready again at {clock():.1f} s")


async def test_sigkill_of_each_service_in_turn_while_uploads_flow(stack, http, archives, module_pool, ledger):
    await stack.ensure_running()
    client = demo_client(http, stack)
    notes = [f"service logs in {stack.log_dir}"]
    stream = UploadStream(client, archives(32), interval=0.6)
    async with stream:
        await stream.wait_accepted(3)
        for name in ("gateway", "validator", "logstore", "launcher"):
            in_this_launcher = lambda owner: stack.owns("launcher", owner)  # noqa: E731
            if name == "launcher" and not await until_a_run_is_running(module_pool, in_this_launcher):
                notes.append("no run was running when the launcher was killed")
            await kill_and_restart(stack, name, 1.5, notes, stream.elapsed)
            await asyncio.sleep(1)

    report = await account(client, stream, pool=module_pool, ledger=ledger, lines_per_run=LINES, notes=notes)
    report.assert_clean("SIGKILL of each service in turn", min_accepted=len(stream.sent) // 2)


def chaos_plan(seed: int, kills: int) -> list[tuple[float, str, float]]:
    """(seconds before the kill, service, seconds it stays down) for each kill; one seed, one plan."""
    rng = random.Random(seed)
    return [(rng.uniform(0.5, 2.5), rng.choice(SERVICES), rng.uniform(0.3, 2.0)) for _ in range(kills)]


async def test_sigkill_of_services_at_random_moments_while_uploads_flow(stack, http, archives, module_pool, ledger):
    """The kills follow one another without waiting for the last one's service to be back: a service may
    die while another starts again. Only a service still starting is waited for before it is killed again."""
    await stack.ensure_running()
    client = demo_client(http, stack)
    notes = [f"seed {SEED} (UPLOADER_FAULT_SEED)", f"service logs in {stack.log_dir}"]
    coming_back: dict[str, asyncio.Task] = {}
    stream = UploadStream(client, archives(36), interval=0.6)
    async with stream:
        await stream.wait_accepted(2)
        for wait, name, down in chaos_plan(SEED, 6):
            await asyncio.sleep(wait)
            if name in coming_back:
                await coming_back.pop(name)
            await stack.kill(name)
            notes.append(f"{name} killed at {stream.elapsed():.1f} s, down for {down:.1f} s")
            coming_back[name] = asyncio.create_task(restart_after(stack, name, down, notes, stream.elapsed))
        await asyncio.gather(*coming_back.values())

    report = await account(client, stream, pool=module_pool, ledger=ledger, lines_per_run=LINES, notes=notes)
    report.assert_clean("SIGKILL of services at random moments", min_accepted=len(stream.sent) // 2)


async def restart_after(stack: FaultStack, name: str, down: float, notes: list[str], clock) -> None:
    await asyncio.sleep(down)
    await stack.restart(name)
    notes.append(f"{name} ready again at {clock():.1f} s")
