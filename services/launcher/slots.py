"""At most N pipeline runs at once in this launcher, taken from the shared run table.

Runs are queued in PostgreSQL, not held as unacknowledged messages, so a run
may last for hours and any replica with a free slot may take it. A reaper
gives up the runs of a launcher that stopped beating (it died, or lost its
database and stopped them itself), queuing them again when the pipeline is
safe to rerun (services/launcher/interruptions.py), so that no upload stays
In Progress forever after its launcher died; or, when the pipeline had ended
on its own before its launcher died, recording its end from the exit code
its guard kept (services/launcher/run_exits.py).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.app_keys import POOL, REPLICA
from services.common.loris_connections import LorisConnections
from services.common.pool_listener import PoolListener
from services.common.scan_store import DirectoryScanStore
from services.common.settings import LauncherSettings
from services.launcher import runs
from services.launcher.execute import STALE_AFTER_BEATS, RunExecutor
from services.launcher.interruptions import RerunPolicy, give_up_run
from services.launcher.loris_run_end import RowNotReadable, pay_not_inserting_debts
from services.launcher.loris_upload_row import LorisUploadRow
from services.launcher.pipeline_command import TemplateCommand
from services.launcher.pod_deletion_cost import pod_deletion_cost
from services.launcher.run_exits import RunExits

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class LaunchSlots:
    def __init__(self, pool: asyncpg.Pool, executor: RunExecutor, exits: RunExits, slots: int,
                 heartbeat_seconds: float, policy: RerunPolicy,
                 runs_in_flight: Callable[[int], None] = lambda count: None,
                 loris: LorisUploadRow | None = None) -> None:
        self._pool = pool
        self._loris = loris
        self._runs_in_flight = runs_in_flight  # told each change of the count (services/launcher/pod_deletion_cost.py)
        self._executor = executor
        self._exits = exits
        self._policy = policy
        self._slots = slots
        self._heartbeat_seconds = heartbeat_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []
        self._listener = PoolListener(pool, runs.RUNS_CHANNEL, self._on_notify)

    async def start(self) -> None:
        await asyncio.to_thread(self._exits.prepare)
        await self._listener.keep()
        self._loops = [asyncio.create_task(self._slot()) for _ in range(self._slots)]
        metrics.PIPELINE_SLOTS.inc(self._slots)
        self._loops.append(asyncio.create_task(self._reap_forever()))

    async def stop(self, grace_seconds: float) -> None:
        """Take no new run; let the current ones finish within the grace, then interrupt them."""
        self._stopping = True
        self._wake.set()
        metrics.PIPELINE_SLOTS.dec(self._slots)
        if self._running:
            log.info("waiting for pipeline runs to finish", extra={"runs": len(self._running)})
            await asyncio.wait(self._running, timeout=grace_seconds)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._listener.close()

    def _on_notify(self, _connection, _pid, _channel, payload: str) -> None:
        if payload.startswith(runs.CANCEL_PREFIX):
            run_id, _, by = payload.removeprefix(runs.CANCEL_PREFIX).partition(":")
            self._executor.cancel(int(run_id), by)
        else:
            self._wake.set()

    async def _slot(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._executor.claim()
            except Exception as error:
                log.warning("could not claim a run, will retry", extra={"error": repr(error)})
                claimed = None
            if claimed is None:
                await self._wait_for_work()
                continue
            await self._execute(*claimed)

    async def _execute(self, run: runs.Run, argv: list[str]) -> None:
        task = asyncio.create_task(self._executor.execute(run, argv))
        self._running.add(task)
        self._runs_in_flight(len(self._running))
        try:
            with metrics.PIPELINE_RUNS_IN_FLIGHT.track_inprogress():
                await task  # cancelling the slot cancels the run, which stops the process
        except Exception:  # the executor records every end itself; this is a bug, and the reaper will see the run
            log.exception("pipeline run failed unexpectedly", extra={"upload_id": run.upload_id, "attempt": run.attempt})
        finally:
            self._running.discard(task)
            self._runs_in_flight(len(self._running))

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await self._wake.wait()
        self._wake.clear()

    async def _reap_forever(self) -> None:
        stale_after = self._heartbeat_seconds * STALE_AFTER_BEATS
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            await self._listener.keep()  # again, should it have died with the database
            with contextlib.suppress(Exception):
                await self._reap(stale_after)
            if self._loris is not None:
                with contextlib.suppress(Exception):
                    await pay_not_inserting_debts(self._pool, self._loris)

    async def _reap(self, stale_after: float) -> None:
        """Take back the runs of launchers that stopped beating: a run whose pipeline had ended on its own is
        recorded as finished; any other is given up. Then the exit codes of recorded runs are swept."""
        finished = []
        async with self._pool.acquire() as conn, conn.transaction():
            for run, launcher in await runs.stale_runs(conn, stale_after):
                about_run = {"upload_id": run.upload_id, "attempt": run.attempt, "launcher": launcher}
                try:
                    ended = await self._executor.finish_left_behind(conn, run, launcher)
                except RowNotReadable:
                    log.warning("run whose pipeline ended waits for the LORIS database to be recorded", extra=about_run)
                    continue
                if ended is not None:
                    log.warning("run of a launcher that stopped after its pipeline ended recorded as finished",
                                extra={**about_run, "exit_code": ended[0]})
                    finished.append((run, *ended))
                    continue
                log.warning("run abandoned by its launcher", extra=about_run)
                why = f"The launcher {launcher} running the pipeline stopped responding"
                await give_up_run(conn, run, launcher, why, self._policy)
        for run, exit_code, outcome in finished:
            self._executor.finished(run, exit_code, outcome)
        await self._exits.sweep(self._pool)


def launch_slots(settings: LauncherSettings, command: TemplateCommand):
    """The launcher's slots, as a cleanup context: started with the app, stopped (runs given their grace) at its end."""
    async def slots_ctx(app: web.Application) -> AsyncIterator[None]:
        store = DirectoryScanStore(settings.incoming_path)
        exits = RunExits(settings.incoming_path)
        policy = RerunPolicy(settings.rerun_safe, settings.pipeline_max_reruns)
        connections = LorisConnections(settings.loris_database_url) if settings.loris_database_url else None
        loris = LorisUploadRow(connections) if connections is not None else None
        executor = RunExecutor(app[POOL], store, exits, command, app[REPLICA], settings.heartbeat_seconds, policy,
                               settings.pipeline_timeout_seconds, settings.keep_scan_after_success, loris)
        try:
            async with pod_deletion_cost(settings.kubernetes_service_account_path) as cost:  # a no-op elsewhere
                slots = LaunchSlots(app[POOL], executor, exits, settings.max_concurrent_runs,
                                    settings.heartbeat_seconds, policy, cost, loris)
                await slots.start()
                yield
                await slots.stop(settings.shutdown_grace_seconds)
        finally:
            if connections is not None:
                await connections.close()

    return slots_ctx
