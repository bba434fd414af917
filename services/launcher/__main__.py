"""Launcher: runs the insertion pipeline for validated uploads (or on request),
at most N at once, streaming its output as log events and announcing the finish."""

from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.app_keys import POOL, REPLICA
from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay
from services.common.sampled_metrics import with_sampled_metrics
from services.common.scan_store import DirectoryScanStore
from services.common.settings import LauncherSettings
from services.common.topology import LAUNCHER_QUEUE
from services.launcher import runs
from services.launcher.accept import accept_launch
from services.launcher.execute import RunExecutor
from services.launcher.interruptions import RerunPolicy
from services.launcher.pipeline_command import TemplateCommand
from services.launcher.pod_deletion_cost import pod_deletion_cost
from services.launcher.presence import launcher_presence
from services.launcher.run_exits import RunExits
from services.launcher.slots import LaunchSlots


def build_app(settings: LauncherSettings) -> web.Application:
    command = TemplateCommand.from_settings(settings)
    app = service_app("launcher", settings)
    with_outbox_relay(app, runs.SCHEMA)
    app.cleanup_ctx.append(launcher_presence(settings))
    app.cleanup_ctx.append(_launch_slots(settings, command))
    with_consumer(app, LAUNCHER_QUEUE, runs.SCHEMA, accept_launch)
    with_sampled_metrics(app, _sample_queued_runs)
    metrics.start_runs_at_zero()
    return app


async def _sample_queued_runs(pool: asyncpg.Pool) -> None:
    metrics.PIPELINE_RUNS_QUEUED.set(await runs.count_queued(pool))


def _launch_slots(settings: LauncherSettings, command: TemplateCommand):
    async def slots_ctx(app: web.Application) -> AsyncIterator[None]:
        store = DirectoryScanStore(settings.incoming_path)
        exits = RunExits(settings.incoming_path)
        policy = RerunPolicy(settings.rerun_safe, settings.pipeline_max_reruns)
        executor = RunExecutor(app[POOL], store, exits, command, app[REPLICA], settings.heartbeat_seconds, policy,
                               settings.pipeline_timeout_seconds, settings.keep_scan_after_success)
        async with pod_deletion_cost(settings.kubernetes_service_account_path) as cost:  # a no-op elsewhere
            slots = LaunchSlots(app[POOL], executor, exits, settings.max_concurrent_runs, settings.heartbeat_seconds,
                                policy, cost)
            await slots.start()
            yield
            await slots.stop(settings.shutdown_grace_seconds)

    return slots_ctx


if __name__ == "__main__":
    run_service(build_app(LauncherSettings()))
