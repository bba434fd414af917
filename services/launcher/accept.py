"""Accepting launch work: the gateway, the authority on each upload, grants a
run (automatically once validated, or on request) with upload.launch_requested;
the launcher queues one run per grant (a launch of an attempt)."""

import asyncpg

from services.common.messages import Event, LaunchRequested
from services.launcher.runs import queue_run


async def accept_launch(event: Event, conn: asyncpg.Connection) -> None:
    if isinstance(event, LaunchRequested):
        await queue_run(conn, event.upload_id, event.attempt, event.scan, event.launch)
