"""How a run's end is told: its outcome and sentence from its exit code, and the record and the event of
its end, written once (a conditional update on the run still running under its launcher). In LORIS site mode an
end also carries the upload's mri_upload row as read back, and a failed end whose row could not be told
Inserting = 0 yet leaves that owed (services/launcher/loris_run_end.py)."""

import asyncpg

from services.common.exit_codes import describe_exit_code, describe_signal
from services.common.messages import LorisUploadRecord, PipelineFinished, RunOutcome
from services.common.outbox import add_to_outbox
from services.launcher import runs
from services.launcher.schema import SCHEMA


async def announce_finish(conn: asyncpg.Connection, run: runs.Run, launcher: str, exit_code: int | None,
                           outcome: RunOutcome, message: str, stderr_tail: list[str],
                           recorded_by: str | None = None, loris_record: LorisUploadRecord | None = None,
                           owes_not_inserting: bool = False) -> bool:
    """Record the end of a run still running under `launcher` and announce it; False if it was not."""
    if not await runs.finish_run(conn, run.run_id, launcher, exit_code, outcome):
        return False
    if owes_not_inserting:
        await runs.owe_not_inserting(conn, run.run_id)
    await add_to_outbox(conn, SCHEMA, PipelineFinished(
        upload_id=run.upload_id, attempt=run.attempt, launch=run.launch, run_id=run.run_id, run=run.number,
        exit_code=exit_code, outcome=outcome, message=message, launcher=launcher, stderr_tail=stderr_tail,
        recorded_by=recorded_by, loris_record=loris_record,
    ))
    return True


def outcome_of(exit_code: int) -> RunOutcome:
    return RunOutcome.SUCCEEDED if exit_code == 0 else RunOutcome.FAILED


def finish_message(exit_code: int) -> str:
    if exit_code == 0:
        return "Pipeline finished successfully: the scan was inserted."
    if exit_code < 0:
        return f"The pipeline was killed by {describe_signal(-exit_code)}."
    return f"Pipeline failed with exit code {exit_code}: {describe_exit_code(exit_code)}."
