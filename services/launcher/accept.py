"""Accepting launch work from events: queue one run per upload attempt."""

import asyncpg

from services.common.consumer import Handler
from services.common.messages import Event, LaunchRequested, UploadValidated
from services.launcher.runs import queue_run


def accept_launches(auto_launch: bool) -> Handler:
    """A validated upload is queued when auto-launch is on; a launch request always is."""

    async def accept(event: Event, conn: asyncpg.Connection) -> None:
        if isinstance(event, LaunchRequested) or (isinstance(event, UploadValidated) and auto_launch):
            await queue_run(conn, event.upload_id, event.attempt, event.scan)

    return accept
