"""Accepting launch work: the gateway, the authority on each upload, grants a
run (automatically once validated, or on request) with upload.launch_requested;
the launcher queues one run per grant (a launch of an attempt). A user's
cancel (upload.cancel_requested) ends the launch's queued run at once, or has
its launcher stop the running one."""

import asyncpg

from services.common.messages import Event, LaunchRequested, PipelineFinished, RunCancelRequested, RunOutcome
from services.common.metrics import count_run
from services.common.outbox import add_to_outbox
from services.launcher import runs
from services.launcher.schema import SCHEMA


async def accept_launch(event: Event, conn: asyncpg.Connection) -> None:
    match event:
        case LaunchRequested():
            await runs.queue_run(conn, event.upload_id, event.attempt, event.scan, event.launch,
                                 event.loris_upload_id)
        case RunCancelRequested():
            await _cancel(conn, event)


async def _cancel(conn: asyncpg.Connection, event: RunCancelRequested) -> None:
    for run_id in await runs.cancel_runs(conn, event.upload_id, event.attempt, event.launch, event.requested_by):
        count_run(RunOutcome.CANCELLED, None)
        await add_to_outbox(conn, SCHEMA, PipelineFinished(
            upload_id=event.upload_id, attempt=event.attempt, launch=event.launch, run_id=run_id, exit_code=None,
            outcome=RunOutcome.CANCELLED, launcher="none",
            message=f"The run was cancelled by {event.requested_by} before it started; {AFTER_CANCEL}",
        ))


AFTER_CANCEL = "the upload may be launched again, or overwritten."
