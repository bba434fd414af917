"""Logstore: records every event once, keeps each upload's progress and run
records, and serves the browse, upload, log and runs queries to the gateway."""

from aiohttp import web

from services.common.http_errors import json_errors
from services.common.request_parsing import refusals
from services.common.runner import run_service, service_app, with_consumer
from services.common.settings import LogstoreSettings
from services.common.topology import LOGSTORE_QUEUE
from services.logstore.api import gateway_only, setup_routes
from services.logstore.log_wakeups import with_log_wakeups
from services.logstore.record import record_event
from services.logstore.schema import SCHEMA


def build_app(settings: LogstoreSettings) -> web.Application:
    if not settings.internal_secret:
        raise SystemExit("UPLOADER_INTERNAL_SECRET is not set: the logstore answers only callers that send it.")
    app = service_app("logstore", settings, middlewares=[json_errors, gateway_only, refusals])
    with_consumer(app, LOGSTORE_QUEUE, SCHEMA, record_event)
    with_log_wakeups(app)
    setup_routes(app)
    return app


if __name__ == "__main__":
    run_service(build_app(LogstoreSettings()))
