"""The outbox relay stops when it is cancelled, even when a notification wakes it at that very moment
(asyncio.wait_for lost that cancellation on Python 3.11, and the service never finished shutting down)."""

import asyncio

from services.common.outbox import OutboxRelay


async def test_a_relay_woken_as_it_is_cancelled_still_stops():
    for _ in range(50):
        relay = OutboxRelay(pool=None, schema="gateway", exchange=None, poll_seconds=0.01)
        stop = False

        async def sleep_in_a_loop():
            while not stop:
                relay._wake.clear()
                await relay._sleep(0.01)

        task = asyncio.create_task(sleep_in_a_loop())
        await asyncio.sleep(0)
        relay._wake.set()
        await asyncio.sleep(0)  # the wait completes ...
        task.cancel()  # ... as the cancellation arrives
        done, _ = await asyncio.wait({task}, timeout=1)
        stop = True
        assert done, "the cancellation was lost: the relay went on sleeping"
        assert task.cancelled()
