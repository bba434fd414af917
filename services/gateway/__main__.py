"""Gateway: the public HTTP edge. Authenticates users, streams uploads to the
scan store, records each attempt and announces it, accepts manual launches,
follows each upload's state, and proxies browse and log queries to the logstore."""

from aiohttp import web

from services.common.http_errors import json_errors
from services.common.request_parsing import refusals
from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay
from services.common.scan_store import DirectoryScanStore
from services.common.settings import GatewaySettings
from services.common.topology import GATEWAY_QUEUE
from services.gateway.auth import require_uploader_user
from services.gateway.logstore_proxy import with_logstore_client
from services.gateway.routes import SCAN_STORE, setup_routes
from services.gateway.uploads import advance_state

SCHEMA = "gateway"


def build_app(settings: GatewaySettings) -> web.Application:
    app = service_app("gateway", settings, middlewares=[json_errors, refusals, require_uploader_user])
    app[SCAN_STORE] = DirectoryScanStore(settings.incoming_path)
    with_outbox_relay(app, SCHEMA)
    with_consumer(app, GATEWAY_QUEUE, SCHEMA, advance_state)
    with_logstore_client(app, settings.logstore_url)
    setup_routes(app)
    return app


if __name__ == "__main__":
    run_service(build_app(GatewaySettings()))
