"""Running one claimed run: start the pipeline, stream its output as log
events, and announce the finish with the exit code.

Each announcement goes through the outbox in the transaction that records
the change, so a crash cannot leave a run recorded but not announced.
"""

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque

import asyncpg

from services.common import metrics
from services.common.exit_codes import describe_exit_code
from services.common.log_context import about
from services.common.messages import Event, PipelineFinished, PipelineReported, PipelineStarted, RunOutcome
from services.common.outbox import add_to_outbox
from services.common.scan_store import ScanStore
from services.launcher import runs
from services.common.readable_text import readable
from services.launcher.output_batches import OutputBatches
from services.launcher.output_lines import READ_LIMIT_BYTES, classify, raw_lines, report_fields
from services.launcher.pipeline_command import PipelineCommand

log = logging.getLogger(__name__)

SCHEMA = "launcher"
KILL_AFTER_SECONDS = 10
STDERR_TAIL_LINES = 20


class RunExecutor:
    def __init__(self, pool: asyncpg.Pool, store: ScanStore, command: PipelineCommand, owner: str, heartbeat_seconds: float) -> None:
        self._pool = pool
        self._store = store
        self._command = command
        self._owner = owner
        self._heartbeat_seconds = heartbeat_seconds

    async def claim(self) -> tuple[runs.Run, list[str]] | None:
        async with self._pool.acquire() as conn, conn.transaction():
            run = await runs.claim_next_run(conn, self._owner)
            if run is None:
                return None
            argv = self._command.argv(run.upload_id, run.attempt, run.scan, self._store.local_path(run.scan.scan_key))
            await runs.record_command(conn, run.run_id, argv)
        return run, argv

    async def execute(self, run: runs.Run, argv: list[str]) -> None:
        with about(upload_id=run.upload_id, attempt=run.attempt):
            await self._execute(run, argv, time.monotonic())

    async def _execute(self, run: runs.Run, argv: list[str], started: float) -> None:
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        try:
            exit_code = await self._run_process(run, argv, stderr_tail)
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(
                run, None, RunOutcome.INTERRUPTED, list(stderr_tail),
                "The run was interrupted because the launcher shut down; launch it again.", started))
            raise
        except OSError as error:
            await self._finish(run, None, RunOutcome.NOT_STARTED, [],
                               f"The pipeline command could not be started: {error}.", started)
            return
        outcome = RunOutcome.SUCCEEDED if exit_code == 0 else RunOutcome.FAILED
        await self._finish(run, exit_code, outcome, list(stderr_tail), finish_message(exit_code), started)

    async def _run_process(self, run: runs.Run, argv: list[str], stderr_tail: deque[str]) -> int:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=READ_LIMIT_BYTES,
        )
        batches = OutputBatches(run.upload_id, run.attempt, self._write_events)
        try:
            await self._announce_start(run, argv, process.pid)
            async with self._heartbeat(run):
                # A failure of any of them (the database refusing a batch) stops the others and the process.
                async with asyncio.TaskGroup() as group:
                    group.create_task(batches.tick())
                    await asyncio.gather(
                        self._forward(run, process.stdout, False, batches, stderr_tail),
                        self._forward(run, process.stderr, True, batches, stderr_tail),
                    )
                    batches.output_ended()  # the ticker writes the last lines, then the group ends
                return await process.wait()
        except BaseException:
            await asyncio.shield(_terminate(process))
            raise

    async def _announce_start(self, run: runs.Run, argv: list[str], pid: int) -> None:
        log.info("pipeline started", extra={"pid": pid, "argv": argv})
        started = PipelineStarted(upload_id=run.upload_id, attempt=run.attempt, run_id=run.run_id, command=argv,
                                  launcher=self._owner, pid=pid)
        async with self._pool.acquire() as conn, conn.transaction():
            await runs.record_pid(conn, run.run_id, pid)
            await add_to_outbox(conn, SCHEMA, started)

    async def _forward(self, run: runs.Run, stream: asyncio.StreamReader, from_stderr: bool,
                       batches: OutputBatches, stderr_tail: deque[str]) -> None:
        async for raw in raw_lines(stream):
            line = classify(readable(raw), from_stderr)
            if from_stderr:
                stderr_tail.append(line.message)
            report = report_fields(line.message) if line.is_report else None
            if report is not None:
                await batches.add_event(PipelineReported(upload_id=run.upload_id, attempt=run.attempt, **report))
            else:
                await batches.add(line)

    async def _write_events(self, events: list[Event]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for event in events:
                await add_to_outbox(conn, SCHEMA, event)

    async def _finish(self, run: runs.Run, exit_code: int | None, outcome: RunOutcome, stderr_tail: list[str],
                      message: str, started: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await runs.finish_run(conn, run.run_id, self._owner, exit_code, outcome):
                return
            finished = PipelineFinished(
                upload_id=run.upload_id, attempt=run.attempt, run_id=run.run_id, exit_code=exit_code,
                outcome=outcome, message=message, launcher=self._owner, stderr_tail=stderr_tail,
            )
            await add_to_outbox(conn, SCHEMA, finished)
        log.info("pipeline finished", extra={"exit_code": exit_code, "outcome": outcome.value})
        count_run(outcome, exit_code, time.monotonic() - started)
        if finished.succeeded:
            self._store.remove(run.scan.scan_key)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, run: runs.Run):
        async def beat_forever() -> None:
            while True:
                await asyncio.sleep(self._heartbeat_seconds)
                with contextlib.suppress(Exception):
                    async with self._pool.acquire() as conn:
                        await runs.beat(conn, run.run_id, self._owner)

        task = asyncio.create_task(beat_forever())
        try:
            yield
        finally:
            task.cancel()


def count_run(outcome: RunOutcome, exit_code: int | None, seconds: float | None = None) -> None:
    metrics.PIPELINE_RUNS.labels(outcome.value, "none" if exit_code is None else str(exit_code)).inc()
    if seconds is not None:
        metrics.PIPELINE_DURATION.labels(outcome.value).observe(seconds)


def finish_message(exit_code: int) -> str:
    if exit_code == 0:
        return "Pipeline finished successfully: the scan was inserted."
    return f"Pipeline failed with exit code {exit_code}: {describe_exit_code(exit_code)}."


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """Stop the pipeline and everything it started: SIGTERM, then SIGKILL."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_AFTER_SECONDS):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
