"""Launcher: runs the insertion pipeline for validated uploads (or on request),
at most N at once, streaming its output as log events and announcing the finish."""

import asyncpg
from aiohttp import web

from services.common import metrics
from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay
from services.common.sampled_metrics import with_sampled_metrics
from services.common.settings import LauncherSettings
from services.common.topology import LAUNCHER_QUEUE
from services.launcher import runs
from services.launcher.accept import accept_launch
from services.launcher.pipeline_command import TemplateCommand
from services.launcher.presence import launcher_presence
from services.launcher.schema import SCHEMA
from services.launcher.slots import launch_slots


def build_app(settings: LauncherSettings) -> web.Application:
    command = TemplateCommand.from_settings(settings)
    app = service_app("launcher", settings)
    with_outbox_relay(app, SCHEMA)
    app.cleanup_ctx.append(launcher_presence(settings))
    app.cleanup_ctx.append(launch_slots(settings, command))
    with_consumer(app, LAUNCHER_QUEUE, SCHEMA, accept_launch)
    with_sampled_metrics(app, _sample_queued_runs)
    metrics.start_runs_at_zero()
    return app


async def _sample_queued_runs(pool: asyncpg.Pool) -> None:
    metrics.PIPELINE_RUNS_QUEUED.set(await runs.count_queued(pool))


if __name__ == "__main__":
    run_service(build_app(LauncherSettings()))
