"""What becomes of a run that ended without its pipeline finishing: its
launcher shut down, died, lost its database or failed while the run was in
hand (the pipeline's process group is stopped first, so two tries never
overlap).

When the pipeline command is declared safe to run again
(UPLOADER_PIPELINE_RERUN_SAFE), the same launch is queued once more for any
launcher to take, up to UPLOADER_PIPELINE_MAX_RERUNS times; the upload stays
In Progress. Otherwise the run ends "interrupted": the upload is a Failure
that may be launched again (POST /api/v1/uploads/{id}/launch) without
sending the file again.
"""

from dataclasses import dataclass

import asyncpg

from services.common import metrics
from services.common.messages import PipelineFinished, PipelineRerunQueued, RunOutcome
from services.common.outbox import add_to_outbox
from services.launcher import runs
from services.launcher.accept import AFTER_CANCEL
from services.launcher.schema import SCHEMA


@dataclass(frozen=True)
class RerunPolicy:
    safe_to_rerun: bool
    max_reruns: int

    def allows_rerun_after(self, run: runs.Run) -> bool:
        return self.safe_to_rerun and run.try_number <= self.max_reruns


async def give_up_run(conn: asyncpg.Connection, run: runs.Run, launcher: str, why: str, policy: RerunPolicy) -> bool:
    """End a running run as interrupted (in the caller's transaction), then queue its next try or announce
    the Failure (or its cancel, had a user asked for one meanwhile); False if it was no longer running under
    that launcher (someone else ended it first)."""
    ended = await conn.fetchrow(
        """UPDATE launcher.runs SET state = 'failed', ended_why = $3, finished_at = now(),
               outcome = CASE WHEN cancel_requested_by IS NULL THEN 'interrupted' ELSE 'cancelled' END
           WHERE run_id = $1 AND owner = $2 AND state = 'running' RETURNING cancel_requested_by""",
        run.run_id, launcher, why,
    )
    if ended is None:
        return False
    cancelled_by = ended["cancel_requested_by"]
    metrics.count_run(RunOutcome.INTERRUPTED if cancelled_by is None else RunOutcome.CANCELLED, None)
    if cancelled_by is not None:  # a user wanted it stopped: it is not run again
        await _announce_end(conn, run, launcher, RunOutcome.CANCELLED,
                            f"{why}. It had been cancelled by {cancelled_by}: {AFTER_CANCEL}")
        return True
    if policy.allows_rerun_after(run):
        next_run_id = await runs.queue_rerun(conn, run)
        tries = policy.max_reruns + 1
        await add_to_outbox(conn, SCHEMA, PipelineRerunQueued(
            upload_id=run.upload_id, attempt=run.attempt, launch=run.launch, run_id=run.run_id, run=run.number,
            next_run_id=next_run_id, launcher=launcher,
            message=f"{why}. The pipeline is safe to run again: it is queued once more "
                    f"(try {run.try_number + 1} of at most {tries}).",
        ))
    else:
        await _announce_end(conn, run, launcher, RunOutcome.INTERRUPTED, f"{why}. {_what_now(run, policy)}")
    return True


async def _announce_end(conn: asyncpg.Connection, run: runs.Run, launcher: str, outcome: RunOutcome,
                        message: str) -> None:
    """The run's end, without an exit code: the upload's Failure (whose LORIS row, in LORIS site mode, owes
    Inserting = 0: services/launcher/loris_run_end.py)."""
    await runs.owe_not_inserting(conn, run.run_id)
    await add_to_outbox(conn, SCHEMA, PipelineFinished(
        upload_id=run.upload_id, attempt=run.attempt, launch=run.launch, run_id=run.run_id, run=run.number,
        exit_code=None, outcome=outcome, launcher=launcher, message=message,
    ))


def _what_now(run: runs.Run, policy: RerunPolicy) -> str:
    if policy.safe_to_rerun:
        return (f"It was interrupted {run.try_number} times, so it is not run again on its own: "
                "launch the upload again.")
    return "The pipeline is not declared safe to run again on its own: launch the upload again."
