"""Helpers of the integration tests: unique ids, scan facts, and waiting for a
condition on the real servers with a timeout (never a bare sleep)."""

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
import asyncpg

from services.common.messages import (
    PipelineFinished,
    PipelineStarted,
    RunOutcome,
    ScanFacts,
    UploadReceived,
    UserScope,
)
from services.common.scan_store import scan_key
from services.common.topology import LAUNCHER_QUEUE
from tests.support.tap import of_upload

T = TypeVar("T")

POLL_INTERVAL_SECONDS = 0.05


def new_upload_id() -> int:
    return random.randint(10**6, 10**9)


def scan_facts(upload_id: int, candid="300001", pscid="MTL0001", visit_label="V1", *, attempt: int = 1,
               is_phantom: bool = False, file_name: str | None = None) -> ScanFacts:
    name = file_name or (
        f"phantom_{uuid.uuid4().hex[:8]}.tgz" if is_phantom else f"{pscid}_{candid}_{visit_label}_{uuid.uuid4().hex[:8]}.tgz"
    )
    return ScanFacts(
        file_name=name,
        scan_key=scan_key("demo", upload_id, attempt, name),
        candid=None if is_phantom else candid,
        pscid=None if is_phantom else pscid,
        visit_label=None if is_phantom else visit_label,
        is_phantom=is_phantom,
    )


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15, what: str = "the condition") -> T:
    """Poll `check` until it returns a truthy value; return that value, or fail after `timeout` seconds."""
    last = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(POLL_INTERVAL_SECONDS)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout} s (last value: {last!r})") from None


async def wait_until_processed(pool: asyncpg.Pool, schema: str, event_id: uuid.UUID, timeout: float = 15) -> None:
    """Wait until a service's consumer has committed the handling of this event id."""

    async def processed() -> bool:
        return bool(await pool.fetchval(f"SELECT true FROM {schema}.processed_events WHERE event_id = $1", event_id))

    await eventually(processed, timeout, f"{schema} processing event {event_id}")


ALL_SITES = UserScope(username="demo", all_sites=True, no_session=True)


def received_event(upload_id: int, attempt: int = 1, *, scan: ScanFacts | None = None, size_bytes: int = 1234,
                   scope: UserScope = ALL_SITES, **facts) -> UploadReceived:
    """upload.received as the gateway announces it, for the demo user unless another scope is given."""
    return UploadReceived(
        upload_id=upload_id, attempt=attempt, scan=scan or scan_facts(upload_id, attempt=attempt, **facts),
        size_bytes=size_bytes, uploaded_by=scope.username, scope=scope,
    )


def started_event(upload_id: int, attempt: int = 1, command: list[str] | None = None) -> PipelineStarted:
    return PipelineStarted(upload_id=upload_id, attempt=attempt, run_id=upload_id * 10 + attempt,
                           command=command or ["pipeline"], launcher="test-launcher", pid=4242)


def finished_event(upload_id: int, attempt: int = 1, exit_code: int | None = 0,
                   message: str = "Pipeline finished successfully: the scan was inserted.") -> PipelineFinished:
    succeeded = exit_code == 0
    return PipelineFinished(
        upload_id=upload_id, attempt=attempt, run_id=upload_id * 10 + attempt, exit_code=exit_code,
        outcome=RunOutcome.SUCCEEDED if succeeded else RunOutcome.FAILED, message=message,
        launcher="test-launcher",
    )


# A pipeline command that prints the pid of a child it left sleeping in its process group, then sleeps too.
WITH_A_CHILD = ("""{python} -c "import subprocess, sys, time; """
                """child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); """
                """print('[info] child', child.pid, flush=True); time.sleep(300)" """)


async def child_pid_of(tap, upload_id: int) -> int:
    """The pid WITH_A_CHILD printed first."""
    first = await tap.wait_for(of_upload(upload_id, "pipeline.log_lines"))
    return int(first.lines[0].message.split()[-1])


async def leave_no_launch_over(amqp_url: str, pool: asyncpg.Pool) -> None:
    """Launch requests other test modules left in the launcher's queue, and runs a launcher of theirs queued but
    did not start, would take the slots of a launcher started now: they are dropped."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await (await channel.get_queue(LAUNCHER_QUEUE.name, ensure=False)).purge()
    except aio_pika.exceptions.ChannelClosed:
        pass  # not declared yet: nothing was left
    finally:
        await connection.close()
    await pool.execute("UPDATE launcher.runs SET state = 'superseded' WHERE state = 'queued'")
