"""Fixtures of the fault tests: the whole stack as processes (tests/support/fault_stack.py), with short
heartbeats and the numbered pipeline, on a database and vhost of the test module's own (nothing they
kill or leave half-done reaches another module's runs), or on a PostgreSQL cluster or RabbitMQ node of
the test's own when the fault is a restart of that server (tests/support/private_servers.py)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.common.db import open_pool
from services.common.migrations import apply_migrations
from services.common.scope import ALL_PERMISSIONS
from services.gateway.auth.users import save_user
from services.validator.demo_registry import load_demo_registry
from tests.conftest import DEMO_TOKEN, INTERNAL_SECRET, MAX_UPLOAD_BYTES
from tests.support import servers
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.fault_accounting import UploadStream
from tests.support.stack import REPO_ROOT, own_ports

NUMBERED_PIPELINE = REPO_ROOT / "tests" / "support" / "numbered_pipeline.py"
HEARTBEAT_SECONDS = 1  # a run is stale after 3 missed beats: 3 s


async def prepare_database(url: str) -> None:
    """Migrations, the demo registry and the demo user, as the session's `pool` fixture does."""
    pool = await open_pool(url)
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn:
            await load_demo_registry(conn)
            await save_user(conn, "demo", sorted(ALL_PERMISSIONS), DEMO_TOKEN)
    finally:
        await pool.close()


def numbered_pipeline_command(ledger: Path, lines: int, delay: float) -> str:
    return (f"{{python}} {NUMBERED_PIPELINE} --lines {lines} --delay {delay} --ledger {ledger} "
            "--run-key {upload_id}-{attempt} -- --upload-id {upload_id} --patient-name={patient_name} {scan_path}")


def fault_env(database_url: str, amqp_url: str, work_dir: Path, pipeline_command: str) -> dict[str, str]:
    """The environment of a stack under fault: short heartbeats and polls, reruns on, a quick shutdown."""
    (work_dir / "incoming").mkdir(exist_ok=True)
    return {
        "UPLOADER_DATABASE_URL": database_url,
        "UPLOADER_AMQP_URL": amqp_url,
        "UPLOADER_INCOMING_PATH": str(work_dir / "incoming"),
        "UPLOADER_PIPELINE_OUTPUT_PATH": str(work_dir / "output"),
        "UPLOADER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "UPLOADER_INTERNAL_SECRET": INTERNAL_SECRET,
        "UPLOADER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "UPLOADER_OUTBOX_POLL_SECONDS": "0.2",
        "UPLOADER_RULE_CHECK_TIMEOUT_SECONDS": "0.5",
        "UPLOADER_SHUTDOWN_GRACE_SECONDS": "2",
        "UPLOADER_MAX_CONCURRENT_RUNS": "2",
        "UPLOADER_PIPELINE_RERUN_SAFE": "true",
        "UPLOADER_PIPELINE_COMMAND": pipeline_command,
        **own_ports(),
    }


@contextlib.asynccontextmanager
async def database_and_vhost(run_name: str) -> AsyncIterator[tuple[str, str]]:
    """A prepared database and a vhost on the shared servers, of their own: (database_url, amqp_url)."""
    name = f"{run_name}_{uuid.uuid4().hex[:6]}"
    database_url = await servers.create_database(name)
    try:
        amqp_url = servers.create_vhost(name)
        try:
            await prepare_database(database_url)
            yield database_url, amqp_url
        finally:
            servers.delete_vhost(name)
    finally:
        await servers.drop_database(name)


@pytest.fixture(scope="module")
async def module_servers(run_name):
    """A database and a vhost on the shared servers for this test module alone: (database_url, amqp_url)."""
    async with database_and_vhost(run_name) as urls:
        yield urls


@pytest.fixture
def archives(tmp_path):
    """`archives(n)`: n small valid archives for the demo candidate, each with a name of its own."""

    def make(count: int) -> list[Path]:
        return [make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1",
                                   n_files=1)
                for _ in range(count)]

    return make


def demo_client(http, stack) -> UploaderClient:
    return UploaderClient(http, stack.gateway_url, DEMO_TOKEN)


async def all_accepted(client: UploaderClient, archives: list[Path]) -> UploadStream:
    """The archives uploaded one after the other, each accepted (a 202): their stream, for the accounting."""
    stream = UploadStream(client, archives, interval=0.1)
    async with stream:
        pass
    assert len(stream.accepted) == len(archives), [(s.status, s.error) for s in stream.sent]
    return stream


async def until_a_run_is_running(pool: asyncpg.Pool, owned_by=lambda owner: True,
                                 timeout: float = 20) -> bool:
    """Until a pipeline runs (in a launcher that `owned_by` accepts), so that the fault interrupts one;
    False if none came within the timeout (the test goes on, and says so)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                owners = await pool.fetch(
                    "SELECT owner FROM launcher.runs WHERE state = 'running' AND pid IS NOT NULL")
                if any(owned_by(row["owner"]) for row in owners):
                    return True
                await asyncio.sleep(0.05)
    except TimeoutError:
        return False


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    """Where the numbered pipeline records the runs it saw alive (a second live run of one attempt)."""
    return tmp_path_factory.mktemp("ledger")


@pytest.fixture(scope="module")
async def module_pool(module_servers):
    pool = await open_pool(module_servers[0])
    yield pool
    await pool.close()
