"""Gateway: the public HTTP edge. Authenticates users, asks the validator's
rules before an upload's bytes are read, streams uploads to the scan store,
records each attempt and announces it, grants pipeline runs, follows each
upload's state, and proxies browse, log and run queries to the logstore."""

from aiohttp import web

from services.common import metrics
from services.common.app_keys import SCAN_STORE
from services.common.http_errors import json_errors
from services.common.loris_connections import with_loris_connections
from services.common.request_parsing import refusals
from services.common.retention import hours
from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay, with_requester
from services.common.scan_store import DirectoryScanStore
from services.common.settings import GatewaySettings
from services.common.topology import GATEWAY_QUEUE
from services.gateway.auth.loris_users import with_loris_users
from services.gateway.auth.middleware import SlashMergingRouter, require_uploader_user
from services.gateway.auth.password_checks import with_password_checks
from services.gateway.auth.token_cache import TOKEN_CACHE, TokenCache
from services.gateway.loris_record import with_loris_record
from services.gateway.reads.log_stream_proxy import with_log_streams
from services.gateway.reads.logstore_proxy import with_logstore_client
from services.gateway.routes import setup_routes
from services.gateway.schema import SCHEMA
from services.gateway.status.rabbitmq_management import with_rabbitmq_management
from services.gateway.uploads.records import advance_state
from services.gateway.uploads.scan_retention import with_scan_retention


def build_app(settings: GatewaySettings) -> web.Application:
    if not settings.internal_secret:
        raise SystemExit("UPLOADER_INTERNAL_SECRET is not set: the gateway sends it with every call to the logstore.")
    app = service_app("gateway", settings, middlewares=[json_errors, refusals, require_uploader_user],
                      router=SlashMergingRouter())
    app[SCAN_STORE] = DirectoryScanStore(settings.incoming_path)
    with_scan_retention(app, app[SCAN_STORE], hours(settings.attempt_file_retention_hours))
    app[TOKEN_CACHE] = TokenCache()
    with_password_checks(app, settings.sign_in_checks_at_once)
    with_loris_connections(app, settings.loris_database_url)
    if settings.loris_database_url:
        with_loris_users(app, settings.loris_user_reread_seconds)
    with_loris_record(app)
    with_outbox_relay(app, SCHEMA)
    with_consumer(app, GATEWAY_QUEUE, SCHEMA, advance_state)
    with_requester(app)
    with_logstore_client(app, settings.logstore_url)
    with_log_streams(app)
    with_rabbitmq_management(app, settings.rabbitmq_management_url, settings.amqp_url)
    setup_routes(app)
    metrics.start_uploads_at_zero()
    metrics.start_sign_ins_at_zero()
    return app


if __name__ == "__main__":
    run_service(build_app(GatewaySettings()))
