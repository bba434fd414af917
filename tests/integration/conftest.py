"""Fixtures of the integration tests: each service runs in-process (started
and stopped by the test) against the run's own database and vhost."""

import pytest

from services.common.settings import GatewaySettings, LauncherSettings, LogstoreSettings, ValidatorSettings
from tests.conftest import INTERNAL_SECRET
from tests.support.tap import EventTap


@pytest.fixture
async def tap(amqp_url, pool):
    """Every event published in the run's vhost from now on (the demo data is loaded)."""
    async with EventTap(amqp_url) as tap:
        yield tap


def _settings_factory(settings_class, database_url, amqp_url, incoming_path, **defaults):
    def make(**overrides):
        values = {"internal_secret": INTERNAL_SECRET, **defaults, **overrides}
        return settings_class(database_url=database_url, amqp_url=amqp_url, incoming_path=incoming_path, **values)

    return make


@pytest.fixture
def validator_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(ValidatorSettings, database_url, amqp_url, incoming_path)


@pytest.fixture
def launcher_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(
        LauncherSettings, database_url, amqp_url, incoming_path, max_concurrent_runs=1, heartbeat_seconds=1
    )


@pytest.fixture
def logstore_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(LogstoreSettings, database_url, amqp_url, incoming_path)


@pytest.fixture
def gateway_settings(database_url, amqp_url, incoming_path, pool):
    return _settings_factory(GatewaySettings, database_url, amqp_url, incoming_path)
