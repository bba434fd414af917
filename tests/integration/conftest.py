"""Fixtures of the integration tests: each service runs in-process (started
and stopped by the test) against the run's own database and vhost."""

import contextlib
import uuid

import aiohttp
import pytest
from aiohttp import web

from services.common.scope import UPLOADER_PERMISSIONS
from services.common.settings import GatewaySettings, LauncherSettings, LogstoreSettings, ValidatorSettings
from services.gateway.__main__ import build_app as build_gateway
from services.gateway.auth.users import add_user, set_password
from services.logstore.__main__ import build_app as build_logstore
from services.validator.__main__ import build_app as build_validator
from tests.conftest import INTERNAL_SECRET, TESTS_SIGN_IN_FAILURES_PER_ADDRESS
from tests.integration.web_sign_in import PASSWORD
from tests.support.inprocess import running_app
from tests.support.tap import EventTap


@pytest.fixture
async def tap(amqp_url, pool):
    """Every event published in the run's vhost from now on (the demo data is loaded)."""
    async with EventTap(amqp_url) as tap:
        yield tap


def _settings_factory(settings_class, database_url, amqp_url, incoming_path, **defaults):
    def make(**overrides):
        return settings_class(**{"database_url": database_url, "amqp_url": amqp_url, "incoming_path": incoming_path,
                                 "internal_secret": INTERNAL_SECRET, **defaults, **overrides})

    return make


@pytest.fixture
def validator_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(ValidatorSettings, database_url, amqp_url, incoming_path)


@pytest.fixture
def launcher_settings(database_url, amqp_url, incoming_path, output_path, pool):
    return _settings_factory(
        LauncherSettings, database_url, amqp_url, incoming_path, max_concurrent_runs=1, heartbeat_seconds=1,
        pipeline_output_path=output_path,
    )


@pytest.fixture
def logstore_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(LogstoreSettings, database_url, amqp_url, incoming_path)


@pytest.fixture
def gateway_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(GatewaySettings, database_url, amqp_url, incoming_path,
                             sign_in_max_failures_per_address=TESTS_SIGN_IN_FAILURES_PER_ADDRESS)


@pytest.fixture
def gateway_stack(gateway_settings, logstore_settings, validator_settings, tap):
    """A factory: `async with gateway_stack(**gateway_settings) as (gateway_url, logstore_url)` runs a logstore,
    a validator and a gateway in-process. Auto-launch is off unless asked: a test decides when a run is granted."""

    @contextlib.asynccontextmanager
    async def run(**overrides):
        async with running_app(build_logstore(logstore_settings())) as logstore_url, \
                running_app(build_validator(validator_settings())):
            settings = gateway_settings(**{"logstore_url": logstore_url, "auto_launch": False, **overrides})
            async with running_app(build_gateway(settings)) as gateway_url:
                yield gateway_url, logstore_url

    return run


@pytest.fixture
async def gateway_before_the_read_side(gateway_settings, validator_settings, tap):
    """The URL of a gateway whose logstore knows no upload yet (it answers 404 to everything, as before it
    records one): what a user sees right after a 202."""

    async def not_recorded_yet(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "unknown_upload", "message": "not yet", "field": None},
                                  "errors": []}, status=404)

    lagging = web.Application()
    lagging.router.add_route("GET", "/{tail:.*}", not_recorded_yet)
    async with running_app(lagging) as logstore_url, running_app(build_validator(validator_settings())):
        async with running_app(build_gateway(gateway_settings(logstore_url=logstore_url, auto_launch=False))) as url:
            yield url


@pytest.fixture
async def browser():
    """An HTTP client that keeps no cookies by itself: each test sends the session cookie it means to."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture
def new_user(pool):
    """Makes a user of a name no other test uses, with PASSWORD; returns the name."""

    async def make(permissions=(*sorted(UPLOADER_PERMISSIONS),), sites=("OTT", "MTL")) -> str:
        username = f"page-user-{uuid.uuid4().hex[:8]}"
        async with pool.acquire() as conn:
            await add_user(conn, username, list(sites), list(permissions))
            await set_password(conn, username, PASSWORD)
        return username

    return make
