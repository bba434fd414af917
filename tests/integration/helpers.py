"""Helpers of the integration tests: unique ids, scan facts, and waiting for a
condition on the real servers with a timeout (never a bare sleep)."""

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from services.common.messages import ScanFacts
from services.common.scan_store import scan_key

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
