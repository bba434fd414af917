"""Running one claimed run: start the pipeline, stream its output as log
events, and announce the finish with the exit code.

Each announcement goes through the outbox in the transaction that records
the change, so a crash cannot leave a run recorded but not announced.

Whatever happens while a run is in hand, the pipeline's whole process group
is stopped before the slot is freed: the launcher shutting down, an error of
its own (the database refusing a batch of output, a crash of the output
reader), the time limit, or a lost heartbeat. A launcher that cannot beat
its heartbeat for two beats stops its run itself, before the reaper of
another launcher (after three) may give it to someone else; a launcher that
dies takes its runs with it (services/launcher/process_guard.py). A pipeline
that ended on its own leaves its exit code with its guard, so that a run
whose launcher died before recording the end is recorded as finished by the
reaper, not run again (services/launcher/run_exits.py).

In LORIS site mode a run of an upload with a LORIS UploadID also marks the row Inserting = 1 before the
pipeline starts, turns LORIS-MRI's notification_spool rows into log lines as it goes, and ends as the row
says (services/launcher/loris_run_end.py).
"""

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import sys
import time
from collections import deque
from pathlib import Path

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from services.common.db import TRANSIENT_DB_ERRORS
from services.common.log_context import about
from services.common.loris_db import LorisDatabaseAway
from services.common.messages import (
    Event,
    LorisUploadRecord,
    PipelineFinishedLate,
    PipelineStarted,
    RunOutcome,
)
from services.common.metrics import count_run
from services.common.outbox import add_to_outbox
from services.common.readable_text import readable
from services.common.scan_store import ScanStore
from services.launcher import runs
from services.launcher.accept import AFTER_CANCEL
from services.launcher.interruptions import RerunPolicy, give_up_run
from services.launcher.loris_run_end import RowNotReadable, loris_end, pay_not_inserting_debts
from services.launcher.loris_spool import SpoolFollower, rows_left_behind
from services.launcher.loris_upload_row import LorisUploadRow, while_away
from services.launcher.output_batches import OutputBatches
from services.launcher.output_budget import stderr_tail_line
from services.launcher.output_lines import READ_LIMIT_BYTES, classify, raw_lines
from services.launcher.pipeline_command import CommandNotPossible, PipelineCommand
from services.launcher.run_ends import announce_finish, finish_message, outcome_of
from services.launcher.run_exits import RunExits
from services.launcher.schema import SCHEMA

log = logging.getLogger(__name__)

KILL_AFTER_SECONDS = 10
STDERR_TAIL_LINES = 20  # each cut to a few KiB (output_budget.stderr_tail_line)
STALE_AFTER_BEATS = 3  # the reaper gives up a run whose heartbeat is this many beats old (slots.py)
FENCE_AFTER_BEATS = 2  # a launcher stops its own run when it could not beat for this long
GUARD = Path(__file__).with_name("process_guard.py")
REAPER_LORIS_SECONDS = 2  # how long the reaper, in its transaction, waits for the LORIS database per run


class RunLost(Exception):
    """The run must stop now: it is no longer safely ours to run."""


class RunCancelled(Exception):
    """A user cancelled the run (POST /api/v1/uploads/{id}/cancel)."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class RunExecutor:
    def __init__(self, pool: asyncpg.Pool, store: ScanStore, exits: RunExits, command: PipelineCommand, owner: str,
                 heartbeat_seconds: float, policy: RerunPolicy, timeout_seconds: float | None = None,
                 keep_scan_after_success: bool = False, loris: LorisUploadRow | None = None) -> None:
        self._pool = pool
        self._loris = loris  # LORIS site mode: the LORIS database's mri_upload and notification_spool
        self._store = store
        self._exits = exits
        self._command = command
        self._owner = owner
        self._heartbeat_seconds = heartbeat_seconds
        self._policy = policy
        self._timeout_seconds = timeout_seconds
        self._keep_scan_after_success = keep_scan_after_success
        # SIGTERM to SIGKILL, short enough that a stopped run is gone before the reaper may hand it on.
        self._kill_after = min(KILL_AFTER_SECONDS, heartbeat_seconds / 2)
        self._cancels: dict[int, asyncio.Future[str]] = {}  # running run id -> who cancelled it, once told

    async def claim(self) -> tuple[runs.Run, list[str]] | None:
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                run = await runs.claim_next_run(conn, self._owner)
                if run is None:
                    return None
                try:
                    argv = self._command.argv(run.upload_id, run.attempt, run.scan,
                                              self._store.local_path(run.scan.scan_key), run.loris_upload_id)
                except CommandNotPossible as impossible:
                    await announce_finish(conn, run, self._owner, None, RunOutcome.NOT_STARTED, str(impossible), [])
                    count_run(RunOutcome.NOT_STARTED, None)
                    continue  # the next run, if any
                await runs.record_command(conn, run.run_id, argv)
            return run, argv

    async def execute(self, run: runs.Run, argv: list[str]) -> None:
        self._cancels[run.run_id] = asyncio.get_running_loop().create_future()
        try:
            with about(upload_id=run.upload_id, attempt=run.attempt):
                await self._execute(run, argv, time.monotonic())
        finally:
            self._cancels.pop(run.run_id).cancel()

    def cancel(self, run_id: int, by: str) -> None:
        """A user cancelled this run (told by a notification): stop it now, not at the next heartbeat."""
        cancel = self._cancels.get(run_id)
        if cancel is not None and not cancel.done():
            cancel.set_result(by)

    def _tells_loris(self, run: runs.Run) -> bool:
        return self._loris is not None and run.loris_upload_id is not None

    async def _execute(self, run: runs.Run, argv: list[str], started: float) -> None:
        if self._tells_loris(run) and not await self._mark_inserting(run):
            return
        try:
            process, launcher_alive = await self._start(argv, self._exits.path(run.run_id))
        except OSError as error:
            await self._finish(run, None, RunOutcome.NOT_STARTED, [],
                               f"The pipeline command could not be started: {error}.", started)
            return
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        time_limit = asyncio.timeout(self._timeout_seconds)
        try:
            async with time_limit:
                exit_code, log_read = await self._follow(run, argv, process, stderr_tail)
        except asyncio.CancelledError:
            await asyncio.shield(self._give_up(run, f"The launcher {self._owner} shut down during the run"))
            raise
        except BaseException as error:  # an ExceptionGroup from the run's tasks, or the time limit
            cancelled = _first(error, RunCancelled)
            if time_limit.expired():
                await self._finish(run, None, RunOutcome.TIMED_OUT, list(stderr_tail), self._timed_out(), started)
            elif cancelled is not None:
                await self._finish(run, None, RunOutcome.CANCELLED, list(stderr_tail),
                                   f"The run was cancelled by {cancelled.by} and stopped; {AFTER_CANCEL}", started)
            else:
                await self._give_up(run, self._why_stopped(error))
            return
        finally:
            os.close(launcher_alive)
        if not log_read:  # MariaDB away at the end: the reaper records it with those rows, from the guard's code
            return
        await self._finish(run, exit_code, outcome_of(exit_code), list(stderr_tail),
                           self._finish_message(run, exit_code), started)

    async def _mark_inserting(self, run: runs.Run) -> bool:
        """Inserting = 1, as LORIS's own launch does, tried while the run would stay ours (a statement that hangs,
        on a locked mri_upload, counts as MariaDB away); else the run is given up (False). False too when it was
        given up meanwhile: another launcher may be running it now."""
        fence = self._heartbeat_seconds * FENCE_AFTER_BEATS
        try:
            async with asyncio.timeout(fence):
                await while_away(fence, lambda: self._loris.mark_inserting(run.loris_upload_id))
        except (LorisDatabaseAway, TimeoutError):
            await self._give_up(run, f"The LORIS database could not be reached to mark upload {run.loris_upload_id} "
                                     "In Progress, so the pipeline was not started")
            return False
        return await self._still_ours(run)

    async def _still_ours(self, run: runs.Run) -> bool:
        """A beat before the pipeline starts: whether the run is still this launcher's after a wait."""
        try:
            if (await runs.beat(self._pool, run.run_id, self._owner)).still_ours:
                return True
            log.warning("run given up while it waited to start; not started here")
        except Exception as error:
            log.warning("run not started: the database did not say it is still ours; a reaper will see it",
                        extra={"error": repr(error)})
        return False

    async def _start(self, argv: list[str], exit_file: Path) -> tuple[asyncio.subprocess.Process, int]:
        """Start the command under its guard, in a process group of its own; returns the process and the
        pipe end that tells the guard this launcher is alive (closed when the run is over). The guard keeps
        the command's exit code in `exit_file` should it end on its own."""
        if shutil.which(argv[0]) is None:
            raise FileNotFoundError(errno.ENOENT, "no such executable command", argv[0])
        watch, launcher_alive = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", str(GUARD), str(watch), str(self._kill_after), str(exit_file), *argv,
                env=self._command.environment,  # never the launcher's own, which holds its passwords
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=(watch,),
                limit=READ_LIMIT_BYTES,
            )
        except BaseException:
            os.close(launcher_alive)
            raise
        finally:
            os.close(watch)
        return process, launcher_alive

    async def _follow(self, run: runs.Run, argv: list[str], process: asyncio.subprocess.Process,
                      stderr_tail: deque[str]) -> tuple[int, bool]:
        """Stream the output into the log while beating the heartbeat, until the process ends; its exit code, and
        whether LORIS-MRI's log was read to its end. A failure of any of these (the database refusing a batch, a
        lost heartbeat) stops the others and the process."""
        batches = OutputBatches(run.upload_id, run.attempt, run.run_id, self._write_events, run.number)
        spool = SpoolFollower(self._loris.loris, self._pool, run, self._owner) if self._tells_loris(run) else None
        try:
            await self._announce_start(run, argv, process.pid)
            async with asyncio.TaskGroup() as group:
                beating = group.create_task(self._keep_beating(run))
                group.create_task(batches.tick())
                following = None
                if spool is not None:
                    following = group.create_task(spool.follow(self._heartbeat_seconds * FENCE_AFTER_BEATS))
                await asyncio.gather(
                    self._forward(process.stdout, False, batches, stderr_tail),
                    self._forward(process.stderr, True, batches, stderr_tail),
                )
                batches.output_ended()  # the ticker writes the last lines, then ends
                exit_code = await process.wait()
                if following is not None:
                    spool.process_ended()  # the rows it wrote last are read, then the follower ends
                    await following
                beating.cancel()
            return exit_code, spool is None or not spool.rows_left_unread
        except BaseException:
            await asyncio.shield(terminate(process, self._kill_after))
            raise

    async def _announce_start(self, run: runs.Run, argv: list[str], pid: int) -> None:
        log.info("pipeline started", extra={"pid": pid, "argv": argv, "try": run.try_number})
        started = PipelineStarted(upload_id=run.upload_id, attempt=run.attempt, launch=run.launch, run_id=run.run_id,
                                  run=run.number, command=argv, launcher=self._owner, pid=pid)
        async with self._pool.acquire() as conn, conn.transaction():
            await runs.record_pid(conn, run.run_id, pid)
            await add_to_outbox(conn, SCHEMA, started)

    async def _keep_beating(self, run: runs.Run) -> None:
        """Beat every heartbeat; raise RunLost when the run was given up, or when no beat got through for
        FENCE_AFTER_BEATS beats (the reaper takes a run after STALE_AFTER_BEATS); raise RunCancelled when a
        user cancelled it (told at once, or read at the next beat should the notification be lost)."""
        fence_after = self._heartbeat_seconds * FENCE_AFTER_BEATS
        last_beat = time.monotonic()
        cancel = self._cancels[run.run_id]
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_seconds):
                    raise RunCancelled(await asyncio.shield(cancel))
            while True:
                remaining = last_beat + fence_after - time.monotonic()
                if remaining <= 0:
                    raise RunLost(f"The launcher {self._owner} could not reach the database for "
                                  f"{fence_after:g} s, so it stopped the run before another launcher may take it")
                sent = time.monotonic()
                try:
                    async with asyncio.timeout(remaining):
                        beat = await runs.beat(self._pool, run.run_id, self._owner)
                except Exception as error:
                    log.warning("heartbeat not recorded", extra={"error": repr(error)})
                    await asyncio.sleep(min(remaining, self._heartbeat_seconds / 10))
                    continue
                if not beat.still_ours:
                    raise RunLost(f"The run on {self._owner} was given up by another launcher")
                if beat.cancelled_by is not None:
                    raise RunCancelled(beat.cancelled_by)
                last_beat = sent
                break

    async def _forward(self, stream: asyncio.StreamReader, from_stderr: bool, batches: OutputBatches,
                       stderr_tail: deque[str]) -> None:
        async for raw in raw_lines(stream):
            line = classify(readable(raw), from_stderr)
            if from_stderr:
                stderr_tail.append(stderr_tail_line(line.message))
            await batches.add_output(line)

    async def _write_events(self, events: list[Event]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for event in events:
                await add_to_outbox(conn, SCHEMA, event)

    async def _give_up(self, run: runs.Run, why: str) -> None:
        """The process group is stopped: end the run as interrupted (queued again when safe). With the
        database away, the reaper of whichever launcher sees the stale heartbeat first does it."""
        log.warning("pipeline run interrupted", extra={"why": why})
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await give_up_run(conn, run, self._owner, why, self._policy)
        except Exception as error:
            log.error("could not record the interrupted run; a reaper will", extra={"error": repr(error)})
            return
        if self._loris is not None:  # an interrupted end owes its LORIS row Inserting = 0: at once if it can
            with contextlib.suppress(Exception):
                await pay_not_inserting_debts(self._pool, self._loris)

    async def _finish(self, run: runs.Run, exit_code: int | None, outcome: RunOutcome, stderr_tail: list[str],
                      message: str, started: float) -> None:
        """Record the end, trying again while the database is away for as long as the run would stay ours. In LORIS
        site mode the end is first settled with the upload's row; an exit 0 whose row cannot be read is left for the
        reaper, which records it once it can."""
        loris_record, owes = None, False
        if self._tells_loris(run):
            try:
                end = await loris_end(self._loris, run.loris_upload_id, outcome, message,
                                      self._heartbeat_seconds * FENCE_AFTER_BEATS)
            except RowNotReadable as away:
                log.error("the end of the run waits for the LORIS database; a reaper records it",
                          extra={"error": str(away)})
                return
            outcome, message, loris_record, owes = end.outcome, end.message, end.record, end.owes_not_inserting
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TRANSIENT_DB_ERRORS),
                stop=stop_after_delay(self._heartbeat_seconds * FENCE_AFTER_BEATS),
                wait=wait_exponential(multiplier=0.1, max=2),
                reraise=True,
            ):
                with attempt:
                    recorded = await self._record_finish(run, exit_code, outcome, stderr_tail, message,
                                                         loris_record, owes)
        except Exception as error:
            log.error("could not record the end of the run; a reaper will take it over",
                      extra={"error": repr(error)})
            return
        if recorded:
            self.finished(run, exit_code, outcome, time.monotonic() - started)

    def finished(self, run: runs.Run, exit_code: int | None, outcome: RunOutcome, seconds: float | None = None) -> None:
        """What follows a recorded end: the count, and the scan leaving the store after a success."""
        log.info("pipeline finished", extra={"exit_code": exit_code, "outcome": outcome.value})
        count_run(outcome, exit_code, seconds)
        if outcome == RunOutcome.SUCCEEDED and not self._keep_scan_after_success:
            self._store.remove(run.scan.scan_key)

    async def _record_finish(self, run: runs.Run, exit_code: int | None, outcome: RunOutcome,
                             stderr_tail: list[str], message: str, loris_record: LorisUploadRecord | None = None,
                             owes_not_inserting: bool = False) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await announce_finish(conn, run, self._owner, exit_code, outcome, message, stderr_tail,
                                         loris_record=loris_record, owes_not_inserting=owes_not_inserting):
                await self._record_late_finish(conn, run, exit_code)
                return False
        return True

    async def finish_left_behind(self, conn: asyncpg.Connection, run: runs.Run,
                                 launcher: str) -> tuple[int, RunOutcome] | None:
        """For the reaper, in its transaction, a stale run of `launcher`: when its pipeline ended on its own
        (its guard kept the exit code), the run is recorded as finished with that code, as its launcher would
        have, which stopped before it could; returns the code and the outcome (then call `finished` after the
        commit), or
        None when the pipeline did not end on its own, or someone else ended the run meanwhile. In LORIS site mode,
        RowNotReadable when LORIS-MRI's last log rows, or the row of an exit 0, cannot be read now: leave the run for
        later."""
        exit_code = await self._exits.read(run.run_id)
        if exit_code is None:
            return None
        outcome, message, loris_record, owes = outcome_of(exit_code), self._finish_message(run, exit_code), None, False
        if self._tells_loris(run):
            await self._read_rows_left_behind(conn, run, launcher)
            end = await loris_end(self._loris, run.loris_upload_id, outcome, message, REAPER_LORIS_SECONDS)
            outcome, message, loris_record, owes = end.outcome, end.message, end.record, end.owes_not_inserting
        recorded = await announce_finish(conn, run, launcher, exit_code, outcome, message, [],
                                          recorded_by=self._owner, loris_record=loris_record,
                                          owes_not_inserting=owes)
        return (exit_code, outcome) if recorded else None

    async def _read_rows_left_behind(self, conn: asyncpg.Connection, run: runs.Run, launcher: str) -> None:
        """LORIS-MRI's last log rows, which the stopped launcher did not read; with MariaDB away, the end waits for
        them (RowNotReadable), whatever its exit code: a failure's last rows usually say why."""
        try:
            await rows_left_behind(self._loris.loris, conn, run, launcher, REAPER_LORIS_SECONDS)
        except (LorisDatabaseAway, TimeoutError) as away:
            raise RowNotReadable(str(away)) from away

    async def _record_late_finish(self, conn: asyncpg.Connection, run: runs.Run, exit_code: int | None) -> None:
        """The run was given up before its end came (this launcher lost its heartbeat): told, not used; unless
        a reaper recorded that very end from the exit code the guard kept, and then there is nothing to tell."""
        if not await runs.record_late_finish(conn, run.run_id, exit_code):
            return
        log.warning("pipeline finished after its run was given up", extra={"exit_code": exit_code})
        ended = "successfully" if exit_code == 0 else f"with exit code {exit_code}"
        await add_to_outbox(conn, SCHEMA, PipelineFinishedLate(
            upload_id=run.upload_id, attempt=run.attempt, run_id=run.run_id, run=run.number, exit_code=exit_code,
            launcher=self._owner,
            message=f"The run on {self._owner} ended {ended} after it had been given up; this end was not used.",
        ))

    def _finish_message(self, run: runs.Run, exit_code: int) -> str:
        """A run that failed because its scan file is gone says so, and that the scan must be uploaded again:
        the pipeline's own words would only say that it found no archive. A pipeline killed by a signal (a
        negative code) was stopped by that, whatever became of its file."""
        if exit_code > 0 and self._store.is_missing(run.scan.scan_key):
            return (f"Pipeline failed with exit code {exit_code}: the scan file {run.scan.file_name} is missing from "
                    "the scan store (it was deleted); upload the scan again, with overwrite, to run it.")
        return finish_message(exit_code)

    def _timed_out(self) -> str:
        return f"The pipeline timed out after {_minutes(self._timeout_seconds)} and was stopped."

    def _why_stopped(self, error: BaseException) -> str:
        lost = _first(error, RunLost)
        if lost is not None:
            return str(lost)
        log.error("the launcher failed during a run", exc_info=error)
        cause = _first(error, Exception) or error
        return f"The launcher {self._owner} failed during the run ({type(cause).__name__}: {cause})"


def _first(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of that kind in an exception group (or the exception itself)."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first(inner, kind)
            if found is not None:
                return found
        return None
    return error if isinstance(error, kind) else None


def _minutes(seconds: float | None) -> str:
    minutes = (seconds or 0) / 60
    return "1 minute" if minutes == 1 else f"{minutes:g} minutes"


async def terminate(process: asyncio.subprocess.Process, kill_after: float = KILL_AFTER_SECONDS) -> None:
    """Stop the pipeline and everything it started: SIGTERM, then SIGKILL. The guard (the group's leader) is
    told first, so that it knows, should the command end of it, that the end was asked for."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
        os.killpg(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(kill_after):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
