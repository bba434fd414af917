"""Every service's health endpoints, for compose, Kubernetes and run.sh:

- GET /healthz: alive, the process answers (a liveness probe; restart it when this fails);
- GET /readyz: ready for work: the database answers, the broker connection is
  open and every migration on disk is applied (a readiness probe; 503 with the
  failed checks otherwise).
"""

import asyncio

from aiohttp import web

from services.common.app_keys import BROKER, POOL, SERVICE_NAME
from services.common.migrations import pending_migrations

CHECK_SECONDS = 2
# Served on every service's port without credentials, for probes and Prometheus.
OPERATIONS_PATHS = ("/healthz", "/readyz", "/metrics")


async def alive(request: web.Request) -> web.Response:
    return web.json_response({"service": request.app[SERVICE_NAME], "status": "ok"})


async def ready(request: web.Request) -> web.Response:
    app = request.app
    pending = await _pending_migrations(app)
    checks = {"database": pending is not None, "broker": not app[BROKER].is_closed, "migrations": pending == []}
    healthy = all(checks.values())
    body = {"service": app[SERVICE_NAME], "status": "ok" if healthy else "unavailable", "checks": checks}
    if pending:
        body["pending_migrations"] = pending
    return web.json_response(body, status=200 if healthy else 503)


async def _pending_migrations(app: web.Application) -> list[str] | None:
    """The migrations not applied yet; None when the database does not answer."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await pending_migrations(app[POOL])
    except Exception:
        return None
