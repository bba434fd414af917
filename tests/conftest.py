"""Every test run gets its own PostgreSQL database and RabbitMQ vhost on the
real servers, so that runs cannot see each other's data."""

from pathlib import Path

import aiohttp
import asyncpg
import pytest

from services.common.db import open_pool
from services.common.migrations import apply_migrations
from services.common.scope import ALL_PERMISSIONS
from services.gateway.auth.users import save_user
from services.validator.demo_registry import load_demo_registry
from tests.support import loris, servers

DEMO_TOKEN = "test-demo-token"
NO_PERMISSION_TOKEN = "test-no-permission-token"
MAX_UPLOAD_BYTES = 4 * 1024**2
INTERNAL_SECRET = "test-internal-secret-shared-by-gateway-and-logstore"
# Every test signs in from 127.0.0.1, where in use sign-ins come from many addresses: the failures of a whole run
# must not lock the address out (tests of that limit set their own).
TESTS_SIGN_IN_FAILURES_PER_ADDRESS = 1_000_000


@pytest.fixture(scope="session")
def run_name() -> str:
    return servers.new_run_name()


@pytest.fixture(scope="session")
async def database_url(run_name):
    url = await servers.create_database(run_name)
    yield url
    await servers.drop_database(run_name)


@pytest.fixture(scope="session")
async def loris_database_url(run_name):
    """A LORIS database of the run's own on the local MariaDB (as its administrator), with LORIS's tables and no
    data; made only when a test asks for it."""
    name = f"loris_{run_name}"
    url = await loris.create_loris_database(name)
    yield url
    await loris.drop_loris_database(name)


@pytest.fixture(scope="session")
def amqp_url(run_name):
    url = servers.create_vhost(run_name)
    yield url
    servers.delete_vhost(run_name)


@pytest.fixture(scope="session")
async def pool(database_url) -> asyncpg.Pool:
    pool = await open_pool(database_url)
    await apply_migrations(pool)
    async with pool.acquire() as conn:
        await load_demo_registry(conn)
        await save_user(conn, "demo", sorted(ALL_PERMISSIONS), DEMO_TOKEN)
        await save_user(conn, "viewer", ["data_entry"], NO_PERMISSION_TOKEN)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def incoming_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("incoming")


@pytest.fixture(scope="session")
def output_path(tmp_path_factory) -> Path:
    """Where the run's reference pipelines keep what they make (UPLOADER_PIPELINE_OUTPUT_PATH)."""
    return tmp_path_factory.mktemp("output")


@pytest.fixture(scope="session")
def service_env(database_url, amqp_url, incoming_path, output_path, pool) -> dict[str, str]:
    """The environment of a stack of services for this run (the demo data is loaded); each stack takes free ports
    of its own when it is made (tests/support/stack.py)."""
    return {
        "UPLOADER_DATABASE_URL": database_url,
        "UPLOADER_AMQP_URL": amqp_url,
        "UPLOADER_INCOMING_PATH": str(incoming_path),
        "UPLOADER_PIPELINE_OUTPUT_PATH": str(output_path),
        "UPLOADER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "UPLOADER_HEARTBEAT_SECONDS": "1",
        "UPLOADER_OUTBOX_POLL_SECONDS": "0.5",
        "UPLOADER_INTERNAL_SECRET": INTERNAL_SECRET,
        "UPLOADER_SIGN_IN_MAX_FAILURES_PER_ADDRESS": str(TESTS_SIGN_IN_FAILURES_PER_ADDRESS),
    }


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
